// Package client is the Go client of the Concord scheduler's user-facing API: deploy, replace,
// kill, scale, list and graph the topology; read logs, metrics, traces and stream tails; list
// checkpoints and take savepoints.
//
//	c, err := client.Dial("http://127.0.0.1:7400")
//	defer c.Close()
//	ops, err := c.List(ctx)
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	schedulerv1 "concord/gen/concord/scheduler/v1"
	typesv1 "concord/gen/concord/types/v1"
	concord "concord/sdk"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// TokenVariable and TokenFileName say where the scheduler's operator token is found when none
// is given (docs/security.md): the environment, else the token file in the scheduler home.
const (
	TokenVariable = "CONCORD_TOKEN"
	TokenFileName = "token"
)

// StandbyPrefix begins every refusal of a standby scheduler, and LeaderMarker precedes the
// leader's address in it (docs/cluster.md; services/hosting/Concord.Hosting/LeaderRedirect.cs).
const (
	StandbyPrefix = "this scheduler is a standby"
	LeaderMarker  = "the leader is "
)

// CallTimeout is the deadline of a call whose context has none: topology calls are quick, and
// a stuck scheduler must not hang a program forever (concord/sdk limits.go, with the SDK's
// other limits).
const CallTimeout = concord.SchedulerCallTimeout

// GrpcMessageBytesMax is the largest response accepted, in bytes (ProtocolLimits.GrpcMessageBytesMax).
const GrpcMessageBytesMax = concord.GrpcMessageBytesMax

// Client talks to a scheduler, or to the leader among several.
type Client struct {
	token     string
	addresses []string
	mu        sync.Mutex
	address   string
	conns     map[string]*grpc.ClientConn
}

// Dial connects (lazily) to the scheduler at address: "host:port" or "http://host:port", as
// in scheduler.json and CONCORD_SCHEDULER_ADDRESS, or several comma-separated (a leader and its
// standbys), with the token of DefaultToken.
func Dial(address string) (*Client, error) { return DialWithToken(address, DefaultToken()) }

// DefaultToken is the operator token a client uses when given none: $CONCORD_TOKEN, else the
// token file of the scheduler home ($CONCORD_HOME, else ~/.concord); "" when neither exists.
func DefaultToken() string {
	if token := strings.TrimSpace(os.Getenv(TokenVariable)); token != "" {
		return token
	}
	home := os.Getenv("CONCORD_HOME")
	if home == "" {
		user, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		home = filepath.Join(user, ".concord")
	}
	data, err := os.ReadFile(filepath.Join(home, TokenFileName))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

func target(address string) (string, error) {
	if strings.HasPrefix(address, "https://") {
		return "", fmt.Errorf("the scheduler serves plain HTTP/2; use http://host:port, not %s", address)
	}
	return strings.TrimPrefix(strings.TrimRight(address, "/"), "http://"), nil
}

// DialWithToken is Dial with an explicit operator token, sent on every call as
// "authorization: Bearer <token>" ("" sends none). Given several addresses, a call goes to the
// first, follows a standby's refusal to the leader it names, and passes over an unreachable one.
func DialWithToken(address, token string) (*Client, error) {
	c := &Client{token: token, conns: map[string]*grpc.ClientConn{}}
	for _, a := range strings.Split(address, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		t, err := target(a)
		if err != nil {
			return nil, err
		}
		c.addresses = append(c.addresses, t)
	}
	if len(c.addresses) == 0 {
		return nil, fmt.Errorf("%q is not a scheduler address; use host:port or http://host:port, e.g. 127.0.0.1:7400", address)
	}
	c.address = c.addresses[0]
	if _, err := c.connLocked(c.address); err != nil {
		return nil, err
	}
	return c, nil
}

// Address is the scheduler calls go to now: the first given, or the leader found since.
func (c *Client) Address() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.address
}

func (c *Client) connLocked(address string) (*grpc.ClientConn, error) {
	if conn, ok := c.conns[address]; ok {
		return conn, nil
	}
	token := c.token
	withToken := func(ctx context.Context, method string, req, reply interface{}, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if token != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	streamWithToken := func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		if token != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
		}
		return streamer(ctx, desc, cc, method, opts...)
	}
	conn, err := grpc.Dial(address, grpc.WithInsecure(), grpc.WithUnaryInterceptor(withToken),
		grpc.WithStreamInterceptor(streamWithToken),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(GrpcMessageBytesMax)))
	if err != nil {
		return nil, fmt.Errorf("scheduler address %q: %w", address, err)
	}
	c.conns[address] = conn
	return conn, nil
}

// Close releases the connections.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var first error
	for a, conn := range c.conns {
		if err := conn.Close(); err != nil && first == nil {
			first = err
		}
		delete(c.conns, a)
	}
	return first
}

// Error is a failed call: Code is the gRPC status code, Message the scheduler's explanation.
type Error struct {
	Method  string
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s failed: %s: %s", e.Method, e.Code, e.Message) }

// GRPCStatus lets status.Code(err) and status.Convert(err) read the code of an *Error.
func (e *Error) GRPCStatus() *status.Status {
	code := codes.Unknown
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		if c.String() == e.Code {
			code = c
		}
	}
	return status.New(code, e.Message)
}

// bounded gives ctx the deadline timeout unless it has one; timeout 0 leaves it unbounded
// (a followed log, ended by cancelling ctx).
func bounded(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || timeout == 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, timeout)
}

func wrap(method string, err error) error {
	if err == nil {
		return nil
	}
	s := status.Convert(err)
	return &Error{Method: method, Code: s.Code().String(), Message: s.Message()}
}

var leaderPattern = regexp.MustCompile(`^https?://[^/\s]+`)

// LeaderIn is the leader's address a standby named in an error message, or "".
func LeaderIn(message string) string {
	at := strings.Index(message, LeaderMarker)
	if at < 0 {
		return ""
	}
	rest := message[at+len(LeaderMarker):]
	if end := strings.IndexAny(rest, " ;,)\n"); end >= 0 {
		rest = rest[:end]
	}
	rest = strings.TrimRight(rest, "./")
	if !leaderPattern.MatchString(rest) {
		return ""
	}
	return rest
}

// call runs one call on the current scheduler with timeout (unless ctx has a deadline); an
// Unavailable answer moves it to the leader a standby named, else to a scheduler not tried yet.
func (c *Client) call(ctx context.Context, method string, timeout time.Duration, run func(context.Context, schedulerv1.SchedulerClient) error) error {
	ctx, cancel := bounded(ctx, timeout)
	defer cancel()
	tried := map[string]bool{}
	for attempt := 1; ; attempt++ {
		c.mu.Lock()
		address := c.address
		conn, err := c.connLocked(address)
		c.mu.Unlock()
		if err != nil {
			return err
		}
		err = run(ctx, schedulerv1.NewSchedulerClient(conn))
		if err == nil {
			return nil
		}
		if status.Code(err) == codes.Unavailable && ctx.Err() == nil && attempt < concord.SchedulerTriesMax {
			if next := c.nextAfter(address, status.Convert(err).Message(), tried); next != "" {
				c.mu.Lock()
				c.address = next
				c.mu.Unlock()
				continue
			}
		}
		return wrap(method, err)
	}
}

func (c *Client) nextAfter(address, message string, tried map[string]bool) string {
	tried[address] = true
	if leader := LeaderIn(message); leader != "" {
		if t, err := target(leader); err == nil && t != address {
			return t
		}
	}
	for _, a := range c.addresses {
		if !tried[a] {
			return a
		}
	}
	return ""
}

// Deploy adds an operator to the topology and returns it as stored.
func (c *Client) Deploy(ctx context.Context, spec *typesv1.OperatorSpec) (*schedulerv1.OperatorStatus, error) {
	var r *schedulerv1.DeployResponse
	err := c.call(ctx, "Deploy", CallTimeout, func(ctx context.Context, api schedulerv1.SchedulerClient) (err error) {
		r, err = api.Deploy(ctx, &schedulerv1.DeployRequest{Spec: spec})
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.Operator, nil
}

// ReplaceCallTimeout is the deadline of a Replace whose context has none (concord/sdk limits.go).
const ReplaceCallTimeout = concord.ReplaceCallTimeout

// ReplaceOptions are the optional parts of a Replace; the zero value is what
// `concord deploy --replace` sends by default.
type ReplaceOptions struct {
	// DropState restarts an operator with a delivery guarantee with empty state (docs/live-changes.md).
	DropState bool
	// RunningTimeout is how long the new instances may take to run, at most
	// concord.ReplaceRunningTimeoutMax (the default when 0).
	RunningTimeout time.Duration
}

// Replace ships a new version of a deployed operator (same name). A rolling replace: new
// instances beside the old, routing switched, old ones drained; rolled back on failure. An
// operator with a delivery guarantee is replaced by a restart of every operator with a
// guarantee from a fresh checkpoint, this one as the new version keeping its state (rolled back
// when the new version does not declare the checkpoint's state names); with dropState from the
// last completed checkpoint with empty state for it (docs/live-changes.md); the response says Restarted.
func (c *Client) Replace(ctx context.Context, spec *typesv1.OperatorSpec, dropState bool) (*schedulerv1.ReplaceResponse, error) {
	return c.ReplaceWith(ctx, spec, ReplaceOptions{DropState: dropState})
}

// ReplaceWith is Replace with every option.
func (c *Client) ReplaceWith(ctx context.Context, spec *typesv1.OperatorSpec, options ReplaceOptions) (*schedulerv1.ReplaceResponse, error) {
	running := options.RunningTimeout
	if running == 0 {
		running = concord.ReplaceRunningTimeoutMax
	}
	if running < time.Millisecond || running > concord.ReplaceRunningTimeoutMax {
		return nil, fmt.Errorf("RunningTimeout %v is out of range; use 1ms..%v (the scheduler's bound)", running, concord.ReplaceRunningTimeoutMax)
	}
	request := &schedulerv1.ReplaceRequest{Spec: spec, DropState: options.DropState, RunningTimeoutMs: int32(running / time.Millisecond)}
	var r *schedulerv1.ReplaceResponse
	err := c.call(ctx, "Replace", ReplaceCallTimeout, func(ctx context.Context, api schedulerv1.SchedulerClient) (err error) {
		r, err = api.Replace(ctx, request)
		return err
	})
	return r, err
}

// Kill stops every instance of an operator and removes it from the topology.
func (c *Client) Kill(ctx context.Context, name string) error {
	return c.call(ctx, "Kill", CallTimeout, func(ctx context.Context, api schedulerv1.SchedulerClient) error {
		_, err := api.Kill(ctx, &schedulerv1.KillRequest{Name: name})
		return err
	})
}

// Scale changes the number of instances of an operator and returns it as stored. Scaling an
// operator with a delivery guarantee waits for a checkpoint, hence concord.CheckpointCallTimeout.
func (c *Client) Scale(ctx context.Context, name string, instances int) (*schedulerv1.OperatorStatus, error) {
	var r *schedulerv1.ScaleResponse
	err := c.call(ctx, "Scale", concord.CheckpointCallTimeout, func(ctx context.Context, api schedulerv1.SchedulerClient) (err error) {
		r, err = api.Scale(ctx, &schedulerv1.ScaleRequest{Name: name, Instances: int32(instances)})
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.Operator, nil
}

// List returns every deployed operator, ordered by name (ListWithLeader also says which
// scheduler leads).
func (c *Client) List(ctx context.Context) ([]*schedulerv1.OperatorStatus, error) {
	r, err := c.ListWithLeader(ctx)
	if err != nil {
		return nil, err
	}
	return r.Operators, nil
}

// ListWithLeader returns the whole ListResponse: the operators, Leader (the leading
// scheduler's address as the answering one knows it; "" for one that always leads) and
// FromStandby (a standby answered: every instance shows as not running).
func (c *Client) ListWithLeader(ctx context.Context) (*schedulerv1.ListResponse, error) {
	var r *schedulerv1.ListResponse
	err := c.call(ctx, "List", CallTimeout, func(ctx context.Context, api schedulerv1.SchedulerClient) (err error) {
		r, err = api.List(ctx, &schedulerv1.ListRequest{})
		return err
	})
	return r, err
}

// Graph returns the operators and one edge per (stream, producer, reader).
func (c *Client) Graph(ctx context.Context) (*schedulerv1.GraphResponse, error) {
	var r *schedulerv1.GraphResponse
	err := c.call(ctx, "Graph", CallTimeout, func(ctx context.Context, api schedulerv1.SchedulerClient) (err error) {
		r, err = api.Graph(ctx, &schedulerv1.GraphRequest{})
		return err
	})
	return r, err
}

// LogsOptions choose the lines of Logs; the zero value reads every instance's last
// concord.LogTailLinesDefault lines and ends.
type LogsOptions struct {
	// Instances to read; empty means every instance.
	Instances []int32
	// TailLines is the lines of history per instance, 0..concord.LogTailLinesMax; 0 means
	// concord.LogTailLinesDefault (as `concord logs`). NoHistory asks for none.
	TailLines int
	// NoHistory sends only new lines (with Follow).
	NoHistory bool
	// Follow keeps the call open, sending new lines as they are written until ctx ends;
	// without it the call has CallTimeout unless ctx has a deadline.
	Follow bool
}

// Logs calls each with every line of the operator's executor.log (the executor's events and
// the operator's stdout/stderr), oldest first, and returns when the lines end (or, with
// Follow, when ctx is cancelled: then it returns nil), when each returns an error (that
// error), or on a failure (an *Error; NotFound for an operator that is not deployed).
func (c *Client) Logs(ctx context.Context, name string, options LogsOptions, each func(*schedulerv1.LogLine) error) error {
	tail := options.TailLines
	if tail < 0 || tail > concord.LogTailLinesMax {
		return fmt.Errorf("TailLines %d is out of range; use 0..%d", tail, concord.LogTailLinesMax)
	}
	if tail == 0 {
		tail = concord.LogTailLinesDefault
	}
	if options.NoHistory {
		tail = -1
	}
	request := &schedulerv1.GetLogsRequest{OperatorName: name, InstanceIndexes: options.Instances,
		TailLines: int32(tail), Follow: options.Follow}
	var timeout time.Duration = CallTimeout
	if options.Follow {
		timeout = 0
	}
	var stopped error
	err := c.call(ctx, "GetLogs", timeout, func(ctx context.Context, api schedulerv1.SchedulerClient) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stream, err := api.GetLogs(ctx, request)
		if err != nil {
			return err
		}
		for received := false; ; received = true {
			line, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil && received {
				// Lines were delivered: going to another scheduler would repeat them.
				stopped = wrap("GetLogs", err)
				return nil
			}
			if err != nil {
				return err
			}
			if err := each(line); err != nil {
				stopped = err
				return nil
			}
		}
	})
	if options.Follow && ctx.Err() != nil {
		return nil
	}
	if stopped != nil {
		return stopped
	}
	return err
}

// InstanceMetrics returns the current figures of every running instance (of operator only,
// unless ""), ordered by operator then index. Counters are totals: compute rates from two calls.
func (c *Client) InstanceMetrics(ctx context.Context, operator string) ([]*schedulerv1.InstanceMetrics, error) {
	var r *schedulerv1.GetInstanceMetricsResponse
	err := c.call(ctx, "GetInstanceMetrics", CallTimeout, func(ctx context.Context, api schedulerv1.SchedulerClient) (err error) {
		r, err = api.GetInstanceMetrics(ctx, &schedulerv1.GetInstanceMetricsRequest{OperatorName: operator})
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.Instances, nil
}

// ListTraces returns recent sampled traces, newest first; limit is 1..concord.TraceListMax, 0
// meaning concord.TraceListDefault. Sources sample one record in CONCORD_TRACE_SAMPLE_EVERY
// (docs/observability.md).
func (c *Client) ListTraces(ctx context.Context, limit int) ([]*schedulerv1.TraceSummary, error) {
	if limit == 0 {
		limit = concord.TraceListDefault
	}
	if limit < 1 || limit > concord.TraceListMax {
		return nil, fmt.Errorf("limit %d is out of range; use 1..%d", limit, concord.TraceListMax)
	}
	var r *schedulerv1.ListTracesResponse
	err := c.call(ctx, "ListTraces", CallTimeout, func(ctx context.Context, api schedulerv1.SchedulerClient) (err error) {
		r, err = api.ListTraces(ctx, &schedulerv1.ListTracesRequest{Limit: int32(limit)})
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.Traces, nil
}

var traceID = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)

// GetTrace returns every span of one trace (32 hex digits, as ListTraces gives them), by start
// time; an *Error NotFound when no executor holds it.
func (c *Client) GetTrace(ctx context.Context, id string) ([]*schedulerv1.Span, error) {
	id = strings.TrimSpace(id)
	if !traceID.MatchString(id) {
		return nil, fmt.Errorf("%q is not a trace id (32 hex digits); ListTraces gives recent ones", id)
	}
	var r *schedulerv1.GetTraceResponse
	err := c.call(ctx, "GetTrace", CallTimeout, func(ctx context.Context, api schedulerv1.SchedulerClient) (err error) {
		r, err = api.GetTrace(ctx, &schedulerv1.GetTraceRequest{TraceId: strings.ToLower(id)})
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.Spans, nil
}

// TailStream returns the last records produced on stream, each instance's oldest first;
// recordsMax is 1..concord.TailRecordsMax, 0 meaning concord.TailRecordsDefault. Executors
// start keeping a stream's records when a tail asks for it, so a first call may be empty: poll.
// Deploys nothing; an *Error NotFound (naming the streams there are) for a stream no deployed
// operator writes.
func (c *Client) TailStream(ctx context.Context, stream string, recordsMax int) ([]*schedulerv1.TailRecord, error) {
	if recordsMax == 0 {
		recordsMax = concord.TailRecordsDefault
	}
	if recordsMax < 1 || recordsMax > concord.TailRecordsMax {
		return nil, fmt.Errorf("recordsMax %d is out of range; use 1..%d", recordsMax, concord.TailRecordsMax)
	}
	var r *schedulerv1.TailStreamResponse
	err := c.call(ctx, "TailStream", CallTimeout, func(ctx context.Context, api schedulerv1.SchedulerClient) (err error) {
		r, err = api.TailStream(ctx, &schedulerv1.TailStreamRequest{Stream: stream, RecordsMax: int32(recordsMax)})
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.Records, nil
}

// ListCheckpoints returns the checkpoints newest first (the one in progress first) and
// LatestCompletedId, the one a restore would use (0 when none).
func (c *Client) ListCheckpoints(ctx context.Context) (*schedulerv1.ListCheckpointsResponse, error) {
	var r *schedulerv1.ListCheckpointsResponse
	err := c.call(ctx, "ListCheckpoints", CallTimeout, func(ctx context.Context, api schedulerv1.SchedulerClient) (err error) {
		r, err = api.ListCheckpoints(ctx, &schedulerv1.ListCheckpointsRequest{})
		return err
	})
	return r, err
}

// TriggerSavepoint takes a savepoint now (a checkpoint kept until deleted by hand) and returns
// it once completed; an *Error FailedPrecondition naming why it could not. Without a deadline
// on ctx the call has concord.CheckpointCallTimeout.
func (c *Client) TriggerSavepoint(ctx context.Context) (*schedulerv1.CheckpointInfo, error) {
	var r *schedulerv1.TriggerSavepointResponse
	err := c.call(ctx, "TriggerSavepoint", concord.CheckpointCallTimeout, func(ctx context.Context, api schedulerv1.SchedulerClient) (err error) {
		r, err = api.TriggerSavepoint(ctx, &schedulerv1.TriggerSavepointRequest{})
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.Savepoint, nil
}

// DeployFile is the JSON shape of a deploy file (see examples/wordcount/*.json).
type DeployFile struct {
	Name        string            `json:"name"`
	Executable  string            `json:"executable"`
	Args        []string          `json:"args"`
	Instances   int32             `json:"instances"`
	Cpus        float64           `json:"cpus"`
	MemMb       int32             `json:"mem"`
	Environment map[string]string `json:"environment"`
	Files       []string          `json:"files"`
	Inputs      []struct {
		Stream   string `json:"stream"`
		Grouping string `json:"grouping"`
	} `json:"inputs"`
	Outputs []string `json:"outputs"`
	Builtin *struct {
		Kind    string            `json:"kind"`
		Options map[string]string `json:"options"`
	} `json:"builtin"`
	AllowCycles bool `json:"allow_cycles"`
	// Delivery is "at_most_once", "at_least_once" or "exactly_once" (docs/guarantees.md); kept
	// raw so a wrong type is reported with the CLI's wording, not the decoder's.
	Delivery json.RawMessage `json:"delivery"`
	// UnavailableReaderDropAfterMs is 1..UnavailableReaderDropAfterMsMax ms (docs/deploy-file.md);
	// raw for the same reason.
	UnavailableReaderDropAfterMs json.RawMessage `json:"unavailable_reader_drop_after_ms"`
	// Image is the operator's container image where the runtime runs images (--runtime
	// kubernetes; docs/deploy-file.md); raw for the same reason. Whether it is an image
	// reference is checked by the scheduler (OperatorSpecValidator.ImageProblem).
	Image json.RawMessage `json:"image"`
}

// deliveries are the deploy file's "delivery" names (OperatorSpecValidator.DeliveryNames), weakest first.
var deliveries = []struct {
	name  string
	value typesv1.DeliveryGuarantee
}{
	{"at_most_once", typesv1.DeliveryGuarantee_DELIVERY_AT_MOST_ONCE},
	{"at_least_once", typesv1.DeliveryGuarantee_DELIVERY_AT_LEAST_ONCE},
	{"exactly_once", typesv1.DeliveryGuarantee_DELIVERY_EXACTLY_ONCE},
}

// closestName is the known name closest to unknown if close enough to be a typo (a third of
// the name, at least 2 edits), else "": the CLI's DeployFile.ClosestName, so hints read the same.
func closestName(unknown string, known []string) string {
	a := []rune(strings.ToLower(unknown))
	best, bestDistance := "", -1
	for _, candidate := range known {
		b := []rune(candidate)
		previous := make([]int, len(b)+1)
		for j := range previous {
			previous[j] = j
		}
		for i := 1; i <= len(a); i++ {
			current := make([]int, len(b)+1)
			current[0] = i
			for j := 1; j <= len(b); j++ {
				cost := 1
				if a[i-1] == b[j-1] {
					cost = 0
				}
				current[j] = min3(current[j-1]+1, previous[j]+1, previous[j-1]+cost)
			}
			previous = current
		}
		if bestDistance < 0 || previous[len(b)] < bestDistance {
			best, bestDistance = candidate, previous[len(b)]
		}
	}
	allowed := len(a) / 3
	if allowed < 2 {
		allowed = 2
	}
	if bestDistance >= 0 && bestDistance <= allowed {
		return best
	}
	return ""
}

func min3(a, b, c int) int {
	if b < a {
		a = b
	}
	if c < a {
		a = c
	}
	return a
}

// describeJSON names a JSON value's type in words, as the CLI does.
func describeJSON(raw json.RawMessage) string {
	switch t := bytes.TrimSpace(raw); {
	case len(t) == 0 || t[0] == 'n':
		return "null"
	case t[0] == '"':
		return "a string"
	case t[0] == '{':
		return "an object"
	case t[0] == '[':
		return "an array"
	case t[0] == 't' || t[0] == 'f':
		return "a boolean"
	default:
		return "a number"
	}
}

// parseDelivery reads "delivery" with the CLI's checks and wording.
func parseDelivery(raw json.RawMessage) (typesv1.DeliveryGuarantee, error) {
	var name string
	if describeJSON(raw) != "a string" || json.Unmarshal(raw, &name) != nil {
		quote := ""
		if describeJSON(raw) == "a number" {
			quote = fmt.Sprintf(`; quote it: "%s"`, bytes.TrimSpace(raw))
		}
		return 0, fmt.Errorf("deploy file: delivery: expected a string, got %s%s", describeJSON(raw), quote)
	}
	names := make([]string, len(deliveries))
	for i, d := range deliveries {
		if d.name == name {
			return d.value, nil
		}
		names[i] = d.name
	}
	hint := ""
	if close := closestName(name, names); close != "" {
		hint = fmt.Sprintf("did you mean %q? ", close)
	}
	return 0, fmt.Errorf("deploy file: delivery: %q is not a delivery guarantee; %suse one of: %s (default at_most_once; see docs/guarantees.md)",
		name, hint, strings.Join(names, ", "))
}

// parseDropAfterMs reads "unavailable_reader_drop_after_ms" with the CLI's checks and wording.
func parseDropAfterMs(raw json.RawMessage) (int32, error) {
	const field = "unavailable_reader_drop_after_ms"
	if describeJSON(raw) != "a number" {
		return 0, fmt.Errorf("deploy file: %s: expected a whole number such as 3000, got %s", field, describeJSON(raw))
	}
	var number float64
	if err := json.Unmarshal(raw, &number); err != nil || number != math.Trunc(number) {
		return 0, fmt.Errorf("deploy file: %s: expected a whole number such as 3000, got %s, which is not a whole number",
			field, bytes.TrimSpace(raw))
	}
	if number < 1 || number > concord.UnavailableReaderDropAfterMsMax {
		return 0, fmt.Errorf("deploy file: %s: %s is out of range; use 1..%d: how long, in ms, records for a reader "+
			"instance that is down wait before they are dropped (at_most_once)", field, bytes.TrimSpace(raw), concord.UnavailableReaderDropAfterMsMax)
	}
	return int32(number), nil
}

// parseImage reads "image" with the CLI's checks and wording.
func parseImage(raw json.RawMessage) (string, error) {
	if describeJSON(raw) != "a string" {
		return "", fmt.Errorf("deploy file: image: expected a string, got %s", describeJSON(raw))
	}
	var image string
	if err := json.Unmarshal(raw, &image); err != nil {
		return "", fmt.Errorf("deploy file: image: %w", err)
	}
	if image == "" {
		return "", fmt.Errorf(`deploy file: image: is empty; give an image reference such as "registry.example.com/team/counter:1.0", or remove "image"`)
	}
	return image, nil
}

var groupings = map[string]typesv1.Grouping{
	"":          typesv1.Grouping_GROUPING_SHUFFLE,
	"shuffle":   typesv1.Grouping_GROUPING_SHUFFLE,
	"group_by":  typesv1.Grouping_GROUPING_GROUP_BY,
	"broadcast": typesv1.Grouping_GROUPING_BROADCAST,
}

// SpecFromDeployJSON parses a deploy file into an OperatorSpec. Unknown keys are rejected;
// "delivery", "unavailable_reader_drop_after_ms" and "image" are checked as the CLI checks them,
// with the same wording.
// Paths are taken as given: make them absolute (the CLI resolves relative ones against the
// deploy file's directory).
func SpecFromDeployJSON(data []byte) (*typesv1.OperatorSpec, error) {
	var f DeployFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("deploy file: %w; allowed keys are name, executable, args, instances, "+
			"cpus, mem, environment, files, inputs, outputs, builtin, allow_cycles, delivery, "+
			"unavailable_reader_drop_after_ms, image", err)
	}
	spec := &typesv1.OperatorSpec{Name: f.Name, Executable: f.Executable, Args: f.Args,
		Instances: f.Instances, Cpus: f.Cpus, MemMb: f.MemMb, Environment: f.Environment,
		Files: f.Files, ExpectedOutputs: f.Outputs, AllowCycles: f.AllowCycles}
	if spec.Instances == 0 {
		spec.Instances = 1
	}
	if f.Delivery != nil {
		delivery, err := parseDelivery(f.Delivery)
		if err != nil {
			return nil, err
		}
		spec.Delivery = delivery
	}
	if f.UnavailableReaderDropAfterMs != nil {
		ms, err := parseDropAfterMs(f.UnavailableReaderDropAfterMs)
		if err != nil {
			return nil, err
		}
		spec.UnavailableReaderDropAfterMs = ms
	}
	if f.Image != nil {
		image, err := parseImage(f.Image)
		if err != nil {
			return nil, err
		}
		spec.Image = image
	}
	for _, in := range f.Inputs {
		g, ok := groupings[in.Grouping]
		if !ok {
			names := make([]string, 0, len(groupings))
			for n := range groupings {
				if n != "" {
					names = append(names, n)
				}
			}
			sort.Strings(names)
			return nil, fmt.Errorf("deploy file: input %q has grouping %q; use one of %s",
				in.Stream, in.Grouping, strings.Join(names, ", "))
		}
		spec.ExpectedInputs = append(spec.ExpectedInputs, &typesv1.InputStream{Name: in.Stream, Grouping: g})
	}
	if f.Builtin != nil {
		spec.Builtin = &typesv1.BuiltinOperator{Kind: f.Builtin.Kind, Options: f.Builtin.Options}
	}
	return spec, nil
}
