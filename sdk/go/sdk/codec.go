package concord

import (
	"fmt"
	"sync"
	"unicode/utf8"

	operatorv1 "concord/gen/concord/operator/v1"
	typesv1 "concord/gen/concord/types/v1"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// sessionCodec is the gRPC codec of the operator's server (it serves only the Operator
// service). The two messages of the data path are coded by hand, the rest by the generated
// code:
//
//   - ExecutorMessage{process_batch}: decoded into a slab of Records reused once the batch is
//     answered (the generated code allocates every Record, key and value apart: a few
//     allocations per record, and garbage to collect). Keys, values, trace ids and state
//     values are slices of the received message (receiveBufferOwned; else of one copy of
//     it), which is never reused (State.Get's values stay valid after the callback).
//   - OperatorMessage{batch_done}: encoded straight into one buffer of the exact size.
//
// Anything the hand decoder does not know (another message, a field number or wire type it
// does not expect, a string that is not UTF-8) goes to the generated code, so unknown fields
// and errors behave as before. codec_test.go checks both shapes against the generated code.
type sessionCodec struct{}

func (sessionCodec) String() string { return "concord-operator" }
func (sessionCodec) Name() string   { return "proto" }

func (sessionCodec) Marshal(v interface{}) ([]byte, error) {
	if m, ok := v.(*operatorv1.OperatorMessage); ok {
		if done := m.GetBatchDone(); done != nil && timerKeysValid(done) {
			return appendOperatorBatchDone(nil, done), nil
		}
	}
	pm, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("concord: cannot encode %T: not a protobuf message", v)
	}
	return proto.Marshal(pm)
}

func (sessionCodec) Unmarshal(data []byte, v interface{}) error {
	switch m := v.(type) {
	case *executorFrame:
		if b, ok := decodeExecutorProcessBatch(data, m); ok {
			m.msg.Message = &operatorv1.ExecutorMessage_ProcessBatch{ProcessBatch: b}
			return nil
		}
		return proto.Unmarshal(data, &m.msg)
	case *operatorv1.ExecutorMessage:
		var f executorFrame
		if b, ok := decodeExecutorProcessBatch(data, &f); ok {
			m.Reset()
			m.Message = &operatorv1.ExecutorMessage_ProcessBatch{ProcessBatch: b}
			return nil
		}
	}
	pm, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("concord: cannot decode into %T: not a protobuf message", v)
	}
	return proto.Unmarshal(data, pm)
}

// grpcPoolsReceiveBuffersMinor is the first grpc-go 1.x release that reuses the buffer of a
// received message once the codec's Unmarshal returns (1.66, its mem package); earlier ones
// make a buffer per message (rpc_util.go, parser.recvMsg) and never touch it again.
const grpcPoolsReceiveBuffersMinor = 66

// receiveBufferOwned says whether Unmarshal may keep slices of its data: true with the grpc-go
// this module builds against (Debian's 1.33).
var receiveBufferOwned = grpcBelowMinor(grpc.Version, grpcPoolsReceiveBuffersMinor)

// grpcBelowMinor says whether version ("1.33.3") is a 1.x release below 1.minor; false for
// anything it cannot read.
func grpcBelowMinor(version string, minor int) bool {
	var major, m int
	if n, _ := fmt.Sscanf(version, "%d.%d", &major, &m); n != 2 {
		return false
	}
	return major == 1 && m < minor
}

// executorFrame is what the session's reader receives: the message, and the slab its
// ProcessBatch's Records were decoded into, reused once the batch is answered (release).
type executorFrame struct {
	msg  operatorv1.ExecutorMessage
	slab *recordSlab
}

// recordSlab holds the Records (and their trace contexts) of one decoded batch.
type recordSlab struct {
	recs   []typesv1.Record
	ptrs   []*typesv1.Record
	traces []typesv1.TraceContext
}

// recordSlabs keeps the slabs of answered batches: the reader decodes up to InboundBatchesMax
// batches ahead, so a few are in use at a time (the pool drops the rest at a collection).
var recordSlabs = sync.Pool{New: func() interface{} { return new(recordSlab) }}

// release returns the frame's slab once its batch was answered: the callbacks are done with
// its Records and BatchDone, which points at their trace contexts, was encoded.
func (f *executorFrame) release() {
	if f.slab != nil {
		recordSlabs.Put(f.slab)
		f.slab = nil
	}
}

// take makes the slab ready for n records.
func (s *recordSlab) take(n int) {
	if cap(s.recs) < n {
		s.recs = make([]typesv1.Record, n)
		s.ptrs = make([]*typesv1.Record, n)
	}
	s.recs = s.recs[:n]
	s.ptrs = s.ptrs[:0]
	for i := range s.recs {
		s.recs[i] = typesv1.Record{}
	}
	for i := range s.traces {
		s.traces[i] = typesv1.TraceContext{}
	}
	s.traces = s.traces[:0]
}

// Field numbers of operator.proto and types.proto used by the hand codec.
const (
	fExecutorProcessBatch = 2

	fBatchSeq          = 1
	fBatchRecords      = 2
	fBatchTimersFired  = 3
	fBatchStates       = 4
	fBatchStateAsOfSeq = 5
	fBatchWatermark    = 6

	fRecordKey       = 1
	fRecordValue     = 2
	fRecordEventTime = 3
	fRecordTrace     = 4
	fRecordIngest    = 5

	fTraceID     = 1
	fTraceParent = 2

	fTimerKey      = 1
	fTimerTime     = 2
	fTimerStateKey = 3
	fTimerDomain   = 4

	fKeyStateKey    = 1
	fKeyStateValues = 2
	fStateValueName = 1
	fStateValueData = 2

	fOperatorBatchDone = 2

	fDoneSeq       = 1
	fDoneProduced  = 2
	fDoneTimersSet = 3
	fDoneMutations = 4

	fProducedStream = 1
	fProducedRecord = 2

	fMutationKey   = 1
	fMutationName  = 2
	fMutationValue = 3
	fMutationClear = 4
)

// ---- decoding ProcessBatch ----

// field is one decoded field: its number and type, and its value (v for varints, b for
// length-delimited).
type field struct {
	num protowire.Number
	typ protowire.Type
	v   uint64
	b   []byte
}

// next reads the field at the start of data and returns the rest; ok is false on malformed
// input or a wire type other than varint and length-delimited (none in these messages).
func next(data []byte) (f field, rest []byte, ok bool) {
	num, typ, n := protowire.ConsumeTag(data)
	if n < 0 {
		return f, nil, false
	}
	data = data[n:]
	f.num, f.typ = num, typ
	switch typ {
	case protowire.VarintType:
		f.v, n = protowire.ConsumeVarint(data)
	case protowire.BytesType:
		f.b, n = protowire.ConsumeBytes(data)
	default:
		return f, nil, false
	}
	if n < 0 {
		return f, nil, false
	}
	return f, data[n:], true
}

// decodeExecutorProcessBatch decodes an ExecutorMessage holding a ProcessBatch into a slab it
// gives to f; ok is false for any other message or anything unexpected (the caller then uses
// the generated code).
func decodeExecutorProcessBatch(data []byte, f *executorFrame) (*operatorv1.ProcessBatch, bool) {
	// A message field that occurs more than once is merged, which for its bytes is their
	// concatenation (drivers append a seq this way). Another field of the oneof: not ours.
	var batch []byte
	for parts := 0; len(data) > 0; parts++ {
		fl, rest, ok := next(data)
		if !ok || fl.num != fExecutorProcessBatch || fl.typ != protowire.BytesType {
			return nil, false
		}
		if parts == 0 {
			batch = fl.b
		} else {
			if parts == 1 {
				batch = append([]byte(nil), batch...)
			}
			batch = append(batch, fl.b...)
		}
		data = rest
	}
	if batch == nil {
		return nil, false
	}
	data = batch
	records := 0
	for rest := data; len(rest) > 0; {
		fl, r, ok := next(rest)
		if !ok {
			return nil, false
		}
		if fl.num == fBatchRecords {
			records++
		}
		rest = r
	}
	// Keys, values and state values are slices of the batch and must outlive the call
	// (State.Get's values outlive the batch): the receive buffer is kept when grpc made it for
	// this message alone, else the batch is copied once.
	if !receiveBufferOwned {
		data = append([]byte(nil), data...)
	}
	slab := recordSlabs.Get().(*recordSlab)
	slab.take(records)
	b, ok := decodeProcessBatch(data, slab)
	if !ok {
		recordSlabs.Put(slab)
		return nil, false
	}
	f.slab = slab
	return b, true
}

func decodeProcessBatch(data []byte, slab *recordSlab) (*operatorv1.ProcessBatch, bool) {
	b := &operatorv1.ProcessBatch{}
	for rest := data; len(rest) > 0; {
		f, r, _ := next(rest) // checked by the caller
		rest = r
		switch {
		case f.num == fBatchSeq && f.typ == protowire.VarintType:
			b.Seq = f.v
		case f.num == fBatchRecords && f.typ == protowire.BytesType:
			rec := &slab.recs[len(slab.ptrs)]
			if !decodeRecord(f.b, rec, slab) {
				return nil, false
			}
			slab.ptrs = append(slab.ptrs, rec)
		case f.num == fBatchTimersFired && f.typ == protowire.BytesType:
			t, ok := decodeTimerFired(f.b)
			if !ok {
				return nil, false
			}
			b.TimersFired = append(b.TimersFired, t)
		case f.num == fBatchStates && f.typ == protowire.BytesType:
			ks, ok := decodeKeyState(f.b)
			if !ok {
				return nil, false
			}
			b.States = append(b.States, ks)
		case f.num == fBatchStateAsOfSeq && f.typ == protowire.VarintType:
			b.StateAsOfSeq = f.v
		case f.num == fBatchWatermark && f.typ == protowire.VarintType:
			b.WatermarkUnixMs = int64(f.v)
		default:
			return nil, false
		}
	}
	if len(slab.ptrs) > 0 {
		b.Records = slab.ptrs
	}
	return b, true
}

// decodeRecord fills rec; its trace context comes from the slab.
func decodeRecord(data []byte, rec *typesv1.Record, slab *recordSlab) bool {
	for len(data) > 0 {
		f, rest, ok := next(data)
		if !ok {
			return false
		}
		data = rest
		switch {
		case f.num == fRecordKey && f.typ == protowire.BytesType:
			rec.Key = nonEmpty(f.b)
		case f.num == fRecordValue && f.typ == protowire.BytesType:
			rec.Value = nonEmpty(f.b)
		case f.num == fRecordEventTime && f.typ == protowire.VarintType:
			rec.EventTimeUnixMs = int64(f.v)
		case f.num == fRecordTrace && f.typ == protowire.BytesType && rec.Trace == nil:
			if cap(slab.traces) < len(slab.recs) {
				// Made once for the whole batch (one trace per record at most), before the
				// first record points into it.
				slab.traces = make([]typesv1.TraceContext, 0, len(slab.recs))
			}
			slab.traces = slab.traces[:len(slab.traces)+1]
			tc := &slab.traces[len(slab.traces)-1]
			if !decodeTrace(f.b, tc) {
				return false
			}
			rec.Trace = tc
		case f.num == fRecordIngest && f.typ == protowire.VarintType:
			rec.IngestTimeUnixUs = int64(f.v)
		default:
			return false
		}
	}
	return true
}

func decodeTrace(data []byte, tc *typesv1.TraceContext) bool {
	for len(data) > 0 {
		f, rest, ok := next(data)
		if !ok || f.typ != protowire.BytesType {
			return false
		}
		data = rest
		switch f.num {
		case fTraceID:
			tc.TraceId = nonEmpty(f.b)
		case fTraceParent:
			tc.ParentSpanId = nonEmpty(f.b)
		default:
			return false
		}
	}
	return true
}

func decodeTimerFired(data []byte) (*operatorv1.TimerFired, bool) {
	t := &operatorv1.TimerFired{}
	for len(data) > 0 {
		f, rest, ok := next(data)
		if !ok {
			return nil, false
		}
		data = rest
		switch {
		case f.num == fTimerKey && f.typ == protowire.BytesType && utf8.Valid(f.b):
			t.Key = string(f.b)
		case f.num == fTimerTime && f.typ == protowire.VarintType:
			t.TimeUnixMs = int64(f.v)
		case f.num == fTimerStateKey && f.typ == protowire.BytesType:
			t.StateKey = nonEmpty(f.b)
		case f.num == fTimerDomain && f.typ == protowire.VarintType:
			t.Domain = operatorv1.TimeDomain(int32(f.v))
		default:
			return nil, false
		}
	}
	return t, true
}

func decodeKeyState(data []byte) (*operatorv1.KeyState, bool) {
	ks := &operatorv1.KeyState{}
	for len(data) > 0 {
		f, rest, ok := next(data)
		if !ok || f.typ != protowire.BytesType {
			return nil, false
		}
		data = rest
		switch f.num {
		case fKeyStateKey:
			ks.Key = nonEmpty(f.b)
		case fKeyStateValues:
			v := &operatorv1.StateValue{}
			for d := f.b; len(d) > 0; {
				g, r, ok := next(d)
				if !ok || g.typ != protowire.BytesType {
					return nil, false
				}
				d = r
				switch {
				case g.num == fStateValueName && utf8.Valid(g.b):
					v.Name = string(g.b)
				case g.num == fStateValueData:
					v.Value = nonEmpty(g.b)
				default:
					return nil, false
				}
			}
			ks.Values = append(ks.Values, v)
		default:
			return nil, false
		}
	}
	return ks, true
}

// nonEmpty is b, or nil when empty (as the generated code decodes an empty bytes field). The
// capacity is cut so an append by the callback cannot overwrite the next field.
func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b[:len(b):len(b)]
}

// ---- encoding BatchDone ----

// timerKeysValid says whether every timer key is UTF-8, as a proto3 string must be; when one
// is not, the generated code encodes the message and returns its error.
func timerKeysValid(d *operatorv1.BatchDone) bool {
	for _, t := range d.TimersSet {
		if !utf8.ValidString(t.Key) {
			return false
		}
	}
	return true
}

func appendOperatorBatchDone(buf []byte, d *operatorv1.BatchDone) []byte {
	inner := sizeBatchDone(d)
	if buf == nil {
		buf = make([]byte, 0, 1+protowire.SizeVarint(uint64(inner))+inner)
	}
	buf = protowire.AppendTag(buf, fOperatorBatchDone, protowire.BytesType)
	buf = protowire.AppendVarint(buf, uint64(inner))
	return appendBatchDone(buf, d)
}

// sizeLen is the size of a length-delimited field of n bytes with a one-byte tag.
func sizeLen(n int) int { return 1 + protowire.SizeVarint(uint64(n)) + n }

// sizeVarintField is the size of a varint field with a one-byte tag, 0 when v is 0 (proto3
// does not send zero values).
func sizeVarintField(v uint64) int {
	if v == 0 {
		return 0
	}
	return 1 + protowire.SizeVarint(v)
}

func sizeBytesField(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	return sizeLen(len(b))
}

func appendBytesField(buf []byte, num protowire.Number, b []byte) []byte {
	if len(b) == 0 {
		return buf
	}
	buf = protowire.AppendTag(buf, num, protowire.BytesType)
	return protowire.AppendBytes(buf, b)
}

func appendStringField(buf []byte, num protowire.Number, s string) []byte {
	if len(s) == 0 {
		return buf
	}
	buf = protowire.AppendTag(buf, num, protowire.BytesType)
	return protowire.AppendString(buf, s)
}

func appendVarintField(buf []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return buf
	}
	buf = protowire.AppendTag(buf, num, protowire.VarintType)
	return protowire.AppendVarint(buf, v)
}

func sizeTrace(t *typesv1.TraceContext) int {
	return sizeBytesField(t.TraceId) + sizeBytesField(t.ParentSpanId)
}

func sizeRecord(r *typesv1.Record) int {
	n := sizeBytesField(r.Key) + sizeBytesField(r.Value) + sizeVarintField(uint64(r.EventTimeUnixMs)) +
		sizeVarintField(uint64(r.IngestTimeUnixUs))
	if r.Trace != nil {
		n += sizeLen(sizeTrace(r.Trace))
	}
	return n
}

func sizeProduced(p *operatorv1.ProducedRecord) int {
	n := 0
	if len(p.Stream) > 0 {
		n += sizeLen(len(p.Stream))
	}
	if p.Record != nil {
		n += sizeLen(sizeRecord(p.Record))
	}
	return n
}

func sizeTimerSet(t *operatorv1.TimerSet) int {
	n := sizeVarintField(uint64(t.TimeUnixMs)) + sizeBytesField(t.StateKey) +
		sizeVarintField(uint64(int64(t.Domain)))
	if len(t.Key) > 0 {
		n += sizeLen(len(t.Key))
	}
	return n
}

func sizeMutation(m *operatorv1.StateMutation) int {
	n := sizeBytesField(m.Key) + sizeBytesField(m.Value)
	if len(m.Name) > 0 {
		n += sizeLen(len(m.Name))
	}
	if m.Clear {
		n += 2
	}
	return n
}

func sizeBatchDone(d *operatorv1.BatchDone) int {
	n := sizeVarintField(d.Seq)
	for _, p := range d.Produced {
		n += sizeLen(sizeProduced(p))
	}
	for _, t := range d.TimersSet {
		n += sizeLen(sizeTimerSet(t))
	}
	for _, m := range d.StateMutations {
		n += sizeLen(sizeMutation(m))
	}
	return n
}

func appendBatchDone(buf []byte, d *operatorv1.BatchDone) []byte {
	buf = appendVarintField(buf, fDoneSeq, d.Seq)
	for _, p := range d.Produced {
		buf = protowire.AppendTag(buf, fDoneProduced, protowire.BytesType)
		buf = protowire.AppendVarint(buf, uint64(sizeProduced(p)))
		buf = appendStringField(buf, fProducedStream, p.Stream)
		if r := p.Record; r != nil {
			buf = protowire.AppendTag(buf, fProducedRecord, protowire.BytesType)
			buf = protowire.AppendVarint(buf, uint64(sizeRecord(r)))
			buf = appendBytesField(buf, fRecordKey, r.Key)
			buf = appendBytesField(buf, fRecordValue, r.Value)
			buf = appendVarintField(buf, fRecordEventTime, uint64(r.EventTimeUnixMs))
			if t := r.Trace; t != nil {
				buf = protowire.AppendTag(buf, fRecordTrace, protowire.BytesType)
				buf = protowire.AppendVarint(buf, uint64(sizeTrace(t)))
				buf = appendBytesField(buf, fTraceID, t.TraceId)
				buf = appendBytesField(buf, fTraceParent, t.ParentSpanId)
			}
			buf = appendVarintField(buf, fRecordIngest, uint64(r.IngestTimeUnixUs))
		}
	}
	for _, t := range d.TimersSet {
		buf = protowire.AppendTag(buf, fDoneTimersSet, protowire.BytesType)
		buf = protowire.AppendVarint(buf, uint64(sizeTimerSet(t)))
		buf = appendStringField(buf, fTimerKey, t.Key)
		buf = appendVarintField(buf, fTimerTime, uint64(t.TimeUnixMs))
		buf = appendBytesField(buf, fTimerStateKey, t.StateKey)
		buf = appendVarintField(buf, fTimerDomain, uint64(int64(t.Domain)))
	}
	for _, m := range d.StateMutations {
		buf = protowire.AppendTag(buf, fDoneMutations, protowire.BytesType)
		buf = protowire.AppendVarint(buf, uint64(sizeMutation(m)))
		buf = appendBytesField(buf, fMutationKey, m.Key)
		buf = appendStringField(buf, fMutationName, m.Name)
		buf = appendBytesField(buf, fMutationValue, m.Value)
		if m.Clear {
			buf = protowire.AppendTag(buf, fMutationClear, protowire.VarintType)
			buf = append(buf, 1)
		}
	}
	return buf
}
