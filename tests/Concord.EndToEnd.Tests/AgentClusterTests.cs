using System.Diagnostics;
using System.Text;
using Concord.EndToEnd.Tests.Harness;

namespace Concord.EndToEnd.Tests;

/// <summary>
/// Standalone cluster mode end to end (docs/cluster.md "Agents"): a scheduler with
/// <c>--runtime agents</c> and two <c>concord agent</c> processes on loopback, each with its own
/// home, running the word count with instances on both agents.
/// </summary>
public class AgentClusterTests
{
    private static readonly TimeSpan FlowTimeout = TestTimeouts.Flow;

    [Fact]
    public async Task The_word_count_runs_spread_over_two_agents_and_counts_exactly()
    {
        await using var cluster = await Cluster.StartAsync(schedulerArguments: ["--runtime", "agents"]);
        await using var a = AgentProcess.Start(cluster, "a");
        await using var b = AgentProcess.Start(cluster, "b");
        await Eventually.UntilAsync(() => cluster.SchedulerOutput.Contains("Agent a connected") && cluster.SchedulerOutput.Contains("Agent b connected"),
            TimeSpan.FromSeconds(Cluster.StartTimeoutSeconds), () => $"both agents connected\nscheduler:\n{cluster.SchedulerOutput}\nagent a:\n{a.Output}\nagent b:\n{b.Output}");
        var output = Path.Combine(cluster.Home, "counts.csv");
        var emitted = Path.Combine(cluster.Home, "emitted.txt");
        const int words = 20_000;

        // Four instances of 1 cpu on two agents of 2 cpus: the cluster is exactly full.
        await cluster.DeployAsync(Specs.Sink(output));
        await cluster.DeployAsync(Specs.Counter(instances: 2));
        await cluster.DeployAsync(Specs.Source(rate: 20_000, limit: words, emittedLog: emitted));

        var list = await cluster.Client.ListAsync(new Contracts.Scheduler.V1.ListRequest(), cluster.Call());
        var hosts = list.Operators.SelectMany(o => o.Instances).Select(i => i.Host).ToList();
        Assert.Equal(2, hosts.Count(h => h == "a"));
        Assert.Equal(2, hosts.Count(h => h == "b"));
        // The counter's two instances are on different agents, so records cross between them.
        Assert.NotEqual(list.Operators.Single(o => o.Spec.Name == "counter").Instances[0].Host, list.Operators.Single(o => o.Spec.Name == "counter").Instances[1].Host);

        await Eventually.UntilAsync(() => Csv.Lines(output) >= words && Csv.Lines(emitted) >= words, FlowTimeout,
            () => $"{words} lines in {output} (have {Csv.Lines(output)}) and in {emitted} (have {Csv.Lines(emitted)})\nagent a:\n{Cluster.Tail(a.Output, 20)}\nagent b:\n{Cluster.Tail(b.Output, 20)}");

        var expected = Csv.CountWords(emitted);
        Assert.Equal(words, expected.Values.Sum());
        Assert.Equal(words, Csv.Lines(output));
        var actual = Csv.FinalCounts(output);
        Assert.Equal(expected.Count, actual.Count);
        foreach (var (word, count) in expected)
        {
            Assert.True(actual.TryGetValue(word, out var got) && got == count, $"word '{word}': expected {count}, sink says {got}");
        }

        // `concord list` shows the host of each instance.
        var shown = await CliRunner.RunAsync(cluster.Home, "list");
        Assert.Equal(0, shown.ExitCode);
        Assert.Contains("HOSTS", shown.Out);
        Assert.Contains(shown.Out.Split('\n'), line => line.StartsWith("counter", StringComparison.Ordinal) && (line.Contains("a, b") || line.Contains("b, a")));
    }

    /// <summary>One `concord agent` process whose home is inside the cluster's (so its executors are the cluster's to clean up).</summary>
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

        public static AgentProcess Start(Cluster cluster, string id)
        {
            var info = new ProcessStartInfo("dotnet",
            [
                Repo.CliDll, "agent", "--home", Path.Combine(cluster.Home, "agent-" + id), "--scheduler", cluster.Address,
                "--cpus", "2", "--mem", "4096", "--agent-id", id, "--agent-secret-file", Path.Combine(cluster.Home, "agent.secret"),
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
