// Package client is the Go client of the Concord scheduler: deploy, replace, kill, scale, list and graph.
//
//	c, err := client.Dial("http://127.0.0.1:7400")
//	defer c.Close()
//	ops, err := c.List(ctx)
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	schedulerv1 "concord/gen/concord/scheduler/v1"
	typesv1 "concord/gen/concord/types/v1"
	concord "concord/sdk"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// TokenVariable and TokenFileName say where the scheduler's operator token is found when none
// is given (docs/security.md): the environment, else the token file in the scheduler home.
const (
	TokenVariable = "CONCORD_TOKEN"
	TokenFileName = "token"
)

// CallTimeout is the deadline of a call whose context has none: topology calls are quick, and
// a stuck scheduler must not hang a program forever (concord/sdk limits.go, with the SDK's
// other limits).
const CallTimeout = concord.SchedulerCallTimeout

// GrpcMessageBytesMax is the largest response accepted, in bytes (ProtocolLimits.GrpcMessageBytesMax).
const GrpcMessageBytesMax = concord.GrpcMessageBytesMax

// Client talks to one scheduler.
type Client struct {
	conn *grpc.ClientConn
	api  schedulerv1.SchedulerClient
}

// Dial connects (lazily) to the scheduler at address: "host:port" or "http://host:port", as
// in scheduler.json and CONCORD_SCHEDULER_ADDRESS, with the token of DefaultToken.
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

// DialWithToken is Dial with an explicit operator token, sent on every call as
// "authorization: Bearer <token>" ("" sends none).
func DialWithToken(address, token string) (*Client, error) {
	if strings.HasPrefix(address, "https://") {
		return nil, fmt.Errorf("the scheduler serves plain HTTP/2; use http://host:port, not %s", address)
	}
	target := strings.TrimPrefix(address, "http://")
	withToken := func(ctx context.Context, method string, req, reply interface{}, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if token != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	conn, err := grpc.Dial(target, grpc.WithInsecure(), grpc.WithUnaryInterceptor(withToken),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(GrpcMessageBytesMax)))
	if err != nil {
		return nil, fmt.Errorf("scheduler address %q: %w", address, err)
	}
	return &Client{conn: conn, api: schedulerv1.NewSchedulerClient(conn)}, nil
}

// Close releases the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Error is a failed call: Code is the gRPC status code, Message the scheduler's explanation.
type Error struct {
	Method  string
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s failed: %s: %s", e.Method, e.Code, e.Message) }

func bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, CallTimeout)
}

func wrap(method string, err error) error {
	if err == nil {
		return nil
	}
	s := status.Convert(err)
	return &Error{Method: method, Code: s.Code().String(), Message: s.Message()}
}

// Deploy adds an operator to the topology and returns it as stored.
func (c *Client) Deploy(ctx context.Context, spec *typesv1.OperatorSpec) (*schedulerv1.OperatorStatus, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	r, err := c.api.Deploy(ctx, &schedulerv1.DeployRequest{Spec: spec})
	if err != nil {
		return nil, wrap("Deploy", err)
	}
	return r.Operator, nil
}

// ReplaceCallTimeout is the deadline of a Replace whose context has none (concord/sdk limits.go).
const ReplaceCallTimeout = concord.ReplaceCallTimeout

// Replace ships a new version of a deployed operator (same name). A rolling replace: new
// instances beside the old, routing switched, old ones drained; rolled back on failure. An
// operator with a delivery guarantee is replaced by a restart of every operator with a
// guarantee from a fresh checkpoint, this one as the new version keeping its state (rolled back
// when the new version does not declare the checkpoint's state names); with dropState from the
// last completed checkpoint with empty state for it (docs/live-changes.md); the response says Restarted.
func (c *Client) Replace(ctx context.Context, spec *typesv1.OperatorSpec, dropState bool) (*schedulerv1.ReplaceResponse, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ReplaceCallTimeout)
		defer cancel()
	}
	r, err := c.api.Replace(ctx, &schedulerv1.ReplaceRequest{Spec: spec, DropState: dropState})
	if err != nil {
		return nil, wrap("Replace", err)
	}
	return r, nil
}

// Kill stops every instance of an operator and removes it from the topology.
func (c *Client) Kill(ctx context.Context, name string) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	_, err := c.api.Kill(ctx, &schedulerv1.KillRequest{Name: name})
	return wrap("Kill", err)
}

// Scale changes the number of instances of an operator and returns it as stored.
func (c *Client) Scale(ctx context.Context, name string, instances int) (*schedulerv1.OperatorStatus, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	r, err := c.api.Scale(ctx, &schedulerv1.ScaleRequest{Name: name, Instances: int32(instances)})
	if err != nil {
		return nil, wrap("Scale", err)
	}
	return r.Operator, nil
}

// List returns every deployed operator, ordered by name.
func (c *Client) List(ctx context.Context) ([]*schedulerv1.OperatorStatus, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	r, err := c.api.List(ctx, &schedulerv1.ListRequest{})
	if err != nil {
		return nil, wrap("List", err)
	}
	return r.Operators, nil
}

// Graph returns the operators and one edge per (stream, producer, reader).
func (c *Client) Graph(ctx context.Context) (*schedulerv1.GraphResponse, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	r, err := c.api.Graph(ctx, &schedulerv1.GraphRequest{})
	return r, wrap("Graph", err)
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

var groupings = map[string]typesv1.Grouping{
	"":          typesv1.Grouping_GROUPING_SHUFFLE,
	"shuffle":   typesv1.Grouping_GROUPING_SHUFFLE,
	"group_by":  typesv1.Grouping_GROUPING_GROUP_BY,
	"broadcast": typesv1.Grouping_GROUPING_BROADCAST,
}

// SpecFromDeployJSON parses a deploy file into an OperatorSpec. Unknown keys are rejected;
// "delivery" and "unavailable_reader_drop_after_ms" are checked as the CLI checks them, with
// the same wording.
// Paths are taken as given: make them absolute (the CLI resolves relative ones against the
// deploy file's directory).
func SpecFromDeployJSON(data []byte) (*typesv1.OperatorSpec, error) {
	var f DeployFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("deploy file: %w; allowed keys are name, executable, args, instances, "+
			"cpus, mem, environment, files, inputs, outputs, builtin, allow_cycles, delivery, "+
			"unavailable_reader_drop_after_ms", err)
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
