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

// batchContext is the Context of one session; reset after every answered batch.
type batchContext struct {
	operatorName   string
	instanceIndex  int
	instanceCount  int
	outputs        map[string]string // stream -> the same string, interned
	maxRecordBytes int

	current *typesv1.Record // record being processed; nil in Init and timers
	nowMs   int64
	nowUs   int64

	slabs    [][]producedSlot
	used     int
	bytes    []byte // copies of produced keys and values, reused batch after batch
	produced []*operatorv1.ProducedRecord
	timers   map[string]int64
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
		timers:         map[string]int64{},
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
	rec.Key = c.copyBytes(key)
	rec.Value = c.copyBytes(value)
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
	slot.pr.Stream = name
	slot.pr.Record = rec
	c.produced = append(c.produced, &slot.pr)
	return nil
}

func (c *batchContext) SetTimer(key string, timeMs int64) { c.timers[key] = timeMs }

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
	slot := &c.slabs[s][i]
	slot.pr.Reset()
	slot.rec.Reset()
	return slot
}

// enterNow is called before Init and each timer: produced records get "now" times.
func (c *batchContext) enterNow() {
	now := time.Now()
	c.current = nil
	c.nowMs = now.UnixMilli()
	c.nowUs = now.UnixMicro()
}

// batchDone builds the answer to batch seq; valid until reset.
func (c *batchContext) batchDone(seq uint64) *operatorv1.OperatorMessage {
	done := &operatorv1.BatchDone{Seq: seq, Produced: c.produced}
	if len(c.timers) > 0 {
		keys := make([]string, 0, len(c.timers))
		for k := range c.timers {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			done.TimersSet = append(done.TimersSet, &operatorv1.TimerSet{Key: k, TimeUnixMs: c.timers[k]})
		}
	}
	return &operatorv1.OperatorMessage{Message: &operatorv1.OperatorMessage_BatchDone{BatchDone: done}}
}

// reset makes the context ready for the next batch once the previous answer was sent.
func (c *batchContext) reset() {
	c.current = nil
	c.used = 0
	c.bytes = c.bytes[:0]
	for i := range c.produced {
		c.produced[i] = nil
	}
	c.produced = c.produced[:0]
	if len(c.timers) > 0 {
		c.timers = map[string]int64{}
	}
	c.logs = c.logs[:0]
	c.err = nil
}
