using Concord.Cli;

namespace Concord.Cli.Tests;

/// <summary>The word count's deploy files for Kubernetes (deploy/kubernetes/wordcount, docs/kubernetes.md) are accepted by the CLI as they are.</summary>
public sealed class KubernetesDeployFileTests
{
    [Theory]
    [InlineData("source.json", "WordCount")]
    [InlineData("counter-python.json", "python3")]
    [InlineData("sink.json", "WordCount")]
    public void The_kubernetes_word_count_deploy_files_parse_with_the_image_and_a_command_inside_it(string file, string executable)
    {
        var spec = DeployFile.Parse(Path.Combine(RepoPaths.Root, "deploy", "kubernetes", "wordcount", file));

        // A bare name: not resolved against (or checked on) the deploying machine.
        Assert.Equal(executable, spec.Executable);
        Assert.StartsWith("REGISTRY/concord/wordcount-", spec.Image, StringComparison.Ordinal);
        Assert.Empty(spec.Files);
        Assert.DoesNotContain("OPERATOR_IMAGE", spec.Environment.Keys);
    }
}
