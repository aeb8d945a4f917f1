namespace Concord.Cli.Tests;

/// <summary>The deploy file's <c>image</c> (docs/deploy-file.md, docs/kubernetes.md).</summary>
public sealed class ImageDeployFileTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void The_image_is_read_into_the_spec_and_left_out_means_none()
    {
        var set = DeployFile.Parse(_dir.Write("a.json", """{"name": "c", "executable": "x", "image": "registry.example.com/team/c:1.0"}"""));
        var unset = DeployFile.Parse(_dir.Write("b.json", """{"name": "c", "executable": "x"}"""));

        Assert.Equal("registry.example.com/team/c:1.0", set.Image);
        Assert.Equal("", unset.Image);
    }

    [Theory]
    [InlineData("\"\"", "is empty")]
    [InlineData("\"team/c:\"", "is not an image reference")]
    [InlineData("1", "expected a string, got a number")]
    public void A_wrong_image_names_the_field_and_the_fix(string value, string fragment)
    {
        var error = Assert.Throws<DeployFileException>(() =>
            DeployFile.Parse(_dir.Write("op.json", $$"""{"name": "c", "executable": "x", "image": {{value}}}""")));

        var problem = Assert.Single(error.Problems);
        Assert.Equal("image", problem.Field);
        Assert.Contains(fragment, problem.Message, StringComparison.Ordinal);
    }
}
