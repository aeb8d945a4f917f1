using System.Diagnostics;
using System.Text.Json;
using Concord.Contracts.Types.V1;
using Concord.EndToEnd.Tests.Harness;
using Grpc.Core;

namespace Concord.EndToEnd.Tests;

/// <summary>
/// A deploy that would close a loop (an operator reading "counts" and writing "words" beside the
/// word count's counter) is refused naming the loop, and the word count keeps flowing; without
/// the check the loop deadlocks the topology within a second.
/// </summary>
public class CycleTests
{
    private static readonly TimeSpan FlowTimeout = TestTimeouts.Flow;

    /// <summary>Longest the CLI's deploy may take, in seconds (it is refused before anything starts).</summary>
    private const int CommandTimeoutSeconds = 60;

    private const string Loop = "counts → loop → words → counter → counts";

    private static async Task<(int ExitCode, string Out, string Err)> ConcordAsync(Cluster cluster, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet", [Repo.CliDll, "--scheduler", cluster.Address, .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["CONCORD_HOME"] = cluster.Home;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(CommandTimeoutSeconds));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    [Fact]
    public async Task A_deploy_that_closes_a_loop_is_refused_naming_it_and_the_word_count_keeps_flowing()
    {
        await using var cluster = await Cluster.StartAsync();
        var output = Path.Combine(cluster.Home, "counts.csv");
        await cluster.DeployAsync(Specs.Sink(output));
        await cluster.DeployAsync(Specs.Counter(instances: 2));
        await cluster.DeployAsync(Specs.Source(rate: 5_000));
        await Eventually.UntilAsync(() => Csv.Lines(output) > 1_000, FlowTimeout, () => $"counts flowing into {output}");

        // As a user would: a deploy file through the CLI.
        using var dir = new TempDirectory();
        var deployFile = dir.Write("loop.json", JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["name"] = "loop",
            ["executable"] = Repo.WordCountExe,
            ["args"] = new[] { "counter" },
            ["inputs"] = new[] { "counts" },
            ["outputs"] = new[] { "words" },
        }));
        var deploy = await ConcordAsync(cluster, "deploy", deployFile, "--no-wait");

        Assert.Equal(1, deploy.ExitCode);
        Assert.Contains($"operator 'loop' would close a cycle: {Loop}", deploy.Err);
        Assert.Contains("\"allow_cycles\": true", deploy.Err);
        Assert.Null(await cluster.FindAsync("loop"));

        // The same through the API: FailedPrecondition, and nothing was launched.
        var spec = Specs.Counter("loop", instances: 1);
        spec.ExpectedInputs.Clear();
        spec.ExpectedInputs.Add(new InputStream { Name = "counts" });
        spec.ExpectedOutputs.Clear();
        spec.ExpectedOutputs.Add("words");
        var refused = await Assert.ThrowsAsync<RpcException>(() => cluster.DeployAsync(spec, waitRunning: false));
        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
        Assert.Contains(Loop, refused.Status.Detail);

        var before = Csv.Lines(output);
        await Eventually.UntilAsync(() => Csv.Lines(output) > before + 1_000, FlowTimeout,
            () => $"counts still flowing into {output} after the refusal (had {before}, have {Csv.Lines(output)})\n{cluster.InstanceLogs("counter")}");
        Assert.Equal(["counter", "sink", "source"], (await cluster.Client.ListAsync(new Contracts.Scheduler.V1.ListRequest(), cluster.Call())).Operators.Select(o => o.Spec.Name));
    }
}
