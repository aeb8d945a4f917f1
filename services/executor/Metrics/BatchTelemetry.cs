using System.Diagnostics;
using Concord.Executor.Records;
using Concord.Executor.Tracing;

namespace Concord.Executor.Metrics;

/// <summary>
/// The batch pump's two hooks: <see cref="Sent"/> before a ProcessBatch goes out and
/// <see cref="Answered"/> when its BatchDone comes back. Times batches for
/// <c>concord_batch_duration_seconds</c>, counts produced records, and drives tracing.
/// Sent runs on the send loop, Answered on the answer loop; a slot is written before its
/// batch is sent and read after its answer arrived, so the session orders the two.
/// </summary>
public sealed class BatchTelemetry(StreamTable outputs, ExecutorMetrics metrics, ExecutorTracing tracing)
{
    /// <summary>
    /// Send times remembered, in batches: 64, a power of two above any MaxBatchesInFlight
    /// (8 by default): a batch's slot cannot be reused before it is answered.
    /// </summary>
    public const int SlotsMax = 64;

    private readonly long[] _sentTimestamps = new long[SlotsMax];
    private readonly long[] _sentUnixUs = new long[SlotsMax];
    private readonly ulong[] _sentSeqs = new ulong[SlotsMax];

    public void Sent(RawBatch batch)
    {
        var slot = (int)(batch.Seq % SlotsMax);
        var nowUs = ExecutorMetrics.NowUnixUs();
        _sentTimestamps[slot] = Stopwatch.GetTimestamp();
        _sentUnixUs[slot] = nowUs;
        _sentSeqs[slot] = batch.Seq;
        tracing.Sent(batch, nowUs);
    }

    public void Answered(RawAnswer done)
    {
        var slot = (int)(done.Seq % SlotsMax);
        long sentUs = 0;
        if (done.Seq > 0 && _sentSeqs[slot] == done.Seq)
        {
            metrics.BatchDuration.Observe(Stopwatch.GetElapsedTime(_sentTimestamps[slot]).TotalSeconds);
            sentUs = _sentUnixUs[slot];
        }
        tracing.Answered(done, outputs, sentUs);
        metrics.Produced(done, outputs);
    }
}
