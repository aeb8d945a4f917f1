using System.Text.Json;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.EndToEnd.Tests.Harness;
using Grpc.Core;
using static Concord.EndToEnd.Tests.Harness.Guarantees;

namespace Concord.EndToEnd.Tests;

/// <summary>
/// `replace` of the exactly-once keyed-state counter on a real cluster, under load
/// (docs/live-changes.md, "Replace of an operator with a delivery guarantee"): a compatible new
/// version continues the counts from a fresh checkpoint; one that renames the state is refused by
/// its executors' restore and rolled back with nothing lost. Either way the committed counts are exact.
/// </summary>
public sealed class ReplaceKeepingStateTests
{
    /// <summary>Records per generator lane; 2 lanes (instances).</summary>
    private const int RecordsPerLane = 12_000;

    /// <summary>Records per second per generator instance: the stream lasts long enough (20 s a lane) for both replaces to land mid-stream.</summary>
    private const int RatePerInstance = 600;

    /// <summary>Deadline of a Replace call, in seconds: a checkpoint, the restart, and the new version running (the scheduler bounds each).</summary>
    private const int ReplaceCallTimeoutSeconds = 150;

    /// <summary>How long one phase of the run may take, on 2 busy cores.</summary>
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(90);

    private static int Total => GeneratorInstances * RecordsPerLane;

    /// <summary>The counter of <see cref="Guarantees.Counter"/>, one version of it (the test operator reads VERSION nowhere: it only changes the spec).</summary>
    private static OperatorSpec CounterVersion(string version)
    {
        var spec = Counter(instances: 2);
        spec.Environment["VERSION"] = version;
        return spec;
    }

    [Fact]
    public async Task Replacing_the_keyed_state_counter_under_load_continues_its_counts_and_a_version_that_renames_the_state_is_rolled_back_losing_nothing()
    {
        await using var cluster = await Cluster.StartAsync();
        var output = Path.Combine(cluster.Home, "committed");
        await cluster.DeployAsync(FileSink(output, "out-a"));
        await cluster.DeployAsync(CounterVersion("1"));
        await cluster.DeployAsync(Generator("in", RecordsPerLane, RatePerInstance));
        var steps = new List<string>();

        // 1. A compatible new version (same state name): the counts continue from the checkpoint.
        await GrowthAsync(cluster, () => CommittedLines(output).Count, RunTimeout, "before the compatible replace");
        var before = CommittedLines(output).Count;
        Assert.True(before < Total, "the generator finished before the compatible replace; slow it down (RatePerInstance)");
        var replaced = await cluster.Client.ReplaceAsync(new ReplaceRequest { Spec = CounterVersion("2") },
            new CallOptions(deadline: DateTime.UtcNow.AddSeconds(ReplaceCallTimeoutSeconds)));
        Assert.True(replaced.Restarted);
        Assert.Equal("2", replaced.Operator.Spec.Environment["VERSION"]);
        Assert.All(replaced.Operator.Instances, i => Assert.True(i.State == InstanceState.Running && i.RestoredCheckpointId > 0,
            $"counter/{i.Index} runs the new version restored from the replace's checkpoint: {i}"));
        var restored = replaced.Operator.Instances[0].RestoredCheckpointId;
        steps.Add($"replaced by version 2 at {before} committed lines, restored from checkpoint {restored}");

        // 2. A version that declares "total" instead of "count": its executors refuse the checkpoint, the replace rolls back.
        await GrowthAsync(cluster, () => CommittedLines(output).Count, RunTimeout, string.Join(", ", steps));
        before = CommittedLines(output).Count;
        Assert.True(before < Total, $"the generator finished before the incompatible replace; slow it down (RatePerInstance). {string.Join(", ", steps)}");
        var incompatible = CounterVersion("3");
        incompatible.Environment["STATE_NAME"] = "total";
        var file = Path.Combine(cluster.Home, "counter-v3.json");
        File.WriteAllText(file, JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["name"] = "counter",
            ["executable"] = incompatible.Executable,
            ["instances"] = 2,
            ["mem"] = 256,
            ["delivery"] = "exactly_once",
            ["environment"] = incompatible.Environment.ToDictionary(e => e.Key, e => e.Value),
            ["inputs"] = new object[] { new Dictionary<string, string> { ["stream"] = "in", ["grouping"] = "group_by" } },
            ["outputs"] = new[] { "out-a", "out-b" },
        }));
        var cli = await CliRunner.RunAsync(cluster.Home, "replace", file);

        Assert.True(cli.ExitCode != 0, $"the incompatible replace exited 0:\n{cli.Out}\n{cli.Err}");
        Assert.Contains("replace of 'counter' failed and was rolled back", cli.Err);
        Assert.Contains("so nothing is lost", cli.Err);
        Assert.Contains("holds state 'count' of 'counter' that this version does not declare (it declares 'total')", cli.Err);
        Assert.Contains("--drop-state", cli.Err);
        var back = await cluster.WaitForAsync("counter", o => o.Instances.Count == 2 && o.Instances.All(i => i.State == InstanceState.Running),
            "the counter running again after the roll back");
        Assert.Equal("2", back.Spec.Environment["VERSION"]);
        Assert.False(back.Spec.Environment.ContainsKey("STATE_NAME"));
        Assert.All(back.Instances, i => Assert.True(i.RestoredCheckpointId >= restored, $"counter/{i.Index} restored a checkpoint after the roll back: {i}"));
        steps.Add($"incompatible replace at {before} committed lines rolled back");

        // Exactly once across both: every word's counts 1..n, each once — none restarted from zero, none lost.
        var happened = string.Join(", ", steps);
        var lines = await AllCommittedAsync(cluster, output, Total, RunTimeout, happened);
        AssertExactCounts(lines, Reference(GeneratorInstances, RecordsPerLane), happened);
        await AssertRestoredAndNothingUncommittedAsync(cluster, output);
    }
}
