using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;

namespace Concord.Scheduler.Dashboard.Internal;

/// <summary>
/// The arithmetic of a snapshot, pure so it is testable: rates from two consecutive scrapes of
/// the executors' counters (a restarted executor's negative delta counts as zero), latency
/// percentiles from the difference of the cumulative end-to-end histograms (interpolated inside
/// a bucket like Prometheus' histogram_quantile), CPU % from the operator process's CPU seconds.
/// The same figures `concord top` shows.
/// </summary>
internal static class SnapshotBuilder
{
    /// <param name="before">The previous scrape, or null (then every rate is 0 for this interval).</param>
    public static DashboardSnapshot Build(
        long takenUnixMs,
        SchedulerView scheduler,
        IReadOnlyList<OperatorStatus> operators,
        IEnumerable<StreamEdge> edges,
        GetInstanceMetricsResponse? before,
        GetInstanceMetricsResponse after,
        ListCheckpointsResponse? checkpoints)
    {
        var previous = before?.Instances.Where(i => i.Error.Length == 0).ToDictionary(i => (i.OperatorName, i.InstanceIndex)) ?? [];
        var current = after.Instances.ToDictionary(i => (i.OperatorName, i.InstanceIndex));
        var views = new List<OperatorView>();
        // Per operator: the inbound queue fill and whether its sends stalled, for the edges.
        var queueFill = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var op in operators.OrderBy(o => o.Spec.Name, StringComparer.Ordinal))
        {
            var name = op.Spec.Name;
            double inRate = 0, outRate = 0, dropRate = 0, queued = 0, capacity = 0;
            var backpressured = false;
            var latency = new SortedDictionary<double, double>();
            var instances = new List<InstanceView>();
            foreach (var instance in op.Instances.OrderBy(i => i.Index))
            {
                current.TryGetValue((name, instance.Index), out var now);
                double? cpu = null, memory = null;
                double instanceIn = 0, instanceOut = 0;
                if (now is { Error.Length: 0 })
                {
                    memory = now.ResidentMemoryBytes;
                    queued += now.InboundQueueRows;
                    capacity += now.InboundQueueRowsMax;
                    if (previous.TryGetValue((name, instance.Index), out var then) && (now.ScrapedUnixMs - then.ScrapedUnixMs) / 1000.0 is var seconds && seconds > 0)
                    {
                        instanceIn = Delta(then.RecordsInTotal, now.RecordsInTotal) / seconds;
                        instanceOut = Delta(then.RecordsOutTotal, now.RecordsOutTotal) / seconds;
                        dropRate += Delta(then.RecordsDroppedTotal, now.RecordsDroppedTotal) / seconds;
                        cpu = Delta(then.CpuSecondsTotal, now.CpuSecondsTotal) / seconds * 100;
                        backpressured |= now.BackpressureSecondsTotal > then.BackpressureSecondsTotal;
                        AddDelta(latency, then.EndToEndLatencyBuckets, now.EndToEndLatencyBuckets);
                    }
                }
                inRate += instanceIn;
                outRate += instanceOut;
                instances.Add(new InstanceView(instance.Index, StatusText.Of(instance.State), instance.Host, instance.Restarts, instance.LastError,
                    instance.StateSinceUnixMs, cpu, memory, instanceIn, instanceOut, now?.Error ?? ""));
            }
            queueFill[name] = capacity > 0 ? queued / capacity : 0;
            var running = op.Instances.Count(i => i.State == InstanceState.Running);
            views.Add(new OperatorView(
                name,
                LanguageGuess.Of(op.Spec),
                op.Spec.Instances,
                running,
                OperatorState(op, running),
                op.LastError.Length > 0 ? op.LastError : op.Instances.Select(i => i.LastError).LastOrDefault(e => e.Length > 0) ?? "",
                InputsOf(op).Select(i => new InputView(i.Name, StatusText.Of(i.Grouping))).ToList(),
                OutputsOf(op).ToList(),
                inRate,
                outRate,
                dropRate,
                Quantile(0.50, latency) * 1000,
                Quantile(0.99, latency) * 1000,
                backpressured,
                instances));
        }
        var byName = views.ToDictionary(v => v.Name, StringComparer.Ordinal);
        var streams = edges
            .Select(e => new StreamView(
                e.Stream,
                e.FromOperator,
                e.ToOperator,
                StatusText.Of(e.Grouping),
                byName.TryGetValue(e.FromOperator, out var from) ? from.RecordsOutPerSec : 0,
                (from?.Backpressured ?? false) || queueFill.GetValueOrDefault(e.ToOperator) >= DashboardLimits.QueueFillBackpressured))
            .ToList();
        return new DashboardSnapshot(takenUnixMs, scheduler, views, streams, checkpoints is null ? null : Checkpoints(checkpoints));
    }

    /// <summary>Whether any operator has a delivery guarantee (so checkpoints are taken and worth showing).</summary>
    public static bool HasGuarantee(IEnumerable<OperatorStatus> operators) =>
        operators.Any(o => o.Spec.Delivery is DeliveryGuarantee.DeliveryAtLeastOnce or DeliveryGuarantee.DeliveryExactlyOnce);

    public static CheckpointsView Checkpoints(ListCheckpointsResponse list)
    {
        var latest = list.Checkpoints.FirstOrDefault(c => c.CheckpointId == list.LatestCompletedId && c.Status == CheckpointStatus.Completed);
        var recent = list.Checkpoints.OrderByDescending(c => c.CheckpointId).Take(DashboardLimits.CheckpointsRecentMax).ToList();
        return new CheckpointsView(
            (long)list.LatestCompletedId,
            latest is null ? 0 : latest.TriggerUnixMs + latest.DurationMs,
            latest?.DurationMs ?? 0,
            latest?.StateBytes ?? 0,
            recent.Count(c => c.Status == CheckpointStatus.Aborted),
            recent.Select(c => new CheckpointView((long)c.CheckpointId, CheckpointStatusText(c.Status), c.Savepoint, c.DurationMs, c.StateBytes, c.TriggerUnixMs)).ToList());
    }

    /// <summary>
    /// The colour key: "failing" when an instance failed or crash-loops and not all run,
    /// "running" when all desired run, "starting" when none runs yet but some are on their way,
    /// "degraded" when some but not all run, "stopped" otherwise (none alive, e.g. on a standby).
    /// </summary>
    public static string OperatorState(OperatorStatus op, int running)
    {
        if (running >= op.Spec.Instances && running > 0)
        {
            return "running";
        }
        if (op.Instances.Any(i => i.State is InstanceState.Failed or InstanceState.CrashLooping))
        {
            return "failing";
        }
        if (running > 0)
        {
            return "degraded";
        }
        return op.Instances.Any(i => i.State is InstanceState.Pending or InstanceState.Starting) ? "starting" : "stopped";
    }

    /// <summary>The q-quantile in seconds of cumulative buckets (upper bound → count); null with no observations.</summary>
    public static double? Quantile(double q, SortedDictionary<double, double> cumulative)
    {
        if (cumulative.Count == 0 || cumulative.Last().Value is var total && total <= 0)
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
                    return lowerBound; // beyond the last finite bucket: its bound
                }
                var inBucket = count - lowerCount;
                return inBucket <= 0 ? bound : lowerBound + (bound - lowerBound) * (rank - lowerCount) / inBucket;
            }
            lowerBound = bound;
            lowerCount = count;
        }
        return lowerBound;
    }

    private static string CheckpointStatusText(CheckpointStatus status) => status switch
    {
        CheckpointStatus.InProgress => "in-progress",
        CheckpointStatus.Completed => "completed",
        CheckpointStatus.Aborted => "aborted",
        _ => "unknown",
    };

    // What the operator said (metadata), else what its deploy file declares; as `concord graph` does.
    private static IEnumerable<InputStream> InputsOf(OperatorStatus o) =>
        o.Metadata is { Inputs.Count: > 0 } ? o.Metadata.Inputs : o.Spec.ExpectedInputs;

    private static IEnumerable<string> OutputsOf(OperatorStatus o) =>
        o.Metadata is { Outputs.Count: > 0 } ? o.Metadata.Outputs : o.Spec.ExpectedOutputs;

    private static double Delta(double then, double now) => Math.Max(0, now - then);

    private static void AddDelta(SortedDictionary<double, double> sum, IEnumerable<HistogramBucket> before, IEnumerable<HistogramBucket> after)
    {
        var then = before.ToDictionary(b => b.UpperBoundSeconds, b => b.Count);
        foreach (var bucket in after)
        {
            sum[bucket.UpperBoundSeconds] = sum.GetValueOrDefault(bucket.UpperBoundSeconds)
                + Math.Max(0, bucket.Count - then.GetValueOrDefault(bucket.UpperBoundSeconds));
        }
    }
}
