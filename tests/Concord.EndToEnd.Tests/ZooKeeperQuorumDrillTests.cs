using System.Diagnostics;
using Concord.Contracts.Scheduler.V1;
using Concord.EndToEnd.Tests.Harness;
using Concord.Testing.ZooKeeper;
using Grpc.Core;
using Xunit.Abstractions;

namespace Concord.EndToEnd.Tests;

/// <summary>
/// The ZooKeeper drills of issue 14, on loopback: a three-server ensemble, two schedulers with
/// <c>--store zookeeper --runtime agents</c>, one agent, the word count running. Losing one
/// server changes nothing (records flow, a deploy lands); losing the quorum keeps the pipeline
/// flowing while changes are refused with an error naming ZooKeeper; when the servers return, a
/// scheduler leads again, adopts the instances, and a deploy lands.
/// </summary>
public class ZooKeeperQuorumDrillTests(ITestOutputHelper log)
{
    /// <summary>The schedulers' ZooKeeper session timeout, in ms (as in SchedulerFailoverTests).</summary>
    private const int SessionTimeoutMs = 4_000;

    /// <summary>Records the sink must receive in each phase to count as "still flowing": 200 (the source emits 2 000/s).</summary>
    private const int LinesPerPhaseMin = 200;

    /// <summary>
    /// How long both schedulers may take to give up their term or candidacy once the quorum is
    /// lost, in ms: the session timeout plus 5 s of slack. The quorum stays lost that long at
    /// most, well inside ExecutorLimits.SchedulerLostTimeoutMs (60 s), the time executors run
    /// without any scheduler.
    /// </summary>
    private const int QuorumLostBoundMs = SessionTimeoutMs + 5_000;

    /// <summary>What a scheduler logs when its term or candidacy ended (SchedulerHostedService).</summary>
    private const string RunEnds = "This run of the scheduler ends because";

    private static readonly TimeSpan FlowTimeout = TestTimeouts.Flow;

    [Fact]
    public async Task Losing_one_server_changes_nothing_and_losing_the_quorum_refuses_changes_while_records_flow_until_it_returns()
    {
        await using var ensemble = await ZooKeeperEnsemble.StartAsync(3);
        string[] arguments = ["--store", "zookeeper", "--zookeeper", ensemble.ConnectString, "--runtime", "agents",
            "--zookeeper-session-timeout-ms", SessionTimeoutMs.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        await using var first = await Cluster.StartAsync(schedulerArguments: arguments);
        await Eventually.UntilAsync(() => first.SchedulerOutput.Contains("Took office", StringComparison.Ordinal), TimeSpan.FromSeconds(Cluster.StartTimeoutSeconds),
            () => "the first scheduler to lead\n" + Cluster.Tail(first.SchedulerOutput, 40));
        var standbyHome = Directory.CreateTempSubdirectory("cc-").FullName;
        foreach (var file in new[] { "token", "cluster.key", "agent.secret" })
        {
            File.Copy(Path.Combine(first.Home, file), Path.Combine(standbyHome, file));
        }
        await using var second = await Cluster.StartAsync(home: standbyHome, schedulerArguments: arguments);
        await using var agent = AgentProcess.Start(first.Home, $"{first.Address},{second.Address}", "a", cpus: 8, memMb: 8192);
        await Eventually.UntilAsync(() => first.SchedulerOutput.Contains("Agent a connected", StringComparison.Ordinal), TimeSpan.FromSeconds(Cluster.StartTimeoutSeconds),
            () => $"the agent connected to the leader\nagent:\n{agent.Output}");
        var output = Path.Combine(first.Home, "counts.csv");
        await first.DeployAsync(Specs.Sink(output));
        await first.DeployAsync(Specs.Counter(instances: 2));
        await first.DeployAsync(Specs.Source(rate: 2_000));
        await WaitFlowingAsync(output, "before any server is lost", agent);

        // One of three servers lost (ZooKeeper's own leader, the worst one): no effect.
        var lost = ensemble.Servers.First(s => s.Mode == "leader");
        await lost.StopAsync();
        await WaitFlowingAsync(output, "with one server lost", agent);
        await first.DeployAsync(Specs.Sink(Path.Combine(first.Home, "one-lost.csv"), "one-lost"));

        // A second server lost: no quorum. Records keep flowing; a change is refused naming ZooKeeper.
        var second_lost = ensemble.Servers.First(s => s.IsRunning);
        await second_lost.StopAsync();
        var quorumLost = Stopwatch.StartNew();
        await WaitFlowingAsync(output, "without a quorum", agent);
        // A change sent at the very instant the quorum goes may sit in a server's log and be
        // committed when it returns (ZooKeeper's own rule: a lost answer is no answer); so the
        // drill asks once each scheduler has noticed: past the session timeout, every term and
        // candidacy has ended and every change is refused, naming ZooKeeper, with nothing sent.
        await Eventually.UntilAsync(() => first.SchedulerOutput.Contains(RunEnds, StringComparison.Ordinal) && second.SchedulerOutput.Contains(RunEnds, StringComparison.Ordinal),
            TimeSpan.FromMilliseconds(QuorumLostBoundMs), () => $"both schedulers' terms or candidacies to end without a quorum\nfirst:\n{Cluster.Tail(first.SchedulerOutput, 20)}\nsecond:\n{Cluster.Tail(second.SchedulerOutput, 20)}");
        foreach (var scheduler in new[] { first, second })
        {
            var refused = await Assert.ThrowsAsync<RpcException>(() =>
                scheduler.Client.DeployAsync(new DeployRequest { Spec = Specs.Sink(Path.Combine(first.Home, "no-quorum.csv"), "no-quorum") }, scheduler.Call()).ResponseAsync);
            Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
            Assert.Contains("cannot reach ZooKeeper", refused.Status.Detail, StringComparison.Ordinal);
            log.WriteLine($"quorum lost for {quorumLost.ElapsedMilliseconds} ms: a deploy was refused: {refused.Status.Detail}");
        }
        await WaitFlowingAsync(output, $"{quorumLost.ElapsedMilliseconds} ms without a quorum", agent);

        // The servers return: a scheduler leads again, adopts what runs, and takes changes.
        await ensemble.RestartAsync(second_lost);
        await ensemble.RestartAsync(lost);
        var returned = Stopwatch.StartNew();
        var leader = await Eventually.UntilAsync(async () =>
        {
            foreach (var scheduler in new[] { first, second })
            {
                try
                {
                    var list = await scheduler.Client.ListAsync(new ListRequest(), scheduler.Call());
                    if (!list.FromStandby && list.Leader.Length > 0)
                    {
                        return scheduler;
                    }
                }
                catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable)
                {
                    // Between runs, or still catching up.
                }
            }
            return null;
        }, TimeSpan.FromSeconds(Cluster.StartTimeoutSeconds * 2), () => $"a scheduler to lead again\nfirst:\n{Cluster.Tail(first.SchedulerOutput, 30)}\nsecond:\n{Cluster.Tail(second.SchedulerOutput, 30)}");
        var ledMs = returned.ElapsedMilliseconds;
        foreach (var (name, instances) in new[] { ("sink", 1), ("counter", 2), ("source", 1), ("one-lost", 1) })
        {
            await leader.WaitRunningAsync(name, instances);
        }
        await leader.DeployAsync(Specs.Sink(Path.Combine(first.Home, "after.csv"), "after"));
        await WaitFlowingAsync(output, "after the quorum returned", agent);
        var names = (await leader.Client.ListAsync(new ListRequest(), leader.Call())).Operators.Select(o => o.Spec.Name).Order();
        Assert.Equal(["after", "counter", "one-lost", "sink", "source"], names);
        log.WriteLine($"quorum returned: {(leader == first ? "the first" : "the second")} scheduler led {ledMs} ms after the servers served again");
    }

    private static async Task WaitFlowingAsync(string output, string phase, AgentProcess agent)
    {
        var had = Csv.Lines(output);
        await Eventually.UntilAsync(() => Csv.Lines(output) >= had + LinesPerPhaseMin, FlowTimeout,
            () => $"{LinesPerPhaseMin} more records in {output} {phase} (had {had}, have {Csv.Lines(output)})\nagent:\n{Cluster.Tail(agent.Output, 20)}");
    }
}
