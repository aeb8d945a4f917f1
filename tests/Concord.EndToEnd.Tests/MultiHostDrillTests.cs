using Concord.EndToEnd.Tests.Harness;
using Xunit.Abstractions;

namespace Concord.EndToEnd.Tests;

/// <summary>
/// The issue-14 drills on simulated hosts (network namespaces on one bridge): a scheduler with
/// mutual TLS on h1 and <c>concord agent</c> on h2..h4, each advertising its own address
/// (<see cref="MultiHostCluster"/>). docs/cluster.md, "Heartbeats, lost agents and their return"
/// and "Placement", says what they prove.
/// </summary>
public sealed class MultiHostDrillTests(ITestOutputHelper log)
{
    /// <summary>
    /// The scheduler's <c>SchedulerLimits.AgentHeartbeatTimeoutMs</c> (this project does not
    /// reference the scheduler): an agent silent this long is lost.
    /// </summary>
    private const int AgentHeartbeatTimeoutMs = 10_000;

    /// <summary>
    /// Time allowed beyond the heartbeat timeout, in ms, for every instance of a lost agent to be
    /// running again elsewhere: the relaunch is immediate, but on a shared 2-core machine an
    /// executor and its operator take a few seconds to start and register.
    /// </summary>
    private const int RescheduleBoundMs = 20_000;

    /// <summary>
    /// Longest a healed agent may take, in ms, to reconnect and have its stale copies stopped:
    /// reconnect back-off (at most 2 s, <c>AgentReconnectBackoffMsMax</c>), TLS handshake, hello,
    /// and a clean stop of the executors.
    /// </summary>
    private const int StaleStopBoundMs = 30_000;

    /// <summary>Words per second from the source: a steady flow for the whole drill, light on a 2-core machine.</summary>
    private const int SourceRate = 2_000;

    /// <summary>Cpus of each agent in the reschedule drill: 3 agents of 2 hold 4 instances of 1 with room for the 1-2 of a lost one.</summary>
    private const double AgentCpus = 2;

    /// <summary>Memory of each agent, in MiB: never the binding resource in the reschedule drill.</summary>
    private const int AgentMemMb = 4096;

    [Fact]
    public async Task An_agent_cut_off_has_its_instances_moved_within_the_heartbeat_timeout_and_its_stale_copies_stopped_on_heal()
    {
        await using var cluster = await MultiHostCluster.StartAsync(agents: 3, AgentCpus, AgentMemMb);
        var counts = cluster.Combine("counts.csv");
        // Readers before writers: records on a stream nobody reads yet are dropped (at-most-once).
        await cluster.DeployAsync("sink", 1, new Dictionary<string, string> { ["WORDCOUNT_OUTPUT"] = counts });
        await cluster.DeployAsync("counter", 2, new Dictionary<string, string>());
        await cluster.DeployAsync("source", 1, new Dictionary<string, string> { ["WORDCOUNT_RATE"] = SourceRate.ToString(System.Globalization.CultureInfo.InvariantCulture), ["WORDCOUNT_LIMIT"] = "0" });

        var placed = await AllRunningAsync(cluster, exceptOn: null, TimeSpan.FromSeconds(Cluster.RunningTimeoutSeconds));
        Assert.True(placed.Select(i => i.Host).Distinct().Count() >= 2, $"the instances should spread over at least two agents: {string.Join(", ", placed)}");
        await Eventually.UntilAsync(() => Csv.Lines(counts) > 0, TestTimeouts.Flow, () => $"counts reach {counts}\n{cluster.Describe()}");

        // The victim: an agent with a counter instance, if possible neither the sink's nor the
        // source's, so records keep crossing the bridge while it is away.
        var victim = placed.Where(i => i.Host.Length > 0).GroupBy(i => i.Host)
            .OrderByDescending(g => g.Any(i => i.Operator == "counter"))
            .ThenBy(g => g.Count(i => i.Operator != "counter"))
            .First().Key;
        var moved = placed.Where(i => i.Host == victim).ToList();
        var executorsBefore = cluster.ExecutorsOn(victim);
        Assert.Equal(moved.Count, executorsBefore.Count);

        var cutAt = System.Diagnostics.Stopwatch.StartNew();
        cluster.Network.Host(int.Parse(victim[1..], System.Globalization.CultureInfo.InvariantCulture)).CutOff();

        var after = await AllRunningAsync(cluster, exceptOn: victim, TimeSpan.FromMilliseconds(AgentHeartbeatTimeoutMs + RescheduleBoundMs));
        var movedAfterMs = cutAt.ElapsedMilliseconds;
        Assert.Equal(placed.Count, after.Count);
        Assert.Contains($"agent {victim} lost", cluster.SchedulerOutput, StringComparison.Ordinal);
        // While cut off, the agent keeps its copies running: the scheduler cannot reach them.
        Assert.Equal(executorsBefore.Count, cluster.ExecutorsOn(victim).Count);

        var linesAtMove = Csv.Lines(counts);
        await Eventually.UntilAsync(() => Csv.Lines(counts) > linesAtMove, TestTimeouts.Flow,
            () => $"the sink keeps receiving after the move ({linesAtMove} lines in {counts} {movedAfterMs} ms after the cut)\n{cluster.Describe()}");

        var host = cluster.Network.Host(int.Parse(victim[1..], System.Globalization.CultureInfo.InvariantCulture));
        host.Heal();
        var healed = System.Diagnostics.Stopwatch.StartNew();
        // The returning agent reports what it runs; none of it is the scheduler's any more, so all of it stops.
        await Eventually.UntilAsync(() => cluster.ExecutorsOn(victim).Count == 0, TimeSpan.FromMilliseconds(StaleStopBoundMs),
            () => $"no executor left on {victim} after heal; still: {string.Join(", ", cluster.ExecutorsOn(victim))}\n{cluster.Describe()}");
        Assert.Contains($"on agent {victim}: this scheduler runs it elsewhere", cluster.SchedulerOutput, StringComparison.Ordinal);
        log.WriteLine($"agent cut off: {moved.Count} instance(s) of {victim} running on other agents {movedAfterMs} ms after the cut " +
            $"(heartbeat timeout {AgentHeartbeatTimeoutMs} ms); its stale copies stopped {healed.ElapsedMilliseconds} ms after the heal");

        var (_, json) = await cluster.ListAsync();
        var listed = MultiHostCluster.Instances(json);
        Assert.Equal(placed.Count, listed.Count);
        Assert.All(listed, i => Assert.NotEqual(victim, i.Host));
        Assert.Equal(listed.Count, listed.Select(i => (i.Operator, i.Index)).Distinct().Count());
        // Exactly one executor per instance across the remaining hosts, each the listed incarnation.
        var running = cluster.Network.Hosts.Skip(1).Select(h => h.Name).Where(n => n != victim)
            .SelectMany(n => cluster.ExecutorsOn(n).Select(e => (e.Operator, e.Index, e.Incarnation, Host: n))).ToList();
        Assert.Equal(
            listed.Select(i => $"{i.Operator}/{i.Index}@{i.Host}:{i.Incarnation}").Order(),
            running.Select(e => $"{e.Operator}/{e.Index}@{e.Host}:{e.Incarnation}").Order());
    }

    [Fact]
    public async Task A_deploy_that_does_not_fit_the_agents_is_refused_with_the_reason_and_changes_nothing()
    {
        // Three agents of 1 cpu and 1024 MiB: 3 cpus, 3 GiB in all, no agent with more than 1 GiB.
        await using var cluster = await MultiHostCluster.StartAsync(agents: 3, agentCpus: 1, agentMemMb: 1024);
        var counts = cluster.Combine("counts.csv");
        await cluster.DeployAsync("sink", 1, new Dictionary<string, string> { ["WORDCOUNT_OUTPUT"] = counts });
        await AllRunningAsync(cluster, exceptOn: null, TimeSpan.FromSeconds(Cluster.RunningTimeoutSeconds));
        var (before, _) = await cluster.ListAsync();

        // Too many cpus in all: 3 instances of 1 cpu where 2 are free.
        var cpus = await cluster.TryDeployAsync("counter", 3, new Dictionary<string, string>(), cpus: 1, memMb: 256);
        Assert.NotEqual(0, cpus.ExitCode);
        Assert.Contains("operator 'counter' was not deployed: the cluster's resources do not fit it", cpus.Out, StringComparison.Ordinal);
        Assert.Contains("it needs 3 instance(s) of 1 cpus", cpus.Out, StringComparison.Ordinal);
        Assert.Contains("add agents (`concord agent`)", cpus.Out, StringComparison.Ordinal);

        // Enough memory in all (3 GiB) but on no single agent: one instance of 2048 MiB.
        var mem = await cluster.TryDeployAsync("counter", 1, new Dictionary<string, string>(), cpus: 0.5, memMb: 2048);
        Assert.NotEqual(0, mem.ExitCode);
        Assert.Contains("the cluster's resources do not fit it", mem.Out, StringComparison.Ordinal);
        Assert.Contains("2048 MiB", mem.Out, StringComparison.Ordinal);

        var (after, _) = await cluster.ListAsync();
        Assert.Equal(before, after);
        foreach (var host in cluster.Network.Hosts.Skip(1))
        {
            Assert.DoesNotContain(cluster.ExecutorsOn(host.Name), e => e.Operator == "counter");
        }
    }

    /// <summary>
    /// Polls <c>concord list</c> (another process's state) until every instance runs and none is
    /// on <paramref name="exceptOn"/>; returns them.
    /// </summary>
    private static Task<IReadOnlyList<ListedInstance>> AllRunningAsync(MultiHostCluster cluster, string? exceptOn, TimeSpan timeout)
    {
        IReadOnlyList<ListedInstance> last = [];
        return Eventually.UntilAsync<IReadOnlyList<ListedInstance>>(async () =>
        {
            var (_, json) = await cluster.ListAsync();
            last = MultiHostCluster.Instances(json);
            return last.Count > 0 && last.All(i => i.State.Contains("RUNNING", StringComparison.Ordinal) && i.Host.Length > 0 && i.Host != exceptOn) ? last : null;
        }, timeout, () => $"every instance running{(exceptOn is null ? "" : " and none on " + exceptOn)}; last list: {string.Join(", ", last)}\n{cluster.Describe()}");
    }
}
