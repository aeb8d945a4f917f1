package concord_test

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	operatorv1 "concord/gen/concord/operator/v1"
	typesv1 "concord/gen/concord/types/v1"
	concord "concord/sdk"
	"concord/sdk/sdktest"
)

// stateCounter is the conformance `state` case: counts per key in state "count"; a record
// with value "clear" clears it. With flush set it is the `keyed_timers` case instead: it
// counts silently, sets timer "flush" for the key, and the timer reports and clears.
type stateCounter struct {
	concord.Base
	flush     bool
	misuse    string
	firedKeys []string
	watermark int64
}

func (c *stateCounter) Metadata() concord.Metadata {
	return concord.Metadata{Name: "counter",
		Inputs:  []concord.InputStream{{Name: "words", Grouping: concord.GroupBy}},
		Outputs: []string{"counts"}, States: []string{"count"}}
}

func (c *stateCounter) Init(ctx concord.Context) error {
	ctx.SetTimer("t", 5)
	if c.misuse == "init" {
		ctx.State("count").Get()
	}
	return nil
}

func (c *stateCounter) ProcessRecord(ctx concord.Context, r *concord.Record) error {
	c.watermark = ctx.WatermarkUnixMs()
	switch c.misuse {
	case "undeclared":
		ctx.State("cuont").Get()
	case "big":
		ctx.State("count").Set(make([]byte, len(r.Key)))
		return nil
	case "event-time":
		ctx.SetTimerIn("window", 60000, concord.EventTime)
		ctx.SetTimerIn("window", 70000, concord.ProcessingTime)
		return nil
	}
	count := ctx.State("count")
	if string(r.Value) == "clear" {
		count.Clear()
		return ctx.ProduceRecord("counts", r.Key, []byte("cleared"))
	}
	v, _ := count.Get()
	n, _ := strconv.Atoi(string(v))
	out := []byte(strconv.Itoa(n + 1))
	count.Set(out)
	if c.flush {
		ctx.SetTimer("flush", 1000+int64(len(r.Key)))
		return nil
	}
	return ctx.ProduceRecord("counts", r.Key, out)
}

func (c *stateCounter) ProcessTimer(ctx concord.Context, key string, timeMs int64) error {
	c.firedKeys = append(c.firedKeys, string(ctx.StateKey()))
	count := ctx.State("count")
	v, ok := count.Get()
	if !ok {
		v = []byte("none")
	}
	count.Clear()
	ctx.SetTimer("again", timeMs+1)
	return ctx.ProduceRecord("counts", ctx.StateKey(), v)
}

// rec is a record's key and value.
type rec struct{ key, value string }

func recs(keys ...string) []rec {
	out := make([]rec, len(keys))
	for i, k := range keys {
		out[i] = rec{k, "v"}
	}
	return out
}

// stateBatch is a ProcessBatch with records, states {key: count} shipped as of asOf, and fired
// timers {key, state key, time}.
func stateBatch(seq, asOf uint64, records []rec, counts map[string]string, timers ...*operatorv1.TimerFired) *operatorv1.ExecutorMessage {
	b := &operatorv1.ProcessBatch{Seq: seq, StateAsOfSeq: asOf, TimersFired: timers}
	for _, r := range records {
		b.Records = append(b.Records, &typesv1.Record{Key: []byte(r.key), Value: []byte(r.value)})
	}
	for k, v := range counts {
		b.States = append(b.States, &operatorv1.KeyState{Key: []byte(k),
			Values: []*operatorv1.StateValue{{Name: "count", Value: []byte(v)}}})
	}
	return &operatorv1.ExecutorMessage{Message: &operatorv1.ExecutorMessage_ProcessBatch{ProcessBatch: b}}
}

func fired(key, stateKey string, timeMs int64) *operatorv1.TimerFired {
	return &operatorv1.TimerFired{Key: key, StateKey: []byte(stateKey), TimeUnixMs: timeMs,
		Domain: operatorv1.TimeDomain_TIME_DOMAIN_PROCESSING}
}

func outputs(d *operatorv1.BatchDone) string {
	var parts []string
	for _, p := range d.Produced {
		parts = append(parts, string(p.Record.Key)+"="+string(p.Record.Value))
	}
	return strings.Join(parts, " ")
}

func mutations(d *operatorv1.BatchDone) string {
	var parts []string
	for _, m := range d.StateMutations {
		if m.Clear {
			parts = append(parts, fmt.Sprintf("%s.%s clear", m.Key, m.Name))
		} else {
			parts = append(parts, fmt.Sprintf("%s.%s=%s", m.Key, m.Name, m.Value))
		}
	}
	return strings.Join(parts, " ")
}

// startState opens a session with the given Init changes and returns BatchDone 0.
func startState(t *testing.T, comp concord.Computation, edit func(*operatorv1.Init)) (*sdktest.Driver, *operatorv1.BatchDone) {
	d := sdktest.Start(t, comp)
	init := sdktest.InitMessage(0)
	if edit != nil {
		edit(init.GetInit())
	}
	d.Send(init)
	md := d.MustRecv().GetMetadata()
	if md == nil {
		t.Fatalf("first message is not Metadata")
	}
	return d, d.MustRecv().GetBatchDone()
}

func answer(t *testing.T, d *sdktest.Driver, m *operatorv1.ExecutorMessage) *operatorv1.BatchDone {
	t.Helper()
	d.Send(m)
	done := d.MustRecv().GetBatchDone()
	if done == nil {
		t.Fatalf("batch %d: no BatchDone", m.GetProcessBatch().Seq)
	}
	return done
}

func shutdown(t *testing.T, d *sdktest.Driver) {
	t.Helper()
	d.Send(sdktest.ShutdownMessage())
	if code := d.Exit(); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
}

// fatalState sends batches until the operator answers with a fatal Error containing want.
func fatalState(t *testing.T, d *sdktest.Driver, want string, batches ...*operatorv1.ExecutorMessage) {
	t.Helper()
	for _, b := range batches {
		d.Send(b)
	}
	for {
		m := d.MustRecv()
		if e := m.GetError(); e != nil {
			if !e.Fatal || !strings.Contains(e.Message, want) {
				t.Fatalf("got %v; want a fatal Error containing %q", e, want)
			}
			break
		}
	}
	if code := d.Exit(); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
}

func TestMetadata_declares_states_and_rejects_bad_names(t *testing.T) {
	d, _ := startState(t, &stateCounter{}, nil)
	shutdown(t, d)
	for _, bad := range [][]string{{"bad name"}, {"count", "count"}, {"concord.timers"}} {
		d := sdktest.Start(t, &badStates{names: bad})
		d.Send(sdktest.InitMessage(0))
		if e := d.MustRecv().GetError(); e == nil || !strings.Contains(e.Message, "InvalidMetadata") {
			t.Errorf("States %q: got %v; want InvalidMetadata", bad, e)
		}
		d.Exit()
	}
}

type badStates struct {
	concord.Base
	names []string
}

func (b *badStates) Metadata() concord.Metadata {
	return concord.Metadata{Name: "counter", States: b.names}
}
func (b *badStates) ProcessRecord(concord.Context, *concord.Record) error { return nil }

func TestMetadata_carries_the_states_and_the_new_capabilities(t *testing.T) {
	d := sdktest.Start(t, &stateCounter{})
	d.Send(sdktest.InitMessage(0))
	md := d.MustRecv().GetMetadata()
	if len(md.Metadata.States) != 1 || md.Metadata.States[0].Name != "count" ||
		md.Metadata.States[0].Kind != typesv1.StateKind_STATE_KIND_VALUE ||
		!reflect.DeepEqual(md.Capabilities[2:], []string{"keyed-state.v1", "event-time.v1"}) {
		t.Fatalf("Metadata = %v", md)
	}
	d.MustRecv()
	shutdown(t, d)
}

func TestA_pipelined_batch_shipped_with_older_state_sees_the_sdks_own_later_writes(t *testing.T) {
	d, _ := startState(t, &stateCounter{}, nil)
	d.Send(stateBatch(1, 0, recs("a", "b"), nil))
	// Batches 2 and 3 were cut before batch 1's mutations were applied.
	d.Send(stateBatch(2, 0, recs("a"), nil))
	d.Send(stateBatch(3, 0, recs("a", "b"), nil))
	var got []string
	for i := 0; i < 3; i++ {
		got = append(got, outputs(d.MustRecv().GetBatchDone()))
	}
	// Batch 4: the executor applied batches 1 and 2 (a=2, b=1); batch 3's writes overlay them.
	got = append(got, outputs(answer(t, d, stateBatch(4, 2, recs("a", "b"), map[string]string{"a": "2", "b": "1"}))))
	// Batch 5: as of 4, the shipped value wins over every older overlay.
	last := answer(t, d, stateBatch(5, 4, recs("a"), map[string]string{"a": "100"}))
	got = append(got, outputs(last))
	want := []string{"a=1 b=1", "a=2", "a=3 b=2", "a=4 b=3", "a=101"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("outputs %q, want %q", got, want)
	}
	if m := mutations(last); m != "a.count=101" {
		t.Fatalf("batch 5 mutations %q", m)
	}
	shutdown(t, d)
}

func TestMutations_are_coalesced_to_the_last_change_per_key_and_name(t *testing.T) {
	d, _ := startState(t, &stateCounter{}, nil)
	done := answer(t, d, stateBatch(1, 0, []rec{{"a", "v"}, {"b", "v"}, {"a", "v"}, {"a", "v"}, {"b", "clear"}, {"", "v"}}, nil))
	if m := mutations(done); m != "a.count=3 b.count clear .count=1" {
		t.Fatalf("mutations %q", m)
	}
	shutdown(t, d)
}

func TestClear_hides_a_shipped_value_in_the_batch_and_in_later_pipelined_batches(t *testing.T) {
	d, _ := startState(t, &stateCounter{}, nil)
	shipped := map[string]string{"a": "5"}
	d.Send(stateBatch(1, 0, []rec{{"a", "v"}, {"a", "clear"}, {"a", "v"}}, shipped))
	d.Send(stateBatch(2, 0, []rec{{"a", "clear"}}, shipped))
	d.Send(stateBatch(3, 0, recs("a"), shipped))
	var got []string
	for i := 0; i < 3; i++ {
		got = append(got, outputs(d.MustRecv().GetBatchDone()))
	}
	if want := []string{"a=6 a=cleared a=1", "a=cleared", "a=1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("outputs %q, want %q", got, want)
	}
	shutdown(t, d)
}

func TestAn_undeclared_name_is_fatal_naming_the_declared_ones(t *testing.T) {
	d, _ := startState(t, &stateCounter{misuse: "undeclared"}, nil)
	fatalState(t, d, `state "cuont" is not declared in Metadata().States ["count"]`, stateBatch(1, 0, recs("a"), nil))
}

func TestA_value_over_max_state_value_bytes_is_fatal_naming_the_limit(t *testing.T) {
	d, _ := startState(t, &stateCounter{misuse: "big"}, func(i *operatorv1.Init) { i.MaxStateValueBytes = 8 })
	if m := mutations(answer(t, d, stateBatch(1, 0, recs("12345678"), nil))); m != "12345678.count=\x00\x00\x00\x00\x00\x00\x00\x00" {
		t.Fatalf("a value of exactly the limit: mutations %q", m)
	}
	fatalState(t, d, "value of 9 bytes exceeds the limit of 8 bytes (Init.max_state_value_bytes)",
		stateBatch(2, 0, recs("123456789"), nil))
}

func TestTimers_carry_the_state_key_and_process_timer_sees_that_keys_state(t *testing.T) {
	comp := &stateCounter{flush: true}
	d, init := startState(t, comp, nil)
	if len(init.TimersSet) != 1 || len(init.TimersSet[0].StateKey) != 0 {
		t.Fatalf("a timer set in Init has state key %q, want empty", init.TimersSet)
	}
	first := answer(t, d, stateBatch(1, 0, recs("a", "bb", "a"), nil))
	var set []string
	for _, ts := range first.TimersSet {
		set = append(set, fmt.Sprintf("%s/%s@%d/%v", ts.StateKey, ts.Key, ts.TimeUnixMs, ts.Domain))
	}
	if want := []string{"a/flush@1001/TIME_DOMAIN_PROCESSING", "bb/flush@1002/TIME_DOMAIN_PROCESSING"}; !reflect.DeepEqual(set, want) {
		t.Fatalf("timers set %q, want %q", set, want)
	}
	// As of 0 (batch 1 not applied): each timer sees batch 1's overlay.
	second := answer(t, d, stateBatch(2, 0, nil, nil, fired("flush", "a", 1001), fired("flush", "bb", 1002)))
	if o, m := outputs(second), mutations(second); o != "a=2 bb=1" || m != "a.count clear bb.count clear" {
		t.Fatalf("batch 2: outputs %q mutations %q", o, m)
	}
	if len(second.TimersSet) != 2 || string(second.TimersSet[0].StateKey) != "a" || string(second.TimersSet[1].StateKey) != "bb" {
		t.Fatalf("a timer set in ProcessTimer does not keep its state key: %v", second.TimersSet)
	}
	// Batch 3 (as of 1): "c" is shipped; "a" was cleared by batch 2, still an overlay.
	third := answer(t, d, stateBatch(3, 1, nil, map[string]string{"c": "7"}, fired("flush", "c", 9), fired("again", "a", 1002)))
	if o := outputs(third); o != "c=7 a=none" {
		t.Fatalf("batch 3 outputs %q", o)
	}
	if want := []string{"a", "bb", "c", "a"}; !reflect.DeepEqual(comp.firedKeys, want) {
		t.Fatalf("state keys in ProcessTimer %q, want %q", comp.firedKeys, want)
	}
	shutdown(t, d)
}

type stateless struct{ concord.Base }

func (stateless) Metadata() concord.Metadata {
	return concord.Metadata{Name: "counter", Inputs: []concord.InputStream{{Name: "words"}}}
}

func (stateless) ProcessRecord(ctx concord.Context, r *concord.Record) error {
	ctx.SetTimer("flush", 1000+int64(len(r.Key)))
	return nil
}

func TestAn_operator_without_states_keeps_one_timer_per_key(t *testing.T) {
	d, _ := startState(t, stateless{}, nil)
	done := answer(t, d, stateBatch(1, 0, recs("a", "bb"), nil))
	if len(done.TimersSet) != 1 || len(done.TimersSet[0].StateKey) != 0 || done.TimersSet[0].TimeUnixMs != 1002 {
		t.Fatalf("timers set %v; want one flush at 1002 without a state key", done.TimersSet)
	}
	shutdown(t, d)
}

func TestState_in_Init_is_fatal(t *testing.T) {
	d := sdktest.Start(t, &stateCounter{misuse: "init"})
	d.Send(sdktest.InitMessage(0))
	d.MustRecv() // Metadata
	fatalState(t, d, `state "count" used in Init`)
}

func TestEvent_time_timers_and_the_watermark(t *testing.T) {
	comp := &stateCounter{misuse: "event-time"}
	d, _ := startState(t, comp, nil)
	b := stateBatch(1, 0, recs("a"), nil)
	b.GetProcessBatch().WatermarkUnixMs = 12345
	done := answer(t, d, b)
	var set []string
	for _, ts := range done.TimersSet {
		set = append(set, fmt.Sprintf("%s@%d/%v", ts.Key, ts.TimeUnixMs, ts.Domain))
	}
	if want := []string{"window@70000/TIME_DOMAIN_PROCESSING", "window@60000/TIME_DOMAIN_EVENT"}; !reflect.DeepEqual(set, want) || comp.watermark != 12345 {
		t.Fatalf("timers %q (want %q), watermark %d", set, want, comp.watermark)
	}
	shutdown(t, d)

	d, _ = startState(t, &stateCounter{misuse: "event-time"}, func(i *operatorv1.Init) {
		i.Capabilities = []string{concord.CapabilityBatchPipelining, concord.CapabilityTimers, concord.CapabilityKeyedState}
	})
	fatalState(t, d, "event-time timers need an executor with the capability event-time.v1", stateBatch(1, 0, recs("a"), nil))
}

func TestAn_executor_without_keyed_state_is_refused_when_states_are_declared(t *testing.T) {
	d := sdktest.Start(t, &stateCounter{})
	init := sdktest.InitMessage(0)
	init.GetInit().Capabilities = []string{concord.CapabilityBatchPipelining, concord.CapabilityTimers}
	d.Send(init)
	e := d.MustRecv().GetError()
	if e == nil || !strings.Contains(e.Message, `declares states ["count"] but the executor lacks the capability keyed-state.v1`) {
		t.Fatalf("got %v; want a fatal Error naming keyed-state.v1", e)
	}
	if code := d.Exit(); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
}

func TestState_older_than_max_batches_in_flight_allows_is_a_protocol_error(t *testing.T) {
	d, _ := startState(t, &stateCounter{}, func(i *operatorv1.Init) { i.MaxBatchesInFlight = 2 })
	for seq := uint64(1); seq <= 3; seq++ {
		if o := outputs(answer(t, d, stateBatch(seq, 0, recs("a"), nil))); o != "a="+strconv.Itoa(int(seq)) {
			t.Fatalf("batch %d outputs %q", seq, o)
		}
	}
	fatalState(t, d, "3 earlier batches' state mutations are not applied, more than max_batches_in_flight 2",
		stateBatch(4, 0, recs("a"), nil))
}
