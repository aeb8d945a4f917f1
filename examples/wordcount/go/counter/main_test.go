package main

import (
	"fmt"
	"testing"

	typesv1 "concord/gen/concord/types/v1"
	"concord/sdk/sdktest"
)

func TestCounter_answers_pipelined_batches_in_order_with_running_counts_and_exits_0(t *testing.T) {
	d := sdktest.Start(t, newCounter())
	d.Send(sdktest.InitMessage(0))
	md := d.MustRecv().GetMetadata()
	if md == nil || md.Metadata.Name != "counter" || len(md.Metadata.Inputs) != 1 ||
		md.Metadata.Inputs[0].Name != "words" ||
		md.Metadata.Inputs[0].Grouping != typesv1.Grouping_GROUPING_GROUP_BY ||
		len(md.Metadata.Outputs) != 1 || md.Metadata.Outputs[0] != "counts" {
		t.Fatalf("metadata = %v", md)
	}
	if done := d.MustRecv().GetBatchDone(); done == nil || done.Seq != 0 || len(done.Produced) != 0 {
		t.Fatalf("answer to Init = %v", done)
	}
	// Three batches before reading any answer: the executor pipelines them.
	d.Send(sdktest.Batch(1, []string{"a", "b", "a"}, nil))
	d.Send(sdktest.Batch(2, []string{"a", "c"}, nil))
	many := make([]string, 1000)
	for i := range many {
		many[i] = "b"
	}
	d.Send(sdktest.Batch(3, many, nil))
	want := [][]string{{"a=1", "b=1", "a=2"}, {"a=3", "c=1"}}
	for seq := uint64(1); seq <= 3; seq++ {
		done := d.MustRecv().GetBatchDone()
		if done == nil || done.Seq != seq {
			t.Fatalf("answer %d = %v", seq, done)
		}
		var got []string
		for _, p := range done.Produced {
			if p.Stream != "counts" {
				t.Fatalf("produced to %q", p.Stream)
			}
			got = append(got, string(p.Record.Key)+"="+string(p.Record.Value))
		}
		if seq < 3 && fmt.Sprint(got) != fmt.Sprint(want[seq-1]) {
			t.Fatalf("batch %d produced %v, want %v", seq, got, want[seq-1])
		}
		if seq == 3 && (len(got) != 1000 || got[0] != "b=2" || got[999] != "b=1001") {
			t.Fatalf("batch 3 produced %d records, first %v last %v", len(got), got[0], got[len(got)-1])
		}
	}
	d.Send(sdktest.ShutdownMessage())
	if _, ok := d.Recv(); ok {
		t.Fatal("expected the stream to end after Shutdown")
	}
	if code := d.Exit(); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
}
