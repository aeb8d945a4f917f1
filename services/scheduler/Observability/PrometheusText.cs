using System.Globalization;
using Concord.Contracts.Scheduler.V1;

namespace Concord.Scheduler.Observability;

/// <summary>
/// Reads the few series `concord top` needs from an executor's Prometheus text exposition.
/// Not a general parser: it relies on what prometheus-net writes (one sample per line,
/// <c>name{labels} value</c>, label values without escaped quotes in our label sets).
/// </summary>
public static class PrometheusText
{
    public static void Fill(InstanceMetrics figures, string text)
    {
        var batch = new SortedDictionary<double, double>();
        var endToEnd = new SortedDictionary<double, double>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }
            var (name, labels, value) = Parse(line);
            if (name is null)
            {
                continue;
            }
            switch (name)
            {
                case "concord_records_in_total":
                    figures.RecordsInTotal += value;
                    break;
                case "concord_records_out_total":
                    figures.RecordsOutTotal += value;
                    break;
                case "concord_inbound_queue_rows":
                    figures.InboundQueueRows = value;
                    break;
                case "concord_inbound_queue_rows_max":
                    figures.InboundQueueRowsMax = value;
                    break;
                case "concord_outbound_queue_rows":
                    figures.OutboundQueueRows = value;
                    break;
                case "concord_operator_cpu_seconds_total":
                    figures.CpuSecondsTotal = value;
                    break;
                case "concord_operator_resident_memory_bytes":
                    figures.ResidentMemoryBytes = value;
                    break;
                case "concord_backpressure_seconds_total":
                    figures.BackpressureSecondsTotal = value;
                    break;
                case "concord_records_dropped_total":
                    figures.RecordsDroppedTotal += value;
                    break;
                case "concord_batch_duration_seconds_bucket":
                    Add(batch, labels, value);
                    break;
                case "concord_end_to_end_latency_seconds_bucket":
                    Add(endToEnd, labels, value);
                    break;
            }
        }
        figures.BatchDurationBuckets.AddRange(batch.Select(b => new HistogramBucket { UpperBoundSeconds = b.Key, Count = b.Value }));
        figures.EndToEndLatencyBuckets.AddRange(endToEnd.Select(b => new HistogramBucket { UpperBoundSeconds = b.Key, Count = b.Value }));
    }

    /// <summary>Name, raw label text and value of one sample line; name null when the line is not a sample.</summary>
    public static (string? Name, string Labels, double Value) Parse(string line)
    {
        var brace = line.IndexOf('{');
        var space = line.LastIndexOf(' ');
        if (space <= 0)
        {
            return (null, "", 0);
        }
        string name, labels;
        if (brace > 0 && brace < space)
        {
            var close = line.LastIndexOf('}');
            if (close < brace)
            {
                return (null, "", 0);
            }
            name = line[..brace];
            labels = line[(brace + 1)..close];
            space = line.IndexOf(' ', close);
        }
        else
        {
            name = line[..line.IndexOf(' ')];
            labels = "";
            space = name.Length;
        }
        var valueText = line[(space + 1)..].Trim().Split(' ')[0];
        return double.TryParse(valueText, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) ? (name, labels, value) : (null, "", 0);
    }

    /// <summary>The value of label <paramref name="label"/> in raw label text; null when absent.</summary>
    public static string? Label(string labels, string label)
    {
        // Our label values are names and numbers: no commas or escaped quotes inside them.
        foreach (var part in labels.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=');
            if (eq > 0 && part.AsSpan(0, eq).Trim().SequenceEqual(label))
            {
                return part[(eq + 1)..].Trim().Trim('"');
            }
        }
        return null;
    }

    private static void Add(SortedDictionary<double, double> buckets, string labels, double count)
    {
        var le = Label(labels, "le");
        if (le is null)
        {
            return;
        }
        var bound = le == "+Inf" ? double.PositiveInfinity : double.Parse(le, NumberStyles.Float, CultureInfo.InvariantCulture);
        buckets[bound] = buckets.GetValueOrDefault(bound) + count;
    }
}
