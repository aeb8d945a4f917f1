package concord

import "time"

// Every limit and protocol constant of the Go SDK, each with its unit and why. Values shared
// with the other SDKs are copies of proto/concord/limits.json, their one source; limits_test.go
// fails when a copy differs, so change the file first. Durations are time.Duration values, not
// milliseconds as elsewhere in Concord: the type carries the unit, and every Go API they are
// passed to takes one.
const (
	// ProtocolVersion is the operator session protocol version this SDK speaks.
	ProtocolVersion = 1

	// CapabilityBatchPipelining: more than one ProcessBatch may be unanswered at a time.
	CapabilityBatchPipelining = "batch-pipelining.v1"
	// CapabilityTimers: timers_fired in ProcessBatch, timers_set in BatchDone.
	CapabilityTimers = "timers.v1"
	// CapabilityKeyedState: ProcessBatch.states, BatchDone.state_mutations,
	// TimerSet/TimerFired.state_key.
	CapabilityKeyedState = "keyed-state.v1"
	// CapabilityEventTime: ProcessBatch.watermark_unix_ms and timers in TIME_DOMAIN_EVENT.
	CapabilityEventTime = "event-time.v1"

	// SDKName is sent in Metadata.sdk for the executor's logs.
	SDKName = "concord-go/0.1.0"

	// OperatorAddressVariable names the environment variable with the address to serve on.
	OperatorAddressVariable = "CONCORD_OPERATOR_ADDRESS"

	// GrpcMessageBytesMax is the largest gRPC message in bytes (64 MiB), as
	// ProtocolLimits.GrpcMessageBytesMax: batches are flushed long before this, so it only
	// guards against a broken peer.
	GrpcMessageBytesMax = 64 * 1024 * 1024

	// RecordBytesMaxDefault is the largest record (key + value) in bytes when Init leaves
	// max_record_bytes at 0 (ProtocolLimits.RecordBytesMax, 1 MiB).
	RecordBytesMaxDefault = 1024 * 1024

	// StateValueBytesMaxDefault is the largest state value in bytes when Init leaves
	// max_state_value_bytes at 0 (an executor that states no bound): 1 MiB, as a record,
	// because values travel inside ProcessBatch and BatchDone next to the records and must not
	// crowd them out of a message.
	StateValueBytesMaxDefault = 1024 * 1024

	// UnavailableReaderDropAfterMsMax is the largest deploy-file "unavailable_reader_drop_after_ms"
	// (OperatorSpec field 15), in ms (ProtocolLimits.UnavailableReaderDropAfterMsMax): ten
	// minutes; waiting longer than this for a reader in at_most_once is what the guaranteed modes are for.
	UnavailableReaderDropAfterMsMax = 600000

	// StateNameCharsMax is the longest state name in characters: state names follow the
	// stream name rule (types.proto StateDescriptor.name).
	StateNameCharsMax = StreamNameCharsMax

	// StateNamePattern is what a state name is: the stream name pattern.
	StateNamePattern = StreamNamePattern

	// StateNameReservedPrefix starts the executor's own state names (it keeps timers in
	// "concord.timers"); an operator may not declare one.
	StateNameReservedPrefix = "concord."

	// UnixSocketPathBytesMax is the longest unix socket path Linux accepts (sun_path is 108
	// bytes with the NUL).
	UnixSocketPathBytesMax = 107

	// StreamNameCharsMax is the longest stream name in characters
	// (ProtocolLimits.StreamNameCharsMax).
	StreamNameCharsMax = 128

	// StreamNamePattern is what a stream name is: 1..StreamNameCharsMax of A-Z a-z 0-9 _ . -
	// (the bound is written out; limits_test.go checks the two agree).
	StreamNamePattern = `^[A-Za-z0-9_.-]{1,128}$`

	// SessionWindowBytes is the HTTP/2 flow-control window of the session, in bytes (4 MiB):
	// large enough that Init.max_batches_in_flight batches of ~40 KB (1,000 small records)
	// never wait for a window update, small enough to bound what a stalled operator buffers.
	SessionWindowBytes = 4 * 1024 * 1024

	// InboundBatchesMax bounds the executor messages read ahead of the one being processed
	// (the executor itself leaves at most Init.max_batches_in_flight batches unanswered):
	// parsing the next batch on another core while the callbacks run is worth ~30%, more buys
	// nothing.
	InboundBatchesMax = 16

	// SessionLinger: after its last message (the end of the session, or a fatal Error) the
	// operator keeps the session open until the executor closes its side, at most this long
	// (SdkLimits.SessionLingerMs in C#). Exiting earlier closes the connection, and an HTTP/2
	// client discards response data it has not read yet, so the final Error could be lost.
	SessionLinger = 2 * time.Second

	// ProducedSlabRecords is how many produced records one allocation of the produce arena
	// holds; slabs are reused batch after batch, so a steady operator allocates nothing.
	ProducedSlabRecords = 1024

	// SessionOpenTimeout: how long to wait for the executor to open the session after the
	// socket is served. The executor connects within its own bounded start-up wait, so a
	// process that sees no session for this long has lost its executor and exits 1 instead of
	// living on as an orphan.
	SessionOpenTimeout = 120 * time.Second

	// ShutdownGrace: how long the server may take to deliver the last message (BatchDone,
	// Error) and the end of the stream before the process exits anyway.
	ShutdownGrace = 5 * time.Second

	// SchedulerCallTimeout is the deadline of a scheduler client call whose context has none.
	SchedulerCallTimeout = 30 * time.Second

	// ReplaceCallTimeout is the deadline of a scheduler client Replace whose context has none
	// (the CLI's ReplaceRpcDeadlineSeconds): it answers once the new instances run (at most
	// ReplaceRunningTimeoutMax) and the old ones drained; an operator with a delivery guarantee
	// first waits for the checkpoint its state moves through (as CheckpointCallTimeout), so
	// 150 + 60 s only trips on a stuck scheduler.
	ReplaceCallTimeout = CheckpointCallTimeout + ReplaceRunningTimeoutMax

	// ReplaceRunningTimeoutMax is the longest time the new instances of a Replace may take to
	// run: 60 s, the scheduler's own bound (SchedulerLimits.ReplaceRunningTimeoutMs).
	ReplaceRunningTimeoutMax = 60 * time.Second

	// CheckpointCallTimeout is the deadline of a client call that waits for a checkpoint
	// (TriggerSavepoint, Scale of an operator with a delivery guarantee) whose context has none
	// (the CLI's CheckpointRpcDeadlineSeconds): the scheduler bounds a checkpoint in progress,
	// then its own, each at most 60 s, so 150 s only trips on a stuck scheduler.
	CheckpointCallTimeout = 150 * time.Second

	// LogTailLinesDefault is the lines of history per instance Logs asks for by default (as `concord logs`).
	LogTailLinesDefault = 100
	// LogTailLinesMax is the most lines of history per instance: the scheduler's own bound.
	LogTailLinesMax = 10000
	// TraceListDefault is the traces ListTraces returns by default (as `concord trace`).
	TraceListDefault = 20
	// TraceListMax is the most traces ListTraces may ask for: the scheduler's own bound.
	TraceListMax = 1000
	// TailRecordsDefault is the records TailStream returns by default (as `concord tail`).
	TailRecordsDefault = 10
	// TailRecordsMax is the most records TailStream may ask for: what each executor keeps per stream.
	TailRecordsMax = 100

	// SchedulerTriesMax is how many schedulers one call may try in turn when the client was
	// given several (a leader and its standbys): each once plus the leader a standby names (the
	// CLI's SchedulerTriesMax). Bounds a call against schedulers that keep naming each other.
	SchedulerTriesMax = 9
)

// Process exit codes: 0 after Shutdown, 1 after a fatal error, 2 for a usage error (the
// address variable is missing or malformed) so supervisors can tell them apart.
const (
	ExitOK    = 0
	ExitFatal = 1
	ExitUsage = 2
)

// CapabilitiesShared are the capabilities every SDK supports (proto/concord/limits.json).
var CapabilitiesShared = []string{CapabilityBatchPipelining, CapabilityTimers, CapabilityKeyedState, CapabilityEventTime}

// Capabilities lists everything this SDK supports; an Init requiring anything else is refused.
// An event-time timer still needs the executor to offer "event-time.v1" in Init.
var Capabilities = append([]string(nil), CapabilitiesShared...)
