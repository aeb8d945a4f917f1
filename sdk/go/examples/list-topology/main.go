// list-topology prints the deployed operators and stream edges of a running scheduler.
//
//	artifacts/go/bin/list-topology [ADDRESS]
//
// ADDRESS defaults to $CONCORD_SCHEDULER_ADDRESS, then http://127.0.0.1:7400.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"concord/client"
)

func main() {
	address := os.Getenv("CONCORD_SCHEDULER_ADDRESS")
	if len(os.Args) > 1 {
		address = os.Args[1]
	}
	if address == "" {
		address = "http://127.0.0.1:7400"
	}
	c, err := client.Dial(address)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer c.Close()
	g, err := c.Graph(context.Background())
	if err != nil {
		fmt.Fprintf(os.Stderr, "cannot read the topology from %s: %v (is `concord up` running?)\n", address, err)
		os.Exit(1)
	}
	for _, op := range g.Operators {
		states := make([]string, 0, len(op.Instances))
		for _, i := range op.Instances {
			states = append(states, strings.ToLower(strings.TrimPrefix(i.State.String(), "INSTANCE_STATE_")))
		}
		fmt.Printf("%-20s %d instance(s): %s\n", op.Spec.Name, len(op.Instances), strings.Join(states, ", "))
	}
	for _, e := range g.Edges {
		fmt.Printf("  %s --%s(%s)--> %s\n", e.FromOperator, e.Stream,
			strings.ToLower(strings.TrimPrefix(e.Grouping.String(), "GROUPING_")), e.ToOperator)
	}
}
