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
        await using var a = AgentProcess.Start(cluster.Home, cluster.Address, "a", cpus: 2, memMb: 4096);
        await using var b = AgentProcess.Start(cluster.Home, cluster.Address, "b", cpus: 2, memMb: 4096);
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
}
