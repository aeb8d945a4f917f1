using System.Diagnostics;
using System.Text;
using Concord.Contracts.Scheduler.V1;
using Concord.EndToEnd.Tests.Harness;
using Concord.Testing.ZooKeeper;
using Grpc.Core;
using Xunit.Abstractions;

namespace Concord.EndToEnd.Tests;

/// <summary>
/// Scheduler high availability end to end (docs/cluster.md "High availability"), on loopback:
/// a one-server ZooKeeper ensemble, two schedulers with <c>--store zookeeper --runtime agents</c>
/// (one leads, one stands by), one agent that knows both, the word count running. The leader is
/// SIGKILLed: the standby takes office, adopts the instances, records keep reaching the sink and
/// a deploy right after succeeds.
/// </summary>
public class SchedulerFailoverTests(ITestOutputHelper log)
{
    /// <summary>
    /// The schedulers' ZooKeeper session timeout, in ms: 4 s. The dead leader's election node
    /// lasts until its session expires, so this is most of the failover time; shorter than the
    /// default (10 s) to approach the 5 s target, not so short that a leader starved of CPU on a
    /// loaded machine loses its session spuriously.
    /// </summary>
    private const int SessionTimeoutMs = 4_000;

    /// <summary>
    /// How long the standby may take to lead after the leader's death, in ms: the session
    /// timeout plus 5 s (ZooKeeper expires sessions on its tick, then the standby's watch fires
    /// and it bumps the epoch; the rest is slack for a loaded 2-core machine).
    /// </summary>
    private const int FailoverBoundMs = SessionTimeoutMs + 5_000;

    /// <summary>Records the sink must receive after the failover to count as "still flowing": 200 (the source emits 2 000/s).</summary>
    private const int LinesAfterFailoverMin = 200;

    private static readonly TimeSpan FlowTimeout = TestTimeouts.Flow;

    [Fact]
    public async Task Killing_the_leading_scheduler_hands_the_running_word_count_to_the_standby()
    {
        await using var ensemble = await ZooKeeperEnsemble.StartAsync(1);
        string[] arguments = ["--store", "zookeeper", "--zookeeper", ensemble.ConnectString, "--runtime", "agents",
            "--zookeeper-session-timeout-ms", SessionTimeoutMs.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        await using var first = await Cluster.StartAsync(schedulerArguments: arguments);
        await Eventually.UntilAsync(() => first.SchedulerOutput.Contains("Took office", StringComparison.Ordinal), TimeSpan.FromSeconds(Cluster.StartTimeoutSeconds),
            () => "the first scheduler to lead\n" + Cluster.Tail(first.SchedulerOutput, 40));

        // The schedulers of one cluster share its secrets: the operator token, the cluster key
        // (launch secrets of executors the standby adopts) and the agent secret.
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
        await Eventually.UntilAsync(() => Csv.Lines(output) > 0, FlowTimeout, () => $"records in {output}\nagent:\n{Cluster.Tail(agent.Output, 20)}");

        // The standby answers reads from the store and refuses writes naming the leader.
        Assert.Equal(["counter", "sink", "source"], (await second.Client.ListAsync(new ListRequest(), second.Call())).Operators.Select(o => o.Spec.Name).Order());
        var refused = await Assert.ThrowsAsync<RpcException>(() => second.Client.DeployAsync(new DeployRequest { Spec = Specs.Sink(output, "other") }, second.Call()).ResponseAsync);
        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Contains("the leader is " + first.Address, refused.Status.Detail, StringComparison.Ordinal);

        Processes.Kill(first.SchedulerPid, hard: true);
        var killed = Stopwatch.StartNew();
        var linesAtKill = Csv.Lines(output);
        await Eventually.UntilAsync(() => second.SchedulerOutput.Contains("Leading with epoch", StringComparison.Ordinal), TimeSpan.FromMilliseconds(FailoverBoundMs),
            () => "the standby to lead\n" + Cluster.Tail(second.SchedulerOutput, 40));
        var failoverMs = killed.ElapsedMilliseconds;
        // In office, it waits for the agents to report, adopts and applies the store.
        await Eventually.UntilAsync(() => second.SchedulerOutput.Contains("Took office", StringComparison.Ordinal), TimeSpan.FromSeconds(Cluster.StartTimeoutSeconds),
            () => "the new leader to reconcile\n" + Cluster.Tail(second.SchedulerOutput, 40));
        var reconciledMs = killed.ElapsedMilliseconds;

        // The topology is intact and its instances (adopted, not relaunched) run under the new leader.
        foreach (var (name, instances) in new[] { ("sink", 1), ("counter", 2), ("source", 1) })
        {
            await second.WaitRunningAsync(name, instances);
        }
        var runningMs = killed.ElapsedMilliseconds;
        await Eventually.UntilAsync(() => Csv.Lines(output) >= linesAtKill + LinesAfterFailoverMin, FlowTimeout,
            () => $"{LinesAfterFailoverMin} more records in {output} after the failover (had {linesAtKill}, have {Csv.Lines(output)})\nagent:\n{Cluster.Tail(agent.Output, 20)}");

        var other = Path.Combine(first.Home, "other.csv");
        await second.DeployAsync(Specs.Sink(other, "other"));
        log.WriteLine($"failover: the standby led {failoverMs} ms after the leader's SIGKILL (session timeout {SessionTimeoutMs} ms), " +
            $"had adopted and applied the store after {reconciledMs} ms, every instance running under it after {runningMs} ms");
        Assert.True(failoverMs <= FailoverBoundMs, $"failover took {failoverMs} ms");
    }

    /// <summary>
    /// The fencing drill with a live stale leader: the leader is frozen (SIGSTOP) past its session
    /// timeout, the standby takes office and deploys; woken (SIGCONT), the old leader may still
    /// believe it leads, yet a deploy sent straight to it at once lands nowhere (every store write
    /// is a multi-op checking the epoch the new leader bumped). It then rejoins as a standby by
    /// itself, on the same address, naming the new leader.
    /// </summary>
    [Fact]
    public async Task A_leader_frozen_past_its_session_timeout_changes_nothing_when_it_wakes_and_rejoins_as_a_standby()
    {
        await using var ensemble = await ZooKeeperEnsemble.StartAsync(1);
        string[] arguments = ["--store", "zookeeper", "--zookeeper", ensemble.ConnectString,
            "--zookeeper-session-timeout-ms", SessionTimeoutMs.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        await using var first = await Cluster.StartAsync(schedulerArguments: arguments);
        await Eventually.UntilAsync(() => first.SchedulerOutput.Contains("Took office", StringComparison.Ordinal), TimeSpan.FromSeconds(Cluster.StartTimeoutSeconds),
            () => "the first scheduler to lead\n" + Cluster.Tail(first.SchedulerOutput, 40));
        var standbyHome = Directory.CreateTempSubdirectory("cc-").FullName;
        foreach (var file in new[] { "token", "cluster.key" })
        {
            File.Copy(Path.Combine(first.Home, file), Path.Combine(standbyHome, file));
        }
        await using var second = await Cluster.StartAsync(home: standbyHome, schedulerArguments: arguments);
        await Eventually.UntilAsync(() => second.SchedulerOutput.Contains("Standing for election", StringComparison.Ordinal), TimeSpan.FromSeconds(Cluster.StartTimeoutSeconds),
            () => "the second scheduler to stand by\n" + Cluster.Tail(second.SchedulerOutput, 40));

        Processes.Freeze(first.SchedulerPid, frozen: true);
        try
        {
            await Eventually.UntilAsync(() => second.SchedulerOutput.Contains("Took office", StringComparison.Ordinal), TimeSpan.FromMilliseconds(FailoverBoundMs) + TimeSpan.FromSeconds(Cluster.StartTimeoutSeconds),
                () => "the standby to take office while the leader is frozen\n" + Cluster.Tail(second.SchedulerOutput, 40));
            await second.DeployAsync(Specs.Sink(Path.Combine(standbyHome, "fresh.csv"), "fresh"));
        }
        finally
        {
            Processes.Freeze(first.SchedulerPid, frozen: false);
        }

        // At once, before the woken scheduler has heard from ZooKeeper that its session is gone.
        var stale = await Assert.ThrowsAsync<RpcException>(() =>
            first.Client.DeployAsync(new DeployRequest { Spec = Specs.Sink(Path.Combine(first.Home, "stale.csv"), "stale") }, first.Call()).ResponseAsync);
        Assert.Equal(StatusCode.Unavailable, stale.StatusCode);
        log.WriteLine($"fencing: the woken old leader refused a deploy: {stale.Status.Detail}");
        var listed = await second.Client.ListAsync(new ListRequest(), second.Call());
        Assert.Equal(["fresh"], listed.Operators.Select(o => o.Spec.Name));
        Assert.Equal((second.Address, false), (listed.Leader, listed.FromStandby));

        // The old leader's run ends and the next one stands again with a new session, on the same address.
        await Eventually.UntilAsync(() => first.SchedulerOutput.Contains("starting again as a standby", StringComparison.Ordinal), TimeSpan.FromMilliseconds(FailoverBoundMs),
            () => "the old leader to start again as a standby\n" + Cluster.Tail(first.SchedulerOutput, 40));
        var rejoined = await Eventually.UntilAsync(async () =>
        {
            try
            {
                var list = await first.Client.ListAsync(new ListRequest(), first.Call());
                return list.Leader == second.Address ? list : null;
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable)
            {
                return null;
            }
        }, TimeSpan.FromSeconds(Cluster.StartTimeoutSeconds), () => "the old leader to serve again as a standby naming the new leader\n" + Cluster.Tail(first.SchedulerOutput, 40));
        Assert.True(rejoined.FromStandby);
        Assert.Equal(["fresh"], rejoined.Operators.Select(o => o.Spec.Name));
        var redirected = await Assert.ThrowsAsync<RpcException>(() =>
            first.Client.DeployAsync(new DeployRequest { Spec = Specs.Sink(Path.Combine(first.Home, "late.csv"), "late") }, first.Call()).ResponseAsync);
        Assert.Equal((StatusCode.Unavailable, $"this scheduler is a standby; the leader is {second.Address}"), (redirected.StatusCode, redirected.Status.Detail));
    }
}
