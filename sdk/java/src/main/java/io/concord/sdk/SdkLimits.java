package io.concord.sdk;

/**
 * Every limit and protocol constant of the Java SDK, each with its unit and why. Values shared
 * with the other SDKs are copies of proto/concord/limits.json (the Python SDK's _limits.py
 * mirrors the same file); the SDK's tests check the copies against it.
 */
public final class SdkLimits {
    private SdkLimits() {
    }

    /** Operator session protocol version this SDK speaks (operator.proto is version 1). */
    public static final int PROTOCOL_VERSION = 1;

    /** More than one ProcessBatch may be unanswered. */
    public static final String CAPABILITY_BATCH_PIPELINING = "batch-pipelining.v1";
    /** Timers: TimerFired / TimerSet. */
    public static final String CAPABILITY_TIMERS = "timers.v1";
    /** Keyed state: ProcessBatch.states, BatchDone.state_mutations, timers' state_key. */
    public static final String CAPABILITY_KEYED_STATE = "keyed-state.v1";
    /** Event time: ProcessBatch.watermark_unix_ms and timers in TIME_DOMAIN_EVENT. */
    public static final String CAPABILITY_EVENT_TIME = "event-time.v1";
    /** Everything this SDK supports (proto/concord/limits.json "capabilities"). */
    public static final java.util.List<String> CAPABILITIES = java.util.List.of(
            CAPABILITY_BATCH_PIPELINING, CAPABILITY_TIMERS, CAPABILITY_KEYED_STATE, CAPABILITY_EVENT_TIME);

    /** SDK name and version sent in Metadata.sdk, for the executor's logs. */
    public static final String SDK_NAME = "concord-java/0.1.0";

    /** Environment variable with the address to serve the session on (a host:port for this SDK). */
    public static final String OPERATOR_ADDRESS_VARIABLE = "CONCORD_OPERATOR_ADDRESS";

    /**
     * Environment variable naming the file where the operator announces the 127.0.0.1 TCP port it
     * listens on (the executor's ExecutorLimits.OperatorPortFileVariable). Debian's Java gRPC has
     * no unix-socket transport, so under an executor this SDK always serves loopback TCP.
     */
    public static final String OPERATOR_PORT_FILE_VARIABLE = "CONCORD_OPERATOR_PORT_FILE";

    /**
     * Environment variable with the launch's secret (ExecutorLimits.OperatorSecretVariable): a
     * loopback port is reachable by every local user, so a session without it is refused.
     */
    public static final String OPERATOR_SECRET_VARIABLE = "CONCORD_OPERATOR_SECRET";

    /** The call metadata key carrying the secret (ExecutorLimits.OperatorSecretHeader). */
    public static final String OPERATOR_SECRET_HEADER = "concord-operator-secret";

    /** Largest gRPC message in bytes (64 MiB), as ProtocolLimits.GrpcMessageBytesMax. */
    public static final int GRPC_MESSAGE_BYTES_MAX = 64 * 1024 * 1024;

    /** Largest record (key + value) in bytes when Init leaves max_record_bytes at 0 (1 MiB). */
    public static final int RECORD_BYTES_MAX_DEFAULT = 1024 * 1024;

    /**
     * Largest state value in bytes when Init leaves max_state_value_bytes at 0: 1 MiB, as a
     * record, because values travel inside ProcessBatch and BatchDone next to the records.
     */
    public static final int STATE_VALUE_BYTES_MAX_DEFAULT = 1024 * 1024;

    /** Longest stream name in characters (ProtocolLimits.StreamNameCharsMax). */
    public static final int STREAM_NAME_CHARS_MAX = 128;

    /** What a stream name is: 1..STREAM_NAME_CHARS_MAX of A-Z a-z 0-9 _ . - */
    public static final String STREAM_NAME_PATTERN = "^[A-Za-z0-9_.-]{1,128}$";

    /** State names follow the stream name rule (types.proto StateDescriptor.name). */
    public static final String STATE_NAME_PATTERN = STREAM_NAME_PATTERN;

    /** State names starting with this are the executor's own (it keeps timers in "concord.timers"). */
    public static final String STATE_NAME_RESERVED_PREFIX = "concord.";

    /**
     * Executor messages read ahead of the operator thread, as C#'s SdkLimits.InboundMessagesMax:
     * beyond it gRPC stops requesting and HTTP/2 flow control pushes back on the executor.
     */
    public static final int INBOUND_MESSAGES_MAX = 64;

    /**
     * Longest log line in characters (C#'s LogMessageCharsMax); longer ones are truncated with a
     * marker so one runaway message cannot fill the session.
     */
    public static final int LOG_MESSAGE_CHARS_MAX = 16_384;

    /** Longest stack trace sent in Error.detail, in characters (C#'s ErrorDetailCharsMax). */
    public static final int ERROR_DETAIL_CHARS_MAX = 65_536;

    /**
     * Milliseconds to wait for the executor to open the session after the port is announced:
     * a process that sees no session for this long has lost its executor and exits 1 instead
     * of living on as an orphan (C#: SessionOpenTimeoutMs).
     */
    public static final long SESSION_OPEN_TIMEOUT_MS = 60_000;

    /**
     * After its last message the operator waits this long at most, in ms, for the executor to
     * close its side, so the final Error or end of stream is not lost to a closed connection.
     */
    public static final long SESSION_LINGER_MS = 2_000;

    /**
     * How long one answer may wait for the transport to become ready, in ms, before it is
     * written anyway (gRPC buffers it): the wait is backpressure, not a place to hang forever
     * on a stuck executor, which BatchAnswerTimeoutMs fails on its side.
     */
    public static final long OUTBOUND_READY_WAIT_MS = 120_000;

    /** Closing the server and its idle connections after the session, in ms. */
    public static final long SERVER_STOP_TIMEOUT_MS = 5_000;

    /** Deadline of each SchedulerClient call, in ms: topology calls are quick, and a stuck scheduler must not hang a program. */
    public static final long SCHEDULER_CALL_TIMEOUT_MS = 30_000;

    /**
     * Deadline of SchedulerClient.replace, in ms (the CLI's ReplaceRpcDeadlineSeconds): a rolling
     * replace answers once the new instances run (at most 60 s) and the old ones drained (about
     * 17 s more), so 120 s only trips on a stuck scheduler.
     */
    public static final long REPLACE_CALL_TIMEOUT_MS = 120_000;

    /**
     * Deadline of SchedulerClient.triggerSavepoint, in ms (the CLI's CheckpointRpcDeadlineSeconds):
     * the scheduler bounds a checkpoint in progress, then its own, each at most 60 s, so 150 s only
     * trips on a stuck scheduler.
     */
    public static final long CHECKPOINT_CALL_TIMEOUT_MS = 150_000;

    /** Most records SchedulerClient.tail may ask for: 100, what each executor keeps per stream. */
    public static final int TAIL_RECORDS_MAX = 100;

    /**
     * Most log lines SchedulerClient.logs returns: the scheduler bounds its own tail, this bounds
     * the client's memory against a scheduler that does not.
     */
    public static final int SCHEDULER_LOG_LINES_MAX = 100_000;

    /** Environment variable with the scheduler's operator token (docs/security.md). */
    public static final String TOKEN_VARIABLE = "CONCORD_TOKEN";

    /** The token's file in the scheduler home ($CONCORD_HOME, else ~/.concord). */
    public static final String TOKEN_FILE_NAME = "token";

    /** Longest token file read, in bytes: a token is a few dozen characters; a bound keeps a wrong file from being read whole. */
    public static final int TOKEN_FILE_BYTES_MAX = 4_096;

    /** Process exit code after Shutdown. */
    public static final int EXIT_OK = 0;
    /** Process exit code after a fatal error. */
    public static final int EXIT_FATAL = 1;
    /** Process exit code when started wrongly (no or bad address variables). */
    public static final int EXIT_USAGE = 2;
}
