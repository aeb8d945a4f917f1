using Concord.Contracts;

namespace Concord.Executor;

/// <summary>
/// Every bound of the executor in one place: queues, batches, timeouts, retries. Units are the
/// last word of each name. <see cref="BufferedBytesMax"/> derives the worst-case memory the
/// executor can buffer from these constants, one line per buffer.
/// </summary>
public static class ExecutorLimits
{
    // ---- records -------------------------------------------------------------------------

    /// <summary>
    /// Serialized size of a record beyond its key and value, in bytes: tags and lengths of key
    /// and value (≤ 10), event time (≤ 11), ingest time (≤ 11), trace context (≤ 32). 128 leaves
    /// room. Credit windows must hold one largest record, so they are sized with this.
    /// </summary>
    public const int RecordOverheadBytesMax = 128;

    /// <summary>Largest serialized record, in bytes: the protocol's key+value bound plus overhead.</summary>
    public const int RecordSerializedBytesMax = ProtocolLimits.RecordBytesMax + RecordOverheadBytesMax;

    /// <summary>
    /// Memory a record held by the executor costs beyond its serialized bytes, in bytes: 64.
    /// Records travel as bytes (services/executor/Records): each is a <c>RawRecord</c> struct of
    /// 56 bytes in its batch's array, plus its tag and length prefix (≤ 6 bytes) in the buffer
    /// it sits in. No object per record. Used only for the memory bound; a test checks the
    /// struct still fits.
    /// </summary>
    public const int RecordObjectOverheadBytes = 64;

    /// <summary>
    /// Memory a produced record costs beyond its record, in bytes: 8, the stream index next to
    /// the RawRecord (the stream name stays in the answer's bytes). Memory bound only.
    /// </summary>
    public const int ProducedRecordObjectOverheadBytes = 8;

    /// <summary>
    /// Size of the segments the executor copies or writes records into (outbound chunks,
    /// built-ins' answers), in bytes: 32 KiB, under the 85 KB large-object-heap threshold so
    /// segments die young in gen0. A record over half a segment gets an array of its own.
    /// </summary>
    public const int RecordArenaSegmentBytes = 32 * 1024;

    /// <summary>
    /// First segment of a record arena, in bytes: 256; each next one doubles up to
    /// <see cref="RecordArenaSegmentBytes"/>. An arena so holds at most twice its records'
    /// bytes plus this, and a chunk of one small record costs 256 bytes, not 32 KiB.
    /// </summary>
    public const int RecordArenaFirstSegmentBytes = 256;

    /// <summary>
    /// Memory a record waiting in an outbound queue costs beyond its bytes, in bytes: 48, its
    /// 24-byte <c>RecordSlice</c> in the chunk's list, twice for the list's doubling growth.
    /// Memory bound only; a test checks the struct still fits.
    /// </summary>
    public const int OutboundRecordOverheadBytes = 48;

    /// <summary>Most records in one answer the executor accepts (the protocol's cap); memory bound only.</summary>
    public const int AnswerRowsMax = ProtocolLimits.BatchDoneRecordsMax;

    // ---- operator session ----------------------------------------------------------------

    /// <summary>
    /// Records per ProcessBatch, at most: 1,024. Batching is worth ~30× over one record per
    /// message; beyond ~1,000 the gain is small and latency per batch grows.
    /// </summary>
    public const int BatchRowsMax = 1024;

    /// <summary>
    /// Serialized record bytes per ProcessBatch before it is flushed: 256 KiB. A single record
    /// larger than this still travels, alone in its batch.
    /// </summary>
    public const int BatchBytesMax = 256 * 1024;

    /// <summary>
    /// How long a partly filled batch waits for more records while its operator is busy (a
    /// batch in flight), in ms: 1; a batch for an idle operator goes at once (BatchPump). A
    /// flood still travels in full batches. Timers fire at the kernel's tick, ~4 ms here, so the
    /// real wait can be longer — which is why an idle operator does not wait at all.
    /// </summary>
    public const int BatchLingerMs = 1;

    /// <summary>
    /// ProcessBatch messages left unanswered at once: 4. Pipelining hides the session round
    /// trip (one batch being processed, one being answered, two on the wire); each batch in
    /// flight holds up to 1,024 records, so deeper pipelining only adds to the memory bound.
    /// </summary>
    public const int BatchesInFlightMax = 4;

    /// <summary>
    /// How long the operator may take to answer a ProcessBatch (or Init with BatchDone{0}), in
    /// ms, by default: 120 s. An operator that takes longer is taken as hung: the executor
    /// fails the instance ("operator did not answer batch N within T ms") and the scheduler
    /// restarts it with back-off, instead of the instance staying "running" while the whole
    /// pipeline stalls behind it. 1,024 records of a slow operator (an external call of
    /// ~100 ms each) take ~100 s, hence the margin. Per operator: the deploy file's
    /// <c>env</c> entry <see cref="BatchAnswerTimeoutVariable"/>.
    /// </summary>
    public const int BatchAnswerTimeoutMs = 120_000;

    /// <summary>Smallest BatchAnswerTimeoutMs an operator may set, in ms: 100 (below that a busy machine fails healthy operators).</summary>
    public const int BatchAnswerTimeoutMsMin = 100;

    /// <summary>Largest BatchAnswerTimeoutMs an operator may set, in ms: 1 hour (longer is no liveness check at all).</summary>
    public const int BatchAnswerTimeoutMsMax = 3_600_000;

    /// <summary>
    /// Environment variable overriding <see cref="BatchAnswerTimeoutMs"/>, in ms: read from the
    /// deploy file's <c>env</c> of the operator first, then the executor's environment.
    /// </summary>
    public const string BatchAnswerTimeoutVariable = "CONCORD_BATCH_TIMEOUT_MS";

    /// <summary>
    /// How long the operator process has to start serving its socket (or announce its TCP
    /// port, <see cref="OperatorPortFileVariable"/>), in ms: 30 s. dotnet, python and java
    /// python operators take seconds to start on a loaded 2-core machine.
    /// </summary>
    public const int OperatorStartTimeoutMs = 30_000;

    /// <summary>
    /// Attach mode (<see cref="ExecutorOptions.OperatorAttachVariable"/>): how long the executor
    /// waits for an operator someone else starts to serve its socket, in ms: 120 s by default.
    /// Longer than <see cref="OperatorStartTimeoutMs"/> because whoever starts the operator may
    /// first have to fetch it (a Kubernetes pod starts its operator container only after the
    /// executor sidecar, and may pull the operator's image in between).
    /// </summary>
    public const int OperatorAttachTimeoutMs = 120_000;

    /// <summary>
    /// Attach mode: after the attached operator's session ended (cleanly or not), how long the
    /// executor waits for its own SIGTERM before it calls that end a failure, in ms: 3 s.
    /// Kubernetes stops a pod's main container (the operator) first and its native sidecars
    /// (this executor) only once the main containers have exited: kubelet notices the exit
    /// within its PLEG relist period (1 s) and then signals the sidecar. A SIGTERM within this
    /// wait means the pod is being stopped, so the executor drains its outbound queues and
    /// exits 0 instead of reporting a failure. Well below the Kubernetes runtime's
    /// OperatorEndGraceMs (10 s), after which the operator container's exit is the instance's.
    /// </summary>
    public const int AttachedOperatorStopWaitMs = 3_000;

    /// <summary>Smallest attach wait, in ms: 100 (tests use short waits; below that a healthy start always loses).</summary>
    public const int OperatorAttachTimeoutMsMin = 100;

    /// <summary>Largest attach wait, in ms: 1 hour (an image pull that takes longer is a broken registry, not a slow start).</summary>
    public const int OperatorAttachTimeoutMsMax = 3_600_000;

    /// <summary>Environment variable overriding <see cref="OperatorAttachTimeoutMs"/>, in ms (set by the runtime that starts the operator).</summary>
    public const string OperatorAttachTimeoutVariable = "CONCORD_OPERATOR_ATTACH_TIMEOUT_MS";

    /// <summary>How often the executor probes the operator's socket while it starts, in ms.</summary>
    public const int OperatorSocketPollMs = 50;

    /// <summary>
    /// Environment variable with the file (<see cref="OperatorPortFileName"/> in the work
    /// directory) where an operator that cannot serve a unix socket (Debian's Java gRPC has no
    /// unix-socket transport) announces the 127.0.0.1 TCP port it listens on, instead of
    /// serving CONCORD_OPERATOR_ADDRESS. The executor connects to whichever appears first.
    /// </summary>
    public const string OperatorPortFileVariable = "CONCORD_OPERATOR_PORT_FILE";

    /// <summary>The port file's name in the work directory, which only the instance's user can write.</summary>
    public const string OperatorPortFileName = "operator.port";

    /// <summary>
    /// Longest port file the executor reads, in bytes: a port is at most 5 digits and a newline;
    /// the bound keeps a broken operator's file from being read whole into an error message.
    /// </summary>
    public const int OperatorPortFileBytesMax = 16;

    /// <summary>
    /// Environment variable with this launch's operator secret: random per launch, sent by the
    /// executor as <see cref="OperatorSecretHeader"/> on the session call. A loopback TCP port
    /// is reachable by every local user (a socket in the private work directory is not), so
    /// an operator serving TCP must refuse a session without it (UNAUTHENTICATED).
    /// </summary>
    public const string OperatorSecretVariable = "CONCORD_OPERATOR_SECRET";

    /// <summary>The call metadata key carrying <see cref="OperatorSecretVariable"/>'s value.</summary>
    public const string OperatorSecretHeader = "concord-operator-secret";

    /// <summary>
    /// Random bytes in the operator secret (sent as lowercase hex, twice as many characters):
    /// 256 bits, beyond guessing through a port that is open for a few seconds.
    /// </summary>
    public const int OperatorSecretBytes = 32;

    /// <summary>
    /// How long the operator has to answer Init with Metadata, in ms: 30 s. metadata() is a
    /// trivial callback; only a hung operator takes longer.
    /// </summary>
    public const int OperatorMetadataTimeoutMs = 30_000;

    /// <summary>
    /// After Shutdown, how long the operator has to finish destroy() and exit, in ms: 6 s.
    /// Then its process group is stopped (<see cref="OperatorStopGraceMs"/>) so the instance
    /// stops within a predictable time. Sized so that <see cref="ShutdownBoundMs"/> stays
    /// inside the scheduler's stop timeout (SchedulerLimits.StopTimeoutMs, 15 s): the executor
    /// must have killed its operator before the scheduler kills the executor.
    /// </summary>
    public const int ShutdownTimeoutMs = 6_000;

    /// <summary>
    /// After SIGTERM to the operator's process group, how long it (and what it forked) has to
    /// exit before SIGKILL to the group, in ms: 1 s. The operator already had
    /// <see cref="ShutdownTimeoutMs"/> to end on Shutdown; this is the last, short chance.
    /// </summary>
    public const int OperatorStopGraceMs = 1_000;

    /// <summary>
    /// The operator's oom_score_adj: 1,000, the highest. The executor and its operator share
    /// one memory limit (the instance's cgroup, from `mem`); when it is reached the kernel must
    /// kill the operator, not the executor, so that the executor can report the OOM kill.
    /// </summary>
    public const int OperatorOomScoreAdj = 1_000;

    /// <summary>
    /// What the executor needs after a SIGTERM besides the bounds it waits on, in ms: 500
    /// (closing sockets and servers that do not wait, runtime exit).
    /// </summary>
    public const int ShutdownSlackMs = 500;

    /// <summary>
    /// Longest time from SIGTERM to the executor's exit, in ms: 14.5 s: the operator's
    /// shutdown, its group's stop, the outbound drain, the metrics server's stop, and slack,
    /// one after the other. Must be below the scheduler's StopTimeoutMs (checked by a test,
    /// since the scheduler does not reference the executor).
    /// </summary>
    public const int ShutdownBoundMs = ShutdownTimeoutMs + OperatorStopGraceMs + OutboundDrainTimeoutMs
        + Concord.Hosting.HostingLimits.StopTimeoutMs + ShutdownSlackMs;

    /// <summary>
    /// BatchDone answers parsed and not yet routed, counting the one being routed: 2. The
    /// session reads (parses) the next answer only when one of these slots is free, so one
    /// answer is parsed while the previous one is routed, and no more: not reading makes
    /// HTTP/2 flow control push back on the operator.
    /// </summary>
    public const int SessionAnswersParsedMax = 2;

    /// <summary>
    /// Bytes an OperatorMessage adds around its BatchDone (oneof tag and length): at most 16;
    /// 64 leaves room. The session accepts messages up to BatchDoneBytesMax plus this.
    /// </summary>
    public const int SessionMessageFramingBytesMax = 64;

    /// <summary>
    /// HTTP/2 receive window of the operator session, in bytes: 1 MiB. Answers the operator
    /// sent and the executor has not read yet wait in it, so it bounds them; the 64 KiB default
    /// costs ~5× throughput (bench/RESULTS.md).
    /// </summary>
    public const int SessionStreamWindowBytes = 1024 * 1024;

    /// <summary>Operator stderr lines kept to explain a failed start or crash.</summary>
    public const int OperatorStderrTailLinesMax = 20;

    /// <summary>
    /// How long a broken session waits for the operator process to exit before reporting, in
    /// ms: 500. A broken session usually means the process is dying; once reaped, the report
    /// carries its exit code and last words, and a process that lives on costs only this wait.
    /// </summary>
    public const int OperatorExitWaitMs = 500;

    /// <summary>
    /// Longest single wait of the batch pump (for a far-away timer, or for nothing), in ms: 1 s;
    /// the loop re-evaluates after it. Also the bound on how long a missed wake-up can hold the
    /// pump — under heavy load a timer-driven source was seen idle for exactly the former 1 min
    /// with its timer due — at the cost of one idle loop a second.
    /// </summary>
    public const int BatchPumpWaitMsMax = 1_000;

    /// <summary>
    /// Longest operator stdout/stderr line, or Log message, logged, in characters: 8,192.
    /// Longer ones are cut (a marker says how much) so one runaway print cannot flood the log
    /// pipeline; output is read in chunks, so a long line is never held whole either.
    /// </summary>
    public const int OperatorLogLineCharsMax = 8192;

    /// <summary>Characters read from the operator's stdout or stderr at a time: 4,096 (the pipe's page).</summary>
    public const int OperatorOutputChunkChars = 4096;

    /// <summary>
    /// Timers pending at once, at most: 1,000,000 (~100 MB of keys at worst). One per key is
    /// the MillWheel model; more than this is an operator bug (a leak), reported as fatal.
    /// </summary>
    public const int TimersPendingMax = 1_000_000;

    /// <summary>Longest timer key, in bytes (UTF-16 chars × 2 counted as chars here): 256 chars.</summary>
    public const int TimerKeyCharsMax = 256;

    // ---- event time (docs/guarantees.md, "Event time") ------------------------------------

    /// <summary>
    /// How often a source executor sends its watermark when it has advanced, in ms: 200 (as
    /// Flink's default auto-watermark interval). Shorter costs a frame per channel per interval
    /// while records flow; longer delays every event-time timer downstream by up to this.
    /// </summary>
    public const int WatermarkIntervalMs = 200;

    /// <summary>
    /// Out-of-orderness of a source whose spec leaves <c>watermark_out_of_orderness_ms</c> at 0,
    /// in ms: 0 (records are taken to come in event-time order; a later one below the watermark
    /// is late, counted and still processed).
    /// </summary>
    public const int WatermarkOutOfOrdernessMsDefault = 0;

    /// <summary>
    /// How long an input channel (stream, sender) may deliver nothing — no record, no watermark —
    /// before it stops holding back the input watermark, in ms: 10,000. Without it, one silent or
    /// watermark-less sender (a source with nothing to read, an instance that went away after a
    /// rescale) would stop event time for good; with it, event time stalls at most this long.
    /// Its next record or watermark makes it count again.
    /// </summary>
    public const int WatermarkInputIdleMs = 10_000;

    // ---- keyed state (docs/guarantees.md) -------------------------------------------------

    /// <summary>
    /// Largest state value an operator may set, in bytes: 64 KiB, a 16th of the backend's
    /// <see cref="StateValueBytesMax"/> (sent as Init.max_state_value_bytes). State is
    /// shipped with every batch that touches its key, so a value is read far more often than a
    /// record; larger objects belong in a blob store, referenced from state.
    /// </summary>
    public const int OperatorStateValueBytesMax = StateValueBytesMax / 16;

    /// <summary>
    /// Environment variable overriding <see cref="StateMemoryBytesMax"/>, in MiB (the
    /// <c>--state-memory-mb</c> of docs/guarantees.md; no scheduler flag sets it yet): the deploy file's <c>env</c> of the operator
    /// first, then the executor's environment.
    /// </summary>
    public const string StateMemoryMbVariable = "CONCORD_STATE_MEMORY_MB";

    /// <summary>Largest <see cref="StateMemoryMbVariable"/>, in MiB: 1 TiB, beyond any host's memory (a typo guard).</summary>
    public const int StateMemoryMbMax = 1024 * 1024;

    /// <summary>
    /// State names one operator may declare: 16. With <see cref="OperatorStateValueBytesMax"/> it bounds
    /// what one key ships with a batch (16 × 64 KiB = 1 MiB).
    /// </summary>
    public const int StatesDeclaredMax = 16;

    /// <summary>
    /// Bytes of states one ProcessBatch may carry: 16 MiB, well inside the session's gRPC message
    /// limit (ProtocolLimits.GrpcMessageBytesMax, 64 MiB). Half for the records' keys, counted by
    /// the serialized states read when the batch is cut (the batch is cut before the first record
    /// whose key's states would not fit); half for fired timers, at most this / 2 / (declared
    /// states × OperatorStateValueBytesMax) timer keys (KeyedStateSession).
    /// </summary>
    public const int BatchStateBytesMax = 16 * 1024 * 1024;

    /// <summary>Reserved prefix of state names: the executor's own (timers) live under it.</summary>
    public const string StateNameReservedPrefix = "concord.";

    // ---- inbound data plane --------------------------------------------------------------

    /// <summary>
    /// Push channels (one per upstream instance and stream) open at once: 64. Each reserves
    /// its own credit window, so this bounds the inbound queue; beyond it a channel is
    /// refused with RESOURCE_EXHAUSTED and the sender retries.
    /// </summary>
    public const int InboundChannelsMax = 64;

    /// <summary>
    /// Rows a channel may have outstanding (granted, in flight or queued): 2,048, two full
    /// batches so the sender can keep one in flight while the other is consumed.
    /// </summary>
    public const int InboundChannelCreditRows = 2 * BatchRowsMax;

    /// <summary>
    /// Bytes a channel may have outstanding: one largest record, or two full batches if that
    /// is more (≈1 MiB): a largest record can always be sent once the window is back, and
    /// small records pipeline on the row credit (word-count batches are ~40 KB).
    /// </summary>
    public const int InboundChannelCreditBytes = RecordSerializedBytesMax > 2 * BatchBytesMax ? RecordSerializedBytesMax : 2 * BatchBytesMax;

    /// <summary>
    /// Bytes a RecordBatch adds around each record it carries: its tag (1) and length varint
    /// (≤ 3 for a record up to <see cref="RecordSerializedBytesMax"/>, which is below 2^21): 4.
    /// </summary>
    public const int DataFrameRecordFramingBytesMax = 4;

    /// <summary>
    /// Bytes a DataFrame adds around its RecordBatch (oneof tag and length ≤ 5): 16 leaves room.
    /// A ChannelOpen (a few names) is far smaller than a frame of records.
    /// </summary>
    public const int DataFrameFramingBytesMax = 16;

    /// <summary>
    /// Largest data-plane message the executor accepts, in bytes: one channel's whole credit
    /// window with the framing of its most records (≈ 1 MiB + 8 KiB). It is the gRPC max
    /// receive size of the data-plane endpoint, checked against the message's length prefix
    /// before its body is buffered: a frame larger than any credit can allow is refused
    /// without holding it (it used to be ProtocolLimits.GrpcMessageBytesMax, 64 MiB, taken in
    /// whole before the credit check).
    /// </summary>
    public const int DataFrameBytesMax = InboundChannelCreditBytes + InboundChannelCreditRows * DataFrameRecordFramingBytesMax + DataFrameFramingBytesMax;

    /// <summary>
    /// HTTP/2 streams one connection may have open to the data plane (Kestrel's
    /// MaxStreamsPerConnection): 64, the channel cap, since one connection per peer carries
    /// all of its channels; Kestrel's default (100) would only admit calls refused anyway.
    /// </summary>
    public const int InboundStreamsPerConnectionMax = InboundChannelsMax;

    /// <summary>
    /// Connections the executor's host (data plane and /metrics) accepts at once: 64 peers
    /// (each upstream executor uses one connection, and no more than InboundChannelsMax can
    /// hold a channel) plus 16 for scrapes and the scheduler. Each connection can hold up to
    /// Kestrel's HTTP/2 connection window of unread bytes, so this bounds them.
    /// </summary>
    public const int ServerConnectionsMax = InboundChannelsMax + 16;

    /// <summary>
    /// HTTP/2 connection receive window of the executor's host, in bytes: 1 MiB (Kestrel's
    /// default, stated so the memory bound can count it): what one connection can hold unread.
    /// </summary>
    public const int ServerConnectionWindowBytes = 1024 * 1024;

    /// <summary>
    /// How long an inbound channel may stay idle (no frame received and none of its records
    /// queued) before the receiver closes it, in ms: 60 s. It frees the channel's slot, so
    /// channels that no longer carry anything cannot hold the cap for good. Twice
    /// <see cref="OutboundChannelIdleMs"/>: a live sender closes its idle channel first, in
    /// order; this bound is for a sender that does not (stuck or hostile). A slot is taken
    /// when the call arrives, before its ChannelOpen, so a call that never sends one is closed
    /// by the same bound.
    /// </summary>
    public const int InboundChannelIdleMs = 60_000;

    /// <summary>Rows the inbound queue can hold: every channel's full window.</summary>
    public const int InboundQueueRowsMax = InboundChannelsMax * InboundChannelCreditRows;

    /// <summary>Serialized bytes the inbound queue can hold: every channel's full window.</summary>
    public const long InboundQueueBytesMax = (long)InboundChannelsMax * InboundChannelCreditBytes;

    // ---- outbound data plane -------------------------------------------------------------

    /// <summary>
    /// Rows queued for one outbound channel (stream, reader, instance): 2,048, two full
    /// batches, so one can be assembled while the other is on the wire. A full queue blocks
    /// the router, which stops ProcessBatch: that is the backpressure path.
    /// </summary>
    public const int OutboundQueueRowsMax = 2 * BatchRowsMax;

    /// <summary>
    /// Serialized bytes queued for one outbound channel: one largest record, or two batches
    /// if that is more (≈1 MiB). A largest record is admitted into an empty queue regardless.
    /// </summary>
    public const int OutboundQueueBytesMax = InboundChannelCreditBytes;

    /// <summary>
    /// Outbound channels at once: 1,024 (e.g. 8 streams × 128 instances). A routing table
    /// needing more is refused (the executor keeps its previous table and logs why).
    /// </summary>
    public const int OutboundChannelsMax = 1024;

    /// <summary>
    /// How long an outbound channel keeps its Push call open with nothing to send, in ms: 30 s.
    /// Then it completes the call in order (every record written is read by the receiver) and
    /// opens a new one when records arrive, so an idle sender does not hold one of the
    /// receiver's <see cref="InboundChannelsMax"/> slots. Half of InboundChannelIdleMs.
    /// </summary>
    public const int OutboundChannelIdleMs = InboundChannelIdleMs / 2;

    /// <summary>First wait before reconnecting a failed Push channel, in ms.</summary>
    public const int OutboundReconnectBackoffInitialMs = 100;

    /// <summary>
    /// Longest wait between reconnects of a Push channel, in ms: 5 s. Records wait in the
    /// bounded queue meanwhile (backpressure), so nothing is dropped while retrying.
    /// </summary>
    public const int OutboundReconnectBackoffMsMax = 5_000;

    /// <summary>
    /// Failed connection attempts in a row to one target (address + incarnation) before the
    /// channel stops retrying it: 12 (≈ 35 s with the back-off above). A target that stays
    /// unreachable that long is gone; the scheduler restarts it under a new incarnation and
    /// the routing table's change reconnects the channel at once. Records keep waiting
    /// (bounded) meanwhile.
    /// </summary>
    public const int OutboundReconnectAttemptsMax = 12;

    /// <summary>
    /// How long records for an unavailable reader instance (not running, or refusing calls) may
    /// wait in an at_most_once operator before they are dropped, in ms, unless the deploy file
    /// says otherwise (<c>unavailable_reader_drop_after_ms</c>): 3,000. Longer than most restarts
    /// of a killed instance (1.5–3.5 s measured), so a restart usually loses only what was in
    /// flight; short enough that a reader failing at start stalls the other readers only once,
    /// for seconds. With a guarantee the records wait instead (docs/data-plane.md).
    /// </summary>
    public const int UnavailableReaderDropAfterMsDefault = 3_000;

    /// <summary>Time to open a Push channel (TCP + HTTP/2), in ms.</summary>
    public const int OutboundConnectTimeoutMs = 5_000;

    /// <summary>
    /// How long records queued for outbound channels may take to leave after the operator has
    /// shut down, in ms: 5 s. Then they are dropped (at-most-once).
    /// </summary>
    public const int OutboundDrainTimeoutMs = 5_000;

    /// <summary>
    /// How often the drain after shutdown looks whether the outbound queues are empty, in ms: 10.
    /// Queues expose no "empty" event; the drain is bounded by OutboundDrainTimeoutMs.
    /// </summary>
    public const int OutboundDrainPollMs = 10;

    /// <summary>
    /// Largest key_group_count a routing table may carry, in key groups: 131,072 (1,024 × the
    /// protocol's). Only a corrupt table exceeds it; the bound keeps such a table from making
    /// the executor allocate per-key-group arrays of any size.
    /// </summary>
    public const int RoutingKeyGroupsMax = ProtocolLimits.KeyGroupCount * 1024;

    /// <summary>
    /// Environment variable that bounds how long an idle .NET thread-pool thread spins before
    /// it sleeps; the executor sets it to 0 for its operator (unless already set) and the
    /// project's own programs set the same in their runtimeconfig (Directory.Build.props).
    /// Spinning saves a few µs of wake-up per hand-off but costs CPU between batches: with it,
    /// a 5,000 records/s word count took 1.3 cores, without it 0.9 (2-core VM).
    /// </summary>
    public const string DotnetThreadPoolSpinVariable = "DOTNET_ThreadPool_UnfairSemaphoreSpinLimit";

    /// <summary>Records dropped for lack of readers are logged at most once per stream per this period, in ms.</summary>
    public const int DroppedLogIntervalMs = 60_000;

    // ---- scheduler -----------------------------------------------------------------------

    /// <summary>
    /// How long the executor runs without reaching the scheduler before it exits, in ms: 60 s.
    /// No executor outlives its cluster by more than this.
    /// </summary>
    public const int SchedulerLostTimeoutMs = 60_000;

    /// <summary>First wait before re-calling the scheduler after a failure, in ms.</summary>
    public const int SchedulerRetryBackoffInitialMs = 200;

    /// <summary>Longest wait between scheduler retries, in ms.</summary>
    public const int SchedulerRetryBackoffMsMax = 5_000;

    /// <summary>Deadline of one RegisterExecutor call, in ms.</summary>
    public const int SchedulerCallTimeoutMs = 10_000;

    /// <summary>
    /// HTTP/2 keep-alive ping period on the scheduler connection, in ms: detects a scheduler
    /// that vanished without closing the WatchRouting stream.
    /// </summary>
    public const int SchedulerKeepAlivePingMs = 10_000;

    /// <summary>Deadline of the best-effort ReportFailure call on the way out, in ms.</summary>
    public const int ReportFailureTimeoutMs = 3_000;

    // ---- checkpoints (docs/guarantees.md, docs/data-plane.md "Barriers") -------------------

    /// <summary>
    /// Barriers one inbound channel may have queued (received, not yet taken by the pump), per
    /// channel: 4. The coordinator runs one checkpoint at a time, so an honest sender has at
    /// most one or two queued; barriers need no credit, so this is what bounds them (a sender
    /// beyond it has its call failed with FAILED_PRECONDITION).
    /// </summary>
    public const int InboundBarriersQueuedMax = 4;

    /// <summary>
    /// Checkpoints whose barriers this executor tracks at once (seen on some input, not yet
    /// snapshotted or aborted): 4. One is in progress at a time; a barrier held for a begin
    /// not yet received is a second. Beyond it, the oldest is dropped (and will be aborted).
    /// </summary>
    public const int CheckpointsTrackedMax = 4;

    /// <summary>Deadline of one AcknowledgeCheckpoint call, in ms: as for RegisterExecutor.</summary>
    public const int CheckpointAcknowledgeTimeoutMs = SchedulerCallTimeoutMs;

    /// <summary>
    /// Longest a background state snapshot write may take, in ms: 10 minutes. Past it the
    /// acknowledgement carries an error (the coordinator has aborted the checkpoint long before,
    /// at its own timeout; this only stops the executor holding the snapshot forever).
    /// </summary>
    public const int CheckpointWriteTimeoutMs = 600_000;

    // ---- built-ins -----------------------------------------------------------------------

    /// <summary>
    /// A rate-limited source's tick (option <c>rate</c> of the generator, file-source and
    /// kafka-source) while its allowance is spent, in ms: 10 (100 turns/s keeps output smooth).
    /// </summary>
    public const int SourceRateTickMs = 10;

    /// <summary>Words a generator dictionary may have: 10,000,000 (a dictionary, not a data set).</summary>
    public const int GeneratorDictionaryWordsMax = 10_000_000;

    /// <summary>
    /// A rate-limited source's burst after a stall (backpressure, a restore), in ms of its rate:
    /// 100. The token bucket (<see cref="Builtins.Internal.RateBudget"/>) holds at most this
    /// much, so a released source catches up smoothly instead of flooding.
    /// </summary>
    public const int SourceRateBurstMs = 100;

    /// <summary>
    /// Bytes a generator dictionary may have: 256 MiB (10 M words of ~25 bytes). Reading stops
    /// past it, so a path to a device that never ends (/dev/zero: no lines, no end) fails the
    /// instance instead of filling its memory.
    /// </summary>
    public const long GeneratorDictionaryBytesMax = 256L * 1024 * 1024;

    /// <summary>
    /// Bytes a file-source line may have: 64 KiB. Key and value are both the line (or a column
    /// of it), so a record stays far under ProtocolLimits.RecordBytesMax; a longer line is
    /// dropped and counted (never cut: half a line would be a wrong record).
    /// </summary>
    public const int FileSourceLineBytesMax = 64 * 1024;

    /// <summary>file-source's read buffer per open file, in bytes: 64 KiB.</summary>
    public const int FileSourceReadBufferBytes = 64 * 1024;

    /// <summary>Files a file-source directory may hold: 100,000 (their names are listed and sorted in memory at start).</summary>
    public const int FileSourceFilesMax = 100_000;

    /// <summary>csv-sink flushes its file at least this often while records arrive, in ms.</summary>
    public const int CsvSinkFlushIntervalMs = 100;

    /// <summary>csv-sink's file buffer, in bytes: 64 KiB, a few hundred lines per write call.</summary>
    public const int CsvSinkBufferBytes = 64 * 1024;

    /// <summary>csv-sink rewrites its stats file (option stats) at most this often while records arrive, in ms: 1 s.</summary>
    public const int CsvSinkStatsIntervalMs = 1_000;

    // ---- the memory bound ----------------------------------------------------------------

    /// <summary>
    /// Worst-case bytes of records the executor buffers with <paramref name="inboundChannels"/>
    /// Push channels open to it and <paramref name="outboundChannels"/> of its own, one line per
    /// buffer (docs/data-plane.md states the same lines with the numbers). Every record the
    /// executor holds is in exactly one of these places; the .NET runtime, Kestrel and the
    /// HTTP/2 windows come on top (also in docs/data-plane.md).
    /// </summary>
    public static long BufferedBytesMax(int inboundChannels = InboundChannelsMax, int outboundChannels = OutboundChannelsMax) =>
        // inbound queue: each open channel's credit window, serialized bytes + per-row object cost
        InboundWindowBytes(inboundChannels)
        // one frame being received per channel beyond its credit (a sender that breaks the
        // protocol): capped by its length prefix at DataFrameBytesMax, then the call fails
        + (long)inboundChannels * DataFrameBytesMax
        // ProcessBatch messages in flight to the operator: a batch is at most BatchBytesMax, or one largest record
        + (long)BatchesInFlightMax * (Math.Max(BatchBytesMax, RecordSerializedBytesMax) + (long)BatchRowsMax * RecordObjectOverheadBytes)
        // answers parsed and not yet routed (one routed, one waiting); an answer is capped by
        // ProtocolLimits.BatchDoneBytesMax serialized and BatchDoneRecordsMax records
        + SessionAnswersParsedMax * AnswerBytesMax
        // outbound queues, one per (stream, reader, instance): records copied into chunk arenas
        // (at most twice their bytes, plus a first segment per chunk, and a chunk holds ≥ 1 row)
        + (long)outboundChannels * OutboundQueueHeldBytesMax
        // one batch being sent per outbound channel (out of its queue, serialized into its frame)
        + (long)outboundChannels * Math.Max(BatchBytesMax, RecordSerializedBytesMax);

    /// <summary>
    /// Bytes the executor's HTTP/2 connections can hold unread on top of <see cref="BufferedBytesMax"/>:
    /// every connection's receive window (80 MiB). Like the session window, it is Kestrel's buffer, not records.
    /// </summary>
    public const long ServerReceiveWindowsBytesMax = (long)ServerConnectionsMax * ServerConnectionWindowBytes;

    /// <summary>Bytes one parsed answer can take: its serialized bytes and the objects of its records.</summary>
    public const long AnswerBytesMax = ProtocolLimits.BatchDoneBytesMax
        + (long)AnswerRowsMax * (RecordObjectOverheadBytes + ProducedRecordObjectOverheadBytes);

    /// <summary>Bytes one outbound queue can hold, records and their bookkeeping.</summary>
    public const long OutboundQueueHeldBytesMax =
        2L * OutboundQueueBytesMax + (long)OutboundQueueRowsMax * (OutboundRecordOverheadBytes + RecordArenaFirstSegmentBytes);

    /// <summary>Bytes the inbound queue can hold with <paramref name="channels"/> channels open.</summary>
    public static long InboundWindowBytes(int channels) =>
        (long)channels * (InboundChannelCreditBytes + (long)InboundChannelCreditRows * RecordObjectOverheadBytes);

    // ---- concord tail ---------------------------------------------------------------------

    /// <summary>
    /// Records kept per output stream for <c>concord tail</c>, and most one /tail answers: 100.
    /// Enough to see what flows; copied only from the last answer, so the data path pays at most
    /// this many small copies per answer while a tail is asked for, and nothing otherwise.
    /// </summary>
    public const int TailRecordsMax = 100;

    /// <summary>Bytes of a key or value kept per tailed record: 256. A tail is for eyes; 100 records stay under ~51 KiB per stream.</summary>
    public const int TailValueBytesMax = 256;

    /// <summary>How long one /tail request keeps the executor copying records: 10 s, longer than the CLI's follow poll, so following keeps it armed.</summary>
    public const int TailArmedMs = 10_000;

    /// <summary>How long /tail waits for the records asked for when the ring holds fewer: 1 s, well inside the scheduler's 2 s executor query timeout.</summary>
    public const int TailWaitMs = 1_000;

    // ---- keyed state (state backends, checkpoint files) ----------------------------------

    /// <summary>
    /// Default bound of the memory state backend, in bytes: 256 MiB (<c>--state-memory-mb</c>).
    /// State lives on the executor's heap next to its record buffers (<see cref="BufferedBytesMax"/>);
    /// past this the instance fails naming the bound, instead of the kernel killing it. State
    /// larger than memory belongs in the rocksdb backend.
    /// </summary>
    public const long StateMemoryBytesMax = 256L * 1024 * 1024;

    /// <summary>
    /// Largest state value, in bytes: 1 MiB, the size of a largest record (a value usually
    /// aggregates records, and it travels to the operator inside a ProcessBatch).
    /// </summary>
    public const int StateValueBytesMax = 1024 * 1024;

    /// <summary>Largest state key (the record key), in bytes: a record key is at most a record.</summary>
    public const int StateKeyBytesMax = ProtocolLimits.RecordBytesMax;

    /// <summary>
    /// Largest state name, in UTF-8 bytes: 256. Names are declared in metadata and repeated in
    /// every stored entry; the file format's 2-byte name length allows more, but long names only
    /// waste state bytes.
    /// </summary>
    public const int StateNameBytesMax = 256;

    /// <summary>
    /// Memory the memory backend accounts per entry beyond its key, name and value bytes, in
    /// bytes: 96 — its dictionary entry and bucket (28, up to 56 just after the table doubled),
    /// the headers of its two byte arrays (24 each) and their padding to 8 bytes (up to 14).
    /// Counted against <see cref="StateMemoryBytesMax"/> so many small entries cannot exceed the
    /// bound unseen.
    /// </summary>
    public const int StateEntryOverheadBytes = 96;

    /// <summary>
    /// State keys up to this many bytes are built on the stack for a get or set, in bytes: 512
    /// (most record keys are short); longer ones use a pooled array. Keeps lookups allocation-free.
    /// </summary>
    public const int StateKeyStackBytesMax = 512;

    /// <summary>
    /// Largest key-group count a state backend accepts, in key groups: 65,536, since RocksDB
    /// keys and state files store a key group in 2 bytes. The protocol uses 128.
    /// </summary>
    public const int StateKeyGroupsMax = 65_536;

    /// <summary>
    /// Buffer of a state file being read or written, in bytes: 64 KiB, a few hundred small
    /// entries per system call; one per key group being written or read at a time.
    /// </summary>
    public const int StateFileBufferBytes = 64 * 1024;

    /// <summary>
    /// Size of one RocksDB memtable (write buffer) of the rocksdb state backend, in bytes: 16 MiB
    /// (RocksDB's default is 64 MiB). The executor shares its memory with its operator; writes
    /// are small and flushed to disk often enough at this size.
    /// </summary>
    public const ulong StateRocksDbWriteBufferBytes = 16UL * 1024 * 1024;

    /// <summary>
    /// Memtables the rocksdb state backend may hold at once, in memtables: 2 (one being written,
    /// one being flushed), so its memtables take at most 32 MiB.
    /// </summary>
    public const int StateRocksDbWriteBuffersMax = 2;
}
