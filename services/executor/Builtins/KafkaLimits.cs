namespace Concord.Executor.Builtins;

/// <summary>
/// Bounds of the Kafka built-ins (kafka-source, kafka-sink), in one place. Units are the last
/// word of each name. librdkafka settings derived from them can be overridden per operator
/// with "kafka.&lt;property&gt;" options (docs/kafka.md).
/// </summary>
public static class KafkaLimits
{
    // ---- both ----------------------------------------------------------------------------

    /// <summary>
    /// How long a connector keeps asking for the topic's metadata at start before it fails, in
    /// ms: 5 s. A reachable cluster answers in milliseconds; the executor then exits with a
    /// clear error and the scheduler's restart back-off (and crash-loop detection) bounds the
    /// retries from there.
    /// </summary>
    public const int StartupMetadataTimeoutMs = 5_000;

    /// <summary>Longest single metadata request during start-up, in ms.</summary>
    public const int MetadataRequestTimeoutMs = 2_000;

    /// <summary>Wait between metadata requests while the topic is missing, in ms.</summary>
    public const int MetadataRetryMs = 250;

    /// <summary>
    /// How long every broker may stay unreachable while the connector runs before it fails, in
    /// ms: 30 s. librdkafka reconnects on its own meanwhile; a failure makes the outage visible
    /// in `concord list` and lets the scheduler's back-off take over.
    /// </summary>
    public const int AllBrokersDownFailMs = 30_000;

    /// <summary>
    /// librdkafka log lines and client errors are logged at most once per this period per kind,
    /// in ms: 5 s. A down broker makes librdkafka report every reconnect (every ~50 ms).
    /// </summary>
    public const int ClientLogIntervalMs = 5_000;

    /// <summary>How long closing a client (final commit or flush) may take on shutdown, in ms: 5 s (within ExecutorLimits.ShutdownTimeoutMs).</summary>
    public const int CloseTimeoutMs = 5_000;

    // ---- kafka-source --------------------------------------------------------------------

    /// <summary>
    /// Records handed to the topology per poll, at most: 4,096 (four ProcessBatch loads). One
    /// poll is one timer round trip through the pump; more per poll means fewer trips, and the
    /// bound keeps an answer far below ProtocolLimits.BatchDoneRecordsMax.
    /// </summary>
    public const int SourceRecordsPerPollMax = 4 * ExecutorLimits.BatchRowsMax;

    /// <summary>Key+value bytes handed over per poll, at most: 1 MiB (plus one record).</summary>
    public const int SourceBytesPerPollMax = 1024 * 1024;

    /// <summary>
    /// Wait before polling again after a poll found nothing, in ms: 1, doubling with each
    /// further empty poll up to <see cref="SourceIdlePollMsMax"/>. A momentarily empty
    /// prefetch queue (a fetch in flight) costs only a millisecond at full speed.
    /// </summary>
    public const int SourceIdlePollMs = 1;

    /// <summary>
    /// Longest wait between timer polls of a source that found nothing, in ms: 10. An empty
    /// poll after a wait this long hands over to the idle watch (<see cref="SourceIdleWaitMs"/>),
    /// so a source polls on a timer only for the ~25 ms after its last records (a momentary gap
    /// in the prefetch), never while its topic stays idle (where 100 polls/s cost 2 % of a core).
    /// Without a pump to wake (<c>BuiltinSession.WakeTimer</c> unset) it keeps polling this often.
    /// </summary>
    public const int SourceIdlePollMsMax = 10;

    /// <summary>
    /// Longest a watching idle source sleeps in one blocking consume, in ms: 500. After the
    /// empty polls up to <see cref="SourceIdlePollMsMax"/>, an idle source stops polling on a
    /// timer: a thread of its own blocks in librdkafka's consume (a condition variable, no
    /// polling) and wakes the pump the moment a message arrives, so the first new record waits
    /// no poll period. The bound is how often an idle source still looks round (2 pump turns/s
    /// instead of 100: the fatal-error and all-brokers-down checks, the at_most_once commit) and
    /// the longest a stop or a checkpoint restore waits for the consume to return before it
    /// closes or re-assigns the consumer (within <see cref="CloseTimeoutMs"/>). Every watch ends
    /// with a wake-up, message or not, so the watch itself is the idle source's fallback timer.
    /// </summary>
    public const int SourceIdleWaitMs = 500;

    /// <summary>
    /// librdkafka queued.min.messages for the source: 1,000,000. With the default (100,000)
    /// the mock cluster serves ~120k records/s, with this ~1.5M/s (measured; docs/kafka.md).
    /// It also sets the source's memory more than <see cref="SourcePrefetchKbytesMax"/> does:
    /// ~460 MB peak RSS for 3M ten-byte records on 32 partitions, 133 MB with 10,000 (but 24k
    /// records/s from the mock; bench/RESULTS.md). Overridable per deploy:
    /// <c>kafka.queued.min.messages</c>.
    /// </summary>
    public const int SourcePrefetchMessagesMin = 1_000_000;

    /// <summary>librdkafka queued.max.messages.kbytes: prefetched records held per consumer, at most 64 MiB.</summary>
    public const int SourcePrefetchKbytesMax = 64 * 1024;

    /// <summary>
    /// Partitions the source's per-partition offset arrays hold at first: 64 (they grow when a
    /// topic has more; one long each).
    /// </summary>
    public const int SourcePartitionsInitial = 64;

    /// <summary>
    /// How often offsets of records handed to the topology are committed, in ms: 1 s. This is
    /// the most a crashed source replays (KafkaCommitPolicy, docs/kafka.md).
    /// </summary>
    public const int SourceCommitIntervalMs = 1_000;

    // ---- kafka-sink ----------------------------------------------------------------------

    /// <summary>
    /// How long librdkafka may try to deliver a record, in ms: 30 s (librdkafka's default is
    /// 300 s). Then the record fails and the sink fails with the reason.
    /// </summary>
    public const int SinkDeliveryTimeoutMs = 30_000;

    /// <summary>Records queued in the producer, at most: 100,000. A full queue blocks the sink, which backpressures the topology.</summary>
    public const int SinkQueueMessagesMax = 100_000;

    /// <summary>Bytes queued in the producer, at most: 64 MiB (librdkafka's default is 1 GiB).</summary>
    public const int SinkQueueKbytesMax = 64 * 1024;

    /// <summary>Wait for the producer queue to drain a little when it is full, in ms, per try.</summary>
    public const int SinkQueueFullWaitMs = 50;

    /// <summary>
    /// How long one record may wait for room in a full producer queue before the sink fails,
    /// in ms: the delivery timeout plus 5 s (by then queued records have either gone out or
    /// failed, so a queue still full means the cluster is not accepting records).
    /// </summary>
    public const int SinkQueueFullFailMs = SinkDeliveryTimeoutMs + 5_000;

    /// <summary>Default linger.ms of the sink: 5 ms (batches well at high rates, adds little latency).</summary>
    public const int SinkLingerMsDefault = 5;

    // ---- kafka-sink with delivery exactly_once (transactions) -----------------------------

    /// <summary>
    /// Bound of one transaction call (init, commit, abort, and the flush of a snapshot), in ms:
    /// the delivery timeout plus 5 s, so records still queued have gone out or failed by then.
    /// A call that takes longer fails the sink (recovery restores the last checkpoint).
    /// </summary>
    public const int SinkTransactionCallTimeoutMs = SinkDeliveryTimeoutMs + 5_000;

    /// <summary>
    /// transaction.timeout.ms of the sink's producer: 60 s (Kafka's default broker maximum is
    /// 15 min). A transaction spans a checkpoint interval plus the wait for its completion;
    /// the broker aborts one left open longer (a sink that stopped without aborting).
    /// </summary>
    public const int SinkTransactionTimeoutMs = 60_000;

    /// <summary>
    /// Bytes (keys + values) the sink holds in memory between a snapshot and its checkpoint's
    /// completion, at most: 64 MiB. Records after a barrier must not join the transaction the
    /// barrier closed, and the sink cannot refuse batches without stalling the pump that
    /// delivers the completion, so it holds them; past this bound it fails naming it
    /// (completion is normally milliseconds behind the snapshot).
    /// </summary>
    public const long SinkHeldBytesMax = 64L * 1024 * 1024;
}
