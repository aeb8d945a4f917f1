package concord_test

import (
	"errors"
	"strings"
	"testing"

	operatorv1 "concord/gen/concord/operator/v1"
	typesv1 "concord/gen/concord/types/v1"
	concord "concord/sdk"
	"concord/sdk/sdktest"
)

type misbehaving struct {
	concord.Base
	mode      string
	destroyed bool
	fired     []string
}

func (m *misbehaving) Metadata() concord.Metadata {
	return concord.Metadata{Name: "counter",
		Inputs:  []concord.InputStream{{Name: "words", Grouping: concord.GroupBy}},
		Outputs: []string{"counts"}}
}

func (m *misbehaving) Init(ctx concord.Context) error {
	ctx.SetTimer("t", 5000)
	ctx.SetTimer("t", 6000)
	return ctx.ProduceRecord("counts", []byte("init"), []byte("1"))
}

func (m *misbehaving) ProcessRecord(ctx concord.Context, r *concord.Record) error {
	if string(r.Key) == "boom" {
		switch m.mode {
		case "error":
			return errors.New("boom is not a word")
		case "panic":
			panic("boom")
		case "undeclared-dropped":
			_ = ctx.ProduceRecord("nowhere", r.Key, nil) // the error is dropped on purpose
		case "too-large":
			return ctx.ProduceRecord("counts", r.Key, make([]byte, 2048))
		}
	}
	return ctx.ProduceRecordAt("counts", r.Key, []byte("v"), 0)
}

func (m *misbehaving) ProcessTimer(ctx concord.Context, key string, timeMs int64) error {
	m.fired = append(m.fired, key)
	return ctx.ProduceRecord("counts", []byte(key), []byte("timer"))
}

func (m *misbehaving) Destroy() { m.destroyed = true }

func openSession(t *testing.T, comp concord.Computation, maxRecordBytes int32) *sdktest.Driver {
	d := sdktest.Start(t, comp)
	d.Send(sdktest.InitMessage(maxRecordBytes))
	if md := d.MustRecv().GetMetadata(); md == nil || md.Metadata.Name != "counter" {
		t.Fatalf("first message is not the Metadata of counter: %v", md)
	}
	return d
}

func TestInit_output_and_timers_come_in_BatchDone_0_and_timers_fire_after_records(t *testing.T) {
	comp := &misbehaving{}
	d := openSession(t, comp, 0)
	done := d.MustRecv().GetBatchDone()
	if done == nil || done.Seq != 0 || len(done.Produced) != 1 || len(done.TimersSet) != 1 ||
		done.TimersSet[0].TimeUnixMs != 6000 || done.Produced[0].Record.EventTimeUnixMs < 1_600_000_000_000 {
		t.Fatalf("BatchDone 0 = %v", done)
	}
	batch := sdktest.Batch(1, []string{"a"}, nil)
	batch.GetProcessBatch().TimersFired = append(batch.GetProcessBatch().TimersFired,
		&operatorv1.TimerFired{Key: "t", TimeUnixMs: 6000})
	d.Send(batch)
	done = d.MustRecv().GetBatchDone()
	if len(done.Produced) != 2 || string(done.Produced[0].Record.Key) != "a" ||
		string(done.Produced[1].Record.Value) != "timer" {
		t.Fatalf("batch 1 answer = %v", done)
	}
	d.Send(sdktest.ShutdownMessage())
	if _, ok := d.Recv(); ok {
		t.Fatal("expected the stream to end after Shutdown")
	}
	if code := d.Exit(); code != 0 || !comp.destroyed {
		t.Fatalf("exit %d, destroyed %v; want 0 and true", code, comp.destroyed)
	}
}

func assertFatal(t *testing.T, mode string, want string) {
	d := openSession(t, &misbehaving{mode: mode}, 1024)
	d.MustRecv() // BatchDone 0
	d.Send(sdktest.Batch(1, []string{"ok", "boom", "never"}, nil))
	e := d.MustRecv().GetError()
	if e == nil || !e.Fatal || !strings.Contains(e.Message, want) {
		t.Fatalf("got %v; want a fatal Error containing %q", e, want)
	}
	if _, ok := d.Recv(); ok {
		t.Fatal("expected the stream to end after the Error")
	}
	if code := d.Exit(); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
}

func TestReturned_error_is_fatal_with_its_type_and_exit_1(t *testing.T) {
	assertFatal(t, "error", "*errors.errorString in ProcessRecord (batch 1): boom is not a word")
}

func TestPanic_is_fatal_with_a_stack_and_exit_1(t *testing.T) {
	assertFatal(t, "panic", "panic (string) in ProcessRecord (batch 1): boom")
}

func TestProduce_to_undeclared_stream_is_fatal_even_when_the_error_is_dropped(t *testing.T) {
	assertFatal(t, "undeclared-dropped", `stream "nowhere" is not in Metadata().Outputs`)
}

func TestRecord_larger_than_max_record_bytes_is_fatal(t *testing.T) {
	assertFatal(t, "too-large", "exceeds the limit of 1024 bytes")
}

func TestInit_requiring_an_unknown_capability_is_refused_naming_it(t *testing.T) {
	d := sdktest.Start(t, &misbehaving{})
	d.Send(sdktest.InitMessage(0, concord.CapabilityBatchPipelining, "state.v9"))
	e := d.MustRecv().GetError()
	if e == nil || !e.Fatal || !strings.Contains(e.Message, "state.v9") {
		t.Fatalf("got %v; want a fatal Error naming state.v9", e)
	}
	if code := d.Exit(); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
}

func TestProduced_records_inherit_trace_ingest_and_event_time(t *testing.T) {
	d := openSession(t, &misbehaving{}, 0)
	d.MustRecv()
	trace := &typesv1.TraceContext{TraceId: []byte("0123456789abcdef"), ParentSpanId: []byte("01234567")}
	d.Send(sdktest.Batch(1, []string{"x"}, func(r *typesv1.Record) {
		r.Trace = trace
		r.IngestTimeUnixUs = 77
		r.EventTimeUnixMs = 1234
	}))
	rec := d.MustRecv().GetBatchDone().Produced[0].Record
	if rec.IngestTimeUnixUs != 77 || rec.EventTimeUnixMs != 1234 || string(rec.Trace.TraceId) != "0123456789abcdef" {
		t.Fatalf("produced record %v did not inherit from its input", rec)
	}
	d.Send(sdktest.ShutdownMessage())
	if code := d.Exit(); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
}

func TestExecutor_disappearing_mid_session_makes_the_operator_exit_1(t *testing.T) {
	comp := &misbehaving{}
	d := openSession(t, comp, 0)
	d.MustRecv()
	d.Cancel()
	if code := d.Exit(); code != 1 || comp.destroyed {
		t.Fatalf("exit code %d, destroyed %v; want 1 and false", code, comp.destroyed)
	}
}

func TestParseAddress_accepts_paths_unix_urls_and_host_port_and_rejects_the_rest(t *testing.T) {
	for in, want := range map[string]string{
		"/tmp/a.sock": "unix /tmp/a.sock", "unix:///tmp/a.sock": "unix /tmp/a.sock",
		"./a.sock": "unix ./a.sock", "127.0.0.1:7001": "tcp 127.0.0.1:7001",
	} {
		n, a, err := concord.ParseAddress(in)
		if err != nil || n+" "+a != want {
			t.Errorf("ParseAddress(%q) = %s %s %v; want %s", in, n, a, err, want)
		}
	}
	for _, bad := range []string{"", "op.sock", "host:0", "/" + strings.Repeat("x", 200)} {
		if _, _, err := concord.ParseAddress(bad); err == nil {
			t.Errorf("ParseAddress(%q) succeeded; want an error", bad)
		}
	}
}
