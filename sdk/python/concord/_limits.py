"""Every limit and protocol constant of the Python SDK, each with its unit and why.

Values shared with the other SDKs are copies of proto/concord/limits.json, the one source of
the protocol constants; tests/test_limits.py fails when a copy differs. Change the file first.

Durations are in seconds (suffix _S), not milliseconds as elsewhere in Concord, because every
Python API they are passed to (grpc deadlines, threading waits, time.monotonic) takes seconds.
"""

#: Operator session protocol version this SDK speaks (operator.proto is version 1).
PROTOCOL_VERSION = 1

#: Capabilities this SDK supports; an Init that requires anything else is refused.
CAPABILITY_BATCH_PIPELINING = "batch-pipelining.v1"
CAPABILITY_TIMERS = "timers.v1"
#: Keyed state: ProcessBatch.states, BatchDone.state_mutations, TimerSet/TimerFired.state_key.
CAPABILITY_KEYED_STATE = "keyed-state.v1"
#: Event time: ProcessBatch.watermark_unix_ms and timers in TIME_DOMAIN_EVENT.
CAPABILITY_EVENT_TIME = "event-time.v1"
#: The capabilities every SDK supports (proto/concord/limits.json "capabilities").
CAPABILITIES_SHARED = (CAPABILITY_BATCH_PIPELINING, CAPABILITY_TIMERS, CAPABILITY_KEYED_STATE, CAPABILITY_EVENT_TIME)
#: Everything this SDK supports: the shared ones (an event-time timer still needs the executor
#: to offer "event-time.v1" in Init).
CAPABILITIES = CAPABILITIES_SHARED

#: SDK name and version sent in Metadata.sdk, for the executor's logs.
SDK_NAME = "concord-python/0.1.0"

#: Environment variable with the address to serve the session on.
OPERATOR_ADDRESS_VARIABLE = "CONCORD_OPERATOR_ADDRESS"

#: Largest gRPC message in bytes (64 MiB), as ProtocolLimits.GrpcMessageBytesMax: a batch is
#: flushed long before this, so the cap only guards against a broken peer.
GRPC_MESSAGE_BYTES_MAX = 64 * 1024 * 1024

#: Largest record (key + value) in bytes when Init leaves max_record_bytes at 0
#: (ProtocolLimits.RecordBytesMax, 1 MiB).
RECORD_BYTES_MAX_DEFAULT = 1024 * 1024

#: Largest state value in bytes when Init leaves max_state_value_bytes at 0 (an executor that
#: states no bound): 1 MiB, as a record, because values travel inside ProcessBatch and BatchDone
#: next to the records and must not crowd them out of a message.
STATE_VALUE_BYTES_MAX_DEFAULT = 1024 * 1024

#: Longest unix socket path Linux accepts, in bytes (sun_path is 108 with the NUL).
UNIX_SOCKET_PATH_BYTES_MAX = 107

#: Longest stream name in characters (ProtocolLimits.StreamNameCharsMax).
STREAM_NAME_CHARS_MAX = 128

#: What a stream name is: 1..STREAM_NAME_CHARS_MAX of A-Z a-z 0-9 _ . - (the bound is written
#: out in the pattern; tests/test_limits.py checks the two agree).
STREAM_NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,128}$"

#: Largest deploy-file "unavailable_reader_drop_after_ms" (OperatorSpec field 15), in ms
#: (ProtocolLimits.UnavailableReaderDropAfterMsMax): ten minutes; waiting longer than this
#: for a reader in at_most_once is what the guaranteed modes are for.
UNAVAILABLE_READER_DROP_AFTER_MS_MAX = 600000

#: Longest state name in characters: state names follow the stream name rule
#: (types.proto StateDescriptor.name).
STATE_NAME_CHARS_MAX = STREAM_NAME_CHARS_MAX

#: What a state name is: the stream name pattern (types.proto StateDescriptor.name).
STATE_NAME_PATTERN = STREAM_NAME_PATTERN

#: State names starting with this are the executor's own (it keeps timers in "concord.timers").
STATE_NAME_RESERVED_PREFIX = "concord."

#: Seconds to wait for the executor to open the session after the socket is served. The
#: executor connects within its own bounded start-up wait, so a process that sees no session
#: for this long has lost its executor and exits 1 instead of living on as an orphan.
SESSION_OPEN_TIMEOUT_S = 120.0

#: Seconds the server keeps running after the session ended so the last message (BatchDone,
#: Error) and the end of the stream reach the executor before the process exits.
SHUTDOWN_GRACE_S = 5.0

#: Seconds a session that ended with Shutdown waits for the executor to close its side of the
#: stream before ending the RPC (server._await_executor_close); the executor closes it at once.
EXECUTOR_CLOSE_WAIT_S = 5.0

#: Worker threads of the gRPC server: one runs the session (callbacks are single-threaded),
#: one more refuses a second concurrent session with a clear status.
SERVER_THREADS = 2

#: Deadline in seconds of each SchedulerClient call; topology calls are quick, and a stuck
#: scheduler must not hang a script forever.
SCHEDULER_CALL_TIMEOUT_S = 30.0

#: Deadline in seconds of SchedulerClient.replace (the CLI's ReplaceRpcDeadlineSeconds): it
#: answers once the new instances run (at most REPLACE_RUNNING_TIMEOUT_S) and the old ones
#: drained; an operator with a delivery guarantee first waits for the checkpoint its state moves
#: through (as CHECKPOINT_CALL_TIMEOUT_S), so 150 + 60 s only trips on a stuck scheduler.
REPLACE_CALL_TIMEOUT_S = 210.0

#: Longest time the new instances of a replace may take to run, in seconds: 60, the scheduler's
#: own bound (SchedulerLimits.ReplaceRunningTimeoutMs); a larger running_timeout_s is capped to it.
REPLACE_RUNNING_TIMEOUT_S = 60.0

#: Deadline in seconds of SchedulerClient.trigger_savepoint (the CLI's
#: CheckpointRpcDeadlineSeconds): the scheduler bounds a checkpoint in progress, then its own,
#: each at most 60 s, so 150 s only trips on a stuck scheduler.
CHECKPOINT_CALL_TIMEOUT_S = 150.0

#: Lines of history per instance SchedulerClient.logs asks for by default (as `concord logs`).
LOG_TAIL_LINES_DEFAULT = 100

#: Most lines of history per instance: 10,000, the scheduler's own bound.
LOG_TAIL_LINES_MAX = 10000

#: Traces SchedulerClient.list_traces returns by default (as `concord trace`).
TRACE_LIST_DEFAULT = 20

#: Most traces list_traces may ask for: 1,000, the scheduler's own bound.
TRACE_LIST_MAX = 1000

#: Records SchedulerClient.tail returns by default (as `concord tail`).
TAIL_RECORDS_DEFAULT = 10

#: Most records tail may ask for: 100, what each executor keeps per stream.
TAIL_RECORDS_MAX = 100

#: Schedulers one call may try in turn when the client was given several (a leader and its
#: standbys): 9, each once plus the leader a standby names (the CLI's SchedulerTriesMax). Bounds
#: a call against schedulers that keep naming each other.
SCHEDULER_TRIES_MAX = 9

#: Process exit codes: 0 after Shutdown, 1 after a fatal error, 2 for a usage error (the
#: address variable is missing or malformed) so supervisors can tell them apart.
EXIT_OK = 0
EXIT_FATAL = 1
EXIT_USAGE = 2
