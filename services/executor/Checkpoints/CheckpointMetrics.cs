using Prometheus;

namespace Concord.Executor.Checkpoints;

/// <summary>
/// The checkpoint metrics of one executor (docs/observability.md), registered in the
/// executor's own registry (<see cref="Metrics.ExecutorMetrics.Registry"/>), so they are served
/// with the others and carry the same static labels.
/// </summary>
public sealed class CheckpointMetrics
{
    public CheckpointMetrics(Metrics.ExecutorMetrics metrics)
    {
        var factory = Prometheus.Metrics.WithCustomRegistry(metrics.Registry);
        Duration = factory.CreateHistogram("concord_checkpoint_duration_seconds",
            "From the begin (sources) or first barrier (readers) to this instance's snapshot written, per checkpoint.",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.001, 2, 18) });
        Alignment = factory.CreateHistogram("concord_checkpoint_alignment_seconds",
            "From the first to the last barrier of an aligned (exactly_once) checkpoint at this instance.",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.0005, 2, 18) });
        Total = factory.CreateCounter("concord_checkpoints_total",
            "Checkpoints this instance took part in, by result: completed, aborted (by the coordinator), failed (this instance's snapshot failed).",
            ["result"]);
        RestoredCheckpointId = factory.CreateGauge("concord_restored_checkpoint_id",
            "The checkpoint this incarnation restored its state from; 0 when it started empty.");
    }

    public Histogram Duration { get; }

    public Histogram Alignment { get; }

    public Counter Total { get; }

    public Gauge RestoredCheckpointId { get; }
}
