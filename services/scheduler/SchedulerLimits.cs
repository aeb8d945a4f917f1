namespace Concord.Scheduler;

/// <summary>
/// Every bound of the scheduler in one place: unit last in the name, and why it has its value.
/// Relationships between them are checked at
/// compile time at the bottom of the class.
/// </summary>
public static class SchedulerLimits
{
    /// <summary>Port the scheduler serves gRPC on when --port is not given.</summary>
    public const int DefaultPort = 7400;

    /// <summary>
    /// First restart back-off after a failure, in ms: 250. Long enough that a crash at start-up
    /// does not spin a core, short enough that a one-off crash is barely noticed.
    /// </summary>
    public const int RestartBackoffInitialMs = 250;

    /// <summary>
    /// Longest restart back-off, in ms: 10 s. The back-off doubles from
    /// <see cref="RestartBackoffInitialMs"/> up to this, and a crash-looping instance restarts at
    /// this pace forever: a fixed bug is picked up within 10 s without hammering the machine.
    /// </summary>
    public const int RestartBackoffMaxMs = 10_000;

    /// <summary>
    /// Failures within <see cref="CrashLoopWindowMs"/> that make an instance crash-looping: 5.
    /// Four quick restarts (0.25 + 0.5 + 1 + 2 s) are ordinary flakiness; a fifth is a bug.
    /// </summary>
    public const int CrashLoopFailuresMin = 5;

    /// <summary>
    /// Window over which failures are counted for back-off and crash-loop detection, in ms:
    /// 60 s. An instance that stays up longer than this between failures starts again at the
    /// shortest back-off.
    /// </summary>
    public const int CrashLoopWindowMs = 60_000;

    /// <summary>
    /// Time an executor has to call RegisterExecutor after launch, in ms: 60 s. Covers a cold
    /// `dotnet` start plus the operator's own start (JVM, Python imports) with room to spare;
    /// past it the instance is killed and counted as a failure so it does not hang in starting.
    /// </summary>
    public const int StartingTimeoutMs = 60_000;

    /// <summary>
    /// Time an executor has to drain and exit after SIGTERM before it is SIGKILLed, in ms:
    /// 10 s. The executor itself bounds the operator's shutdown below this.
    /// </summary>
    public const int StopTimeoutMs = 10_000;

    /// <summary>
    /// Time the scheduler waits for every instance to stop when it shuts down, in ms: 15 s:
    /// <see cref="StopTimeoutMs"/> plus time for SIGKILL to be delivered and reaped.
    /// </summary>
    public const int ShutdownTimeoutMs = StopTimeoutMs + 5_000;

    /// <summary>
    /// Commands and events waiting for the reconcile loop: 1,024. Callers (gRPC handlers,
    /// process-exit watchers, timers) wait when it is full, which backpressures clients instead
    /// of growing memory; one loop step is microseconds, so it only fills under abuse.
    /// </summary>
    public const int ReconcileQueueCommandsMax = 1_024;

    /// <summary>
    /// Routing tables queued per WatchRouting stream: 1. Only the newest table matters, so a
    /// slow watcher gets the latest one (older ones are coalesced away), never a backlog.
    /// </summary>
    public const int WatcherQueueTablesMax = 1;

    /// <summary>
    /// Topology-change notifications queued per store watcher: 1. A notification only says
    /// "re-read the store", so one pending is as good as many (ZooKeeper watch semantics).
    /// </summary>
    public const int StoreWatchQueueNotificationsMax = 1;

    /// <summary>
    /// Time a gRPC call waits for the reconcile loop to answer, in ms: 30 s. The loop never
    /// blocks on slow work (stops run beside it), so hitting this means the scheduler is stuck.
    /// </summary>
    public const int CommandTimeoutMs = 30_000;

    /// <summary>
    /// Time to wait for a leftover executor from a previous scheduler run to exit after SIGTERM
    /// before SIGKILL, in ms: 5 s. Shorter than <see cref="StopTimeoutMs"/>: a leftover has no
    /// scheduler and its records are lost anyway; what matters is no duplicate instance.
    /// </summary>
    public const int LeftoverStopTimeoutMs = 5_000;

    /// <summary>Longest error message kept per instance, in characters: 4,096.</summary>
    public const int LastErrorLengthMax = 4_096;

    /// <summary>
    /// Time the new instances of a rolling replace have to reach running, in ms: 60 s, the
    /// same as <see cref="StartingTimeoutMs"/> (a new version starts like any instance). Past
    /// it the replace is abandoned: the new instances are stopped, the old ones keep running.
    /// A Replace call may ask for less (tests, impatient operators), never more.
    /// </summary>
    public const int ReplaceRunningTimeoutMs = StartingTimeoutMs;

    /// <summary>
    /// Time to wait, after a routing table that routes away from some instances (scale down,
    /// replace), for every WatchRouting stream to have taken that table, before those
    /// instances are sent SIGTERM, in ms: 2 s. Senders then no longer pick them for new
    /// records; a watcher that is slower than this (stuck, or its executor gone) does not hold
    /// up the change. Each watcher is written at once, so this is normally a few ms.
    /// </summary>
    public const int RoutingSwitchDeliveryTimeoutMs = 2_000;

    /// <summary>
    /// Time an executor adopted from a previous scheduler run (found alive, with the recorded
    /// incarnation, the same spec and this scheduler's address) has to register again, in ms:
    /// 20 s. It retries every at most 5 s (executor SchedulerRetryBackoffMaxMs) with calls
    /// bounded at 10 s (SchedulerCallTimeoutMs), so 20 s covers one full retry; past it the
    /// executor is stopped and the instance relaunched, like any failed start.
    /// </summary>
    public const int AdoptRegisterTimeoutMs = 20_000;

    /// <summary>
    /// Poll interval for the exit of an adopted executor, in ms: 100. It is not this
    /// scheduler's child, so there is no exit event to wait for; 100 ms makes a crash of an
    /// adopted instance noticed about as fast as one of a child, at a negligible cost.
    /// </summary>
    public const int AdoptedExitPollMs = 100;

    /// <summary>
    /// Size of every random secret the scheduler makes (operator token, cluster key), in bytes:
    /// 32 = 256 bits, beyond guessing for any attacker, and the size of an HMAC-SHA256 key.
    /// </summary>
    public const int SecretBytes = 32;

    /// <summary>
    /// Shortest operator token the scheduler accepts from --token or CONCORD_TOKEN, in
    /// characters: 16. A made-up short token would be guessable over the network; the
    /// scheduler's own tokens have 43 (32 bytes base64url).
    /// </summary>
    public const int TokenCharsMin = 16;

    // Compile-time checks of the relationships above: a constant conversion of a negative
    // number to uint does not compile, so a bad edit fails the build (error CS0221).
    private const uint AssertBackoffInitialPositive = (uint)(RestartBackoffInitialMs - 1);
    private const uint AssertBackoffMaxAtLeastInitial = (uint)(RestartBackoffMaxMs - RestartBackoffInitialMs);
    private const uint AssertCrashLoopNeedsTwoFailures = (uint)(CrashLoopFailuresMin - 2);
    private const uint AssertShutdownOutlastsStop = (uint)(ShutdownTimeoutMs - StopTimeoutMs - 1);
    private const uint AssertReplaceTimeoutPositive = (uint)(ReplaceRunningTimeoutMs - 1);
    private const uint AssertSwitchDeliveryBelowStop = (uint)(StopTimeoutMs - RoutingSwitchDeliveryTimeoutMs - 1);
    private const uint AssertAdoptPollBelowTimeout = (uint)(AdoptRegisterTimeoutMs - AdoptedExitPollMs - 1);
}
