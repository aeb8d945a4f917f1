namespace Concord.Cli.Internal.Commands;

/// <summary>Bounds of <c>logs</c>, <c>top</c>, <c>trace</c> and <c>graph --format svg</c>, unit last, each with why.</summary>
internal static class ObservabilityCliLimits
{
    /// <summary>Lines of history <c>concord logs</c> shows per instance by default: 100.</summary>
    public const int LogTailLinesDefault = 100;

    /// <summary>Most lines of history per instance (the scheduler's own bound): 10,000.</summary>
    public const int LogTailLinesMax = 10_000;

    /// <summary>
    /// Refresh period of <c>concord top</c>, in ms: 1 s. Rates are computed over this interval,
    /// so it is also the window of in/s, out/s, CPU and p99.
    /// </summary>
    public const int TopRefreshMs = 1_000;

    /// <summary>Traces <c>concord trace</c> lists by default: 20.</summary>
    public const int TraceListDefault = 20;

    /// <summary>Most traces <c>concord trace --limit</c> accepts: 1,000 (the scheduler's bound).</summary>
    public const int TraceListMax = 1_000;

    /// <summary>
    /// Time Graphviz <c>dot</c> may take to render, in seconds: 10. A topology of a few dozen
    /// operators renders in milliseconds; more means dot is stuck.
    /// </summary>
    public const int DotTimeoutSeconds = 10;

    /// <summary>Records <c>concord tail</c> shows by default: 10, a screenful.</summary>
    public const int TailRecordsDefault = 10;

    /// <summary>Most records <c>concord tail -n</c> accepts: 100 (what each executor keeps per stream).</summary>
    public const int TailRecordsMax = 100;

    /// <summary>Poll period of <c>concord tail --follow</c>, in ms: 1 s; each poll also keeps the executors' tail armed (they keep it 10 s).</summary>
    public const int TailFollowPollMs = 1_000;

    /// <summary>Bytes of a key or value <c>concord tail</c> prints: 256 (what executors keep), longer ones end in "…".</summary>
    public const int TailShownBytesMax = 256;
}
