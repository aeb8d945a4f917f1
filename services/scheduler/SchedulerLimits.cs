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
    public const int RestartBackoffMsMax = 10_000;

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
    /// Delay before restarting an instance killed from outside (its executor or operator died of
    /// SIGKILL or SIGTERM the scheduler did not send, not the OOM killer), in ms: 0. Such a kill
    /// is not the operator's failure, so it does not grow the back-off and does not count toward
    /// crash-looping (docs/operations.md, "Kills from outside").
    /// </summary>
    public const int ExternalKillRestartDelayMs = 0;

    /// <summary>
    /// Kills from outside within <see cref="CrashLoopWindowMs"/> that restart at once: 20 (one
    /// every 3 s). Beyond that something keeps killing the instance (a supervisor, a watchdog):
    /// further kills count as failures, so the back-off bounds the restarts again.
    /// </summary>
    public const int ExternalKillsInWindowMax = 20;

    /// <summary>
    /// Time an executor has to call RegisterExecutor after launch, in ms: 60 s. Covers a cold
    /// `dotnet` start plus the operator's own start (JVM, Python imports) with room to spare;
    /// past it the instance is killed and counted as a failure so it does not hang in starting.
    /// </summary>
    public const int StartingTimeoutMs = 60_000;

    /// <summary>
    /// Time an executor has to drain and exit after SIGTERM before its whole instance group is
    /// SIGKILLed, in ms: 15 s. Strictly above the executor's own bound (ExecutorLimits.
    /// ShutdownBoundMs, 14.5 s: operator shutdown, its group's stop, outbound drain), so a
    /// well-behaved executor always gets to kill its operator itself; a test checks this.
    /// </summary>
    public const int StopTimeoutMs = 15_000;

    /// <summary>
    /// How long an instance whose work a restore discards may take to exit after SIGTERM before
    /// its group is SIGKILLed, in ms: 0. Its snapshot is not wanted and its output is replayed by
    /// the new run, so draining (up to StopTimeoutMs, e.g. a source flushing towards a dead
    /// reader) would only delay recovery.
    /// </summary>
    public const int DiscardedStopGraceMs = 0;

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
    /// Time a command sent to a just-elected leader waits for it to take office (read the
    /// store, adopt the running instances) before it is refused as unavailable, in ms: 15 s.
    /// </summary>
    public const int TakingOfficeWaitMs = 15_000;

    /// <summary>
    /// Pause between attempts of a scheduler whose term ended to start again while ZooKeeper
    /// cannot be reached, in ms: 2 s. Each attempt is bounded by the client's connect timeout;
    /// attempts go on until ZooKeeper answers or the process is stopped.
    /// </summary>
    public const int RejoinRetryDelayMs = 2_000;

    /// <summary>
    /// Time to wait for a leftover executor from a previous scheduler run to exit after SIGTERM
    /// before SIGKILL, in ms: 5 s. Shorter than <see cref="StopTimeoutMs"/>: a leftover has no
    /// scheduler and its records are lost anyway; what matters is no duplicate instance.
    /// </summary>
    public const int LeftoverStopTimeoutMs = 5_000;

    /// <summary>
    /// Poll interval while waiting for a leftover process (not our child, so no exit event) to
    /// exit, in ms: 50. Short next to <see cref="LeftoverStopTimeoutMs"/>.
    /// </summary>
    public const int LeftoverPollMs = 50;

    // ---- agents (standalone cluster mode, docs/cluster.md "Agents") ----

    /// <summary>
    /// Time between an agent's heartbeats, in ms: 1 s. Often enough that a lost agent is noticed
    /// within <see cref="AgentHeartbeatTimeoutMs"/>; a heartbeat is a few bytes.
    /// </summary>
    public const int AgentHeartbeatIntervalMs = 1_000;

    /// <summary>
    /// Silence after which the scheduler considers an agent lost and reschedules its instances
    /// on other agents, in ms: 10 s. Ten missed heartbeats: a garbage-collection pause or a
    /// brief network hiccup does not move instances, a dead host or a cut link does.
    /// </summary>
    public const int AgentHeartbeatTimeoutMs = 10_000;

    /// <summary>
    /// Bytes of one message on an agent session, in bytes: <see cref="RequestBytesMax"/> (4 MiB),
    /// the scheduler's limit on any request message. A launch carries one spec (at most
    /// <see cref="SpecBytesMax"/>); an agent whose hello would be larger (many instances with
    /// large specs) leaves the specs out, and those instances are then stopped, not adopted.
    /// </summary>
    public const int AgentMessageBytesMax = RequestBytesMax;

    /// <summary>
    /// Instances one agent may run (and report in a hello), instances: 256. Far above what a
    /// host's cpus and mem allow at the default 1 cpu / 512 MiB per instance; a hello beyond
    /// it is refused as a broken or hostile agent.
    /// </summary>
    public const int AgentInstancesMax = 256;

    /// <summary>
    /// Commands queued for one agent and not yet written to its stream, commands: 1024. Four
    /// commands per instance the agent may run; a full queue means the agent does not read its
    /// stream, and the agent is dropped (its instances rescheduled) rather than buffering without end.
    /// </summary>
    public const int AgentCommandsInFlightMax = 4 * AgentInstancesMax;

    /// <summary>
    /// Time a launch waits for the agent to report the executor started, in ms: 60 s. Covers
    /// copying the spec's files (<see cref="FilesBytesMax"/>) on a slow disk; past it the launch
    /// fails and is retried with back-off.
    /// </summary>
    public const int AgentLaunchTimeoutMs = 60_000;

    /// <summary>
    /// Time a starting scheduler of the agents runtime waits for agents to connect and report the
    /// instances they run before it launches anything, in ms: 3 s. Three heartbeats: agents that
    /// were connected to a previous scheduler (a restart, a new leader) reconnect within their
    /// back-off and their instances are adopted instead of launched twice.
    /// </summary>
    public const int AgentAdoptWaitMs = 3_000;

    /// <summary>
    /// Longest back-off of an agent reconnecting to a scheduler that went away, in ms: 2 s. Well
    /// under <see cref="AgentAdoptWaitMs"/> + <see cref="AgentHeartbeatTimeoutMs"/>, so a new
    /// leader hears from every agent before it would reschedule their instances.
    /// </summary>
    public const int AgentReconnectBackoffMsMax = 2_000;

    /// <summary>First back-off of an agent reconnecting, in ms: 100 (doubles up to <see cref="AgentReconnectBackoffMsMax"/>).</summary>
    public const int AgentReconnectBackoffInitialMs = 100;

    /// <summary>Characters of an agent id at most: 63 (a host name label).</summary>
    public const int AgentIdCharsMax = 63;

    /// <summary>
    /// Log requests (`concord logs` of instances on agents) in flight per agent at once: 16.
    /// Each makes the agent read up to ObservabilityLimits.LogTailBytesMax and answer with up to
    /// <see cref="AgentLogAnswerBytesMax"/>, so this bounds the memory both sides spend on them;
    /// one `concord logs` of an operator asks one instance at a time.
    /// </summary>
    public const int AgentLogRequestsInFlightMax = 16;

    /// <summary>
    /// Time an agent has to answer a log request, in ms: 5 s. Reading a tail of 4 MiB from a
    /// local disk takes milliseconds; an agent that does not answer is named in the error.
    /// </summary>
    public const int AgentLogTimeoutMs = 5_000;

    /// <summary>
    /// Bytes of lines one agent log answer carries at most: one session message
    /// (<see cref="AgentMessageBytesMax"/>) less 1 KiB for its envelope (request id, tags, gRPC
    /// frame header). The agent reads the tail with the bound GetLogs has locally
    /// (ObservabilityLimits.LogTailBytesMax, 4 MiB) and sends its newest lines that fit.
    /// </summary>
    public const int AgentLogAnswerBytesMax = AgentMessageBytesMax - 1024;

    /// <summary>
    /// Size at which an instance's executor.log is rolled to executor.log.1, in bytes: 16 MiB.
    /// Enough for days of a normal executor's log, and the tail `concord logs` reads
    /// (ObservabilityLimits.LogTailBytesMax) fits in it; an operator printing in a loop cannot
    /// fill the disk.
    /// </summary>
    public const long ExecutorLogBytesMax = 16L * 1024 * 1024;

    /// <summary>
    /// Rolled executor logs kept per instance (executor.log.1 … .2), files: 2. With the current
    /// file at most 3 × <see cref="ExecutorLogBytesMax"/> = 48 MiB per instance directory.
    /// </summary>
    public const int ExecutorLogFilesKept = 2;

    /// <summary>
    /// How often the size of a running instance's executor.log is checked, in ms: 1 s. The file
    /// may pass <see cref="ExecutorLogBytesMax"/> by what the executor writes in this time; a
    /// stat per instance per second costs nothing.
    /// </summary>
    public const int ExecutorLogCheckMs = 1_000;

    /// <summary>Longest error message kept per instance, in characters: 4,096.</summary>
    public const int LastErrorCharsMax = 4_096;

    /// <summary>
    /// Most files copied into one instance's working directory, in files: 4,096, counting each
    /// file inside a directory listed in "files" (the list itself has at most
    /// ProtocolLimits.ListEntriesMax entries). Every instance gets its own copy at every
    /// start, so a directory listed by mistake (a home directory) must fail the deploy rather
    /// than fill the disk; data sets that large belong on a path the operator reads in place.
    /// </summary>
    public const int CopiedFilesMax = 4_096;

    /// <summary>
    /// Most directories recreated in one instance's working directory, in directories: 1,024,
    /// counting each listed directory and each directory inside one. A tree of empty
    /// directories has no files for <see cref="CopiedFilesMax"/> to count, and a directory
    /// swapped for a link while it is walked could make the walk loop: this bounds both.
    /// </summary>
    public const int CopiedDirectoriesMax = 1_024;

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
    /// 20 s. It retries every at most 5 s (executor SchedulerRetryBackoffMsMax) with calls
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

    // ---- Inputs: what a deploy may make the scheduler read, copy and store (docs/security.md) ----

    /// <summary>
    /// Largest file in a spec's "files", in bytes: 64 MiB. Enough for word lists, configs and
    /// small models; every instance gets its own copy, so a larger input belongs on shared
    /// storage the operator reads itself. Checked at deploy and again while copying.
    /// </summary>
    public const long FileBytesMax = 64L * 1024 * 1024;

    /// <summary>
    /// Largest total of a spec's "files", in bytes, copied per instance: 256 MiB. Bounds the
    /// disk one deploy can fill (times its instances) and the time one launch spends copying.
    /// </summary>
    public const long FilesBytesMax = 256L * 1024 * 1024;

    /// <summary>
    /// Time one launch may spend copying its "files", in ms: 60 s. 256 MiB at a slow 10 MB/s
    /// takes 27 s; past this the launch fails (and is retried with back-off) instead of
    /// occupying a launch slot forever on a stalled disk or network mount.
    /// </summary>
    public const int FilesCopyTimeoutMs = 60_000;

    /// <summary>
    /// Largest operator spec the scheduler accepts, in bytes (protobuf): 1 MiB. A spec is a
    /// command line, an environment and lists of at most 256 entries each, normally a few KB;
    /// the bound keeps one deploy from growing topology.json and every `list` answer.
    /// </summary>
    public const int SpecBytesMax = 1024 * 1024;

    /// <summary>
    /// Largest topology.json, in bytes: 16 MiB, i.e. at least 16 operators of the largest spec
    /// and thousands of ordinary ones. A deploy that would grow the topology past it is refused,
    /// so `list` and the store's rewrite on every change stay bounded.
    /// </summary>
    public const int TopologyBytesMax = 16 * 1024 * 1024;

    /// <summary>
    /// Tries of one ZooKeeper store write that lost a race it could not report as a conflict
    /// (an entry created and deleted between its read and its write, so the version read is
    /// still the current one): 8. Each try re-reads; a conflict or a fence ends it at once.
    /// </summary>
    public const int ZooKeeperStoreWriteAttemptsMax = 8;

    /// <summary>
    /// Tries of one ZooKeeper store read whose answer was lost with the connection: 20, one
    /// <see cref="ZooKeeperStoreRetryDelayMs"/> apart, so about 10 s, the default session
    /// timeout: the session outlives a lost server that long, and the client needs it to reach
    /// another server while the ensemble elects a new leader. 4 s (8 tries) was too short once
    /// on a loaded machine (the quorum drill's deploy after losing one server).
    /// </summary>
    public const int ZooKeeperStoreReadAttemptsMax = 20;

    /// <summary>Pause before a ZooKeeper store read or write is tried again after a lost answer, in ms: 500.</summary>
    public const int ZooKeeperStoreRetryDelayMs = 500;

    /// <summary>
    /// ZooKeeper session timeout of a scheduler, in ms: 10 s. A leader cut off from ZooKeeper
    /// for this long counts itself deposed, and a standby takes over after it (plus an
    /// election), so it bounds failover; shorter would depose a leader on a GC pause.
    /// </summary>
    public const int ZooKeeperSessionTimeoutMsDefault = 10_000;

    /// <summary>
    /// Largest gRPC request message the scheduler reads, in bytes: 4 MiB. Its largest request
    /// is a deploy or replace of one spec (<see cref="SpecBytesMax"/>); Kestrel's request body
    /// limit is set just above it, so an oversized request is refused by the scheduler with
    /// RESOURCE_EXHAUSTED naming this limit, never cut off by Kestrel (UNKNOWN).
    /// </summary>
    public const int RequestBytesMax = 4 * 1024 * 1024;

    /// <summary>
    /// Bytes of gRPC framing before a message (1 flag byte, 4 length bytes): Kestrel's body
    /// limit is <see cref="RequestBytesMax"/> plus this, so gRPC's own check fires first.
    /// </summary>
    public const int GrpcFrameHeaderBytes = 5;

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

    /// <summary>
    /// Default time between two checkpoints, in ms: 1 s (docs/guarantees.md). After a failure
    /// at most about this much work is replayed; shorter intervals cost more snapshot I/O.
    /// </summary>
    public const int CheckpointIntervalMsDefault = 1_000;

    /// <summary>
    /// Shortest --checkpoint-interval-ms, in ms: 10. Below it a checkpoint would begin before
    /// the previous one's barriers have crossed a loaded topology.
    /// </summary>
    public const int CheckpointIntervalMsMin = 10;

    /// <summary>Longest --checkpoint-interval-ms, in ms: 1 h; longer replays an hour of work after a failure.</summary>
    public const int CheckpointIntervalMsMax = 3_600_000;

    /// <summary>
    /// How long a checkpoint may stay in progress before it is aborted, in ms: 60 s. Barriers
    /// queue behind records, so a backpressured topology needs a while to carry them through;
    /// a participant that has not acknowledged by then is stuck, and the next checkpoint must
    /// not wait for it forever.
    /// </summary>
    public const int CheckpointTimeoutMs = 60_000;

    /// <summary>Default --checkpoints-retained: 3 completed checkpoints (savepoints are kept besides), enough to fall back past a damaged one.</summary>
    public const int CheckpointsRetainedDefault = 3;

    /// <summary>Largest --checkpoints-retained: 100; every retained checkpoint is a record in the topology store.</summary>
    public const int CheckpointsRetainedMax = 100;

    /// <summary>
    /// Savepoints recorded in the store at most: 100. A savepoint is kept until deleted by
    /// hand, and each is a record in the topology store; past this a savepoint is refused,
    /// naming the directories to delete.
    /// </summary>
    public const int SavepointsMax = 100;

    /// <summary>Aborted checkpoints `concord checkpoints` remembers (in memory only): 10, enough to see why the last ones failed.</summary>
    public const int AbortedCheckpointsKept = 10;

    /// <summary>
    /// Commands queued for one executor's WatchCheckpoints, at most: 16. A participant gets
    /// three commands per checkpoint and at most one is in progress, so a full queue means a
    /// watcher that stopped reading; the oldest are dropped (the checkpoint then times out).
    /// </summary>
    public const int CheckpointCommandsQueuedMax = 16;

    /// <summary>
    /// How long `scale` of an operator with a guarantee waits for the checkpoint it takes before
    /// restarting with the new count, in ms: the checkpoint timeout plus the in-progress one it may
    /// have to wait for first.
    /// </summary>
    public const int RescaleCheckpointWaitMs = 2 * CheckpointTimeoutMs;

    /// <summary>Bytes of one <c>_metadata.json</c> read back at most: 1 MiB (it lists participants, a few hundred bytes each).</summary>
    public const int CheckpointMetadataBytesMax = 1 << 20;

    /// <summary>Bytes of one instance manifest read for the shared-file collection at most: 16 MiB (128 key groups, each a path).</summary>
    public const int CheckpointManifestBytesMax = 16 << 20;

    // Compile-time checks of the relationships above: a constant conversion of a negative
    // number to uint does not compile, so a bad edit fails the build (error CS0221).
    private const uint AssertBackoffInitialPositive = (uint)(RestartBackoffInitialMs - 1);
    private const uint AssertBackoffMaxAtLeastInitial = (uint)(RestartBackoffMsMax - RestartBackoffInitialMs);
    private const uint AssertCrashLoopNeedsTwoFailures = (uint)(CrashLoopFailuresMin - 2);
    private const uint AssertShutdownOutlastsStop = (uint)(ShutdownTimeoutMs - StopTimeoutMs - 1);
    private const uint AssertReplaceTimeoutPositive = (uint)(ReplaceRunningTimeoutMs - 1);
    private const uint AssertSwitchDeliveryBelowStop = (uint)(StopTimeoutMs - RoutingSwitchDeliveryTimeoutMs - 1);
    private const uint AssertSpecFitsRequest = (uint)(RequestBytesMax - SpecBytesMax - 1);
    private const uint AssertSpecFitsTopology = (uint)(TopologyBytesMax - SpecBytesMax - 1);
    private const ulong AssertFileFitsFiles = (ulong)(FilesBytesMax - FileBytesMax);
    private const uint AssertRequestBelowProtocol = (uint)(Concord.Contracts.ProtocolLimits.GrpcMessageBytesMax - RequestBytesMax - 1);
    private const uint AssertAdoptPollBelowTimeout = (uint)(AdoptRegisterTimeoutMs - AdoptedExitPollMs - 1);
    private const uint AssertCheckpointIntervalRange = (uint)(CheckpointIntervalMsMax - CheckpointIntervalMsMin - 1);
    private const uint AssertCheckpointDefaultInRange = (uint)(CheckpointIntervalMsDefault - CheckpointIntervalMsMin);
    private const uint AssertAgentTimeoutAboveInterval = (uint)(AgentHeartbeatTimeoutMs - 2 * AgentHeartbeatIntervalMs);
    private const uint AssertAgentBackoffBelowAdoptWait = (uint)(AgentAdoptWaitMs - AgentReconnectBackoffMsMax - 1);
    private const uint AssertAgentLogAnswerPositive = (uint)(AgentLogAnswerBytesMax - 1);
    private const uint AssertAgentMessageHoldsSpec = (uint)(AgentMessageBytesMax - SpecBytesMax - 1);
    private const uint AssertRetainedDefaultInRange = (uint)(CheckpointsRetainedMax - CheckpointsRetainedDefault);
}
