using Concord.Contracts.Types.V1;

namespace Concord.Contracts.Tests;

/// <summary>The deploy file's "image" (OperatorSpec.image): optional, a bounded image reference, not for a built-in.</summary>
public class OperatorSpecImageTests
{
    private static OperatorSpec WithImage(string image) => new() { Name = "counter", Executable = "counter", Instances = 1, Image = image };

    [Theory]
    [InlineData("counter")]
    [InlineData("counter:1.0")]
    [InlineData("registry.example.com/team/counter:1.0")]
    [InlineData("registry.example.com:5000/team/word-count_2:v1.2-rc.1")]
    [InlineData("registry.example.com/team/counter@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    [InlineData("registry.example.com/team/counter:1.0@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    public void Image_references_are_accepted(string image)
    {
        Assert.Empty(OperatorSpecValidator.Validate(WithImage(image)));
    }

    [Fact]
    public void No_image_is_valid_for_runtimes_that_start_processes_on_their_hosts()
    {
        Assert.Empty(OperatorSpecValidator.Validate(WithImage("")));
    }

    [Theory]
    [InlineData("   ", "the image is empty")]
    [InlineData("counter:", "is not an image reference")]
    [InlineData("registry.example.com/Team/counter", "is not an image reference")]
    [InlineData("counter:1.0; rm -rf /", "is not an image reference")]
    [InlineData("counter@sha256:abc", "is not an image reference")]
    [InlineData("-counter", "is not an image reference")]
    public void A_malformed_image_is_refused_naming_the_form(string image, string fragment)
    {
        var problem = Assert.Single(OperatorSpecValidator.Validate(WithImage(image)));
        Assert.Equal("image", problem.Field);
        Assert.Contains(fragment, problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_image_is_bounded_at_its_limit()
    {
        var atLimit = "r/" + new string('a', ProtocolLimits.ImageCharsMax - 2);
        Assert.Empty(OperatorSpecValidator.Validate(WithImage(atLimit)));

        var problem = Assert.Single(OperatorSpecValidator.Validate(WithImage(atLimit + "a")));
        Assert.Contains($"at most {ProtocolLimits.ImageCharsMax} characters", problem.Message, StringComparison.Ordinal);
        // The echo is bounded too: a huge value does not come back whole.
        Assert.True(problem.Message.Length < ProtocolLimits.ImageCharsMax, problem.Message);
    }

    [Fact]
    public void A_builtin_with_an_image_is_refused_with_the_fix()
    {
        var spec = new OperatorSpec
        {
            Name = "sink",
            Instances = 1,
            Image = "registry.example.com/team/counter:1.0",
            Builtin = new BuiltinOperator { Kind = "csv-sink", Options = { ["path"] = "/tmp/out.csv" } },
            ExpectedInputs = { new InputStream { Name = "counts" } },
        };

        var problem = Assert.Single(OperatorSpecValidator.Validate(spec), p => p.Field == "image");
        Assert.Contains("runs inside the executor's image", problem.Message, StringComparison.Ordinal);
    }
}
