using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.EndToEnd.Tests.Harness;

namespace Concord.EndToEnd.Tests;

/// <summary>
/// `replace` with drop_state of a stateful exactly-once counter on a real cluster
/// (docs/live-changes.md, "Replace with --drop-state"): the participants restart from the last
/// checkpoint, the counter as the new version with empty state, and the pipeline keeps committing.
/// (Without drop_state the state is kept: ReplaceKeepingStateTests.)
/// </summary>
public sealed class ReplaceDropStateTests
{
    /// <summary>Records per second per generator instance: enough that words repeat within seconds.</summary>
    private const int RatePerInstance = 1_500;

    /// <summary>How long each phase may take on 2 busy cores (restarts and checkpoints included).</summary>
    private static readonly TimeSpan PhaseTimeout = TimeSpan.FromSeconds(120);

    private static OperatorSpec Counter(string version) => new()
    {
        Name = "counter",
        Executable = Repo.TestOperatorExe,
        Instances = 2,
        MemMb = 256,
        Delivery = DeliveryGuarantee.DeliveryExactlyOnce,
        // The conformance suite's C# test operator, case "state": count := count + 1 in keyed
        // state "count", produce (word, count).
        Environment = { ["CONFORMANCE_CASE"] = "state", ["VERSION"] = version },
        ExpectedInputs = { new InputStream { Name = "in", Grouping = Grouping.GroupBy } },
        ExpectedOutputs = { "out-a", "out-b" },
    };

    [Fact]
    public async Task Replace_with_drop_state_restarts_the_counter_as_the_new_version_with_empty_state_and_the_pipeline_keeps_committing()
    {
        await using var cluster = await Cluster.StartAsync();
        var output = Path.Combine(cluster.Home, "committed");
        await cluster.DeployAsync(new OperatorSpec
        {
            Name = "sink",
            Instances = 1,
            Delivery = DeliveryGuarantee.DeliveryExactlyOnce,
            Builtin = new BuiltinOperator { Kind = "csv-sink", Options = { ["path"] = output } },
            ExpectedInputs = { new InputStream { Name = "out-a", Grouping = Grouping.Shuffle } },
        });
        await cluster.DeployAsync(Counter("1"));
        await cluster.DeployAsync(new OperatorSpec
        {
            Name = "source",
            Instances = 1,
            Delivery = DeliveryGuarantee.DeliveryExactlyOnce,
            Builtin = new BuiltinOperator
            {
                Kind = "generator",
                Options = { ["dictionary"] = Repo.Dictionary, ["rate"] = RatePerInstance.ToString(System.Globalization.CultureInfo.InvariantCulture), ["stream"] = "in" },
            },
            ExpectedOutputs = { "in" },
        });
        await Eventually.UntilAsync(() => FirstCounts(output).Values.Any(n => n > 0), PhaseTimeout,
            () => $"committed output in {output}\n{Cluster.Tail(cluster.SchedulerOutput, 40)}\n{cluster.InstanceLogs("sink")}");
        var before = await cluster.Client.ListAsync(new ListRequest(), cluster.Call());
        var oldIncarnations = before.Operators.Where(o => o.Spec.Name is "counter" or "source").SelectMany(o => o.Instances).Select(i => i.Incarnation).ToHashSet();
        // Exactly once so far: every word's count 1 is committed once.
        Assert.All(FirstCounts(output), w => Assert.Equal(1, w.Value));

        // Without drop_state a new version without a guarantee is refused: it would lose the state.
        var withoutGuarantee = Counter("2");
        withoutGuarantee.Delivery = DeliveryGuarantee.DeliveryAtMostOnce;
        var refused = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() =>
            cluster.Client.ReplaceAsync(new ReplaceRequest { Spec = withoutGuarantee }, cluster.Call()).ResponseAsync);
        var response = await cluster.Client.ReplaceAsync(new ReplaceRequest { Spec = Counter("2"), DropState = true }, cluster.Call());

        Assert.Equal(Grpc.Core.StatusCode.FailedPrecondition, refused.StatusCode);
        Assert.Contains("--drop-state", refused.Status.Detail);
        Assert.True(response.Restarted);
        var counter = await cluster.WaitForAsync("counter",
            o => o.Instances.Count == 2 && o.Instances.All(i => i.State == InstanceState.Running && !oldIncarnations.Contains(i.Incarnation)),
            "both counter instances running as new incarnations");
        Assert.Equal("2", counter.Spec.Environment["VERSION"]);
        await cluster.WaitForAsync("source",
            o => o.Instances.All(i => i.State == InstanceState.Running && !oldIncarnations.Contains(i.Incarnation)), "the source restarted");
        // The new counter started empty: words it counted before count from 1 again, so some
        // word's count 1 is committed twice (the source rewound to the checkpoint, the sink kept its commits).
        await Eventually.UntilAsync(() => FirstCounts(output).Values.Any(n => n >= 2), PhaseTimeout,
            () => $"a word counted from 1 again after the replace in {output}\n{Cluster.Tail(cluster.SchedulerOutput, 40)}\n{cluster.InstanceLogs("counter")}");
        Assert.All(counter.Instances, i => Assert.Equal(0UL, i.RestoredCheckpointId));
    }

    /// <summary>Per word, how many committed lines say its count is 1.</summary>
    private static Dictionary<string, int> FirstCounts(string directory)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        if (!Directory.Exists(directory))
        {
            return counts;
        }
        foreach (var line in Directory.EnumerateFiles(directory).Where(f => Path.GetFileName(f).StartsWith("part-", StringComparison.Ordinal)).SelectMany(Csv.ReadLines))
        {
            var comma = line.LastIndexOf(',');
            if (comma > 0 && line[(comma + 1)..] == "1")
            {
                counts[line[..comma]] = counts.GetValueOrDefault(line[..comma]) + 1;
            }
        }
        return counts;
    }
}
