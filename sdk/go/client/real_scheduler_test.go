package client_test

// The client against a REAL scheduler (artifacts/bin/Concord.Scheduler, built by
// scripts/setup.sh) on a fresh home and a free port, started once for the package's tests: a
// built-in generator with a delivery guarantee and trace sampling on every record, feeding the
// Go word-count counter started through a shell that first writes a line to stderr.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"concord/client"
	schedulerv1 "concord/gen/concord/scheduler/v1"
	typesv1 "concord/gen/concord/types/v1"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	// counterLine is what the counter's process writes before the SDK starts; Logs must return it.
	counterLine = "client-test: the counter process starts"
	// schedulerStartTimeout bounds the wait for scheduler.json (.NET starts slowly on a loaded machine).
	schedulerStartTimeout = 60 * time.Second
	// schedulerStopTimeout bounds a clean stop (SIGTERM: it stops every instance); then it is killed.
	schedulerStopTimeout = 30 * time.Second
	// stateTimeout bounds every wait for the scheduler's or the executors' state: instances
	// start, records flow and checkpoints complete within it on a loaded machine.
	stateTimeout = 60 * time.Second
	// pollInterval is the period of those waits: another process's state has no event to await.
	pollInterval = 200 * time.Millisecond
	// generatorRate is words per second: enough to see records, traces and checkpoints.
	generatorRate = "100"
)

type realScheduler struct {
	home, address, token string
	cmd                  *exec.Cmd
	client               *client.Client
	err                  error
}

var (
	shared     *realScheduler
	sharedOnce sync.Once
	root, _    = filepath.Abs(filepath.Join("..", "..", ".."))
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil && shared.cmd != nil {
		shared.stop()
	}
	os.Exit(code)
}

func (s *realScheduler) stop() {
	if s.client != nil {
		s.client.Close()
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _, _ = s.cmd.Process.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(schedulerStopTimeout):
		_ = s.cmd.Process.Kill()
		<-done
	}
	os.RemoveAll(s.home)
}

func waitFor(t *testing.T, what string, probe func() bool) {
	t.Helper()
	deadline := time.Now().Add(stateTimeout)
	for !probe() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, stateTimeout)
		}
		time.Sleep(pollInterval)
	}
}

func counterSpec(version string) *typesv1.OperatorSpec {
	counter := filepath.Join(root, "artifacts", "go", "bin", "wordcount-counter")
	return &typesv1.OperatorSpec{Name: "counter", Executable: "/bin/sh", Instances: 1, MemMb: 256,
		Args:            []string{"-c", fmt.Sprintf("echo '%s' >&2; exec '%s'", counterLine, counter)},
		Environment:     map[string]string{"VERSION": version},
		ExpectedInputs:  []*typesv1.InputStream{{Name: "words", Grouping: typesv1.Grouping_GROUPING_GROUP_BY}},
		ExpectedOutputs: []string{"counts"}}
}

// wordsSpec is the source: a built-in generator with a delivery guarantee (so checkpoints are
// taken) that samples every record for tracing.
func wordsSpec(version string) *typesv1.OperatorSpec {
	return &typesv1.OperatorSpec{Name: "words", Instances: 1, ExpectedOutputs: []string{"words"},
		Delivery:    typesv1.DeliveryGuarantee_DELIVERY_AT_LEAST_ONCE,
		Environment: map[string]string{"CONCORD_TRACE_SAMPLE_EVERY": "1", "VERSION": version},
		Builtin: &typesv1.BuiltinOperator{Kind: "generator", Options: map[string]string{
			"stream": "words", "rate": generatorRate, "dictionary": filepath.Join(root, "examples", "wordcount", "words.txt")}}}
}

// scheduler starts the scheduler and the topology once; every test using it shares them.
func scheduler(t *testing.T) *realScheduler {
	t.Helper()
	sharedOnce.Do(func() {
		shared = &realScheduler{}
		shared.err = shared.start()
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared
}

func (s *realScheduler) start() error {
	dll := filepath.Join(root, "artifacts", "bin", "Concord.Scheduler", "release", "Concord.Scheduler.dll")
	executor := filepath.Join(root, "artifacts", "bin", "Concord.Executor", "release", "Concord.Executor.dll")
	for _, f := range []string{dll, executor, filepath.Join(root, "artifacts", "go", "bin", "wordcount-counter")} {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("%s is missing; run scripts/setup.sh (it builds the scheduler, the executor and the Go counter)", f)
		}
	}
	home, err := os.MkdirTemp("", "cc-go-sched-")
	if err != nil {
		return err
	}
	s.home = home
	s.cmd = exec.Command("dotnet", dll, "--home", home, "--port", "0", "--data-root", root)
	s.cmd.Env = append(os.Environ(), "CONCORD_EXECUTOR_DLL="+executor, "CONCORD_TOKEN=")
	log, err := os.Create(filepath.Join(home, "scheduler-test.log"))
	if err != nil {
		return err
	}
	s.cmd.Stdout, s.cmd.Stderr = log, log
	if err := s.cmd.Start(); err != nil {
		return err
	}
	deadline := time.Now().Add(schedulerStartTimeout)
	var state struct {
		Address string `json:"address"`
	}
	for {
		data, err := os.ReadFile(filepath.Join(home, "scheduler.json"))
		if err == nil && json.Unmarshal(data, &state) == nil && state.Address != "" {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the scheduler wrote no scheduler.json in %s within %v", home, schedulerStartTimeout)
		}
		time.Sleep(pollInterval)
	}
	token, err := os.ReadFile(filepath.Join(home, "token"))
	if err != nil {
		return err
	}
	s.address, s.token = state.Address, strings.TrimSpace(string(token))
	if s.client, err = client.DialWithToken(s.address, s.token); err != nil {
		return err
	}
	ctx := context.Background()
	words := wordsSpec("1")
	if _, err := s.client.Deploy(ctx, words); err != nil {
		return err
	}
	if _, err := s.client.Deploy(ctx, counterSpec("1")); err != nil {
		return err
	}
	deadline = time.Now().Add(stateTimeout)
	for !s.allRunning() {
		if time.Now().After(deadline) {
			return fmt.Errorf("the operators were not all running within %v", stateTimeout)
		}
		time.Sleep(pollInterval)
	}
	return nil
}

func (s *realScheduler) allRunning() bool {
	ops, err := s.client.List(context.Background())
	if err != nil || len(ops) != 2 {
		return false
	}
	for _, o := range ops {
		for _, i := range o.Instances {
			if i.State != schedulerv1.InstanceState_INSTANCE_STATE_RUNNING {
				return false
			}
		}
	}
	return true
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*stateTimeout)
	t.Cleanup(cancel)
	return ctx
}

func TestReal_list_says_this_scheduler_leads_alone_and_graph_has_the_edge(t *testing.T) {
	s, ctx := scheduler(t), testContext(t)
	r, err := s.client.ListWithLeader(ctx)
	if err != nil || len(r.Operators) != 2 || r.Operators[0].Spec.Name != "counter" || r.Leader != "" || r.FromStandby {
		t.Fatalf("ListWithLeader = %v, %v", r, err)
	}
	g, err := s.client.Graph(ctx)
	if err != nil || len(g.Edges) != 1 || g.Edges[0].FromOperator != "words" || g.Edges[0].ToOperator != "counter" {
		t.Fatalf("Graph = %v, %v", g, err)
	}
}

func TestReal_logs_return_the_line_the_operator_wrote_and_follow_ends_with_the_context(t *testing.T) {
	s, ctx := scheduler(t), testContext(t)
	waitFor(t, "the counter's line in its log", func() bool {
		found := false
		err := s.client.Logs(ctx, "counter", client.LogsOptions{Instances: []int32{0}}, func(l *schedulerv1.LogLine) error {
			found = found || (strings.Contains(l.Line, counterLine) && l.OperatorName == "counter" && l.InstanceIndex == 0)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return found
	})
	follow, cancel := context.WithCancel(ctx)
	lines := 0
	err := s.client.Logs(follow, "words", client.LogsOptions{TailLines: 1, Follow: true}, func(*schedulerv1.LogLine) error {
		lines++
		cancel()
		return nil
	})
	if err != nil || lines < 1 {
		t.Fatalf("followed Logs = %d lines, %v", lines, err)
	}
	stop := errors.New("enough")
	if err := s.client.Logs(ctx, "words", client.LogsOptions{}, func(*schedulerv1.LogLine) error { return stop }); err != stop {
		t.Fatalf("Logs whose callback fails = %v, want that error", err)
	}
}

func TestReal_instance_metrics_count_the_records_the_counter_read(t *testing.T) {
	s, ctx := scheduler(t), testContext(t)
	waitFor(t, "records counted in the counter's metrics", func() bool {
		m, err := s.client.InstanceMetrics(ctx, "counter")
		if err != nil {
			t.Fatal(err)
		}
		return len(m) == 1 && m[0].OperatorName == "counter" && m[0].Error == "" && m[0].RecordsInTotal > 0
	})
}

func TestReal_traces_of_sampled_records_list_and_show_their_spans(t *testing.T) {
	s, ctx := scheduler(t), testContext(t)
	var id string
	waitFor(t, "a trace through the counter", func() bool {
		traces, err := s.client.ListTraces(ctx, 50)
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range traces {
			for _, o := range tr.Operators {
				if o == "counter" {
					id = tr.TraceId
					return true
				}
			}
		}
		return false
	})
	spans, err := s.client.GetTrace(ctx, strings.ToUpper(id))
	if err != nil || len(spans) == 0 || spans[0].TraceId != id {
		t.Fatalf("GetTrace(%s) = %v, %v", id, spans, err)
	}
	var cerr *client.Error
	if _, err := s.client.GetTrace(ctx, strings.Repeat("0", 32)); !errors.As(err, &cerr) || cerr.Code != "NotFound" {
		t.Fatalf("GetTrace of an unknown id = %v; want NotFound", err)
	}
	if _, err := s.client.GetTrace(ctx, "not-a-trace"); err == nil || !strings.Contains(err.Error(), "32 hex digits") {
		t.Fatalf("GetTrace of a malformed id = %v", err)
	}
}

func TestReal_tail_returns_the_counters_records(t *testing.T) {
	s, ctx := scheduler(t), testContext(t)
	waitFor(t, "records on counts", func() bool {
		records, err := s.client.TailStream(ctx, "counts", 5)
		if err != nil {
			t.Fatal(err)
		}
		return len(records) > 0 && len(records) <= 5 && records[0].OperatorName == "counter" && records[0].Stream == "counts"
	})
	var cerr *client.Error
	if _, err := s.client.TailStream(ctx, "no-such-stream", 0); !errors.As(err, &cerr) || cerr.Code != "NotFound" ||
		!strings.Contains(cerr.Message, "counts") {
		t.Fatalf("TailStream of an unknown stream = %v; want NotFound naming the streams there are", err)
	}
}

func TestReal_checkpoints_are_taken_and_a_savepoint_completes(t *testing.T) {
	s, ctx := scheduler(t), testContext(t)
	waitFor(t, "a completed checkpoint", func() bool {
		r, err := s.client.ListCheckpoints(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return r.LatestCompletedId > 0
	})
	sp, err := s.client.TriggerSavepoint(ctx)
	if err != nil || !sp.Savepoint || sp.Status != schedulerv1.CheckpointStatus_CHECKPOINT_STATUS_COMPLETED {
		t.Fatalf("TriggerSavepoint = %v, %v", sp, err)
	}
	r, err := s.client.ListCheckpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Checkpoints {
		if c.CheckpointId == sp.CheckpointId && c.Savepoint {
			return
		}
	}
	t.Fatalf("savepoint %d not in %v", sp.CheckpointId, r.Checkpoints)
}

func TestReal_replace_runs_the_new_version(t *testing.T) {
	s, ctx := scheduler(t), testContext(t)
	r, err := s.client.ReplaceWith(ctx, counterSpec("2"), client.ReplaceOptions{RunningTimeout: 30 * time.Second})
	if err != nil || r.Restarted || r.Operator.Spec.Environment["VERSION"] != "2" || r.TotalMs <= 0 ||
		r.Operator.Instances[0].State != schedulerv1.InstanceState_INSTANCE_STATE_RUNNING {
		t.Fatalf("Replace = %v, %v", r, err)
	}
	if _, err := s.client.ReplaceWith(ctx, counterSpec("3"), client.ReplaceOptions{RunningTimeout: 2 * time.Minute}); err == nil ||
		!strings.Contains(err.Error(), "out of range") {
		t.Fatalf("Replace with a running timeout over the bound = %v", err)
	}
}

func TestReal_replace_with_drop_state_restarts_the_operators_with_a_guarantee(t *testing.T) {
	s, ctx := scheduler(t), testContext(t)
	waitFor(t, "a completed checkpoint to restart from", func() bool {
		r, err := s.client.ListCheckpoints(ctx)
		return err == nil && r.LatestCompletedId > 0
	})
	r, err := s.client.Replace(ctx, wordsSpec("2"), true)
	if err != nil || !r.Restarted || r.SwitchMs != r.TotalMs || r.Operator.Spec.Environment["VERSION"] != "2" {
		t.Fatalf("drop-state Replace = %v, %v", r, err)
	}
	// The next test finds the topology running again.
	waitFor(t, "both operators running after the restart", s.allRunning)
}

func TestReal_errors_carry_the_status_code_and_the_schedulers_message(t *testing.T) {
	s, ctx := scheduler(t), testContext(t)
	var cerr *client.Error
	err := s.client.Logs(ctx, "ghost", client.LogsOptions{}, func(*schedulerv1.LogLine) error { return nil })
	if !errors.As(err, &cerr) || cerr.Code != "NotFound" || cerr.Method != "GetLogs" || !strings.Contains(cerr.Message, "ghost") {
		t.Fatalf("Logs of an unknown operator = %v", err)
	}
	if err := s.client.Kill(ctx, "ghost"); !errors.As(err, &cerr) || cerr.Code != "NotFound" ||
		!strings.Contains(cerr.Message, "'ghost'") || status.Code(err) != codes.NotFound {
		t.Fatalf("Kill of an unknown operator = %v", err)
	}
	wrong, err := client.DialWithToken(s.address, "not-the-token")
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	if _, err := wrong.List(ctx); !errors.As(err, &cerr) || cerr.Code != "Unauthenticated" || cerr.Message == "" {
		t.Fatalf("List with a wrong token = %v", err)
	}
}

type standby struct {
	schedulerv1.UnimplementedSchedulerServer
	leader string
}

func (s *standby) List(context.Context, *schedulerv1.ListRequest) (*schedulerv1.ListResponse, error) {
	return nil, status.Errorf(codes.Unavailable, "this scheduler is a standby; the leader is %s", s.leader)
}

func TestReal_a_standbys_refusal_is_followed_to_the_leader_and_a_dead_address_passed_over(t *testing.T) {
	s, ctx := scheduler(t), testContext(t)
	leader := s.address
	if !strings.HasPrefix(leader, "http") {
		leader = "http://" + leader
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	schedulerv1.RegisterSchedulerServer(srv, &standby{leader: leader})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddress := dead.Addr().String()
	dead.Close()
	for _, addresses := range []string{"http://" + lis.Addr().String(), deadAddress + "," + leader} {
		c, err := client.DialWithToken(addresses, s.token)
		if err != nil {
			t.Fatal(err)
		}
		ops, err := c.List(ctx)
		if err != nil || len(ops) != 2 || c.Address() != strings.TrimPrefix(leader, "http://") {
			t.Fatalf("List through %s = %v, %v (now at %s)", addresses, ops, err, c.Address())
		}
		c.Close()
	}
}
