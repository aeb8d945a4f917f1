using System.Diagnostics;
using System.Text.Json;
using Concord.Contracts.Types.V1;
using Concord.EndToEnd.Tests.Harness;
using Xunit.Abstractions;

namespace Concord.EndToEnd.Tests;

/// <summary>
/// Issue 3: a slow operator slows its upstream executors and finally the source, nothing is
/// dropped, and the upstream executors' memory stays flat. The generator built-in produces as
/// fast as credit allows; the C# sink spends WORDCOUNT_SINK_DELAY_US on every record.
/// </summary>
public class BackpressureTests(ITestOutputHelper output)
{
    /// <summary>Records the source produces in all.</summary>
    private const int Records = 100_000;

    /// <summary>The sink's time per record, in µs: at most 20,000 records/s, far below the source's speed.</summary>
    private const int SinkDelayMicros = 50;

    /// <summary>
    /// Most records that can be between the source and the sink at once, with margin: every
    /// queue, credit window, batch in flight and SDK buffer on the way (about 20,000 rows by
    /// ExecutorLimits and SdkLimits) twice over. A source not held back would be ahead by
    /// nearly all of <see cref="Records"/>.
    /// </summary>
    private const int InFlightRecordsMax = 45_000;

    /// <summary>How much an upstream executor's resident memory may grow over the stall, in MB (GC noise).</summary>
    private const double RssGrowthToleranceMb = 25;

    /// <summary>The issue's target for an executor's resident memory under a stalled sink, in MB.</summary>
    private const double RssMaxMb = 150;

    private static readonly TimeSpan FlowTimeout = TimeSpan.FromSeconds(120);

    private sealed record Sample(TimeSpan At, long Produced, long ProducedAtMs, int Consumed, double SourceRssMb, double CounterRssMb);

    [Fact]
    public async Task A_slow_sink_slows_the_source_to_its_rate_memory_stays_flat_and_every_record_arrives()
    {
        await using var cluster = await Cluster.StartAsync();
        var counts = Path.Combine(cluster.Home, "counts.csv");
        var stats = Path.Combine(cluster.Home, "source-stats.json");
        var sink = Specs.Sink(counts);
        sink.Environment["WORDCOUNT_SINK_DELAY_US"] = SinkDelayMicros.ToString();
        await cluster.DeployAsync(sink);
        var counter = await cluster.DeployAsync(Specs.Counter(instances: 1));
        var source = await cluster.DeployAsync(new OperatorSpec
        {
            Name = "source",
            Instances = 1,
            Builtin = new BuiltinOperator
            {
                Kind = "generator",
                Options = { ["dictionary"] = Repo.Dictionary, ["rate"] = "0", ["count"] = Records.ToString(), ["stats"] = stats },
            },
            ExpectedOutputs = { "words" },
        });
        var sourceExecutor = source.Instances[0].ExecutorPid;
        var counterExecutor = (await cluster.WaitRunningAsync("counter", 1)).Instances[0].ExecutorPid;

        // Sample until every record has arrived: what the source produced, what the sink wrote,
        // and the upstream executors' resident memory.
        var samples = new List<Sample>();
        var clock = Stopwatch.StartNew();
        await Eventually.UntilAsync(() =>
        {
            var (produced, producedAtMs) = ReadProduced(stats);
            var consumed = Csv.Lines(counts);
            samples.Add(new Sample(clock.Elapsed, produced, producedAtMs, consumed, RssMb(sourceExecutor), RssMb(counterExecutor)));
            return consumed >= Records;
        }, FlowTimeout, () => $"{Records} lines in {counts} (have {Csv.Lines(counts)}, source produced {ReadProduced(stats).Produced})\n{cluster.InstanceLogs("sink")}");

        output.WriteLine(Describe(samples));

        // Every record arrived, once: one count line per word, and the final counts add up.
        Assert.Equal(Records, Csv.Lines(counts));
        Assert.Equal(Records, Csv.FinalCounts(counts).Values.Sum());

        // The source was held back to the sink's pace: while the sink worked through the
        // middle third, the source was never further ahead than the buffers on the way hold...
        var middle = samples.Where(s => s.Consumed >= Records / 3 && s.Consumed <= 2 * Records / 3).ToList();
        Assert.True(middle.Count >= 2, $"too few samples in the middle third: {Describe(samples)}");
        foreach (var s in middle)
        {
            Assert.True(s.Produced - s.Consumed <= InFlightRecordsMax,
                $"at {s.At.TotalSeconds:0.0} s the source had produced {s.Produced} but the sink written {s.Consumed}: not held back. {Describe(samples)}");
        }
        Assert.True(middle[0].Produced < Records, $"the source had finished before the sink reached a third: not held back. {Describe(samples)}");

        // ...and its rate over that stretch was the sink's rate (both move together).
        var (first, last) = (middle[0], middle[^1]);
        var sinkRate = (last.Consumed - first.Consumed) / (last.At - first.At).TotalSeconds;
        var sourceRate = (last.Produced - first.Produced) / Math.Max(0.001, (last.ProducedAtMs - first.ProducedAtMs) / 1000.0);
        Assert.True(sourceRate <= 2.0 * sinkRate, $"source {sourceRate:0}/s vs sink {sinkRate:0}/s. {Describe(samples)}");

        // Upstream executors' memory under the stall: flat (second half no higher than the
        // first half plus GC noise) and within the issue's bound.
        var stalled = samples.Where(s => s.Consumed >= Records / 4).ToList();
        var half = stalled.Count / 2;
        foreach (var (name, rss) in new (string, Func<Sample, double>)[] { ("source", s => s.SourceRssMb), ("counter", s => s.CounterRssMb) })
        {
            var early = stalled.Take(half).Max(rss);
            var late = stalled.Skip(half).Max(rss);
            Assert.True(late <= early + RssGrowthToleranceMb, $"{name} executor grew from {early:0} MB to {late:0} MB under the stall. {Describe(samples)}");
            Assert.True(stalled.Max(rss) <= RssMaxMb, $"{name} executor reached {stalled.Max(rss):0} MB (target ≤ {RssMaxMb} MB). {Describe(samples)}");
        }
    }

    private static (long Produced, long AtMs) ReadProduced(string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            return (doc.RootElement.GetProperty("produced").GetInt64(), doc.RootElement.GetProperty("updated_unix_ms").GetInt64());
        }
        catch (Exception e) when (e is IOException or JsonException or KeyNotFoundException)
        {
            return (0, 0); // not written yet
        }
    }

    /// <summary>VmRSS of <paramref name="pid"/> in MB, from /proc/&lt;pid&gt;/status; 0 when it is gone.</summary>
    private static double RssMb(int pid)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0]) / 1024.0;
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            return 0;
        }
    }

    private static string Describe(List<Sample> samples) =>
        "samples (s: produced/consumed, source/counter executor MB): " + string.Join("; ", samples
            .Where((_, i) => i % Math.Max(1, samples.Count / 25) == 0)
            .Select(s => $"{s.At.TotalSeconds:0.0}: {s.Produced}/{s.Consumed}, {s.SourceRssMb:0}/{s.CounterRssMb:0}"));
}
