// The Go test operator of the conformance suite. Every language has one like it, with the same
// behaviours, selected by CONFORMANCE_CASE (the table is in docs/conformance.md).
//
// Build: scripts/build-test-operators.sh (-> artifacts/go/bin/concord-test-operator).
package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	concord "concord/sdk"
)

// recordBytesMax is the documented record limit (ProtocolLimits.RecordBytesMax), key + value.
const recordBytesMax = 1024 * 1024

// gateTimeout is how long the backpressure case blocks at most before it gives up.
const gateTimeout = 60 * time.Second

// flushDelayMs is how long after a record the keyed_timers case flushes its key.
const flushDelayMs = 100

// eventTimerDelayMs is how far after a record's event time the event_time_timers case sets its timer.
const eventTimerDelayMs = 100

type testOperator struct {
	kase       string
	name       string
	gatePassed bool
	rearmed    bool
}

func (o *testOperator) Metadata() concord.Metadata {
	name := o.name
	if o.kase == "invalid_metadata" {
		name = "not-" + name
	}
	md := concord.Metadata{
		Name:    name,
		Inputs:  []concord.InputStream{{Name: "in", Grouping: concord.GroupBy}},
		Outputs: []string{"out-a", "out-b"},
	}
	if o.kase == "state" || o.kase == "keyed_timers" || o.kase == "event_time_timers" {
		md.States = []string{"count"}
	}
	return md
}

// increment adds one to the key's "count" (ASCII decimal) and returns the new value.
func increment(ctx concord.Context) ([]byte, error) {
	count := ctx.State("count")
	v, _ := count.Get()
	c := 0
	if len(v) > 0 {
		var err error
		if c, err = strconv.Atoi(string(v)); err != nil {
			return nil, fmt.Errorf("state count of key %q is %q, not a number: %w", ctx.StateKey(), v, err)
		}
	}
	out := []byte(strconv.Itoa(c + 1))
	count.Set(out)
	return out, nil
}

func (o *testOperator) Init(ctx concord.Context) error {
	if o.kase == "timers" {
		now := time.Now().UnixMilli()
		ctx.SetTimer("t3", now+300)
		ctx.SetTimer("t1", now+100)
		ctx.SetTimer("t2", now+200)
		ctx.SetTimer("rearm", now+150)
	}
	return nil
}

func (o *testOperator) ProcessRecord(ctx concord.Context, r *concord.Record) error {
	switch {
	case o.kase == "produce":
		if err := ctx.ProduceRecord("out-a", r.Key, append([]byte("a:"), r.Value...)); err != nil {
			return err
		}
		return ctx.ProduceRecord("out-b", r.Key, append([]byte("b:"), r.Value...))
	case o.kase == "group_by":
		return ctx.ProduceRecord("out-a", r.Key, []byte(strconv.Itoa(ctx.InstanceIndex())))
	case o.kase == "state" && string(r.Value) == "clear":
		ctx.State("count").Clear()
		return ctx.ProduceRecord("out-a", r.Key, []byte("cleared"))
	case o.kase == "state":
		c, err := increment(ctx)
		if err != nil {
			return err
		}
		return ctx.ProduceRecord("out-a", r.Key, c)
	case o.kase == "keyed_timers":
		if _, err := increment(ctx); err != nil {
			return err
		}
		ctx.SetTimer("flush", time.Now().UnixMilli()+flushDelayMs)
		return nil
	case o.kase == "event_time_timers":
		ctx.SetTimerIn("fire", r.EventTimeUnixMs+eventTimerDelayMs, concord.EventTime)
		return nil
	case o.kase == "backpressure":
		if err := o.waitForGate(); err != nil {
			return err
		}
	case o.kase == "exception":
		panic("conformance failure on purpose")
	case o.kase == "size_limit" && string(r.Key) == "grow":
		return ctx.ProduceRecord("out-a", r.Key, make([]byte, recordBytesMax-len(r.Key)+1))
	}
	return ctx.ProduceRecord("out-a", r.Key, r.Value)
}

func (o *testOperator) ProcessTimer(ctx concord.Context, key string, timeMs int64) error {
	if o.kase == "event_time_timers" {
		return ctx.ProduceRecord("out-b", ctx.StateKey(), []byte(strconv.FormatInt(timeMs, 10)))
	}
	if o.kase == "keyed_timers" {
		count := ctx.State("count")
		c, _ := count.Get()
		count.Clear()
		return ctx.ProduceRecord("out-b", ctx.StateKey(), c)
	}
	if err := ctx.ProduceRecord("out-a", []byte(key), []byte(strconv.FormatInt(timeMs, 10))); err != nil {
		return err
	}
	if key == "rearm" && !o.rearmed {
		o.rearmed = true
		ctx.SetTimer(key, timeMs+200)
	}
	return nil
}

func (o *testOperator) Destroy() {
	if o.kase == "destroy" {
		if err := os.WriteFile("destroyed", []byte("destroyed"), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "destroy:", err)
		}
	}
}

// waitForGate blocks the first callback until the harness creates "release" in the working directory.
func (o *testOperator) waitForGate() error {
	deadline := time.Now().Add(gateTimeout)
	for !o.gatePassed {
		if _, err := os.Stat("release"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("the harness did not create 'release' within " + gateTimeout.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	o.gatePassed = true
	return nil
}

func main() {
	name := os.Getenv("CONCORD_OPERATOR_NAME")
	if name == "" {
		name = "conformance"
	}
	concord.Serve(&testOperator{kase: os.Getenv("CONFORMANCE_CASE"), name: name})
}
