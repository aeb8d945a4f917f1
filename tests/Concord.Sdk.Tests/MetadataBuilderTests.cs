using Concord.Contracts.Types.V1;

namespace Concord.Sdk.Tests;

public sealed class MetadataBuilderTests
{
    [Fact]
    public void Builder_lists_inputs_with_groupings_and_outputs()
    {
        OperatorMetadata metadata = new MetadataBuilder("counter").Input("words", Grouping.GroupBy).Input("control").Output("counts");

        Assert.Equal("counter", metadata.Name);
        Assert.Equal([("words", Grouping.GroupBy), ("control", Grouping.Shuffle)], metadata.Inputs.Select(i => (i.Name, i.Grouping)));
        Assert.Equal(["counts"], metadata.Outputs);
    }

    [Theory]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("slash/name")]
    public void An_invalid_stream_name_is_rejected_naming_it(string stream)
    {
        var e = Assert.Throws<ArgumentException>(() => new MetadataBuilder("op").Output(stream));
        Assert.Contains($"'{stream}' is not a valid stream name", e.Message);
    }

    [Fact]
    public void A_stream_declared_twice_is_rejected()
    {
        var e = Assert.Throws<ArgumentException>(() => new MetadataBuilder("op").Output("a").Output("a"));
        Assert.Contains("declared twice", e.Message);
    }
}
