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
        await cluster.DeployAsync(new OperatorSpec
        {
            Name = "sink",
            Instances = 1,
            Delivery = DeliveryGuarantee.DeliveryExactlyOnce,
            Builtin = new BuiltinOperator { Kind = "csv-sink", Options = { ["path"] = output } },
            ExpectedInputs = { new InputStream { Name = "words", Grouping = Grouping.Shuffle } },
        });
        await cluster.DeployAsync(new OperatorSpec
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
                    ["stream"] = "words",
                },
            },
            ExpectedOutputs = { "words" },
        });

        var random = new Random(Environment.TickCount);
        var victims = new List<string>();
        for (var kill = 0; kill < Kills; kill++)
        {
            // Kill only once more output has been committed, so each kill lands mid-stream with
            // completed checkpoints behind it (and the previous restore finished).
            var committed = CommittedLines(output).Count;
            await Eventually.UntilAsync(() => CommittedLines(output).Count > committed, RunTimeout,
                () => $"committed output to grow past {committed} lines (kill {kill})\n{cluster.InstanceLogs("sink")}\n{cluster.InstanceLogs("source")}");
            var list = await cluster.Client.ListAsync(new ListRequest(), cluster.Call());
            var running = list.Operators
                .SelectMany(o => o.Instances.Where(i => i.State == InstanceState.Running && i.ExecutorPid > 0).Select(i => (o.Spec.Name, i)))
                .ToList();
            Assert.NotEmpty(running);
            var (name, victim) = running[random.Next(running.Count)];
            victims.Add($"{name}/{victim.Index}");
            Processes.Kill(victim.ExecutorPid, hard: true);
        }

        const int total = 2 * RecordsPerLane;
        await Eventually.UntilAsync(() => CommittedLines(output).Count >= total, RunTimeout,
            () => $"{total} committed lines in {output} (have {CommittedLines(output).Count}; killed {string.Join(", ", victims)})\n{cluster.InstanceLogs("sink")}\n{cluster.InstanceLogs("source")}");

        var expected = Reference(lanes: 2);
        var actual = CommittedLines(output).Select(l => l[..l.IndexOf(',', StringComparison.Ordinal)])
            .GroupBy(w => w, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        Assert.True(total == actual.Values.Sum(), $"{actual.Values.Sum()} committed records, expected {total}; killed {string.Join(", ", victims)}\n" +
            string.Join("\n", Directory.EnumerateFiles(output).Order(StringComparer.Ordinal).Select(f => $"{Path.GetFileName(f)}: {Csv.Lines(f)}")) +
            $"\nscheduler:\n{Cluster.Tail(cluster.SchedulerOutput, 60)}\n{cluster.InstanceLogs("sink", 60)}\n{cluster.InstanceLogs("source", 60)}");
        var wrong = expected.Where(e => actual.GetValueOrDefault(e.Key) != e.Value).Select(e => $"{e.Key}: expected {e.Value}, committed {actual.GetValueOrDefault(e.Key)}").Take(10).ToList();
        Assert.True(wrong.Count == 0, $"after killing {string.Join(", ", victims)}: {string.Join("; ", wrong)}");
        Assert.Equal(expected.Count, actual.Count);

        // Restores are visible in `list`: every instance that was restarted says which checkpoint it restored.
        var after = await cluster.Client.ListAsync(new ListRequest(), cluster.Call());
        Assert.Contains(after.Operators.SelectMany(o => o.Instances), i => i.RestoredCheckpointId > 0);
        // Nothing uncommitted is visible: whatever is not a part file holds no records now.
        var uncommitted = Directory.EnumerateFiles(output).Where(f => !IsPart(f)).Sum(f => Csv.Lines(f));
        Assert.Equal(0, uncommitted);
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
