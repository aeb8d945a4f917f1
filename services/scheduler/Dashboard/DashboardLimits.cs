namespace Concord.Scheduler.Dashboard;

/// <summary>
/// Bounds of the web dashboard (docs/dashboard.md), each with its unit last and why: what one
/// browser, or many, can make the scheduler hold or compute.
/// </summary>
public static class DashboardLimits
{
    /// <summary>
    /// Login sessions held at once: 256. One per browser that logged in; beyond it the oldest is
    /// evicted (its browser logs in again), so a script posting the right token in a loop cannot
    /// grow the scheduler's memory.
    /// </summary>
    public const int SessionsMax = 256;

    /// <summary>How long a session lasts from login, in ms: 12 h, a working day; then log in again.</summary>
    public const int SessionLifetimeMs = 12 * 60 * 60 * 1000;

    /// <summary>Random bytes of a session id: 32, as many as the operator token (SchedulerLimits.SecretBytes).</summary>
    public const int SessionIdBytes = 32;

    /// <summary>
    /// Time between two snapshots on the event stream, in ms: 1 s. Each costs one scrape of
    /// every running executor's /metrics (as `concord top` does), shared by every dashboard.
    /// </summary>
    public const int PushIntervalMs = 1_000;

    /// <summary>
    /// A snapshot younger than this is served again to `GET /ui/api/snapshot` instead of
    /// scraping anew, in ms: the push interval, so reloading pages cannot make scrapes faster.
    /// </summary>
    public const int SnapshotReuseMs = PushIntervalMs;

    /// <summary>
    /// Oldest earlier scrape rates are computed against, in ms: 10 s. An older one (the
    /// dashboard was closed meanwhile) would average over minutes; the rates then show 0 for one
    /// interval instead.
    /// </summary>
    public const int RateBaselineAgeMaxMs = 10_000;

    /// <summary>Event streams open at once: 64 dashboards; the 65th gets 503 (each holds a connection and a writer task).</summary>
    public const int EventStreamsMax = 64;

    /// <summary>
    /// Snapshots waiting for one slow event-stream reader: 1. A newer one replaces it (drop
    /// oldest): a browser that cannot keep up sees the latest state, never a growing queue.
    /// </summary>
    public const int EventStreamBufferSnapshots = 1;

    /// <summary>Quiet time after which the event stream sends a `: keep-alive` comment, in ms: 15 s (proxies cut idle connections after 30-60 s).</summary>
    public const int KeepAliveMs = 15_000;

    /// <summary>Seconds of per-operator rate history kept for the charts: 300 (5 minutes).</summary>
    public const int HistorySeconds = 300;

    /// <summary>Points per operator in the history ring: one per push over <see cref="HistorySeconds"/>.</summary>
    public const int HistoryPointsMax = HistorySeconds * 1000 / PushIntervalMs;

    /// <summary>Log lines `GET /ui/api/logs` returns when `lines` is not given: 50, a panel's worth.</summary>
    public const int LogLinesDefault = 50;

    /// <summary>Most log lines `GET /ui/api/logs` returns (per instance): 200; `concord logs` for more.</summary>
    public const int LogLinesMax = 200;

    /// <summary>Traces `GET /ui/api/traces` returns when `limit` is not given: 20.</summary>
    public const int TracesDefault = 20;

    /// <summary>Most traces `GET /ui/api/traces` returns: 100, what a list on one page can show.</summary>
    public const int TracesMax = 100;

    /// <summary>Recent checkpoints in a snapshot: 10, a panel's worth; `concord checkpoints` lists all.</summary>
    public const int CheckpointsRecentMax = 10;

    /// <summary>
    /// Largest body of a dashboard POST (login form, scale, kill), in bytes: 4 KiB. They carry a
    /// token or an operator name and a number; anything larger is refused before it is read.
    /// </summary>
    public const int RequestBodyBytesMax = 4 * 1024;

    /// <summary>Largest static file served, in bytes: 8 MiB. The built front end is well under 1 MiB; a bigger file is not ours.</summary>
    public const long StaticFileBytesMax = 8L * 1024 * 1024;

    /// <summary>Longest path under /ui a static file may have, in characters: 256; the build's file names are short.</summary>
    public const int StaticPathCharsMax = 256;

    /// <summary>
    /// Inbound queue fill at or above which a stream counts as backpressured: 0.9 (90 %). The
    /// executor's queue holds channels x credit window; that full, senders wait for credit.
    /// </summary>
    public const double QueueFillBackpressured = 0.9;

    /// <summary>
    /// Time a new plaintext connection has to send its first bytes before it is handed to
    /// HTTP/1.1 (whose own timeouts then apply), in ms: 10 s. Kestrel's header timeout is 30 s.
    /// </summary>
    public const int ProtocolDetectionTimeoutMs = 10_000;
}
