using System.Text.Json;

namespace Concord.Bench.Internal;

/// <summary>One snapshot of the csv-sink's stats file (option "stats"): records and a latency histogram.</summary>
internal sealed record SinkStats(long Records, long UpdatedUnixMs, SortedDictionary<long, long> LatencyBuckets)
{
    public static SinkStats? TryRead(string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var root = doc.RootElement;
            var buckets = new SortedDictionary<long, long>();
            foreach (var bucket in root.GetProperty("latency_us").GetProperty("buckets").EnumerateArray())
            {
                buckets[bucket[0].GetInt64()] = bucket[1].GetInt64();
            }
            return new SinkStats(root.GetProperty("records").GetInt64(), root.GetProperty("updated_unix_ms").GetInt64(), buckets);
        }
        catch (Exception e) when (e is IOException or JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>What happened between <paramref name="earlier"/> and this snapshot.</summary>
    public Window Since(SinkStats earlier)
    {
        var delta = new SortedDictionary<long, long>();
        foreach (var (lower, count) in LatencyBuckets)
        {
            var d = count - earlier.LatencyBuckets.GetValueOrDefault(lower);
            if (d > 0)
            {
                delta[lower] = d;
            }
        }
        var seconds = (UpdatedUnixMs - earlier.UpdatedUnixMs) / 1000.0;
        return new Window(Records - earlier.Records, seconds, delta);
    }
}

/// <summary>Records and latencies of one measured window.</summary>
internal sealed record Window(long Records, double Seconds, SortedDictionary<long, long> Latency)
{
    public double RecordsPerSecond => Seconds > 0 ? Records / Seconds : 0;

    /// <summary>The latency at quantile <paramref name="q"/>, in ms (bucket's upper edge, ≤ 3.2 % high).</summary>
    public double PercentileMs(double q)
    {
        var total = Latency.Values.Sum();
        if (total == 0)
        {
            return double.NaN;
        }
        var rank = (long)Math.Ceiling(q * total);
        long seen = 0;
        foreach (var (lower, count) in Latency)
        {
            seen += count;
            if (seen >= rank)
            {
                return UpperEdge(lower) / 1000.0;
            }
        }
        return UpperEdge(Latency.Keys.Last()) / 1000.0;
    }

    public double MaxMs => Latency.Count == 0 ? double.NaN : UpperEdge(Latency.Keys.Last()) / 1000.0;

    // Exact below 64 µs, then 32 buckets per power of two (the sink's LatencyHistogram).
    private static double UpperEdge(long lower) => lower < 64 ? lower + 1 : lower * 33.0 / 32.0;
}
