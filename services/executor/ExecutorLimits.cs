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
    /// Memory a parsed record costs beyond its serialized bytes, in bytes: the Record object,
    /// two ByteStrings and their arrays' headers. Used only for the memory bound.
    /// </summary>
    public const int RecordObjectOverheadBytes = 160;

    // ---- operator session ----------------------------------------------------------------

    /// <summary>
    /// Records per ProcessBatch, at most: 1,024. Batching is worth ~30× over one record per
    /// message (RECIPES.md); beyond ~1,000 the gain is small and latency per batch grows.
    /// </summary>
    public const int BatchRowsMax = 1024;

    /// <summary>
    /// Serialized record bytes per ProcessBatch before it is flushed: 256 KiB. A single record
    /// larger than this still travels, alone in its batch.
    /// </summary>
    public const int BatchBytesMax = 256 * 1024;

    /// <summary>
    /// How long a partly filled batch waits for more records, in ms: 1. A lone record is not
    /// held noticeably, while a flood still travels in full batches.
    /// </summary>
    public const int BatchLingerMs = 1;

    /// <summary>
    /// ProcessBatch messages left unanswered at once: 8. Pipelining hides the session round
    /// trip; more only adds memory (each batch in flight holds its records).
    /// </summary>
    public const int MaxBatchesInFlight = 8;

    /// <summary>
    /// How long the operator process has to start serving its socket, in ms: 30 s. dotnet and
    /// python operators take seconds to start on a loaded 2-core machine.
    /// </summary>
    public const int OperatorStartTimeoutMs = 30_000;

    /// <summary>How often the executor probes the operator's socket while it starts, in ms.</summary>
    public const int OperatorSocketPollMs = 50;

    /// <summary>
    /// How long the operator has to answer Init with Metadata, in ms: 30 s. metadata() is a
    /// trivial callback; only a hung operator takes longer.
    /// </summary>
    public const int OperatorMetadataTimeoutMs = 30_000;

    /// <summary>
    /// After Shutdown, how long the operator has to finish destroy() and exit, in ms: 10 s.
    /// Then it is killed so the instance stops within a predictable time.
    /// </summary>
    public const int ShutdownTimeoutMs = 10_000;

    /// <summary>
    /// BatchDone answers read from the session and waiting for the router: 1. The router handles
    /// one at a time; holding more would only add memory, and not reading makes HTTP/2 flow
    /// control push back on the operator.
    /// </summary>
    public const int SessionAnswersBufferedMax = 1;

    /// <summary>Operator stderr lines kept to explain a failed start or crash.</summary>
    public const int OperatorStderrTailLinesMax = 20;

    /// <summary>
    /// Longest operator stdout/stderr line logged, in characters: 8,192. Longer lines are cut
    /// so one runaway print cannot flood the log pipeline.
    /// </summary>
    public const int OperatorLogLineCharsMax = 8192;

    /// <summary>
    /// Timers pending at once, at most: 1,000,000 (~100 MB of keys at worst). One per key is
    /// the MillWheel model; more than this is an operator bug (a leak), reported as fatal.
    /// </summary>
    public const int TimersPendingMax = 1_000_000;

    /// <summary>Longest timer key, in bytes (UTF-16 chars × 2 counted as chars here): 256 chars.</summary>
    public const int TimerKeyCharsMax = 256;

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
    /// Bytes a channel may have outstanding: one largest record plus one full batch
    /// (≈1.25 MiB), so a largest record can always be sent and small ones still pipeline.
    /// </summary>
    public const int InboundChannelCreditBytes = RecordSerializedBytesMax + BatchBytesMax;

    /// <summary>Rows the inbound queue can hold: every channel's full window.</summary>
    public const int InboundQueueRowsMax = InboundChannelsMax * InboundChannelCreditRows;

    /// <summary>Serialized bytes the inbound queue can hold: every channel's full window.</summary>
    public const long InboundQueueBytesMax = (long)InboundChannelsMax * InboundChannelCreditBytes;

    // ---- outbound data plane -------------------------------------------------------------

    /// <summary>
    /// Rows queued for one outbound channel (stream, reader, instance): 4,096. Full queue
    /// blocks the router, which stops ProcessBatch: that is the backpressure path.
    /// </summary>
    public const int OutboundQueueRowsMax = 4 * BatchRowsMax;

    /// <summary>Serialized bytes queued for one outbound channel: one largest record plus one batch (≈1.25 MiB).</summary>
    public const int OutboundQueueBytesMax = RecordSerializedBytesMax + BatchBytesMax;

    /// <summary>
    /// Outbound channels at once: 1,024 (e.g. 8 streams × 128 instances). A routing table
    /// needing more is refused (the executor keeps its previous table and logs why).
    /// </summary>
    public const int OutboundChannelsMax = 1024;

    /// <summary>First wait before reconnecting a failed Push channel, in ms.</summary>
    public const int OutboundReconnectBackoffInitialMs = 100;

    /// <summary>
    /// Longest wait between reconnects of a Push channel, in ms: 5 s. Retries continue at this
    /// pace (records wait in the bounded queue) until the routing table moves the instance.
    /// </summary>
    public const int OutboundReconnectBackoffMaxMs = 5_000;

    /// <summary>Time to open a Push channel (TCP + HTTP/2), in ms.</summary>
    public const int OutboundConnectTimeoutMs = 5_000;

    /// <summary>
    /// How long records queued for outbound channels may take to leave after the operator has
    /// shut down, in ms: 5 s. Then they are dropped (at-most-once).
    /// </summary>
    public const int OutboundDrainTimeoutMs = 5_000;

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
    public const int SchedulerRetryBackoffMaxMs = 5_000;

    /// <summary>Deadline of one RegisterExecutor call, in ms.</summary>
    public const int SchedulerCallTimeoutMs = 10_000;

    /// <summary>
    /// HTTP/2 keep-alive ping period on the scheduler connection, in ms: detects a scheduler
    /// that vanished without closing the WatchRouting stream.
    /// </summary>
    public const int SchedulerKeepAlivePingMs = 10_000;

    /// <summary>Deadline of the best-effort ReportFailure call on the way out, in ms.</summary>
    public const int ReportFailureTimeoutMs = 3_000;

    // ---- built-ins -----------------------------------------------------------------------

    /// <summary>Generator tick when a rate is set, in ms: 10 (100 ticks/s keeps output smooth).</summary>
    public const int GeneratorTickMs = 10;

    /// <summary>Words a generator dictionary may have: 10,000,000 (a dictionary, not a data set).</summary>
    public const int GeneratorDictionaryWordsMax = 10_000_000;

    /// <summary>csv-sink flushes its file at least this often while records arrive, in ms.</summary>
    public const int CsvSinkFlushIntervalMs = 100;

    // ---- the memory bound ----------------------------------------------------------------

    /// <summary>
    /// Worst-case bytes of records the executor buffers, one line per buffer. Every record
    /// the executor holds is in exactly one of these places.
    /// </summary>
    public static long BufferedBytesMax(int outboundChannels = OutboundChannelsMax) =>
        // inbound queue: every channel's credit window, serialized bytes + per-row object cost
        InboundQueueBytesMax + (long)InboundQueueRowsMax * RecordObjectOverheadBytes
        // ProcessBatch messages in flight to the operator (a batch may exceed BatchBytesMax by one record)
        + (long)MaxBatchesInFlight * (BatchBytesMax + RecordSerializedBytesMax + (long)BatchRowsMax * RecordObjectOverheadBytes)
        // answers read from the session and not yet routed: the buffered ones plus the one being
        // routed; an answer's size is the operator's output per batch, capped by the gRPC message cap
        + (long)(SessionAnswersBufferedMax + 1) * ProtocolLimits.GrpcMessageBytesMax
        // outbound queues, one per (stream, reader, instance)
        + (long)outboundChannels * (OutboundQueueBytesMax + (long)OutboundQueueRowsMax * RecordObjectOverheadBytes)
        // one batch being sent per outbound channel (already out of its queue)
        + (long)outboundChannels * (BatchBytesMax + RecordSerializedBytesMax);
}
