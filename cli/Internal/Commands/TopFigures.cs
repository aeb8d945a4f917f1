using System.Globalization;
using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Concord.Cli.Internal.Commands;

/// <summary>One row of <c>concord top</c>: an operator's figures over the last interval.</summary>
internal sealed record TopRow(
    string Operator,
    int Running,
    int Desired,
    double InPerSecond,
    double OutPerSecond,
    double? EndToEndP99Seconds,
    double? BatchP99Seconds,
    double QueueFill,
    double CpuPercent,
    double MemoryBytes,
    double Dropped = 0);

/// <summary>
/// The arithmetic of <c>concord top</c>, pure so it is testable: rates from two scrapes of the
/// executors' counters, p99 from the difference of two cumulative histograms (as Prometheus'
/// histogram_quantile does over a rate), summed per operator.
/// </summary>
internal static class TopFigures
{
    public static List<TopRow> Rows(ListResponse list, GetInstanceMetricsResponse before, GetInstanceMetricsResponse after)
    {
        var previous = before.Instances.ToDictionary(i => (i.OperatorName, i.InstanceIndex));
        var rows = new List<TopRow>();
        foreach (var op in list.Operators.OrderBy(o => o.Spec.Name, StringComparer.Ordinal))
        {
            var name = op.Spec.Name;
            double inRate = 0, outRate = 0, cpu = 0, memory = 0, queued = 0, capacity = 0, dropped = 0;
            var endToEnd = new SortedDictionary<double, double>();
            var batch = new SortedDictionary<double, double>();
            foreach (var now in after.Instances.Where(i => i.OperatorName == name && i.Error.Length == 0))
            {
                memory += now.ResidentMemoryBytes;
                // Since each executor started: a drop stays visible after it stopped happening.
                dropped += now.RecordsDroppedTotal;
                queued += now.InboundQueueRows;
                capacity += now.InboundQueueRowsMax;
                if (!previous.TryGetValue((name, now.InstanceIndex), out var then) || then.Error.Length > 0)
                {
                    continue;
                }
                var seconds = (now.ScrapedUnixMs - then.ScrapedUnixMs) / 1000.0;
                if (seconds <= 0)
                {
                    continue;
                }
                // A restarted executor starts its counters again: a negative delta counts as zero.
                inRate += Math.Max(0, now.RecordsInTotal - then.RecordsInTotal) / seconds;
                outRate += Math.Max(0, now.RecordsOutTotal - then.RecordsOutTotal) / seconds;
                cpu += Math.Max(0, now.CpuSecondsTotal - then.CpuSecondsTotal) / seconds * 100;
                AddDelta(endToEnd, then.EndToEndLatencyBuckets, now.EndToEndLatencyBuckets);
                AddDelta(batch, then.BatchDurationBuckets, now.BatchDurationBuckets);
            }
            rows.Add(new TopRow(name, StatusText.RunningCount(op), op.Spec.Instances, inRate, outRate,
                Quantile(0.99, endToEnd), Quantile(0.99, batch), capacity > 0 ? queued / capacity : 0, cpu, memory, dropped));
        }
        return rows;
    }

    /// <summary>
    /// The q-quantile of cumulative buckets (upper bound → count), interpolated linearly inside
    /// the bucket like Prometheus' histogram_quantile; null with no observations.
    /// </summary>
    public static double? Quantile(double q, SortedDictionary<double, double> cumulative)
    {
        if (cumulative.Count == 0)
        {
            return null;
        }
        var total = cumulative.Last().Value;
        if (total <= 0)
        {
            return null;
        }
        var rank = q * total;
        double lowerBound = 0, lowerCount = 0;
        foreach (var (bound, count) in cumulative)
        {
            if (count >= rank)
            {
                if (double.IsPositiveInfinity(bound))
                {
                    return lowerBound; // beyond the last finite bucket: report its bound
                }
                var inBucket = count - lowerCount;
                return inBucket <= 0 ? bound : lowerBound + (bound - lowerBound) * (rank - lowerCount) / inBucket;
            }
            lowerBound = bound;
            lowerCount = count;
        }
        return lowerBound;
    }

    public static IRenderable Table(IReadOnlyList<TopRow> rows)
    {
        var table = new Table().Border(TableBorder.Simple);
        table.AddColumn("OPERATOR");
        foreach (var column in new[] { "INSTANCES", "IN/S", "OUT/S", "P99 E2E", "P99 BATCH", "QUEUE", "CPU", "MEMORY", "DROPPED" })
        {
            table.AddColumn(new TableColumn(column).RightAligned());
        }
        foreach (var row in rows)
        {
            table.AddRow(
                Markup.Escape(row.Operator),
                $"{row.Running}/{row.Desired}",
                Rate(row.InPerSecond),
                Rate(row.OutPerSecond),
                Milliseconds(row.EndToEndP99Seconds),
                Milliseconds(row.BatchP99Seconds),
                (row.QueueFill * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%",
                row.CpuPercent.ToString("0", CultureInfo.InvariantCulture) + "%",
                Bytes(row.MemoryBytes),
                Count(row.Dropped));
        }
        return table;
    }

    private static void AddDelta(SortedDictionary<double, double> sum, IEnumerable<HistogramBucket> before, IEnumerable<HistogramBucket> after)
    {
        var then = before.ToDictionary(b => b.UpperBoundSeconds, b => b.Count);
        foreach (var bucket in after)
        {
            sum[bucket.UpperBoundSeconds] = sum.GetValueOrDefault(bucket.UpperBoundSeconds)
                + Math.Max(0, bucket.Count - then.GetValueOrDefault(bucket.UpperBoundSeconds));
        }
    }

    private static string Rate(double perSecond) => perSecond switch
    {
        >= 1_000_000 => (perSecond / 1_000_000).ToString("0.0", CultureInfo.InvariantCulture) + "M",
        >= 10_000 => (perSecond / 1_000).ToString("0", CultureInfo.InvariantCulture) + "k",
        _ => perSecond.ToString("0", CultureInfo.InvariantCulture),
    };

    private static string Count(double count) => count switch
    {
        >= 1_000_000 => (count / 1_000_000).ToString("0.0", CultureInfo.InvariantCulture) + "M",
        >= 10_000 => (count / 1_000).ToString("0", CultureInfo.InvariantCulture) + "k",
        _ => count.ToString("0", CultureInfo.InvariantCulture),
    };

    private static string Milliseconds(double? seconds) =>
        seconds is { } s ? (s * 1000).ToString(s < 0.01 ? "0.00" : "0.0", CultureInfo.InvariantCulture) + " ms" : "-";

    private static string Bytes(double bytes) => bytes switch
    {
        >= 1L << 30 => (bytes / (1L << 30)).ToString("0.0", CultureInfo.InvariantCulture) + " GiB",
        >= 1 << 20 => (bytes / (1 << 20)).ToString("0", CultureInfo.InvariantCulture) + " MiB",
        _ => (bytes / 1024).ToString("0", CultureInfo.InvariantCulture) + " KiB",
    };
}
