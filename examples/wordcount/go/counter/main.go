// The word-count counter in Go: reads `words` grouped by key and emits, for every word, its
// updated count on `counts` (key = the word, value = the count as UTF-8 decimal). Same
// behaviour as the C# counter in examples/wordcount.
//
// Build: scripts/build-go-examples.sh (-> artifacts/go/bin/wordcount-counter).
package main

import (
	"os"
	"strconv"

	concord "concord/sdk"
)

type counter struct {
	concord.Base
	// counts holds a pointer per word so a repeat word costs a lookup that does not allocate.
	counts map[string]*int64
	buf    []byte
}

func newCounter() *counter { return &counter{counts: make(map[string]*int64)} }

func (c *counter) Metadata() concord.Metadata {
	// The executor passes the deploy file's name; "counter" when run by hand.
	name := os.Getenv("CONCORD_OPERATOR_NAME")
	if name == "" {
		name = "counter"
	}
	return concord.Metadata{
		Name:    name,
		Inputs:  []concord.InputStream{{Name: "words", Grouping: concord.GroupBy}},
		Outputs: []string{"counts"},
	}
}

func (c *counter) ProcessRecord(ctx concord.Context, r *concord.Record) error {
	n := c.counts[string(r.Key)]
	if n == nil {
		n = new(int64)
		c.counts[string(r.Key)] = n
	}
	*n++
	c.buf = strconv.AppendInt(c.buf[:0], *n, 10) // ProduceRecord copies, so buf is reused
	return ctx.ProduceRecord("counts", r.Key, c.buf)
}

func main() { concord.Serve(newCounter()) }
