package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"concord/client"
	schedulerv1 "concord/gen/concord/scheduler/v1"
	typesv1 "concord/gen/concord/types/v1"
	concord "concord/sdk"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

type fakeScheduler struct {
	schedulerv1.UnimplementedSchedulerServer
	ops            map[string]*typesv1.OperatorSpec
	authorizations []string
	address        string
	replaces       []*schedulerv1.ReplaceRequest
}

func (f *fakeScheduler) statusOf(s *typesv1.OperatorSpec) *schedulerv1.OperatorStatus {
	st := &schedulerv1.OperatorStatus{Spec: s, Version: 1}
	for i := int32(0); i < s.Instances; i++ {
		st.Instances = append(st.Instances, &schedulerv1.InstanceStatus{Index: i})
	}
	return st
}

func (f *fakeScheduler) Deploy(_ context.Context, r *schedulerv1.DeployRequest) (*schedulerv1.DeployResponse, error) {
	if _, ok := f.ops[r.Spec.Name]; ok {
		return nil, status.Errorf(codes.AlreadyExists, "operator %s is deployed", r.Spec.Name)
	}
	f.ops[r.Spec.Name] = r.Spec
	return &schedulerv1.DeployResponse{Operator: f.statusOf(r.Spec)}, nil
}

func (f *fakeScheduler) Kill(_ context.Context, r *schedulerv1.KillRequest) (*schedulerv1.KillResponse, error) {
	if _, ok := f.ops[r.Name]; !ok {
		return nil, status.Errorf(codes.NotFound, "no operator %s", r.Name)
	}
	delete(f.ops, r.Name)
	return &schedulerv1.KillResponse{}, nil
}

func (f *fakeScheduler) Replace(_ context.Context, r *schedulerv1.ReplaceRequest) (*schedulerv1.ReplaceResponse, error) {
	old, ok := f.ops[r.Spec.Name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no operator %s", r.Spec.Name)
	}
	f.replaces = append(f.replaces, r)
	r.Spec.Instances = old.Instances
	f.ops[r.Spec.Name] = r.Spec
	return &schedulerv1.ReplaceResponse{Operator: f.statusOf(r.Spec), SwitchMs: 5, TotalMs: 5, Restarted: r.DropState}, nil
}

func (f *fakeScheduler) Scale(_ context.Context, r *schedulerv1.ScaleRequest) (*schedulerv1.ScaleResponse, error) {
	s := f.ops[r.Name]
	s.Instances = r.Instances
	return &schedulerv1.ScaleResponse{Operator: f.statusOf(s)}, nil
}

func (f *fakeScheduler) List(ctx context.Context, _ *schedulerv1.ListRequest) (*schedulerv1.ListResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.authorizations = append(f.authorizations, strings.Join(md.Get("authorization"), ","))
	r := &schedulerv1.ListResponse{}
	for _, s := range f.ops {
		r.Operators = append(r.Operators, f.statusOf(s))
	}
	return r, nil
}

func (f *fakeScheduler) Graph(context.Context, *schedulerv1.GraphRequest) (*schedulerv1.GraphResponse, error) {
	return &schedulerv1.GraphResponse{Edges: []*schedulerv1.StreamEdge{{Stream: "words", FromOperator: "g", ToOperator: "counter"}}}, nil
}

func TestEvery_call_carries_the_token_given_or_found_in_CONCORD_TOKEN_then_the_home(t *testing.T) {
	_, fake := start(t)
	address := "http://" + fake.address
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, client.TokenFileName), []byte("from-the-home-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CONCORD_HOME", home)
	t.Setenv(client.TokenVariable, "from-the-environment")
	list := func(c *client.Client, err error) {
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.List(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	list(client.DialWithToken(address, "given-explicitly"))
	list(client.Dial(address))
	t.Setenv(client.TokenVariable, "")
	list(client.Dial(address))
	want := []string{"Bearer given-explicitly", "Bearer from-the-environment", "Bearer from-the-home-file"}
	if strings.Join(fake.authorizations, "|") != strings.Join(want, "|") {
		t.Fatalf("authorization headers %q, want %q", fake.authorizations, want)
	}
}

func start(t *testing.T) (*client.Client, *fakeScheduler) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakeScheduler{ops: map[string]*typesv1.OperatorSpec{}, address: lis.Addr().String()}
	srv := grpc.NewServer()
	schedulerv1.RegisterSchedulerServer(srv, fake)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	c, err := client.Dial("http://" + lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, fake
}

func TestDeploy_file_scale_list_graph_and_kill_round_trip(t *testing.T) {
	c, fake := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	spec, err := client.SpecFromDeployJSON([]byte(`{"name":"counter","executable":"/bin/c","instances":2,
		"inputs":[{"stream":"words","grouping":"group_by"}],"outputs":["counts"]}`))
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Deploy(ctx, spec)
	if err != nil || len(st.Instances) != 2 {
		t.Fatalf("Deploy = %v, %v", st, err)
	}
	if g := fake.ops["counter"].ExpectedInputs[0].Grouping; g != typesv1.Grouping_GROUPING_GROUP_BY {
		t.Fatalf("grouping sent = %v", g)
	}
	if st, err = c.Scale(ctx, "counter", 3); err != nil || len(st.Instances) != 3 {
		t.Fatalf("Scale = %v, %v", st, err)
	}
	if ops, err := c.List(ctx); err != nil || len(ops) != 1 {
		t.Fatalf("List = %v, %v", ops, err)
	}
	if g, err := c.Graph(ctx); err != nil || len(g.Edges) != 1 {
		t.Fatalf("Graph = %v, %v", g, err)
	}
	if err := c.Kill(ctx, "counter"); err != nil {
		t.Fatal(err)
	}
	var cerr *client.Error
	if err := c.Kill(ctx, "counter"); !errors.As(err, &cerr) || cerr.Code != "NotFound" ||
		!strings.Contains(cerr.Message, "no operator counter") {
		t.Fatalf("second Kill = %v; want NotFound naming the operator", err)
	}
}

func TestDeploy_file_allow_cycles_is_read(t *testing.T) {
	spec, err := client.SpecFromDeployJSON([]byte(`{"name":"loop","executable":"/bin/c","allow_cycles":true}`))
	if err != nil || !spec.AllowCycles {
		t.Fatalf("allow_cycles: %v, %v", spec, err)
	}
}

func TestDeploy_file_with_unknown_key_or_grouping_is_rejected_naming_it(t *testing.T) {
	if _, err := client.SpecFromDeployJSON([]byte(`{"name":"x","instance":2}`)); err == nil ||
		!strings.Contains(err.Error(), `"instance"`) {
		t.Fatalf("unknown key: %v", err)
	}
	if _, err := client.SpecFromDeployJSON([]byte(`{"name":"x","inputs":[{"stream":"s","grouping":"keyed"}]}`)); err == nil ||
		!strings.Contains(err.Error(), `"keyed"`) {
		t.Fatalf("unknown grouping: %v", err)
	}
}

func TestDeploy_file_delivery_is_read_and_a_wrong_one_is_refused_as_the_cli_refuses_it(t *testing.T) {
	spec, err := client.SpecFromDeployJSON([]byte(`{"name":"x","executable":"/bin/c"}`))
	if err != nil || spec.Delivery != typesv1.DeliveryGuarantee_DELIVERY_UNSPECIFIED {
		t.Fatalf("no delivery: %v, %v", spec, err)
	}
	for name, want := range map[string]typesv1.DeliveryGuarantee{
		"at_most_once":  typesv1.DeliveryGuarantee_DELIVERY_AT_MOST_ONCE,
		"at_least_once": typesv1.DeliveryGuarantee_DELIVERY_AT_LEAST_ONCE,
		"exactly_once":  typesv1.DeliveryGuarantee_DELIVERY_EXACTLY_ONCE,
	} {
		spec, err := client.SpecFromDeployJSON([]byte(`{"name":"x","delivery":"` + name + `"}`))
		if err != nil || spec.Delivery != want {
			t.Errorf("delivery %s: %v, %v", name, spec, err)
		}
	}
	_, err = client.SpecFromDeployJSON([]byte(`{"name":"x","delivery":"exactly-once"}`))
	want := `deploy file: delivery: "exactly-once" is not a delivery guarantee; did you mean "exactly_once"? ` +
		`use one of: at_most_once, at_least_once, exactly_once (default at_most_once; see docs/guarantees.md)`
	if err == nil || err.Error() != want {
		t.Errorf("misspelt delivery: %v\nwant %s", err, want)
	}
	for raw, want := range map[string]string{
		`2`:    `delivery: expected a string, got a number; quote it: "2"`,
		`null`: `delivery: expected a string, got null`,
		`true`: `delivery: expected a string, got a boolean`,
	} {
		if _, err := client.SpecFromDeployJSON([]byte(`{"name":"x","delivery":` + raw + `}`)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("delivery %s: %v; want %q", raw, err, want)
		}
	}
}

func TestDeploy_file_unavailable_reader_drop_after_ms_is_read_within_its_range(t *testing.T) {
	for _, ms := range []int32{1, 1000, concord.UnavailableReaderDropAfterMsMax} {
		spec, err := client.SpecFromDeployJSON([]byte(fmt.Sprintf(`{"name":"x","unavailable_reader_drop_after_ms":%d}`, ms)))
		if err != nil || spec.UnavailableReaderDropAfterMs != ms {
			t.Errorf("%d ms: %v, %v", ms, spec, err)
		}
	}
	for raw, want := range map[string]string{
		`0`:      `unavailable_reader_drop_after_ms: 0 is out of range; use 1..600000: how long, in ms`,
		`-5`:     `unavailable_reader_drop_after_ms: -5 is out of range; use 1..600000`,
		`600001`: `unavailable_reader_drop_after_ms: 600001 is out of range; use 1..600000`,
		`1e20`:   `unavailable_reader_drop_after_ms: 1e20 is out of range; use 1..600000`,
		`1.5`:    `expected a whole number such as 3000, got 1.5, which is not a whole number`,
		`"3000"`: `expected a whole number such as 3000, got a string`,
	} {
		if _, err := client.SpecFromDeployJSON([]byte(`{"name":"x","unavailable_reader_drop_after_ms":` + raw + `}`)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want %q", raw, err, want)
		}
	}
}

func TestDeploy_file_image_is_read_and_a_wrong_type_or_empty_one_is_refused(t *testing.T) {
	spec, err := client.SpecFromDeployJSON([]byte(`{"name":"x","image":"registry.example.com/team/x:1.0"}`))
	if err != nil || spec.Image != "registry.example.com/team/x:1.0" {
		t.Fatalf("image: got %v, %v", spec, err)
	}
	for raw, want := range map[string]string{
		`1`:  `image: expected a string, got a number`,
		`""`: `image: is empty; give an image reference`,
	} {
		if _, err := client.SpecFromDeployJSON([]byte(`{"name":"x","image":` + raw + `}`)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("image %s: got %v, want %q", raw, err, want)
		}
	}
}

func TestReplace_sends_the_new_version_and_drop_state(t *testing.T) {
	c, fake := start(t)
	ctx := context.Background()
	if _, err := c.Deploy(ctx, &typesv1.OperatorSpec{Name: "counter", Executable: "/bin/v1", Instances: 2}); err != nil {
		t.Fatal(err)
	}
	rolling, err := c.Replace(ctx, &typesv1.OperatorSpec{Name: "counter", Executable: "/bin/v2", Instances: 1}, false)
	if err != nil || rolling.Restarted {
		t.Fatalf("rolling Replace = %v, %v", rolling, err)
	}
	restarted, err := c.Replace(ctx, &typesv1.OperatorSpec{Name: "counter", Executable: "/bin/v3", Instances: 1}, true)
	if err != nil || !restarted.Restarted || len(restarted.Operator.Instances) != 2 {
		t.Fatalf("drop-state Replace = %v, %v", restarted, err)
	}
	if len(fake.replaces) != 2 || fake.replaces[0].DropState || !fake.replaces[1].DropState ||
		fake.replaces[1].Spec.Executable != "/bin/v3" {
		t.Fatalf("requests %v", fake.replaces)
	}
	var cerr *client.Error
	if _, err := c.Replace(ctx, &typesv1.OperatorSpec{Name: "missing", Executable: "/bin/x"}, true); !errors.As(err, &cerr) ||
		cerr.Method != "Replace" || cerr.Code != "NotFound" {
		t.Fatalf("Replace of a missing operator = %v; want a NotFound *client.Error", err)
	}
}
