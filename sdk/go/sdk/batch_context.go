package concord

import (
	"fmt"
	"sort"
	"time"

	operatorv1 "concord/gen/concord/operator/v1"
	typesv1 "concord/gen/concord/types/v1"
)

// ProduceError is returned by ProduceRecord for a record the protocol forbids (undeclared
// stream, record too large). It is a bug in the operator and ends the session.
type ProduceError struct{ msg string }

func (e *ProduceError) Error() string { return e.msg }

// producedSlot holds one produced record and its wrapper; slots live in reused slabs.
type producedSlot struct {
	pr  operatorv1.ProducedRecord
	rec typesv1.Record
}

// timerRef is what identifies a pending timer: one per (state key, key, domain).
type timerRef struct {
	stateKey string
	key      string
	domain   TimeDomain
}

// batchContext is the Context of one session; reset after every answered batch.
type batchContext struct {
	operatorName   string
	instanceIndex  int
	instanceCount  int
	outputs        map[string]string // stream -> the same string, interned
	maxRecordBytes int

	current     *typesv1.Record // record being processed; nil in Init and timers
	nowMs       int64
	nowUs       int64
	stateKey    []byte // key whose state is in scope: the record's, the timer's, nil in Init
	watermarkMs int64
	eventTime   bool // the executor supports event-time timers
	state       keyedState

	slabs    [][]producedSlot
	used     int
	bytes    []byte // copies of produced keys and values, reused batch after batch
	produced []*operatorv1.ProducedRecord
	timers   map[timerRef]int64
	logs     []*operatorv1.OperatorMessage
	err      error // first ProduceError of the batch: fatal even if the callback drops it
}

func newBatchContext(init *operatorv1.Init, md Metadata) *batchContext {
	c := &batchContext{
		operatorName:   init.OperatorName,
		instanceIndex:  int(init.InstanceIndex),
		instanceCount:  int(init.InstanceCount),
		outputs:        make(map[string]string, len(md.Outputs)),
		maxRecordBytes: int(init.MaxRecordBytes),
		timers:         map[timerRef]int64{},
		state:          newKeyedState(init, md),
	}
	for _, cap := range init.Capabilities {
		c.eventTime = c.eventTime || cap == CapabilityEventTime
	}
	if c.maxRecordBytes <= 0 {
		c.maxRecordBytes = RecordBytesMaxDefault
	}
	for _, s := range md.Outputs {
		c.outputs[s] = s
	}
	return c
}

func (c *batchContext) OperatorName() string { return c.operatorName }
func (c *batchContext) InstanceIndex() int   { return c.instanceIndex }
func (c *batchContext) InstanceCount() int   { return c.instanceCount }

func (c *batchContext) ProduceRecord(stream string, key, value []byte) error {
	return c.ProduceRecordAt(stream, key, value, 0)
}

func (c *batchContext) ProduceRecordAt(stream string, key, value []byte, eventTimeMs int64) error {
	name, ok := c.outputs[stream]
	if !ok {
		declared := make([]string, 0, len(c.outputs))
		for s := range c.outputs {
			declared = append(declared, s)
		}
		sort.Strings(declared)
		return c.fail(fmt.Sprintf("ProduceRecord: stream %q is not in Metadata().Outputs %q; "+
			"add it to Outputs or produce to a declared stream", stream, declared))
	}
	if n := len(key) + len(value); n > c.maxRecordBytes {
		return c.fail(fmt.Sprintf("ProduceRecord: record of %d bytes (key %d + value %d) on "+
			"stream %q exceeds the limit of %d bytes; store large payloads elsewhere and send a "+
			"reference", n, len(key), len(value), stream, c.maxRecordBytes))
	}
	slot := c.nextSlot()
	rec := &slot.rec
	// Every field is written (no Reset: the generated one also stores the message's type
	// info, which the hand encoder does not need).
	*rec = typesv1.Record{Key: c.copyBytes(key), Value: c.copyBytes(value)}
	if cur := c.current; cur != nil {
		rec.Trace = cur.Trace
		rec.IngestTimeUnixUs = cur.IngestTimeUnixUs
		if eventTimeMs == 0 {
			eventTimeMs = cur.EventTimeUnixMs
		}
	} else {
		rec.IngestTimeUnixUs = c.nowUs
		if eventTimeMs == 0 {
			eventTimeMs = c.nowMs
		}
	}
	rec.EventTimeUnixMs = eventTimeMs
	slot.pr = operatorv1.ProducedRecord{Stream: name, Record: rec}
	c.produced = append(c.produced, &slot.pr)
	return nil
}

func (c *batchContext) StateKey() []byte       { return c.stateKey }
func (c *batchContext) WatermarkUnixMs() int64 { return c.watermarkMs }

func (c *batchContext) SetTimer(key string, timeMs int64) {
	c.SetTimerIn(key, timeMs, ProcessingTime)
}

func (c *batchContext) SetTimerIn(key string, timeMs int64, domain TimeDomain) {
	var msg string
	switch {
	case domain != ProcessingTime && domain != EventTime:
		msg = fmt.Sprintf("SetTimerIn: domain %d is not a TimeDomain; use concord.ProcessingTime "+
			"or concord.EventTime", domain)
	case domain == EventTime && !c.eventTime:
		msg = fmt.Sprintf("SetTimerIn: event-time timers need an executor with the capability "+
			"%s, which this one lacks; use concord.ProcessingTime or upgrade the executor",
			CapabilityEventTime)
	default:
		ref := timerRef{key: key, domain: domain}
		if len(c.state.names) > 0 {
			// An operator without declared states keeps round-1 timers, one per key: keying
			// them by record key would turn its single "flush" timer into one per key seen.
			ref.stateKey = string(c.stateKey)
		}
		c.timers[ref] = timeMs
		return
	}
	if c.err == nil {
		c.err = &TimerError{msg: msg}
	}
}

func (c *batchContext) Log(level LogLevel, message string) {
	c.logs = append(c.logs, &operatorv1.OperatorMessage{Message: &operatorv1.OperatorMessage_Log{
		Log: &operatorv1.Log{Level: operatorv1.Log_Level(level), Message: message}}})
}

func (c *batchContext) fail(msg string) error {
	err := &ProduceError{msg: msg}
	if c.err == nil {
		c.err = err
	}
	return err
}

// copyBytes copies b into the batch's byte arena. Earlier slices stay valid when the arena
// grows (they keep the old array), and the arena is only reused after the batch was sent.
func (c *batchContext) copyBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	start := len(c.bytes)
	c.bytes = append(c.bytes, b...)
	return c.bytes[start:len(c.bytes):len(c.bytes)]
}

func (c *batchContext) nextSlot() *producedSlot {
	s, i := c.used/ProducedSlabRecords, c.used%ProducedSlabRecords
	if s == len(c.slabs) {
		c.slabs = append(c.slabs, make([]producedSlot, ProducedSlabRecords))
	}
	c.used++
	return &c.slabs[s][i] // the caller writes every field
}

// enterNow is called before Init and each timer (with its state key): produced records get
// "now" times.
func (c *batchContext) enterNow(stateKey []byte) {
	now := time.Now()
	c.current = nil
	c.stateKey = stateKey
	c.nowMs = now.UnixMilli()
	c.nowUs = now.UnixMicro()
}

// batchDone builds the answer to batch seq; valid until reset.
func (c *batchContext) batchDone(seq uint64) *operatorv1.OperatorMessage {
	done := &operatorv1.BatchDone{Seq: seq, Produced: c.produced, StateMutations: c.state.takeMutations(seq)}
	if len(c.timers) > 0 {
		refs := make([]timerRef, 0, len(c.timers))
		for r := range c.timers {
			refs = append(refs, r)
		}
		sort.Slice(refs, func(i, j int) bool {
			a, b := refs[i], refs[j]
			if a.stateKey != b.stateKey {
				return a.stateKey < b.stateKey
			}
			if a.key != b.key {
				return a.key < b.key
			}
			return a.domain < b.domain
		})
		for _, r := range refs {
			done.TimersSet = append(done.TimersSet, &operatorv1.TimerSet{Key: r.key,
				TimeUnixMs: c.timers[r], StateKey: []byte(r.stateKey),
				Domain: operatorv1.TimeDomain(r.domain)})
		}
	}
	return &operatorv1.OperatorMessage{Message: &operatorv1.OperatorMessage_BatchDone{BatchDone: done}}
}

// reset makes the context ready for the next batch once the previous answer was sent.
func (c *batchContext) reset() {
	c.current = nil
	c.stateKey = nil
	c.used = 0
	c.bytes = c.bytes[:0]
	for i := range c.produced {
		c.produced[i] = nil
	}
	c.produced = c.produced[:0]
	if len(c.timers) > 0 {
		c.timers = map[timerRef]int64{}
	}
	c.logs = c.logs[:0]
	c.err = nil
}
