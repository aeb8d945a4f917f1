using Concord.Contracts;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.Session;

namespace Concord.Executor.Tests;

public class MetadataValidatorTests
{
    private static OperatorSpec Spec() => new()
    {
        Name = "counter",
        Executable = "/bin/true",
        Instances = 1,
        ExpectedInputs = { new InputStream { Name = "words", Grouping = Grouping.GroupBy } },
        ExpectedOutputs = { "counts" },
    };

    private static Metadata Reported(string name = "counter") => new()
    {
        ProtocolVersion = ProtocolLimits.ProtocolVersion,
        Capabilities = { Capabilities.All },
        Metadata_ = new OperatorMetadata
        {
            Name = name,
            Inputs = { new InputStream { Name = "words", Grouping = Grouping.GroupBy } },
            Outputs = { "counts" },
        },
    };

    [Fact]
    public void Matching_metadata_is_accepted()
    {
        Assert.Empty(MetadataValidator.Problems(Spec(), Reported()));
    }

    [Fact]
    public void Name_mismatch_names_both_sides_and_the_fix()
    {
        var e = Assert.Throws<OperatorFailedException>(() => MetadataValidator.Validate(Spec(), Reported("countr")));
        Assert.Contains("'countr'", e.Message);
        Assert.Contains("'counter'", e.Message);
        Assert.Contains("make metadata() return name 'counter'", e.Message);
    }

    [Fact]
    public void Input_grouping_mismatch_lists_actual_and_expected_inputs()
    {
        var reported = Reported();
        reported.Metadata_.Inputs[0].Grouping = Grouping.Shuffle;
        var problem = Assert.Single(MetadataValidator.Problems(Spec(), reported));
        Assert.Contains("reads [words (shuffle)]", problem);
        Assert.Contains("expects [words (group_by)]", problem);
    }

    [Fact]
    public void Output_mismatch_lists_both_sets()
    {
        var reported = Reported();
        reported.Metadata_.Outputs.Add("extra");
        var problem = Assert.Single(MetadataValidator.Problems(Spec(), reported));
        Assert.Contains("produces [counts, extra]", problem);
        Assert.Contains("expects [counts]", problem);
    }

    [Fact]
    public void Unset_expectations_accept_any_streams()
    {
        var spec = Spec();
        spec.ExpectedInputs.Clear();
        spec.ExpectedOutputs.Clear();
        var reported = Reported();
        reported.Metadata_.Outputs.Add("other");
        Assert.Empty(MetadataValidator.Problems(spec, reported));
    }

    [Fact]
    public void Invalid_stream_name_is_reported_with_the_allowed_characters()
    {
        var spec = Spec();
        spec.ExpectedOutputs.Clear();
        var reported = Reported();
        reported.Metadata_.Outputs.Add("bad stream!");
        var problem = Assert.Single(MetadataValidator.Problems(spec, reported));
        Assert.Contains("'bad stream!'", problem);
        Assert.Contains("A-Z a-z 0-9 _ . -", problem);
    }

    [Fact]
    public void Missing_required_capability_is_reported()
    {
        var reported = Reported();
        reported.Capabilities.Clear();
        reported.Capabilities.Add(Capabilities.Timers);
        var problem = Assert.Single(MetadataValidator.Problems(Spec(), reported));
        Assert.Contains(Capabilities.BatchPipelining, problem);
    }

    [Fact]
    public void Other_protocol_version_is_reported()
    {
        var reported = Reported();
        reported.ProtocolVersion = 2;
        Assert.Contains(MetadataValidator.Problems(Spec(), reported), p => p.Contains("protocol version 2", StringComparison.Ordinal));
    }
}
