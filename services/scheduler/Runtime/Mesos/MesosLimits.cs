namespace Concord.Scheduler.Runtime.Mesos;

/// <summary>The bounds of the Mesos runtime (docs/mesos.md), units last.</summary>
public static class MesosLimits
{
    /// <summary>
    /// How long the master may keep a failed-over framework's tasks running while no scheduler
    /// is subscribed, in s: 1 week. A scheduler restarted (or a standby taking over) within it
    /// subscribes again with the stored framework id and finds its tasks; past it the master
    /// kills them and forgets the framework.
    /// </summary>
    public const double FailoverTimeoutSeconds = 7 * 24 * 3600;

    /// <summary>
    /// How long an instance may wait from its launch request to TASK_RUNNING, in ms: 5 min.
    /// Covers waiting for an offer that fits and fetching on a cold agent; past it the task is
    /// killed (if it was launched) and the instance fails, naming the last state Mesos gave, so
    /// a task that never runs (no offer fits, stuck in TASK_STAGING) does not hold it forever.
    /// </summary>
    public const int TaskStartTimeoutMs = 300_000;

    /// <summary>One call (ACCEPT, DECLINE, KILL, ACKNOWLEDGE, RECONCILE, REVIVE) to the master, in ms: 30 s.</summary>
    public const int CallTimeoutMs = 30_000;

    /// <summary>How long SUBSCRIBE may take to answer with its response headers, in ms: 30 s.</summary>
    public const int SubscribeTimeoutMs = 30_000;

    /// <summary>
    /// Heartbeats the subscription may miss before it is taken as dead and made again, a count:
    /// 5 (the master's default heartbeat is 15 s, so a master that went silent is noticed in
    /// 75 s, where TCP alone may take many minutes).
    /// </summary>
    public const int MissedHeartbeatsMax = 5;

    /// <summary>The heartbeat interval assumed until SUBSCRIBED says otherwise, in s: Mesos' default, 15.</summary>
    public const double DefaultHeartbeatSeconds = 15;

    /// <summary>First delay before a failed subscription is made again, in ms; doubled per failure up to <see cref="SubscribeRetryMaxMs"/>.</summary>
    public const int SubscribeRetryMinMs = 200;

    /// <summary>Largest delay between subscription attempts, in ms: 10 s (a master that is away is asked every 10 s).</summary>
    public const int SubscribeRetryMaxMs = 10_000;

    /// <summary>Redirects (307 to the leading master) followed for one SUBSCRIBE, a count: 3 (more is a loop between masters that disagree).</summary>
    public const int RedirectsMax = 3;

    /// <summary>
    /// Largest RecordIO record accepted from the master, in bytes: 16 MiB. An OFFERS event of a
    /// large cluster is a few hundred KiB; a length beyond this is a broken stream, not data,
    /// and is not allocated.
    /// </summary>
    public const int RecordBytesMax = 16 * 1024 * 1024;

    /// <summary>Digits of a RecordIO length prefix, a count: 10 (enough for <see cref="RecordBytesMax"/>; more is a broken stream).</summary>
    public const int RecordLengthDigitsMax = 10;

    /// <summary>
    /// How long a declined offer's resources are not offered again while instances wait, in s:
    /// 5 (an offer too small for what waits comes back soon, in case something freed up).
    /// </summary>
    public const double DeclineWhileWaitingSeconds = 5;

    /// <summary>
    /// How long a declined offer's resources are not offered again when nothing waits, in s:
    /// 120. A launch sends REVIVE, which cancels this filter, so it costs no latency.
    /// </summary>
    public const double DeclineIdleSeconds = 120;

    /// <summary>Instances waiting for an offer, a count: 10,000 (a topology larger than that is not what one scheduler runs).</summary>
    public const int PendingLaunchesMax = 10_000;

    /// <summary>
    /// After a stop's grace period (the KILL's kill_policy), how long the task has to report a
    /// terminal state before the instance is taken as ended anyway, in ms: 10 s.
    /// </summary>
    public const int StopSlackMs = 10_000;

    /// <summary>CPUs of the default executor Mesos runs for each task group: 0.1 (it only supervises).</summary>
    public const double DefaultExecutorCpus = 0.1;

    /// <summary>Memory of the default executor Mesos runs for each task group, in MiB: 32 (Mesos' own recommendation).</summary>
    public const double DefaultExecutorMemMiB = 32;

    /// <summary>CPUs the Concord executor takes beside its operator: 0.25 (routing and batching; the Kubernetes sidecar's share).</summary>
    public const double ConcordExecutorCpus = 0.25;

    /// <summary>Memory the Concord executor takes beside its operator, in MiB: 512 (its queues are bounded well below; docs/data-plane.md).</summary>
    public const double ConcordExecutorMemMiB = 512;

    /// <summary>
    /// Longest shared directory used as is, in characters: 80. The session's unix socket
    /// (operator.sock) lives in it, and Linux allows 107 bytes for a socket path; Mesos' sandbox
    /// paths are longer (agent, framework, executor, run and task ids), so past this a short
    /// symlink in /tmp stands for the directory.
    /// </summary>
    public const int WorkDirCharsMax = 80;

    /// <summary>
    /// Largest spec, as protobuf JSON, in bytes: 100,000. It travels in the executor task's
    /// environment (CONCORD_SPEC_JSON), and Linux refuses one environment string over 128 KiB.
    /// </summary>
    public const int SpecJsonBytesMax = 100_000;

    /// <summary>
    /// How long the executor task waits for the operator task to connect to the shared socket,
    /// in ms: 5 min (CONCORD_OPERATOR_ATTACH_TIMEOUT_MS). Both tasks start together, but the
    /// operator's may first fetch or warm up on a cold agent; past it the executor exits naming the socket.
    /// </summary>
    public const int OperatorAttachTimeoutMs = 300_000;

    /// <summary>
    /// After the operator's task ended, how long the executor's task has to end too before the
    /// instance is taken as ended with the operator's exit and the executor's task is killed,
    /// in ms: 30 s (the executor notices the closed session at once and drains within its own bound).
    /// </summary>
    public const int OperatorEndGraceMs = 30_000;

    /// <summary>
    /// Finding leftovers of an earlier run (implicit reconciliation, which has no end marker):
    /// the answer is taken as complete once no update came for this long, in ms: 2 s.
    /// </summary>
    public const int ReconcileQuietMs = 2_000;

    /// <summary>Longest wait for the answer of an implicit reconciliation, in ms: 30 s (a master answering slower is taken as having said all it will).</summary>
    public const int ReconcileWindowMs = 30_000;

    /// <summary>How long the runtime waits for a subscription before a call fails, in ms: 60 s (a master that is away fails launches instead of holding them).</summary>
    public const int SubscribedWaitMs = 60_000;
}
