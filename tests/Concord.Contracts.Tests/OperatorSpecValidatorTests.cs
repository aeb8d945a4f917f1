using Concord.Contracts;
using Concord.Contracts.Types.V1;

namespace Concord.Contracts.Tests;

public class OperatorSpecValidatorTests
{
    private static OperatorSpec Valid() => new()
    {
        Name = "counter",
        Executable = "/usr/bin/python3",
        Instances = 2,
        Cpus = 0.5,
        MemMb = 256,
        ExpectedInputs = { new InputStream { Name = "words", Grouping = Grouping.GroupBy } },
        ExpectedOutputs = { "counts" },
    };

    [Fact]
    public void A_complete_spec_has_no_problems()
    {
        Assert.Empty(OperatorSpecValidator.Validate(Valid()));
    }

    [Theory]
    [InlineData("", "name", "is required")]
    [InlineData("Counter", "name", "lower-case")]
    [InlineData("-x", "name", "starting with a letter or digit")]
    public void Bad_names_are_reported_with_the_rule(string name, string field, string fragment)
    {
        var spec = Valid();
        spec.Name = name;
        var problem = Assert.Single(OperatorSpecValidator.Validate(spec));
        Assert.Equal(field, problem.Field);
        Assert.Contains(fragment, problem.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(ProtocolLimits.InstancesMax + 1)]
    public void Instances_out_of_range_name_the_range(int instances)
    {
        var spec = Valid();
        spec.Instances = instances;
        var problem = Assert.Single(OperatorSpecValidator.Validate(spec));
        Assert.Equal("instances", problem.Field);
        Assert.Contains($"1..{ProtocolLimits.InstancesMax}", problem.Message);
    }

    [Fact]
    public void Executable_and_builtin_together_are_rejected()
    {
        var spec = Valid();
        spec.Builtin = new BuiltinOperator { Kind = "generator", Options = { ["dictionary"] = "/words.txt" } };
        spec.ExpectedInputs.Clear();
        spec.ExpectedOutputs[0] = "words";
        var problem = Assert.Single(OperatorSpecValidator.Validate(spec));
        Assert.Equal("executable", problem.Field);
        Assert.Contains("built-in", problem.Message);
    }

    [Fact]
    public void Missing_executable_says_what_to_put_there()
    {
        var spec = Valid();
        spec.Executable = "";
        var problem = Assert.Single(OperatorSpecValidator.Validate(spec));
        Assert.Equal("executable", problem.Field);
        Assert.Contains("is required", problem.Message);
    }

    [Fact]
    public void Unknown_builtin_kind_and_option_list_the_valid_ones()
    {
        var spec = Valid();
        spec.Executable = "";
        spec.Builtin = new BuiltinOperator { Kind = "generatr" };
        Assert.Contains(OperatorSpecValidator.Validate(spec), p => p.Field == "builtin.kind" && p.Message.Contains("generator, csv-sink"));

        spec.Builtin = new BuiltinOperator { Kind = "generator", Options = { ["speed"] = "1" } };
        Assert.Contains(OperatorSpecValidator.Validate(spec), p => p.Field == "builtin.options.speed" && p.Message.Contains("rate"));
    }

    [Fact]
    public void Duplicate_and_malformed_streams_are_each_named_by_position()
    {
        var spec = Valid();
        spec.ExpectedInputs.Add(new InputStream { Name = "words" });
        spec.ExpectedOutputs.Add("bad stream");
        var problems = OperatorSpecValidator.Validate(spec);
        Assert.Contains(problems, p => p.Field == "inputs[1].stream" && p.Message.Contains("listed twice"));
        Assert.Contains(problems, p => p.Field == "outputs[1]" && p.Message.Contains("not a valid stream name"));
    }

    [Fact]
    public void Reserved_and_malformed_environment_names_are_rejected()
    {
        var spec = Valid();
        spec.Environment["CONCORD_OPERATOR_ADDRESS"] = "x";
        spec.Environment["1BAD"] = "x";
        var problems = OperatorSpecValidator.Validate(spec);
        Assert.Contains(problems, p => p.Field == "environment.CONCORD_OPERATOR_ADDRESS" && p.Message.Contains("reserved"));
        Assert.Contains(problems, p => p.Field == "environment.1BAD" && p.Message.Contains("not a valid variable name"));
    }

    [Fact]
    public void Relative_files_are_rejected_because_the_cli_resolves_them()
    {
        var spec = Valid();
        spec.Files.Add("words.txt");
        var problem = Assert.Single(OperatorSpecValidator.Validate(spec));
        Assert.Equal("files[0]", problem.Field);
    }

    [Fact]
    public void Describe_lists_every_problem_on_its_own_line()
    {
        var spec = Valid();
        spec.Instances = 0;
        spec.MemMb = -5;
        var text = OperatorSpecValidator.Describe(spec, OperatorSpecValidator.Validate(spec));
        Assert.Equal(3, text.Split('\n').Length);
        Assert.StartsWith("invalid operator 'counter':", text);
    }
}
