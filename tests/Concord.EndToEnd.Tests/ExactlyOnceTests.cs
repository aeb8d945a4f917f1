using System.Text;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.EndToEnd.Tests.Harness;

namespace Concord.EndToEnd.Tests;

/// <summary>
/// Exactly-once through real failures (docs/guarantees.md): a replayable source and a
/// transactional file sink, both <c>exactly_once</c>, on a real cluster whose executors are
/// SIGKILLed under load. The committed output must equal the reference output exactly: no
/// record lost, none duplicated, nothing uncommitted visible.
/// </summary>
public sealed class ExactlyOnceTests
{
    /// <summary>Records per generator lane; 2 lanes (instances).</summary>
    private const int RecordsPerLane = 12_000;

    /// <summary>Records per second per generator instance: slow enough that the kills land mid-stream.</summary>
    private const int RatePerInstance = 1_500;

    /// <summary>SIGKILLs during the run, each after the committed output has grown since the last.</summary>
    private const int Kills = 3;

    /// <summary>How long the whole run may take, kills and restores included, on 2 busy cores.</summary>
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(150);

    [Fact]
    public async Task A_generator_to_file_sink_pipeline_commits_every_record_exactly_once_through_SIGKILLs_of_its_executors()
    {
        await using var cluster = await Cluster.StartAsync();
        var output = Path.Combine(cluster.Home, "committed");
        await cluster.DeployAsync(FileSink(output, "words"));
        await cluster.DeployAsync(Generator("words"));

        var victims = await KillDuringRunAsync(cluster, output, operatorsToo: false);

        var lines = await AllCommittedAsync(cluster, output, victims);
        var actual = lines.Select(l => l[..l.IndexOf(',', StringComparison.Ordinal)])
            .GroupBy(w => w, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var expected = Reference(lanes: 2);
        var wrong = expected.Where(e => actual.GetValueOrDefault(e.Key) != e.Value).Select(e => $"{e.Key}: expected {e.Value}, committed {actual.GetValueOrDefault(e.Key)}").Take(10).ToList();
        Assert.True(wrong.Count == 0, $"after killing {string.Join(", ", victims)}: {string.Join("; ", wrong)}");
        Assert.Equal(expected.Count, actual.Count);
        await AssertRestoredAndNothingUncommittedAsync(cluster, output);
    }

    [Fact]
    public async Task A_counter_with_keyed_state_between_them_emits_every_running_count_exactly_once_through_SIGKILLs_of_executors_and_operators()
    {
        await using var cluster = await Cluster.StartAsync();
        var output = Path.Combine(cluster.Home, "committed");
        await cluster.DeployAsync(FileSink(output, "out-a"));
        // The conformance suite's C# test operator in case "state": per record, count := count + 1
        // in keyed state "count" and produce (word, count). With exactly-once the committed output
        // holds, for every word, the counts 1..n exactly once each, n its reference count.
        await cluster.DeployAsync(new OperatorSpec
        {
            Name = "counter",
            Executable = Repo.TestOperatorExe,
            Instances = 2,
            MemMb = 256,
            Delivery = DeliveryGuarantee.DeliveryExactlyOnce,
            Environment = { ["CONFORMANCE_CASE"] = "state" },
            ExpectedInputs = { new InputStream { Name = "in", Grouping = Grouping.GroupBy } },
            ExpectedOutputs = { "out-a", "out-b" },
        });
        await cluster.DeployAsync(Generator("in"));

        var victims = await KillDuringRunAsync(cluster, output, operatorsToo: true);

        var lines = await AllCommittedAsync(cluster, output, victims);
        var counts = lines.Select(l => (Word: l[..l.LastIndexOf(',')], Count: int.Parse(l[(l.LastIndexOf(',') + 1)..], System.Globalization.CultureInfo.InvariantCulture)))
            .GroupBy(p => p.Word, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Select(p => p.Count).Order().ToList(), StringComparer.Ordinal);
        var expected = Reference(lanes: 2);
        var wrong = expected.Where(e => !counts.TryGetValue(e.Key, out var got) || !got.SequenceEqual(Enumerable.Range(1, e.Value)))
            .Select(e => $"{e.Key}: expected 1..{e.Value}, committed {Describe(counts.GetValueOrDefault(e.Key))}").Take(10).ToList();
        Assert.True(wrong.Count == 0, $"after killing {string.Join(", ", victims)}: {string.Join("; ", wrong)}");
        Assert.Equal(expected.Count, counts.Count);
        await AssertRestoredAndNothingUncommittedAsync(cluster, output);
    }

    private static string Describe(List<int>? counts) =>
        counts is null ? "nothing" : $"{counts.Count} counts, {counts.Distinct().Count()} distinct, max {counts.Max()}";

    private static OperatorSpec FileSink(string output, string stream) => new()
    {
        Name = "sink",
        Instances = 1,
        Delivery = DeliveryGuarantee.DeliveryExactlyOnce,
        Builtin = new BuiltinOperator { Kind = "csv-sink", Options = { ["path"] = output } },
        ExpectedInputs = { new InputStream { Name = stream, Grouping = Grouping.Shuffle } },
    };

    private static OperatorSpec Generator(string stream) => new()
    {
        Name = "source",
        Instances = 2,
        Delivery = DeliveryGuarantee.DeliveryExactlyOnce,
        Builtin = new BuiltinOperator
        {
            Kind = "generator",
            Options =
            {
                ["dictionary"] = Repo.Dictionary,
                ["rate"] = RatePerInstance.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["count"] = RecordsPerLane.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["stream"] = stream,
            },
        },
        ExpectedOutputs = { stream },
    };

    /// <summary>
    /// SIGKILLs a random executor (or, with <paramref name="operatorsToo"/>, sometimes a random
    /// operator process) <see cref="Kills"/> times, each once the committed output has grown
    /// since the last, so every kill lands mid-stream with completed checkpoints behind it.
    /// </summary>
    private static async Task<List<string>> KillDuringRunAsync(Cluster cluster, string output, bool operatorsToo)
    {
        var random = new Random(Environment.TickCount);
        var victims = new List<string>();
        for (var kill = 0; kill < Kills; kill++)
        {
            var committed = CommittedLines(output).Count;
            await Eventually.UntilAsync(() => CommittedLines(output).Count > committed, RunTimeout,
                () => $"committed output to grow past {committed} lines (kill {kill}, killed so far {string.Join(", ", victims)})\n{Cluster.Tail(cluster.SchedulerOutput, 40)}\n{cluster.InstanceLogs("sink")}");
            var list = await cluster.Client.ListAsync(new ListRequest(), cluster.Call());
            var running = list.Operators
                .SelectMany(o => o.Instances.Where(i => i.State == InstanceState.Running && i.ExecutorPid > 0).Select(i => (o.Spec.Name, i)))
                .ToList();
            Assert.NotEmpty(running);
            var (name, victim) = running[random.Next(running.Count)];
            if (operatorsToo && victim.OperatorPid > 0 && random.Next(2) == 0)
            {
                victims.Add($"{name}/{victim.Index} operator");
                Processes.Kill(victim.OperatorPid, hard: true);
            }
            else
            {
                victims.Add($"{name}/{victim.Index} executor");
                Processes.Kill(victim.ExecutorPid, hard: true);
            }
        }
        return victims;
    }

    /// <summary>Waits until all 2 × <see cref="RecordsPerLane"/> records are committed; returns the committed lines.</summary>
    private static async Task<List<string>> AllCommittedAsync(Cluster cluster, string output, List<string> victims)
    {
        const int total = 2 * RecordsPerLane;
        await Eventually.UntilAsync(() => CommittedLines(output).Count >= total, RunTimeout,
            () => $"{total} committed lines in {output} (have {CommittedLines(output).Count}; killed {string.Join(", ", victims)})\n{Cluster.Tail(cluster.SchedulerOutput, 40)}\n{cluster.InstanceLogs("sink")}");
        var lines = CommittedLines(output);
        Assert.True(total == lines.Count, $"{lines.Count} committed records, expected {total}; killed {string.Join(", ", victims)}\n" +
            string.Join("\n", Directory.EnumerateFiles(output).Order(StringComparer.Ordinal).Select(f => $"{Path.GetFileName(f)}: {Csv.Lines(f)}")) +
            $"\nscheduler:\n{Cluster.Tail(cluster.SchedulerOutput, 60)}");
        return lines;
    }

    private static async Task AssertRestoredAndNothingUncommittedAsync(Cluster cluster, string output)
    {
        // Restores are visible in `list`: a restarted instance says which checkpoint it restored.
        var after = await cluster.Client.ListAsync(new ListRequest(), cluster.Call());
        Assert.Contains(after.Operators.SelectMany(o => o.Instances), i => i.RestoredCheckpointId > 0);
        // Nothing uncommitted is visible: whatever is not a part file holds no records now.
        Assert.Equal(0, Directory.EnumerateFiles(output).Where(f => !IsPart(f)).Sum(Csv.Lines));
        var checkpoints = await cluster.Client.ListCheckpointsAsync(new ListCheckpointsRequest(), cluster.Call());
        Assert.True(checkpoints.LatestCompletedId > 0, "a checkpoint completed");
    }

    private static bool IsPart(string path) => Path.GetFileName(path).StartsWith("part-", StringComparison.Ordinal);

    /// <summary>The committed output: the lines of every part file.</summary>
    private static List<string> CommittedLines(string directory) =>
        Directory.Exists(directory) ? [.. Directory.EnumerateFiles(directory).Where(IsPart).Order(StringComparer.Ordinal).SelectMany(Csv.ReadLines)] : [];

    /// <summary>
    /// What the generator emits with seed 0, by docs/guarantees.md ("Sources and sinks"): lane L's
    /// word at position p is the dictionary's word number WordIndex(seed, L, p). The formula is
    /// repeated here as the test's oracle: if the generator's ever changes, this test fails.
    /// </summary>
    private static Dictionary<string, int> Reference(int lanes)
    {
        var words = File.ReadAllLines(Repo.Dictionary, Encoding.UTF8).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var lane = 0; lane < lanes; lane++)
        {
            for (long position = 0; position < RecordsPerLane; position++)
            {
                var word = words[WordIndex(0, lane, position, words.Length)];
                counts[word] = counts.GetValueOrDefault(word) + 1;
            }
        }
        return counts;
    }

    private static int WordIndex(ulong seed, int lane, long position, int words)
    {
        unchecked
        {
            var z = seed + (0x9E3779B97F4A7C15UL * ((ulong)(uint)lane + 1)) + (0xBF58476D1CE4E5B9UL * (ulong)position);
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            return (int)(z % (ulong)words);
        }
    }
}
