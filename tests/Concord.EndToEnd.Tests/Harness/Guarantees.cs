using System.Globalization;
using System.Text;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;

namespace Concord.EndToEnd.Tests.Harness;

/// <summary>
/// The pipelines and oracles of the delivery-guarantee tests (docs/guarantees.md): a replayable
/// generator, the conformance suite's keyed-state counter, the csv-sink, random SIGKILLs, and the
/// reference output computed from the generator's documented formula.
/// </summary>
public static class Guarantees
{
    /// <summary>Generator instances (lanes) of every guarantee pipeline.</summary>
    public const int GeneratorInstances = 2;

    /// <summary>How long a restored pipeline may take to run again after its last kill, on 2 busy cores.</summary>
    public static readonly TimeSpan RestoreVisibleTimeout = TimeSpan.FromSeconds(60);

    /// <summary>The csv-sink writing <paramref name="stream"/> to <paramref name="output"/> (a directory of part files with exactly_once, a file otherwise).</summary>
    public static OperatorSpec FileSink(string output, string stream, DeliveryGuarantee delivery = DeliveryGuarantee.DeliveryExactlyOnce) => new()
    {
        Name = "sink",
        Instances = 1,
        Delivery = delivery,
        Builtin = new BuiltinOperator { Kind = "csv-sink", Options = { ["path"] = output } },
        ExpectedInputs = { new InputStream { Name = stream, Grouping = Grouping.Shuffle } },
    };

    /// <summary><see cref="GeneratorInstances"/> lanes of <paramref name="recordsPerLane"/> records at <paramref name="ratePerInstance"/> records/s each.</summary>
    public static OperatorSpec Generator(string stream, int recordsPerLane, int ratePerInstance,
        DeliveryGuarantee delivery = DeliveryGuarantee.DeliveryExactlyOnce) => new()
        {
            Name = "source",
            Instances = GeneratorInstances,
            Delivery = delivery,
            Builtin = new BuiltinOperator
            {
                Kind = "generator",
                Options =
            {
                ["dictionary"] = Repo.Dictionary,
                ["rate"] = ratePerInstance.ToString(CultureInfo.InvariantCulture),
                ["count"] = recordsPerLane.ToString(CultureInfo.InvariantCulture),
                ["stream"] = stream,
            },
            },
            ExpectedOutputs = { stream },
        };

    /// <summary>
    /// The conformance suite's C# test operator in case "state": per record, count := count + 1
    /// in keyed state "count" and produce (word, count) on "out-a". With exactly-once the
    /// committed output holds, for every word, the counts 1..n exactly once each, n its
    /// reference count; with at-least-once each of them at least once.
    /// </summary>
    public static OperatorSpec Counter(int instances, DeliveryGuarantee delivery = DeliveryGuarantee.DeliveryExactlyOnce) => new()
    {
        Name = "counter",
        Executable = Repo.TestOperatorExe,
        Instances = instances,
        MemMb = 256,
        Delivery = delivery,
        Environment = { ["CONFORMANCE_CASE"] = "state" },
        ExpectedInputs = { new InputStream { Name = "in", Grouping = Grouping.GroupBy } },
        ExpectedOutputs = { "out-a", "out-b" },
    };

    /// <summary>
    /// SIGKILLs a random executor (or, with <paramref name="operatorsToo"/>, sometimes a random
    /// operator process) <paramref name="kills"/> times, each once <paramref name="committed"/>
    /// has grown since the last, so every kill lands mid-stream with completed checkpoints behind it.
    /// </summary>
    public static Task<List<string>> KillDuringRunAsync(Cluster cluster, Func<int> committed, bool operatorsToo, int kills, TimeSpan timeout) =>
        KillDuringRunAsync(cluster, () => Task.FromResult((long)committed()), operatorsToo, kills, timeout);

    /// <summary>
    /// As above, with any measure of progress (a checkpoint id, a line count) that must grow
    /// before each kill; the first kill is of <paramref name="firstVictim"/>'s executor when given.
    /// </summary>
    public static async Task<List<string>> KillDuringRunAsync(Cluster cluster, Func<Task<long>> committed, bool operatorsToo, int kills, TimeSpan timeout,
        string? firstVictim = null)
    {
        var random = new Random(Environment.TickCount);
        var victims = new List<string>();
        for (var kill = 0; kill < kills; kill++)
        {
            await GrowthAsync(cluster, committed, timeout, $"kill {kill}, killed so far {string.Join(", ", victims)}");
            // The output can grow while a restore stops everything (a sink flushes as it stops): wait for instances to kill.
            var running = await Eventually.UntilAsync(async () =>
            {
                var list = await cluster.Client.ListAsync(new ListRequest(), cluster.Call());
                var candidates = list.Operators
                    .Where(o => kill > 0 || firstVictim is null || o.Spec.Name == firstVictim)
                    .SelectMany(o => o.Instances.Where(i => i.State == InstanceState.Running && i.ExecutorPid > 0).Select(i => (o.Spec.Name, i)))
                    .ToList();
                return candidates.Count > 0 ? candidates : null;
            }, timeout, () => $"a running instance to kill (kill {kill}, killed so far {string.Join(", ", victims)})\n{Cluster.Tail(cluster.SchedulerOutput, 40)}");
            var (name, victim) = running[random.Next(running.Count)];
            if (operatorsToo && victim.OperatorPid > 0 && random.Next(2) == 0 && !(kill == 0 && firstVictim is not null))
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

    /// <summary>Waits until <paramref name="committed"/> grew past its value now.</summary>
    public static Task GrowthAsync(Cluster cluster, Func<int> committed, TimeSpan timeout, string why) =>
        GrowthAsync(cluster, () => Task.FromResult((long)committed()), timeout, why);

    /// <summary>Waits until <paramref name="committed"/> grew past its value now.</summary>
    public static async Task GrowthAsync(Cluster cluster, Func<Task<long>> committed, TimeSpan timeout, string why)
    {
        var from = await committed();
        await Eventually.UntilAsync(async () => await committed() > from, timeout,
            () => $"progress past {from} ({why})\n{Cluster.Tail(cluster.SchedulerOutput, 40)}\n{cluster.InstanceLogs("sink")}");
    }

    /// <summary>The newest completed checkpoint's id (0: none): progress for a sink that commits nothing itself.</summary>
    public static async Task<long> LatestCheckpointAsync(Cluster cluster) =>
        (long)(await cluster.Client.ListCheckpointsAsync(new ListCheckpointsRequest(), cluster.Call())).LatestCompletedId;

    /// <summary>Waits until <paramref name="total"/> records are committed in <paramref name="output"/> (part files); returns the committed lines.</summary>
    public static async Task<List<string>> AllCommittedAsync(Cluster cluster, string output, int total, TimeSpan timeout, string happened)
    {
        await Eventually.UntilAsync(() => CommittedLines(output).Count >= total, timeout,
            () => $"{total} committed lines in {output} (have {CommittedLines(output).Count}; {happened})\n{Cluster.Tail(cluster.SchedulerOutput, 40)}\n{cluster.InstanceLogs("sink")}");
        var lines = CommittedLines(output);
        Assert.True(total == lines.Count, $"{lines.Count} committed records, expected {total}; {happened}\n" +
            string.Join("\n", Directory.EnumerateFiles(output).Order(StringComparer.Ordinal).Select(f => $"{Path.GetFileName(f)}: {Csv.Lines(f)}")) +
            $"\nscheduler:\n{Cluster.Tail(cluster.SchedulerOutput, 60)}");
        return lines;
    }

    /// <summary>
    /// The exactly-once oracle of a counter pipeline: every word of the reference has the counts
    /// 1..n exactly once in <paramref name="lines"/> ("word,count"), and no other word appears.
    /// </summary>
    public static void AssertExactCounts(IEnumerable<string> lines, Dictionary<string, int> expected, string happened)
    {
        var counts = lines.Select(ParseCount)
            .GroupBy(p => p.Word, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Select(p => p.Count).Order().ToList(), StringComparer.Ordinal);
        var wrong = expected.Where(e => !counts.TryGetValue(e.Key, out var got) || !got.SequenceEqual(Enumerable.Range(1, e.Value)))
            .Select(e => $"{e.Key}: expected 1..{e.Value}, committed {Describe(counts.GetValueOrDefault(e.Key))}").Take(10).ToList();
        Assert.True(wrong.Count == 0, $"{happened}: {string.Join("; ", wrong)}");
        Assert.Equal(expected.Count, counts.Count);
    }

    /// <summary>"word,count" → (word, count); the word may hold commas, the count never does.</summary>
    public static (string Word, int Count) ParseCount(string line)
    {
        var comma = line.LastIndexOf(',');
        return comma > 0 && int.TryParse(line.AsSpan(comma + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var count)
            ? (line[..comma], count)
            : throw new FormatException($"not a \"word,count\" line: '{line}'");
    }

    private static string Describe(List<int>? counts) =>
        counts is null ? "nothing" : $"{counts.Count} counts, {counts.Distinct().Count()} distinct, max {counts.Max()}";

    /// <summary>A restore is visible in `list`, nothing uncommitted is left in <paramref name="output"/>, and a checkpoint completed.</summary>
    public static async Task AssertRestoredAndNothingUncommittedAsync(Cluster cluster, string output)
    {
        // Restores are visible in `list`: a restarted instance says which checkpoint it restored.
        // Polled, not read once: right after the last kill every instance may still be starting
        // (a restore restarts the whole pipeline), and an instance reports the checkpoint it
        // restored only once it runs again.
        ListResponse? after = null;
        await Eventually.UntilAsync(async () =>
        {
            after = await cluster.Client.ListAsync(new ListRequest(), cluster.Call());
            return after.Operators.SelectMany(o => o.Instances)
                .Any(i => i.State == InstanceState.Running && i.RestoredCheckpointId > 0);
        }, RestoreVisibleTimeout, () => $"a running instance that reports in `list` the checkpoint it restored; last list: {after}");
        // Nothing uncommitted is visible: whatever is not a part file holds no records now.
        Assert.Equal(0, Directory.EnumerateFiles(output).Where(f => !IsPart(f)).Sum(Csv.Lines));
        var checkpoints = await cluster.Client.ListCheckpointsAsync(new ListCheckpointsRequest(), cluster.Call());
        Assert.True(checkpoints.LatestCompletedId > 0, "a checkpoint completed");
    }

    public static bool IsPart(string path) => Path.GetFileName(path).StartsWith("part-", StringComparison.Ordinal);

    /// <summary>The committed output of an exactly-once csv-sink: the lines of every part file.</summary>
    public static List<string> CommittedLines(string directory) =>
        Directory.Exists(directory) ? [.. Directory.EnumerateFiles(directory).Where(IsPart).Order(StringComparer.Ordinal).SelectMany(Csv.ReadLines)] : [];

    /// <summary>
    /// What the generator emits with seed 0, by docs/guarantees.md ("Sources and sinks"): lane L's
    /// word at position p is the dictionary's word number WordIndex(seed, L, p). The formula is
    /// repeated here as the tests' oracle: if the generator's ever changes, these tests fail.
    /// </summary>
    public static Dictionary<string, int> Reference(int lanes, int recordsPerLane)
    {
        var words = File.ReadAllLines(Repo.Dictionary, Encoding.UTF8).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var lane = 0; lane < lanes; lane++)
        {
            for (long position = 0; position < recordsPerLane; position++)
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

    /// <summary>Whether no process holds the lock file <paramref name="path"/> (a killed scheduler's home is free again).</summary>
    public static bool LockIsFree(string path)
    {
        try
        {
            using var probe = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }
}
