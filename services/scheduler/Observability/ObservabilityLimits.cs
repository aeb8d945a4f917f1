namespace Concord.Scheduler.Observability;

/// <summary>Bounds of the scheduler's observability API (logs, metrics fan-out, traces), each with why.</summary>
public static class ObservabilityLimits
{
    /// <summary>Lines of history per instance when GetLogs asks for 0: 100, a screenful or two.</summary>
    public const int LogTailLinesDefault = 100;

    /// <summary>Most lines of history per instance GetLogs sends: 10,000; beyond that read the file.</summary>
    public const int LogTailLinesMax = 10_000;

    /// <summary>
    /// Bytes read from the end of executor.log to find the tail, at most: 4 MiB. Bounds the
    /// scheduler's memory for one call whatever the size of the log (lines are at most ~8 KB).
    /// </summary>
    public const int LogTailBytesMax = 4 * 1024 * 1024;

    /// <summary>
    /// How often a following GetLogs checks the log files for new lines, in ms: 200. The
    /// executor writes the file directly (no event reaches the scheduler); 200 ms feels live.
    /// </summary>
    public const int LogFollowPollMs = 200;

    /// <summary>Longest line GetLogs sends, in characters: 16,384; longer ones are cut with "…".</summary>
    public const int LogLineCharsMax = 16_384;

    /// <summary>
    /// Time one executor has to answer a /metrics or /traces request from the scheduler, in ms:
    /// 2 s. An executor that does not answer is reported with an error, the others still count.
    /// </summary>
    public const int ExecutorQueryTimeoutMs = 2_000;

    /// <summary>Records TailStream returns when asked for 0: 10, a screenful.</summary>
    public const int TailRecordsDefault = 10;

    /// <summary>Most records TailStream returns: 100, what each executor keeps per stream (ExecutorLimits.TailRecordsMax).</summary>
    public const int TailRecordsMax = 100;

    /// <summary>Traces ListTraces returns when asked for 0: 20.</summary>
    public const int TraceListDefault = 20;

    /// <summary>Most traces ListTraces returns: 1,000.</summary>
    public const int TraceListMax = 1_000;

    /// <summary>
    /// Offset of the default metrics port from the gRPC port: 1 (7400 → 7401), so the default
    /// cluster's service-discovery URL is fixed (docs/prometheus.yml). With --port 0 the metrics
    /// port is free too and is read from scheduler.json ("metricsAddress").
    /// </summary>
    public const int MetricsPortOffset = 1;
}
