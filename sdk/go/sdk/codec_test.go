package concord

import (
	"bytes"
	"fmt"
	"testing"

	operatorv1 "concord/gen/concord/operator/v1"
	typesv1 "concord/gen/concord/types/v1"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// fullBatch is a ProcessBatch with every field set, negative times included.
func fullBatch() *operatorv1.ExecutorMessage {
	return &operatorv1.ExecutorMessage{Message: &operatorv1.ExecutorMessage_ProcessBatch{ProcessBatch: &operatorv1.ProcessBatch{
		Seq: 300,
		Records: []*typesv1.Record{
			{Key: []byte("word"), Value: []byte("v"), EventTimeUnixMs: 1_700_000_000_123,
				Trace:            &typesv1.TraceContext{TraceId: bytes.Repeat([]byte{7}, 16), ParentSpanId: []byte{1, 2, 3, 4, 5, 6, 7, 8}},
				IngestTimeUnixUs: 1_700_000_000_123_456},
			{Key: []byte("k2")},
			{Value: []byte("only value"), EventTimeUnixMs: -5, IngestTimeUnixUs: -1},
			{Trace: &typesv1.TraceContext{}},                     // a trace without ids
			{Trace: &typesv1.TraceContext{TraceId: []byte("t")}}, // only the trace id
			{},
		},
		TimersFired: []*operatorv1.TimerFired{
			{Key: "flush", TimeUnixMs: 1_700_000_001_000, StateKey: []byte("word"), Domain: operatorv1.TimeDomain_TIME_DOMAIN_EVENT},
			{Key: "ü", TimeUnixMs: -3},
			{},
		},
		States: []*operatorv1.KeyState{
			{Key: []byte("word"), Values: []*operatorv1.StateValue{{Name: "count", Value: []byte("41")}, {Name: "seen"}}},
			{Key: []byte("none")},
		},
		StateAsOfSeq:    299,
		WatermarkUnixMs: -7,
	}}}
}

func TestCodec_decodes_a_ProcessBatch_with_every_field_as_the_generated_code_does(t *testing.T) {
	for name, msg := range map[string]*operatorv1.ExecutorMessage{
		"every field": fullBatch(),
		"empty batch": {Message: &operatorv1.ExecutorMessage_ProcessBatch{ProcessBatch: &operatorv1.ProcessBatch{}}},
		"seq only":    {Message: &operatorv1.ExecutorMessage_ProcessBatch{ProcessBatch: &operatorv1.ProcessBatch{Seq: 1 << 40}}},
	} {
		t.Run(name, func(t *testing.T) {
			data, err := proto.Marshal(msg)
			if err != nil {
				t.Fatal(err)
			}
			b, ok := decodeExecutorProcessBatch(data, &executorFrame{})
			if !ok {
				t.Fatal("the hand decoder refused a ProcessBatch the generated code wrote")
			}
			if want := msg.GetProcessBatch(); !proto.Equal(b, want) {
				t.Fatalf("decoded\n%v\nwant\n%v", b, want)
			}
			var got operatorv1.ExecutorMessage
			if err := (sessionCodec{}).Unmarshal(data, &got); err != nil || !proto.Equal(&got, msg) {
				t.Fatalf("codec decoded %v (%v), want %v", &got, err, msg)
			}
		})
	}
}

func TestCodec_merges_a_ProcessBatch_sent_in_two_parts_as_the_generated_code_does(t *testing.T) {
	// bench_counter.py appends the seq as a second ExecutorMessage{process_batch{seq}}.
	first, _ := proto.Marshal(fullBatch())
	second, _ := proto.Marshal(&operatorv1.ExecutorMessage{Message: &operatorv1.ExecutorMessage_ProcessBatch{
		ProcessBatch: &operatorv1.ProcessBatch{Seq: 9, Records: []*typesv1.Record{{Key: []byte("last")}}}}})
	data := append(append([]byte(nil), first...), second...)
	var want operatorv1.ExecutorMessage
	if err := proto.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	b, ok := decodeExecutorProcessBatch(data, &executorFrame{})
	if !ok || !proto.Equal(b, want.GetProcessBatch()) {
		t.Fatalf("decoded (%v) %v, want %v", ok, b, want.GetProcessBatch())
	}
	if b.Seq != 9 || len(b.Records) != 7 {
		t.Fatalf("the merge kept seq %d and %d records, want 9 and 7", b.Seq, len(b.Records))
	}
}

func TestCodec_keeps_the_receive_buffer_only_from_a_grpc_that_never_reuses_it(t *testing.T) {
	for version, below := range map[string]bool{"1.33.3": true, "1.65.0": true, "1.66.0": false,
		"1.70.1-dev": false, "2.0.0": false, "dev": false} {
		if got := grpcBelowMinor(version, grpcPoolsReceiveBuffersMinor); got != below {
			t.Errorf("grpc %s: keeps the buffer %v, want %v", version, got, below)
		}
	}
	if !receiveBufferOwned {
		t.Fatalf("the vendored grpc is expected to be below 1.%d", grpcPoolsReceiveBuffersMinor)
	}
	defer func(was bool) { receiveBufferOwned = was }(receiveBufferOwned)
	receiveBufferOwned = false
	data, _ := proto.Marshal(fullBatch())
	b, _ := decodeExecutorProcessBatch(data, &executorFrame{})
	for i := range data {
		data[i] = 0 // a grpc that pools buffers reuses it once Unmarshal returns
	}
	if string(b.Records[0].Key) != "word" || string(b.States[0].Values[0].Value) != "41" ||
		len(b.Records[0].Trace.TraceId) != 16 {
		t.Fatalf("decoded batch changed with the receive buffer: %v", b)
	}
}

func TestCodec_decoded_slices_do_not_spill_into_each_other(t *testing.T) {
	data, _ := proto.Marshal(fullBatch())
	b, _ := decodeExecutorProcessBatch(data, &executorFrame{})
	key := append(b.Records[0].Key, 'X') // a callback appending to a key must get a copy
	if string(key) != "wordX" || string(b.Records[0].Value) != "v" {
		t.Fatalf("append to a key overwrote the value: key %q value %q", key, b.Records[0].Value)
	}
}

func TestCodec_a_released_slab_decodes_the_next_batch_afresh(t *testing.T) {
	first, _ := proto.Marshal(fullBatch())
	small := &operatorv1.ExecutorMessage{Message: &operatorv1.ExecutorMessage_ProcessBatch{ProcessBatch: &operatorv1.ProcessBatch{
		Seq: 301, Records: []*typesv1.Record{{Key: []byte("a")}, {Value: []byte("b"), Trace: &typesv1.TraceContext{ParentSpanId: []byte("p")}}}}}}
	second, _ := proto.Marshal(small)
	for round := 0; round < 3; round++ {
		for _, want := range []*operatorv1.ExecutorMessage{fullBatch(), small} {
			data := first
			if want == small {
				data = second
			}
			f := &executorFrame{}
			if err := (sessionCodec{}).Unmarshal(data, f); err != nil || f.slab == nil || !proto.Equal(&f.msg, want) {
				t.Fatalf("round %d: decoded %v (%v, slab %v), want %v", round, &f.msg, err, f.slab != nil, want)
			}
			f.release()
		}
	}
}

func TestCodec_leaves_other_messages_and_unknown_fields_to_the_generated_code(t *testing.T) {
	withUnknown := fullBatch()
	withUnknown.GetProcessBatch().Records[1].ProtoReflect().SetUnknown(
		protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 5))
	badUTF8 := fullBatch()
	badUTF8.GetProcessBatch().TimersFired[0].Key = "\xff"
	for name, msg := range map[string]*operatorv1.ExecutorMessage{
		"Init": {Message: &operatorv1.ExecutorMessage_Init{Init: &operatorv1.Init{ProtocolVersion: 3,
			Capabilities: []string{"a", "b"}, OperatorName: "counter", MaxRecordBytes: 1024}}},
		"Shutdown":              {Message: &operatorv1.ExecutorMessage_Shutdown{Shutdown: &operatorv1.Shutdown{Reason: "bye"}}},
		"an unknown field":      withUnknown,
		"a non-UTF-8 timer key": badUTF8,
	} {
		t.Run(name, func(t *testing.T) {
			data, err := proto.MarshalOptions{AllowPartial: true}.Marshal(msg)
			if err != nil {
				data = mustMarshalWithoutUTF8Check(t, msg)
			}
			if _, ok := decodeExecutorProcessBatch(data, &executorFrame{}); ok {
				t.Fatal("the hand decoder accepted a message it must leave to the generated code")
			}
			var got, want operatorv1.ExecutorMessage
			gotErr := (sessionCodec{}).Unmarshal(data, &got)
			wantErr := proto.Unmarshal(data, &want)
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !proto.Equal(&got, &want) {
				t.Fatalf("codec: %v (%v), generated code: %v (%v)", &got, gotErr, &want, wantErr)
			}
		})
	}
}

// mustMarshalWithoutUTF8Check writes what a peer that does not check UTF-8 would send.
func mustMarshalWithoutUTF8Check(t *testing.T, msg *operatorv1.ExecutorMessage) []byte {
	t.Helper()
	b := msg.GetProcessBatch()
	tf := b.TimersFired[0]
	b.TimersFired[0] = &operatorv1.TimerFired{Key: "x", TimeUnixMs: tf.TimeUnixMs}
	data, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Replace(data, []byte{0x0a, 0x01, 'x'}, []byte{0x0a, 0x01, 0xff}, 1)
}

// fullDone is an OperatorMessage{BatchDone} with every field set.
func fullDone() *operatorv1.OperatorMessage {
	trace := &typesv1.TraceContext{TraceId: bytes.Repeat([]byte{9}, 16), ParentSpanId: []byte{8, 7}}
	return &operatorv1.OperatorMessage{Message: &operatorv1.OperatorMessage_BatchDone{BatchDone: &operatorv1.BatchDone{
		Seq: 1 << 35,
		Produced: []*operatorv1.ProducedRecord{
			{Stream: "counts", Record: &typesv1.Record{Key: []byte("word"), Value: []byte("12"),
				EventTimeUnixMs: 1_700_000_000_123, Trace: trace, IngestTimeUnixUs: 1_700_000_000_123_456}},
			{Stream: "counts", Record: &typesv1.Record{Key: []byte("k"), EventTimeUnixMs: -1, IngestTimeUnixUs: -2}},
			{Stream: "other", Record: &typesv1.Record{Trace: &typesv1.TraceContext{}}},
			{Stream: "other", Record: &typesv1.Record{}},
			{Stream: "x"},
		},
		TimersSet: []*operatorv1.TimerSet{
			{Key: "flush", TimeUnixMs: 1_700_000_001_000, StateKey: []byte("word"), Domain: operatorv1.TimeDomain_TIME_DOMAIN_EVENT},
			{Key: "ü", TimeUnixMs: -3, Domain: operatorv1.TimeDomain_TIME_DOMAIN_PROCESSING},
			{},
		},
		StateMutations: []*operatorv1.StateMutation{
			{Key: []byte("word"), Name: "count", Value: []byte("12")},
			{Key: []byte("word"), Name: "seen", Clear: true},
			{},
		},
	}}}
}

func TestCodec_encodes_BatchDone_with_every_field_byte_for_byte_as_the_generated_code(t *testing.T) {
	for name, msg := range map[string]*operatorv1.OperatorMessage{
		"every field": fullDone(),
		"empty":       {Message: &operatorv1.OperatorMessage_BatchDone{BatchDone: &operatorv1.BatchDone{}}},
		"seq only":    {Message: &operatorv1.OperatorMessage_BatchDone{BatchDone: &operatorv1.BatchDone{Seq: 5}}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := (sessionCodec{}).Marshal(msg)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
			if !bytes.Equal(got, want) {
				t.Fatalf("hand encoding\n%x\ngenerated\n%x", got, want)
			}
			if cap(got) != len(got) {
				t.Fatalf("the buffer was sized %d for %d bytes", cap(got), len(got))
			}
			var back operatorv1.OperatorMessage
			if err := proto.Unmarshal(got, &back); err != nil || !proto.Equal(&back, msg) {
				t.Fatalf("round trip: %v (%v), want %v", &back, err, msg)
			}
		})
	}
}

func TestCodec_leaves_other_answers_and_a_non_UTF8_timer_key_to_the_generated_code(t *testing.T) {
	md := &operatorv1.OperatorMessage{Message: &operatorv1.OperatorMessage_Metadata{Metadata: &operatorv1.Metadata{
		Metadata: &typesv1.OperatorMetadata{Name: "counter", Outputs: []string{"counts"}}, ProtocolVersion: 3, Sdk: "go"}}}
	got, err := (sessionCodec{}).Marshal(md)
	want, _ := proto.Marshal(md)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Metadata: %x (%v), want %x", got, err, want)
	}
	bad := fullDone()
	bad.GetBatchDone().TimersSet[0].Key = "\xff"
	if _, err := (sessionCodec{}).Marshal(bad); err == nil {
		t.Fatal("a timer key that is not UTF-8 was encoded; the generated code refuses it")
	}
}

// BenchmarkCodec_batch_of_1000 decodes a ProcessBatch of 1,000 word records and encodes the
// counter's BatchDone for it, by hand and with the generated code (allocations per batch).
func BenchmarkCodec_batch_of_1000(b *testing.B) {
	batch := &operatorv1.ProcessBatch{Seq: 7}
	done := &operatorv1.BatchDone{Seq: 7}
	for i := 0; i < 1000; i++ {
		r := &typesv1.Record{Key: []byte(fmt.Sprintf("word%d", i%300)), EventTimeUnixMs: 1_700_000_000_000 + int64(i),
			IngestTimeUnixUs: 1_700_000_000_000_000 + int64(i)}
		batch.Records = append(batch.Records, r)
		done.Produced = append(done.Produced, &operatorv1.ProducedRecord{Stream: "counts", Record: &typesv1.Record{
			Key: r.Key, Value: []byte("123"), EventTimeUnixMs: r.EventTimeUnixMs, IngestTimeUnixUs: r.IngestTimeUnixUs}})
	}
	in, _ := proto.Marshal(&operatorv1.ExecutorMessage{Message: &operatorv1.ExecutorMessage_ProcessBatch{ProcessBatch: batch}})
	out := &operatorv1.OperatorMessage{Message: &operatorv1.OperatorMessage_BatchDone{BatchDone: done}}
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			var f executorFrame
			_ = sessionCodec{}.Unmarshal(in, &f)
			_, _ = sessionCodec{}.Marshal(out)
			f.release()
		}
	})
	b.Run("generated", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			var m operatorv1.ExecutorMessage
			_ = proto.Unmarshal(in, &m)
			_, _ = proto.Marshal(out)
		}
	})
}
