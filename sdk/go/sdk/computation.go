// Package concord is the Concord operator SDK for Go: implement Computation, then call Serve.
//
//	type counter struct{ counts map[string]*int64; buf []byte }
//
//	func (c *counter) Metadata() concord.Metadata {
//		return concord.Metadata{Name: "counter",
//			Inputs:  []concord.InputStream{{Name: "words", Grouping: concord.GroupBy}},
//			Outputs: []string{"counts"}}
//	}
//	func (c *counter) ProcessRecord(ctx concord.Context, r *concord.Record) error { ... }
//
//	func main() { concord.Serve(&counter{counts: map[string]*int64{}}) }
//
// Import it as `concord "concord/sdk"` from module concord (sdk/go/go.mod, see docs/sdk-go.md).
package concord

// The generated proto code (sdk/go/gen) and the offline vendor/ directory are not committed:
// scripts/gen-go.sh and scripts/go-vendor.sh write them, and every Go build script runs both.
// (Not `go generate`: it must load the module first, which needs vendor/ or a module proxy.)

import (
	operatorv1 "concord/gen/concord/operator/v1"
	typesv1 "concord/gen/concord/types/v1"
)

// Record is one input record: Key, Value, EventTimeUnixMs (and the trace context and ingest
// time, which the SDK carries over to what the callback produces).
type Record = typesv1.Record

// StreamGrouping says how a stream's records are spread over the instances of the operator.
type StreamGrouping int32

const (
	// Shuffle: round-robin over the instances (the default).
	Shuffle StreamGrouping = StreamGrouping(typesv1.Grouping_GROUPING_SHUFFLE)
	// GroupBy: same key, same instance (the key is hashed into key groups).
	GroupBy StreamGrouping = StreamGrouping(typesv1.Grouping_GROUPING_GROUP_BY)
	// Broadcast: every instance receives every record.
	Broadcast StreamGrouping = StreamGrouping(typesv1.Grouping_GROUPING_BROADCAST)
)

// InputStream is one stream the operator reads.
type InputStream struct {
	Name string
	// Grouping defaults to Shuffle when zero.
	Grouping StreamGrouping
}

// Metadata is what the operator says about itself.
type Metadata struct {
	// Name must equal the deploy file's name.
	Name string
	// Inputs are the streams read; none makes the operator a source.
	Inputs []InputStream
	// Outputs are the streams the operator may produce to.
	Outputs []string
	// States are the names of the keyed state the operator uses through Context.State
	// (docs/guarantees.md); none for an operator without state.
	States []string
}

// TimeDomain says what clock a timer follows (Context.SetTimerIn).
type TimeDomain int32

const (
	// ProcessingTime: the timer fires when the wall clock reaches its time (SetTimer's).
	ProcessingTime TimeDomain = TimeDomain(operatorv1.TimeDomain_TIME_DOMAIN_PROCESSING)
	// EventTime: the timer fires when the executor's input watermark reaches its time
	// (capability "event-time.v1").
	EventTime TimeDomain = TimeDomain(operatorv1.TimeDomain_TIME_DOMAIN_EVENT)
)

// State is one declared state for the key in scope (Context.StateKey), as Context.State
// returns it: the record's key in ProcessRecord, the timer's state key in ProcessTimer.
type State struct {
	c     *batchContext
	index int // position of the name in Metadata().States
}

// Context is what callbacks use to emit records and set timers. Everything done through it is
// buffered and sent to the executor with the answer to the batch being processed. It is only
// valid during the callback it was passed to.
type Context interface {
	// ProduceRecord emits a record on stream (one of Metadata().Outputs). The record inherits
	// event time, trace and ingest time from the record being processed ("now" in Init and
	// timers). Key and value are copied: the caller may reuse its buffers. An undeclared stream
	// or a record larger than the executor's limit returns an error and also fails the batch
	// fatally even if the callback drops the error: it is a bug in the operator.
	ProduceRecord(stream string, key, value []byte) error
	// ProduceRecordAt is ProduceRecord with an explicit event time (ms since the Unix epoch);
	// 0 means inherit.
	ProduceRecordAt(stream string, key, value []byte, eventTimeMs int64) error
	// SetTimer asks for ProcessTimer(ctx, key, timeMs) at timeMs, an absolute time in ms since
	// the Unix epoch (not a delay), on the wall clock. In an operator that declares States the
	// timer belongs to the key in scope (StateKey), whose state ProcessTimer sees: one pending
	// timer per (state key, key, domain); setting it again replaces its time. Without
	// declared States: one per (key, domain).
	SetTimer(key string, timeMs int64)
	// SetTimerIn is SetTimer in the given time domain: EventTime fires when the executor's
	// input watermark reaches timeMs (the executor must support "event-time.v1", else the
	// batch fails fatally).
	SetTimerIn(key string, timeMs int64, domain TimeDomain)
	// State is the declared state name (one of Metadata().States) for the key in scope. A
	// name not declared, or a use in Init (no key is in scope there), panics with a
	// *StateError, which ends the session: it is a bug in the operator.
	State(name string) State
	// StateKey is the key whose state is in scope: the record's key in ProcessRecord, in
	// ProcessTimer the record key that was in scope when the timer was set; empty in Init.
	// Read-only, valid during the callback.
	StateKey() []byte
	// WatermarkUnixMs is the executor's input watermark when the batch was cut (ms since the
	// Unix epoch; 0 when not known yet, and in Init).
	WatermarkUnixMs() int64
	// Log sends a line to the executor's structured log (writing to stderr works too).
	Log(level LogLevel, message string)
	// OperatorName, InstanceIndex and InstanceCount come from the executor's Init.
	OperatorName() string
	InstanceIndex() int
	InstanceCount() int
}

// LogLevel of a Context.Log line.
type LogLevel int32

const (
	LogDebug   LogLevel = 1
	LogInfo    LogLevel = 2
	LogWarning LogLevel = 3
	LogError   LogLevel = 4
)

// Computation is an operator. Every callback runs on one goroutine, in order. A returned error
// or a panic ends the session with a fatal error and the process exits 1.
type Computation interface {
	// Init is called once before any record; it may produce records and set timers.
	Init(ctx Context) error
	// ProcessRecord is called for each input record. r is valid only during the call.
	ProcessRecord(ctx Context, r *Record) error
	// ProcessTimer is called when a timer set with ctx.SetTimer is due; ctx.StateKey() and
	// ctx.State are those of the key in scope when it was set.
	ProcessTimer(ctx Context, key string, timeMs int64) error
	// Destroy is called once on Shutdown, before the process exits 0.
	Destroy()
	// Metadata names the operator and its streams.
	Metadata() Metadata
}

// Base gives Computation's optional callbacks empty bodies: embed it and write only the
// callbacks the operator needs (Metadata and ProcessRecord, usually).
type Base struct{}

func (Base) Init(Context) error                        { return nil }
func (Base) ProcessTimer(Context, string, int64) error { return nil }
func (Base) Destroy()                                  {}
