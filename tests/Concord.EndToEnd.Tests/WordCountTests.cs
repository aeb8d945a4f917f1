using Concord.Contracts.Scheduler.V1;
using Concord.EndToEnd.Tests.Harness;

namespace Concord.EndToEnd.Tests;

/// <summary>
/// The word-count topology on a real embedded cluster: scheduler, executors and C# operators
/// as separate processes talking over unix sockets and TCP.
/// </summary>
public class WordCountTests
{
    private static readonly TimeSpan FlowTimeout = TestTimeouts.Flow;

    [Fact]
    public async Task Sink_counts_equal_the_counts_of_the_words_the_source_emitted()
    {
        await using var cluster = await Cluster.StartAsync();
        var output = Path.Combine(cluster.Home, "counts.csv");
        var emitted = Path.Combine(cluster.Home, "emitted.txt");
        const int words = 30_000;

        // Readers before writers: records on a stream nobody reads yet are dropped (at-most-once).
        await cluster.DeployAsync(Specs.Sink(output));
        await cluster.DeployAsync(Specs.Counter(instances: 2));
        await cluster.DeployAsync(Specs.Source(rate: 30_000, limit: words, emittedLog: emitted));

        await Eventually.UntilAsync(() => Csv.Lines(output) >= words && Csv.Lines(emitted) >= words, FlowTimeout,
            () => $"{words} lines in {output} (have {Csv.Lines(output)}) and in {emitted} (have {Csv.Lines(emitted)})\n{cluster.InstanceLogs("counter")}");

        // The counter emits the updated count for every record, so one line per word, and the
        // largest count per word is its final count. A word split over two counter instances
        // (a group_by violation) would show up as a smaller final count.
        var expected = Csv.CountWords(emitted);
        Assert.Equal(words, expected.Values.Sum());
        Assert.Equal(words, Csv.Lines(output));
        var actual = Csv.FinalCounts(output);
        Assert.Equal(expected.Count, actual.Count);
        foreach (var (word, count) in expected)
        {
            Assert.True(actual.TryGetValue(word, out var got) && got == count, $"word '{word}': expected {count}, sink says {got}");
        }
    }

    [Fact]
    public async Task A_reader_deployed_at_runtime_receives_records_while_the_first_keeps_going_and_nothing_restarts()
    {
        await using var cluster = await Cluster.StartAsync();
        var output = Path.Combine(cluster.Home, "counts.csv");
        await cluster.DeployAsync(Specs.Sink(output));
        await cluster.DeployAsync(Specs.Counter(instances: 2));
        await cluster.DeployAsync(Specs.Source(rate: 5_000));
        await Eventually.UntilAsync(() => Csv.Lines(output) > 1_000, FlowTimeout, () => $"counts flowing into {output}");
        var before = await Snapshot(cluster);

        // A second reader of `words`: the built-in CSV sink, deployed while everything runs.
        var tap = Path.Combine(cluster.Home, "tap.csv");
        await cluster.DeployAsync(Specs.CsvSink("tap", "words", tap));
        await Eventually.UntilAsync(() => Csv.Lines(tap) > 1_000, FlowTimeout, () => $"words reaching the new reader's file {tap}\n{cluster.InstanceLogs("tap")}");

        var countsAtTap = Csv.Lines(output);
        await Eventually.UntilAsync(() => Csv.Lines(output) > countsAtTap + 1_000, FlowTimeout, () => "the first reader to keep receiving");

        var after = await Snapshot(cluster);
        Assert.Equal(before, after);
    }

    [Fact]
    public async Task An_operator_process_killed_with_SIGKILL_is_restarted_and_counting_resumes()
    {
        await using var cluster = await Cluster.StartAsync();
        var output = Path.Combine(cluster.Home, "counts.csv");
        await cluster.DeployAsync(Specs.Sink(output));
        var counter = await cluster.DeployAsync(Specs.Counter(instances: 1));
        await cluster.DeployAsync(Specs.Source(rate: 5_000));
        counter = await cluster.WaitRunningAsync("counter", 1);
        var victim = counter.Instances[0];
        Assert.True(Processes.IsAlive(victim.OperatorPid), $"operator pid {victim.OperatorPid} should be alive");

        Processes.Kill(victim.OperatorPid, hard: true);

        var restarted = await cluster.WaitForAsync("counter",
            o => o.Instances[0].State == InstanceState.Running && o.Instances[0].Incarnation != victim.Incarnation,
            "a new running incarnation of instance 0");
        Assert.True(restarted.Instances[0].Restarts >= 1, $"restarts = {restarted.Instances[0].Restarts}");
        Assert.NotEqual(victim.OperatorPid, restarted.Instances[0].OperatorPid);
        Assert.False(Processes.IsAlive(victim.ExecutorPid), "the old executor must have exited with its operator");

        var lines = Csv.Lines(output);
        await Eventually.UntilAsync(() => Csv.Lines(output) > lines + 1_000, FlowTimeout, () => "counts to flow again after the restart");
    }

    [Fact]
    public async Task Kill_stops_every_process_of_the_operator_and_leaves_the_others_running()
    {
        await using var cluster = await Cluster.StartAsync();
        var output = Path.Combine(cluster.Home, "counts.csv");
        var sink = await cluster.DeployAsync(Specs.Sink(output));
        await cluster.DeployAsync(Specs.Counter(instances: 2));
        var counter = await cluster.WaitRunningAsync("counter", 2);
        var pids = counter.Instances.SelectMany(i => new[] { i.ExecutorPid, i.OperatorPid }).ToList();
        Assert.All(pids, pid => Assert.True(Processes.IsAlive(pid), $"pid {pid} should be alive before kill"));

        await cluster.Client.KillAsync(new KillRequest { Name = "counter" }, cluster.Call());

        await Eventually.UntilAsync(() => pids.All(pid => !Processes.IsAlive(pid)), TimeSpan.FromSeconds(30),
            () => $"pids {string.Join(",", pids.Where(Processes.IsAlive))} to exit");
        Assert.Null(await cluster.FindAsync("counter"));
        var sinkNow = await cluster.WaitRunningAsync("sink", 1);
        Assert.Equal(sink.Instances.Count == 0 ? sinkNow.Instances[0].Incarnation : sinkNow.Instances[0].Incarnation, sinkNow.Instances[0].Incarnation);
        Assert.Equal(0, sinkNow.Instances[0].Restarts);
    }

    /// <summary>Every instance's identity: a restart anywhere changes it.</summary>
    private static async Task<string> Snapshot(Cluster cluster)
    {
        var list = await cluster.Client.ListAsync(new ListRequest(), cluster.Call());
        return string.Join("; ", list.Operators
            .Where(o => o.Spec.Name is "source" or "counter" or "sink")
            .SelectMany(o => o.Instances.Select(i => $"{o.Spec.Name}/{i.Index} {i.Incarnation} pid {i.OperatorPid} restarts {i.Restarts} {i.State}")));
    }
}
