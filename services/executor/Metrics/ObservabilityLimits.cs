namespace Concord.Executor.Metrics;

/// <summary>
/// Bounds of the executor's metrics and tracing, kept apart from <see cref="ExecutorLimits"/>
/// (the data plane's) so that observability can be tuned without touching the data path.
/// </summary>
public static class ObservabilityLimits
{
    /// <summary>
    /// Default sampling of sources: one record in 1,024 starts a trace (Dapper's default order
    /// of magnitude). Tracing costs a few dictionary operations per sampled record per hop, so
    /// at 100k records/s this is ~100 traces/s. Override with <see cref="TraceSampleEveryVariable"/>.
    /// </summary>
    public const int TraceSampleEveryDefault = 1024;

    /// <summary>
    /// Environment variable (of the executor, or in the operator's deploy-file "environment")
    /// that sets the sampling: N samples one record in N at sources; 0 turns sampling off.
    /// </summary>
    public const string TraceSampleEveryVariable = "CONCORD_TRACE_SAMPLE_EVERY";

    /// <summary>
    /// Spans kept per executor, in spans: 4,096 (about 1 MB). Oldest are overwritten: the store
    /// answers "what happened recently", it is not an archive (export over OTLP for that).
    /// </summary>
    public const int SpanStoreSpansMax = 4096;

    /// <summary>
    /// Sampled records an executor follows at once (waiting in its queues or in the operator),
    /// in records: 1,024. Beyond it new sampled records are not followed here (their trace
    /// just ends early): tracing must never grow memory with load.
    /// </summary>
    public const int TracePendingRecordsMax = 1024;

    /// <summary>
    /// Longest a followed record may wait before its pending entry is discarded, in ms: 60 s.
    /// Records dropped by a failed call would otherwise hold their entry forever.
    /// </summary>
    public const int TracePendingTimeoutMs = 60_000;


    /// <summary>Linux clock ticks per second (sysconf(_SC_CLK_TCK)), the unit of /proc/PID/stat's utime and stime: 100 on every Linux ABI .NET runs on.</summary>
    public const double ProcClockTicksPerSecond = 100.0;
}
