using Concord.Contracts;

namespace Concord.Cli.Tests;

/// <summary>The deploy file's <c>unavailable_reader_drop_after_ms</c> (docs/deploy-file.md, docs/data-plane.md).</summary>
public sealed class UnavailableReaderDeployFileTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void The_bound_is_read_into_the_spec_and_left_out_means_the_default()
    {
        var set = DeployFile.Parse(_dir.Write("a.json", """{"name": "c", "executable": "x", "unavailable_reader_drop_after_ms": 1500}"""));
        var unset = DeployFile.Parse(_dir.Write("b.json", """{"name": "c", "executable": "x"}"""));

        Assert.Equal(1500, set.UnavailableReaderDropAfterMs);
        Assert.Equal(0, unset.UnavailableReaderDropAfterMs); // 0: ExecutorLimits.UnavailableReaderDropAfterMsDefault
    }

    [Theory]
    [InlineData("0")]
    [InlineData("600001")]
    [InlineData("99999999999")]
    public void A_bound_out_of_range_names_the_field_and_the_range(string value)
    {
        var error = Assert.Throws<DeployFileException>(() =>
            DeployFile.Parse(_dir.Write("op.json", $$"""{"name": "c", "executable": "x", "unavailable_reader_drop_after_ms": {{value}}}""")));

        var problem = Assert.Single(error.Problems);
        Assert.Equal("unavailable_reader_drop_after_ms", problem.Field);
        Assert.Contains($"{value} is out of range; use 1..{ProtocolLimits.UnavailableReaderDropAfterMsMax}", problem.Message);
    }

    [Fact]
    public void The_watermark_out_of_orderness_is_read_into_the_spec_and_checked()
    {
        var set = DeployFile.Parse(_dir.Write("w.json", """{"name": "c", "executable": "x", "watermark_out_of_orderness_ms": 5000}"""));
        Assert.Equal(5000, set.WatermarkOutOfOrdernessMs);

        var error = Assert.Throws<DeployFileException>(() =>
            DeployFile.Parse(_dir.Write("bad.json", $$"""{"name": "c", "executable": "x", "watermark_out_of_orderness_ms": {{ProtocolLimits.WatermarkOutOfOrdernessMsMax + 1}}}""")));
        var problem = Assert.Single(error.Problems);
        Assert.Equal("watermark_out_of_orderness_ms", problem.Field);
        Assert.Contains($"use 0..{ProtocolLimits.WatermarkOutOfOrdernessMsMax}", problem.Message);
        Assert.Contains(OperatorSpecValidator.Validate(new Contracts.Types.V1.OperatorSpec { Name = "c", Executable = "x", WatermarkOutOfOrdernessMs = -1 }),
            p => p.Field == "watermark_out_of_orderness_ms");
    }
}
