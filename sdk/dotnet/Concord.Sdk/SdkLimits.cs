using Concord.Contracts;

namespace Concord.Sdk;

/// <summary>
/// Every bound of the C# SDK in one place, unit last in the name. Protocol-wide limits (record
/// size, gRPC message size) are in <see cref="ProtocolLimits"/>; the executor sends the ones
/// that apply to a session in <c>Init</c>.
/// </summary>
public static class SdkLimits
{
    /// <summary>
    /// Executor messages read ahead of the operator thread: 64. The executor never leaves more
    /// than <c>Init.max_batches_in_flight</c> batches unanswered, so this only bounds a peer that
    /// breaks that rule; once it is full the SDK stops reading and HTTP/2 flow control pushes
    /// back on the executor.
    /// </summary>
    public const int InboundMessagesMax = 64;

    /// <summary>
    /// Operator messages (BatchDone, Log) waiting for the socket writer: 256. When full, the
    /// operator thread blocks in <c>Log</c> or when answering a batch, which turns a log flood
    /// into backpressure instead of unbounded memory.
    /// </summary>
    public const int OutboundMessagesMax = 256;

    /// <summary>
    /// Bytes one batch's callbacks may produce, keys plus values plus
    /// <see cref="ProducedRecordOverheadBytes"/> per record: 4 MiB − 64 KiB, so a BatchDone always
    /// stays within <see cref="ProtocolLimits.BatchDoneBytesMax"/> (what the executor accepts) with
    /// room for its framing, and — at 64 bytes counted per record — within
    /// <see cref="ProtocolLimits.BatchDoneRecordsMax"/> records. Exceeding it raises in the
    /// producing callback.
    /// </summary>
    public const int ProducedBytesPerBatchMax = ProtocolLimits.BatchDoneBytesMax - 64 * 1024;

    /// <summary>
    /// Bytes counted per produced record on top of key and value (stream name, times, trace,
    /// protobuf tags): 64. A conservative estimate that keeps <see cref="ProducedBytesPerBatchMax"/>
    /// honest for batches of many tiny records.
    /// </summary>
    public const int ProducedRecordOverheadBytes = 64;

    /// <summary>
    /// Size of the pooled buffer a BatchDone is written into at the start of a batch: 64 KiB,
    /// enough for about 2,000 small records; it doubles as needed, up to the message's size
    /// (bounded by <see cref="ProducedBytesPerBatchMax"/>).
    /// </summary>
    public const int BatchDoneBufferBytesInitial = 64 * 1024;

    /// <summary>
    /// How long a started operator waits for its executor to open the session: 60 s. The
    /// executor connects within its own socket-wait bound; an operator still alone after this
    /// lost its executor before the session began, so it exits 1 instead of living on as an
    /// orphan.
    /// </summary>
    public const int SessionOpenTimeoutMs = 60_000;

    /// <summary>
    /// How long the operator keeps the connection open after the session's last message, waiting
    /// for the executor to close its side: 2 s. Closing earlier can make the executor's HTTP/2
    /// client drop the final Error or the stream's end unread; an executor closes at once, so
    /// this only bounds one that does not.
    /// </summary>
    public const int SessionLingerMs = 2_000;

    /// <summary>
    /// How long stopping the in-process gRPC server may take once the session is over: 5 s.
    /// The session has already completed, so this only bounds closing idle connections.
    /// </summary>
    public const int ServerStopTimeoutMs = 5_000;

    /// <summary>
    /// Longest Log message sent to the executor, in characters: 16,384. Longer messages are
    /// truncated (with a marker) so one runaway log line cannot take a large share of a gRPC
    /// message or of the executor's log file.
    /// </summary>
    public const int LogMessageCharsMax = 16 * 1024;

    /// <summary>
    /// Longest Error detail (stack trace) sent to the executor, in characters: 65,536. Enough
    /// for deep stack traces with inner exceptions; the rest is cut with a marker.
    /// </summary>
    public const int ErrorDetailCharsMax = 64 * 1024;

    /// <summary>
    /// Deadline of every <see cref="SchedulerClient"/> call: 30 s. Deploy validates the spec
    /// and writes the topology store (fsync) before answering, which is milliseconds normally
    /// and seconds on a loaded disk; 30 s reports a stuck scheduler without giving up on a slow one.
    /// </summary>
    public const int SchedulerCallTimeoutMs = 30_000;

    /// <summary>
    /// Deadline of <see cref="SchedulerClient.ReplaceAsync"/>: 210 s (the CLI's
    /// ReplaceRpcDeadlineSeconds). It answers once the new instances run (at most
    /// <see cref="ReplaceRunningTimeoutMsMax"/>) and the old ones drained; an operator with a
    /// delivery guarantee first waits for the checkpoint its state moves through (as
    /// <see cref="CheckpointCallTimeoutMs"/>), so 150 + 60 s only trips on a stuck scheduler.
    /// </summary>
    public const int ReplaceCallTimeoutMs = CheckpointCallTimeoutMs + ReplaceRunningTimeoutMsMax;

    /// <summary>
    /// Longest time the new instances of a replace may take to run: 60 s, the scheduler's own
    /// bound (SchedulerLimits.ReplaceRunningTimeoutMs), also the default.
    /// </summary>
    public const int ReplaceRunningTimeoutMsMax = 60_000;

    /// <summary>
    /// Deadline of the calls that wait for a checkpoint (<see cref="SchedulerClient.TriggerSavepointAsync"/>,
    /// <see cref="SchedulerClient.ScaleAsync"/> of an operator with a delivery guarantee): 150 s, the
    /// CLI's CheckpointRpcDeadlineSeconds. The scheduler bounds a checkpoint in progress, then its
    /// own, each at most 60 s, so 150 s only trips on a stuck scheduler.
    /// </summary>
    public const int CheckpointCallTimeoutMs = 150_000;

    /// <summary>Lines of history per instance <see cref="SchedulerClient.GetLogsAsync"/> asks for by default: 100, as <c>concord logs</c>.</summary>
    public const int LogTailLinesDefault = 100;

    /// <summary>Most lines of history per instance: 10,000, the scheduler's own bound.</summary>
    public const int LogTailLinesMax = 10_000;

    /// <summary>Traces <see cref="SchedulerClient.ListTracesAsync"/> returns by default: 20, as <c>concord trace</c>.</summary>
    public const int TraceListDefault = 20;

    /// <summary>Most traces one ListTraces may ask for: 1,000, the scheduler's own bound.</summary>
    public const int TraceListMax = 1_000;

    /// <summary>Records <see cref="SchedulerClient.TailStreamAsync"/> returns by default: 10, as <c>concord tail</c>.</summary>
    public const int TailRecordsDefault = 10;

    /// <summary>Most records one TailStream may ask for: 100, what each executor keeps per stream.</summary>
    public const int TailRecordsMax = 100;

    /// <summary>
    /// Schedulers one call may try in turn when the client was given several (a leader and its
    /// standbys): 9, each once plus the leader a standby names (the CLI's SchedulerTriesMax).
    /// Bounds a call against schedulers that keep naming each other.
    /// </summary>
    public const int SchedulerTriesMax = 9;

    /// <summary>
    /// Per-mutation framing counted against <see cref="ProducedBytesPerBatchMax"/> with the
    /// key, name and value, in bytes: 32. State changes travel in the same BatchDone as the
    /// produced records, so they share its bound.
    /// </summary>
    public const int StateMutationOverheadBytes = 32;
}
