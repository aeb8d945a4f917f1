using Concord.Contracts.Types.V1;
using Concord.EndToEnd.Tests.Harness;

namespace Concord.EndToEnd.Tests;

/// <summary>
/// A plain .py file is an operator: "executable": "/usr/bin/python3" (Debian's interpreter, which
/// has grpcio and protobuf; a bare "python3" may be a pyenv one without them), "args":
/// ["counter.py"] with the file listed in "files", and no wrapper script: the local runtime puts
/// the repository's sdk/python on PYTHONPATH, so `import concord` works (docs/sdk-python.md).
/// </summary>
public class PlainFileOperatorTests
{
    [Fact]
    public async Task A_python_file_run_by_the_interpreter_counts_words_without_a_wrapper_or_PYTHONPATH()
    {
        await using var cluster = await Cluster.StartAsync();
        var output = Path.Combine(cluster.Home, "counts.csv");
        var counterPy = Path.Combine(Repo.Root, "examples", "wordcount", "python", "counter.py");
        await cluster.DeployAsync(Specs.Sink(output));
        await cluster.DeployAsync(new OperatorSpec
        {
            Name = "counter",
            Executable = "/usr/bin/python3",
            Args = { "counter.py" },
            Instances = 1,
            Files = { counterPy },
            ExpectedInputs = { new InputStream { Name = "words", Grouping = Grouping.GroupBy } },
            ExpectedOutputs = { "counts" },
        });
        await cluster.DeployAsync(Specs.Source(rate: 2_000));

        await Eventually.UntilAsync(() => Csv.Lines(output) > 500, TestTimeouts.Flow,
            () => $"counts from the Python counter in {output} (have {Csv.Lines(output)})\n{cluster.InstanceLogs("counter")}");
    }
}
