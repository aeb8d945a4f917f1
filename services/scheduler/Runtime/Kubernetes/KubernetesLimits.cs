namespace Concord.Scheduler.Runtime.Kubernetes;

/// <summary>The bounds of the Kubernetes runtime (docs/kubernetes.md), units last.</summary>
public static class KubernetesLimits
{
    /// <summary>
    /// How long a pod may take from creation to a running executor, in ms: 5 min. Covers
    /// scheduling and pulling two images on a cold node; past it the pod is deleted and the
    /// instance fails naming the last waiting reason (ImagePullBackOff, Unschedulable …), so a
    /// pod that never becomes ready does not hold the instance forever.
    /// </summary>
    public const int PodStartTimeoutMs = 300_000;

    /// <summary>
    /// The executor sidecar's attach wait for the operator container's socket, in ms: 5 min
    /// (CONCORD_OPERATOR_ATTACH_TIMEOUT_MS). Kubernetes starts the operator container only after
    /// the sidecar has started, and may pull the operator's image in between.
    /// </summary>
    public const int OperatorAttachTimeoutMs = 300_000;

    /// <summary>
    /// After the operator container ended, how long the executor sidecar has to end too
    /// (it reports the failure and exits at once), in ms: 10 s. Then the instance is ended
    /// with the operator container's exit: a sidecar that hangs does not hold it.
    /// </summary>
    public const int OperatorEndGraceMs = 10_000;

    /// <summary>
    /// The server-side timeout of one watch request, in s: 5 min. The API server ends watches
    /// anyway (its default is 30–60 min); a shorter one makes reconnection with the last
    /// resourceVersion the everyday path, not the rare one.
    /// </summary>
    public const int WatchTimeoutSeconds = 300;

    /// <summary>First delay before a failed list or watch is retried, in ms; doubled per failure up to <see cref="WatchRetryMaxMs"/>.</summary>
    public const int WatchRetryMinMs = 200;

    /// <summary>Largest delay between list/watch retries, in ms: 10 s (an API server that is away is asked every 10 s).</summary>
    public const int WatchRetryMaxMs = 10_000;

    /// <summary>One create, read or delete call to the API server, in ms: 30 s (the client's own default is 100 s).</summary>
    public const int ApiCallTimeoutMs = 30_000;

    // ---- --store kubernetes: leadership in a Lease, state in ConfigMaps (docs/kubernetes.md, "High availability with a Lease") ----

    /// <summary>
    /// Default Lease duration, in ms: 15 s (client-go's default). How long a dead leader holds
    /// office before a standby takes over (--lease-duration-ms).
    /// </summary>
    public const int LeaseDurationMsDefault = 15_000;

    /// <summary>Shortest --lease-duration-ms: 3 s, so the renew deadline (duration − margin) is still two or more renew periods.</summary>
    public const int LeaseDurationMsMin = 3_000;

    /// <summary>Longest --lease-duration-ms: 5 min; beyond it a dead leader would stall the cluster for too long.</summary>
    public const int LeaseDurationMsMax = 300_000;

    /// <summary>
    /// The least time, in ms, by which a leader's renew deadline is shorter than the Lease
    /// duration: 1 s. A leader that could not renew for its renew deadline stops acting; a
    /// standby takes over only after seeing no renewal for the full duration on its own clock.
    /// The margin absorbs the clocks' rate drift (bounded, not synchronised), a late timer
    /// (a GC pause, a loaded node) and the time for the gate to close.
    /// </summary>
    public const int LeaseFencingMarginMsMin = 1_000;

    /// <summary>The fencing margin as a part of the duration: one third (client-go's 10 s of 15 s), at least <see cref="LeaseFencingMarginMsMin"/>.</summary>
    public const int LeaseFencingMarginDivisor = 3;

    /// <summary>Renew tries within one renew deadline: 5 (client-go's 2 s of 10 s), so one lost or slow call does not depose a leader.</summary>
    public const int LeaseRenewAttemptsPerDeadline = 5;

    /// <summary>
    /// Largest ConfigMap the store writes, as JSON, in bytes: 1,000,000. The API server refuses
    /// a ConfigMap over 1 MiB (1,048,576 bytes); the rest leaves room for what it adds (managed
    /// fields, timestamps) so a write this store allows is never refused for its size there.
    /// </summary>
    public const int ConfigMapBytesMax = 1_000_000;

    /// <summary>
    /// Tries of one store write whose ConfigMap changed between its read and its write (409
    /// Conflict): 1,000. Each 409 means another write succeeded, so the writers as a whole always
    /// progress, but not fairly: a writer with a burst of its own can win every round against
    /// one that has just lost. Only the leader writes in a cluster (one at a time), so 409s
    /// are rare there; the bound is far above any burst and stops only a runaway foreign writer.
    /// Each try re-reads, and a conflict on the entry or a newer term ends the write at once.
    /// </summary>
    public const int StoreWriteAttemptsMax = 1_000;

    /// <summary>
    /// How often a store watch reads the topology ConfigMap for changes made by another
    /// process, in ms: 1 s. This process's own writes are reported at once.
    /// </summary>
    public const int StorePollMs = 1_000;

    /// <summary>
    /// After a stop's grace period, how long the pod has to be gone before it is deleted again
    /// with grace 0 (force), in ms: 10 s (kubelet's SIGKILL and the pod's removal).
    /// </summary>
    public const int StopSlackMs = 10_000;

    /// <summary>
    /// Slack of a pod's terminationGracePeriodSeconds over the scheduler's stop timeout, in s: 5.
    /// Kubernetes spends one grace period on the whole pod, in order: the operator container's
    /// SIGTERM and exit, then the executor sidecar's (its attach-mode wait for its own SIGTERM,
    /// ExecutorLimits.AttachedOperatorStopWaitMs, and its outbound drain); kubelet's noticing
    /// the operator's exit and signalling the sidecar come out of it too.
    /// </summary>
    public const int TerminationGraceSlackSeconds = 5;

    /// <summary>
    /// A pod's terminationGracePeriodSeconds, in s: the scheduler's stop timeout
    /// (SchedulerLimits.StopTimeoutMs, 15 s) plus <see cref="TerminationGraceSlackSeconds"/>.
    /// The grace of a deletion from outside (kubectl delete pod, a node drain, the topology's
    /// deletion); a stop's own delete passes the stop's timeout as gracePeriodSeconds.
    /// </summary>
    public const int PodTerminationGraceSeconds = (SchedulerLimits.StopTimeoutMs / 1000) + TerminationGraceSlackSeconds;

    /// <summary>Characters of the operator's name in a pod name: 40, so name, index and incarnation fit a 63-character hostname (DNS label).</summary>
    public const int PodNameOperatorCharsMax = 40;

    /// <summary>Characters of the incarnation in a pod name: 12 hex digits (48 bits), unique among an instance's launches.</summary>
    public const int PodNameIncarnationChars = 12;

    /// <summary>
    /// Largest spec, as protobuf JSON, in bytes: 100,000. It travels in the executor's
    /// environment (CONCORD_SPEC_JSON), and Linux refuses one environment string over 128 KiB.
    /// </summary>
    public const int SpecJsonBytesMax = 100_000;

    /// <summary>Longest image reference, in characters: the deploy file's bound (ProtocolLimits.ImageCharsMax), for the executor's image too.</summary>
    public const int ImageCharsMax = Contracts.ProtocolLimits.ImageCharsMax;

    /// <summary>The executor sidecar's CPU request and limit, in millicores: 250 (routing and batching beside one operator).</summary>
    public const int ExecutorCpuMillis = 250;

    /// <summary>The executor sidecar's memory request and limit, in MiB: 512 (its queues are bounded well below; docs/data-plane.md).</summary>
    public const int ExecutorMemoryMiB = 512;
}
