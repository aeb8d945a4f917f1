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
        await using var agent = AgentProcess.Start(first.Home, $"{first.Address},{second.Address}");
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

    /// <summary>One `concord agent` process with every scheduler's address, its home inside <paramref name="clusterHome"/> (so its executors are the cluster's to clean up).</summary>
    private sealed class AgentProcess : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _output = new();

        private AgentProcess(Process process) => _process = process;

        public string Output
        {
            get
            {
                lock (_output)
                {
                    return _output.ToString();
                }
            }
        }

        public static AgentProcess Start(string clusterHome, string schedulers)
        {
            var info = new ProcessStartInfo("dotnet",
            [
                Repo.CliDll, "agent", "--home", Path.Combine(clusterHome, "agent-a"), "--scheduler", schedulers,
                "--cpus", "8", "--mem", "8192", "--agent-id", "a", "--agent-secret-file", Path.Combine(clusterHome, "agent.secret"),
            ])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            info.Environment["CONCORD_EXECUTOR_DLL"] = Repo.ExecutorDll;
            info.Environment["CONCORD_HOME"] = null;
            info.Environment["CONCORD_SCHEDULER"] = null;
            var agent = new AgentProcess(Process.Start(info)!);
            agent._process.OutputDataReceived += (_, e) => agent.Append(e.Data);
            agent._process.ErrorDataReceived += (_, e) => agent.Append(e.Data);
            agent._process.BeginOutputReadLine();
            agent._process.BeginErrorReadLine();
            return agent;
        }

        private void Append(string? line)
        {
            if (line is not null)
            {
                lock (_output)
                {
                    _output.AppendLine(line);
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                // SIGTERM: the agent stops its instances and exits.
                Processes.Kill(_process.Id, hard: false);
                using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                try
                {
                    await _process.WaitForExitAsync(stop.Token);
                }
                catch (OperationCanceledException)
                {
                    _process.Kill(entireProcessTree: true);
                }
            }
            _process.Dispose();
        }
    }
}
