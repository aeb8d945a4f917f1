'use strict';
// Every limit and protocol constant of the Node SDK, each with its unit and why.
//
// Values shared with the other SDKs are copies of proto/concord/limits.json, the one source of
// the protocol constants; test/limits.test.js fails when a copy differs, so change that file
// first. Durations are in milliseconds (suffix Ms), as every Node timer API takes them.

/** Operator session protocol version this SDK speaks (operator.proto is version 1). */
const PROTOCOL_VERSION = 1;

/** More than one ProcessBatch may be unanswered at a time. */
const CAPABILITY_BATCH_PIPELINING = 'batch-pipelining.v1';
/** timers_fired in ProcessBatch, timers_set in BatchDone. */
const CAPABILITY_TIMERS = 'timers.v1';
/** Keyed state: ProcessBatch.states, BatchDone.state_mutations, TimerSet/TimerFired.state_key. */
const CAPABILITY_KEYED_STATE = 'keyed-state.v1';
/** Event time: ProcessBatch.watermark_unix_ms and timers in TIME_DOMAIN_EVENT. */
const CAPABILITY_EVENT_TIME = 'event-time.v1';
/** The capabilities every SDK supports (proto/concord/limits.json "capabilities"). */
const CAPABILITIES_SHARED = Object.freeze([
  CAPABILITY_BATCH_PIPELINING, CAPABILITY_TIMERS, CAPABILITY_KEYED_STATE, CAPABILITY_EVENT_TIME,
]);
/** Everything this SDK supports: the shared ones (an event-time timer still needs the executor
 * to offer "event-time.v1" in Init). */
const CAPABILITIES = CAPABILITIES_SHARED;

/** SDK name and version sent in Metadata.sdk, for the executor's logs. */
const SDK_NAME = 'concord-node/0.1.0';

/** Environment variable with the address to serve the session on. */
const OPERATOR_ADDRESS_VARIABLE = 'CONCORD_OPERATOR_ADDRESS';

/** Largest gRPC message in bytes (64 MiB), as ProtocolLimits.GrpcMessageBytesMax: a batch is
 * flushed long before this, so the cap only guards against a broken peer. */
const GRPC_MESSAGE_BYTES_MAX = 64 * 1024 * 1024;

/** Largest serialized BatchDone the executor accepts, in bytes (ProtocolLimits.BatchDoneBytesMax). */
const BATCH_DONE_BYTES_MAX = 4 * 1024 * 1024;

/** Most produced records in one BatchDone the executor accepts (ProtocolLimits.BatchDoneRecordsMax). */
const BATCH_DONE_RECORDS_MAX = 65536;

/** Bytes one batch's callbacks may produce (keys, values and the per-record and per-mutation
 * overheads below): 4 MiB - 64 KiB, as C#'s SdkLimits.ProducedBytesPerBatchMax, so a BatchDone
 * stays within BATCH_DONE_BYTES_MAX with room for its framing, and, at 64 bytes counted per
 * record, within BATCH_DONE_RECORDS_MAX records. Exceeding it throws in the producing callback. */
const PRODUCED_BYTES_PER_BATCH_MAX = BATCH_DONE_BYTES_MAX - 64 * 1024;

/** Bytes counted per produced record on top of key and value (stream name, times, trace,
 * protobuf tags): a conservative estimate that keeps the batch bound honest for tiny records. */
const PRODUCED_RECORD_OVERHEAD_BYTES = 64;

/** Bytes counted per state mutation on top of key, name and value: state changes travel in the
 * same BatchDone as the produced records, so they share its bound. */
const STATE_MUTATION_OVERHEAD_BYTES = 32;

/** Largest record (key + value) in bytes when Init leaves max_record_bytes at 0
 * (ProtocolLimits.RecordBytesMax, 1 MiB). */
const RECORD_BYTES_MAX_DEFAULT = 1024 * 1024;

/** Largest state value in bytes when Init leaves max_state_value_bytes at 0 (an executor that
 * states no bound): 1 MiB, as a record, because values travel inside ProcessBatch and BatchDone
 * next to the records and must not crowd them out of a message. */
const STATE_VALUE_BYTES_MAX_DEFAULT = 1024 * 1024;

/** Longest unix socket path Linux accepts, in bytes (sun_path is 108 with the NUL). */
const UNIX_SOCKET_PATH_BYTES_MAX = 107;

/** Longest stream name in characters (ProtocolLimits.StreamNameCharsMax). */
const STREAM_NAME_CHARS_MAX = 128;

/** What a stream name is: 1..STREAM_NAME_CHARS_MAX of A-Z a-z 0-9 _ . - (the bound is written
 * out in the pattern; test/limits.test.js checks the two agree). */
const STREAM_NAME_PATTERN = '^[A-Za-z0-9_.-]{1,128}$';

/** Largest deploy-file "unavailable_reader_drop_after_ms" (OperatorSpec field 15), in ms
 * (ProtocolLimits.UnavailableReaderDropAfterMsMax): ten minutes. */
const UNAVAILABLE_READER_DROP_AFTER_MS_MAX = 600000;

/** Longest state name in characters: state names follow the stream name rule. */
const STATE_NAME_CHARS_MAX = STREAM_NAME_CHARS_MAX;

/** What a state name is: the stream name pattern (types.proto StateDescriptor.name). */
const STATE_NAME_PATTERN = STREAM_NAME_PATTERN;

/** State names starting with this are the executor's own (it keeps timers in "concord.timers"). */
const STATE_NAME_RESERVED_PREFIX = 'concord.';

/** How long to wait for the executor to open the session after the socket is served, in ms.
 * The executor connects within its own bounded start-up wait, so a process that sees no session
 * for this long has lost its executor and exits 1 instead of living on as an orphan. */
const SESSION_OPEN_TIMEOUT_MS = 120000;

/** After its last message (the end of the session, or a fatal Error) the operator keeps the
 * session open until the executor closes its side, at most this long in ms (C#'s
 * SdkLimits.SessionLingerMs). Exiting earlier closes the connection, and an HTTP/2 client
 * discards response data it has not read yet, so the final Error could be lost. */
const SESSION_LINGER_MS = 2000;

/** How long the server may take, in ms, to deliver the last message and the end of the stream
 * before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 5000;

/** Most session messages written to gRPC and not yet flushed to the connection. grpc-js
 * buffers every write without bound when the peer reads slowly, and with thousands queued its
 * writes stall; past this the session waits for 'drain' before it processes the next batch
 * (BatchDone messages are few: one per batch, plus logs, so only a slow executor reaches it). */
const SESSION_WRITES_IN_FLIGHT_MAX = 1000;

/** Executor messages read ahead of the one being processed before the SDK stops reading the
 * stream (the executor itself leaves at most Init.max_batches_in_flight batches unanswered, so
 * this only bounds a broken executor). */
const INBOUND_MESSAGES_MAX = 64;

/** Up to this many bytes wire.js copies a key, value or ASCII string into BatchDone with a
 * loop: below it Buffer.copy/write cost more in call and argument checks than the copy of a
 * word-sized key or a decimal count. */
const WIRE_COPY_LOOP_BYTES_MAX = 64;

/** Distinct strings (stream names, timer keys, state names) whose UTF-8 wire.js keeps; past it
 * the cache starts over, so operators with unbounded timer keys cannot grow it without bound. */
const WIRE_UTF8_CACHE_ENTRIES_MAX = 1024;

/** Longest Log message sent to the executor, in characters (C#'s SdkLimits.LogMessageCharsMax):
 * longer ones are cut with a marker so one runaway log line cannot fill a gRPC message. */
const LOG_MESSAGE_CHARS_MAX = 16 * 1024;

/** Longest Error detail (stack trace) sent to the executor, in characters (C#'s
 * SdkLimits.ErrorDetailCharsMax); the rest is cut with a marker. */
const ERROR_DETAIL_CHARS_MAX = 64 * 1024;

/** Deadline of each SchedulerClient call, in ms: topology calls are quick, and a stuck
 * scheduler must not hang a script forever. */
const SCHEDULER_CALL_TIMEOUT_MS = 30000;

/** Deadline of SchedulerClient.replace in ms (the CLI's ReplaceRpcDeadlineSeconds): a rolling
 * replace answers once the new instances run (at most 60 s) and the old ones drained (about
 * 17 s more), so 120 s only trips on a stuck scheduler. */
const REPLACE_CALL_TIMEOUT_MS = 120000;

/** Deadline of SchedulerClient.triggerSavepoint in ms (the CLI's CheckpointRpcDeadlineSeconds):
 * the scheduler bounds a checkpoint in progress, then its own, each at most 60 s, so 150 s only
 * trips on a stuck scheduler. */
const CHECKPOINT_CALL_TIMEOUT_MS = 150000;

/** Lines of history per instance SchedulerClient.logs asks for by default (as `concord logs`). */
const LOG_TAIL_LINES_DEFAULT = 100;

/** Most lines of history per instance: 10,000, the scheduler's own bound. */
const LOG_TAIL_LINES_MAX = 10000;

/** Traces SchedulerClient.listTraces returns by default (as `concord trace`). */
const TRACE_LIST_DEFAULT = 20;

/** Most traces listTraces may ask for: 1,000, the scheduler's own bound. */
const TRACE_LIST_MAX = 1000;

/** Records SchedulerClient.tail returns by default (as `concord tail`). */
const TAIL_RECORDS_DEFAULT = 10;

/** Most records tail may ask for: 100, what each executor keeps per stream. */
const TAIL_RECORDS_MAX = 100;

/** Process exit codes: 0 after Shutdown, 1 after a fatal error, 2 for a usage error (the
 * address variable is missing or malformed) so supervisors can tell them apart. */
const EXIT_OK = 0;
const EXIT_FATAL = 1;
const EXIT_USAGE = 2;

module.exports = Object.freeze({
  PROTOCOL_VERSION,
  CAPABILITY_BATCH_PIPELINING,
  CAPABILITY_TIMERS,
  CAPABILITY_KEYED_STATE,
  CAPABILITY_EVENT_TIME,
  CAPABILITIES_SHARED,
  CAPABILITIES,
  SDK_NAME,
  OPERATOR_ADDRESS_VARIABLE,
  GRPC_MESSAGE_BYTES_MAX,
  BATCH_DONE_BYTES_MAX,
  BATCH_DONE_RECORDS_MAX,
  PRODUCED_BYTES_PER_BATCH_MAX,
  PRODUCED_RECORD_OVERHEAD_BYTES,
  STATE_MUTATION_OVERHEAD_BYTES,
  RECORD_BYTES_MAX_DEFAULT,
  STATE_VALUE_BYTES_MAX_DEFAULT,
  UNIX_SOCKET_PATH_BYTES_MAX,
  STREAM_NAME_CHARS_MAX,
  STREAM_NAME_PATTERN,
  UNAVAILABLE_READER_DROP_AFTER_MS_MAX,
  STATE_NAME_CHARS_MAX,
  STATE_NAME_PATTERN,
  STATE_NAME_RESERVED_PREFIX,
  SESSION_OPEN_TIMEOUT_MS,
  SESSION_LINGER_MS,
  SHUTDOWN_GRACE_MS,
  SESSION_WRITES_IN_FLIGHT_MAX,
  INBOUND_MESSAGES_MAX,
  WIRE_COPY_LOOP_BYTES_MAX,
  WIRE_UTF8_CACHE_ENTRIES_MAX,
  LOG_MESSAGE_CHARS_MAX,
  ERROR_DETAIL_CHARS_MAX,
  SCHEDULER_CALL_TIMEOUT_MS,
  REPLACE_CALL_TIMEOUT_MS,
  CHECKPOINT_CALL_TIMEOUT_MS,
  LOG_TAIL_LINES_DEFAULT,
  LOG_TAIL_LINES_MAX,
  TRACE_LIST_DEFAULT,
  TRACE_LIST_MAX,
  TAIL_RECORDS_DEFAULT,
  TAIL_RECORDS_MAX,
  EXIT_OK,
  EXIT_FATAL,
  EXIT_USAGE,
});
