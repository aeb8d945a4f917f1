package concord

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	operatorv1 "concord/gen/concord/operator/v1"
	typesv1 "concord/gen/concord/types/v1"
)

var streamNamePattern = regexp.MustCompile(StreamNamePattern)
var stateNamePattern = regexp.MustCompile(StateNamePattern)

// fatalError is what ends a session: it becomes Error{fatal=true} and exit code 1.
type fatalError struct {
	message string
	detail  string
}

func (e *fatalError) Error() string { return e.message }

func protocolError(format string, args ...interface{}) *fatalError {
	return &fatalError{message: "ProtocolError: " + fmt.Sprintf(format, args...)}
}

// call runs one user callback, turning a returned error or a panic into a fatalError.
func call(where string, f func() error) (err *fatalError) {
	defer func() {
		if p := recover(); p != nil {
			err = &fatalError{
				message: fmt.Sprintf("panic (%T) in %s: %v", p, where, p),
				detail:  string(debug.Stack()),
			}
		}
	}()
	if e := f(); e != nil {
		return &fatalError{message: fmt.Sprintf("%T in %s: %v", e, where, e), detail: fmt.Sprintf("%+v", e)}
	}
	return nil
}

// sessionStream is the part of the generated server stream a session uses. The session
// receives with RecvMsg into an executorFrame, which sessionCodec decodes.
type sessionStream interface {
	Send(*operatorv1.OperatorMessage) error
	RecvMsg(m interface{}) error
}

type inbound struct {
	frame *executorFrame
	err   error
}

// runSession runs the protocol of operator.proto on stream and returns the exit code.
func runSession(comp Computation, stream sessionStream, logf func(string, ...interface{})) int {
	r := startReader(stream)
	err := serveSession(comp, stream, r)
	close(r.stop)
	code := ExitOK
	if err != nil {
		logf("concord: fatal error: %s\n%s", err.message, err.detail)
		_ = stream.Send(&operatorv1.OperatorMessage{Message: &operatorv1.OperatorMessage_Error{
			Error: &operatorv1.Error{Message: err.message, Detail: err.detail, Fatal: true}}})
		code = ExitFatal
	}
	r.linger(SessionLinger)
	return code
}

// sessionReader is the one goroutine that calls stream.Recv. During the session it parses the
// executor's next messages while the callbacks run on the session goroutine; after the session
// it keeps reading until the executor closes its side, which is how the operator knows its last
// message was read (docs/architecture.md, "Operator session rules").
type sessionReader struct {
	in     chan inbound
	stop   chan struct{}
	closed chan struct{}
}

func startReader(stream sessionStream) *sessionReader {
	r := &sessionReader{
		in:     make(chan inbound, InboundBatchesMax),
		stop:   make(chan struct{}),
		closed: make(chan struct{}),
	}
	go func() {
		defer close(r.closed)
		for {
			f := &executorFrame{}
			err := stream.RecvMsg(f)
			select {
			case r.in <- inbound{f, err}:
			case <-r.stop: // the session is over: discard, keep reading until the executor closes
			}
			if err != nil {
				return
			}
		}
	}()
	return r
}

// next is the executor's next message, or the error that ended its side of the stream.
func (r *sessionReader) next() (*executorFrame, error) {
	item := <-r.in
	return item.frame, item.err
}

// linger keeps the session open after its last message until the executor closes its side
// (ends its request stream or resets the call), at most d. Ending earlier lets the process exit
// and close the connection before the executor has read the last message (a fatal Error).
func (r *sessionReader) linger(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-r.closed:
	case <-t.C:
	}
}

func serveSession(comp Computation, stream sessionStream, r *sessionReader) *fatalError {
	frame, err := r.next()
	if err != nil {
		return protocolError("the executor closed the session before sending Init: %v", err)
	}
	first := &frame.msg
	init := first.GetInit()
	if init == nil {
		return protocolError("the first message of a session must be Init, got %T", first.GetMessage())
	}
	if ferr := checkInit(init); ferr != nil {
		return ferr
	}
	var md Metadata
	if ferr := call("Metadata()", func() error { md = comp.Metadata(); return nil }); ferr != nil {
		return ferr
	}
	mdProto, verr := md.toProto()
	if verr != nil {
		return &fatalError{message: "InvalidMetadata in Metadata(): " + verr.Error()}
	}
	if len(md.States) > 0 && !contains(init.Capabilities, CapabilityKeyedState) {
		return protocolError("the operator declares states %q but the executor lacks the "+
			"capability %s (it supports %s), so the state would not be kept; upgrade the executor",
			md.States, CapabilityKeyedState, strings.Join(init.Capabilities, ", "))
	}
	if err := stream.Send(&operatorv1.OperatorMessage{Message: &operatorv1.OperatorMessage_Metadata{
		Metadata: &operatorv1.Metadata{Metadata: mdProto, ProtocolVersion: ProtocolVersion,
			Capabilities: Capabilities, Sdk: SDKName}}}); err != nil {
		return &fatalError{message: "SendFailed: sending Metadata: " + err.Error()}
	}

	ctx := newBatchContext(init, md)
	ctx.enterNow(nil)
	ctx.state.inInit = true
	if ferr := call("Init()", func() error { return comp.Init(ctx) }); ferr != nil {
		return ferr
	}
	ctx.state.inInit = false
	if ferr := answer(stream, ctx, 0, "Init()"); ferr != nil {
		return ferr
	}

	for {
		frame, err := r.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return protocolError("the executor closed the session without Shutdown")
			}
			return protocolError("the session broke: %v", err)
		}
		switch m := frame.msg.GetMessage().(type) {
		case *operatorv1.ExecutorMessage_ProcessBatch:
			if ferr := processBatch(comp, stream, ctx, m.ProcessBatch); ferr != nil {
				return ferr
			}
			frame.release() // answered: its Records are reused for a later batch
		case *operatorv1.ExecutorMessage_Shutdown:
			return call("Destroy()", func() error { comp.Destroy(); return nil })
		default:
			return protocolError("unexpected %T after Init; the executor must send ProcessBatch or Shutdown", m)
		}
	}
}

func processBatch(comp Computation, stream sessionStream, ctx *batchContext, b *operatorv1.ProcessBatch) *fatalError {
	where := fmt.Sprintf("ProcessRecord (batch %d)", b.Seq)
	ctx.watermarkMs = b.WatermarkUnixMs
	if len(ctx.state.names) > 0 {
		if ferr := ctx.state.beginBatch(b); ferr != nil {
			return ferr
		}
	}
	ferr := call(where, func() error {
		for _, r := range b.Records {
			ctx.current = r
			ctx.stateKey = r.Key
			if err := comp.ProcessRecord(ctx, r); err != nil {
				return err
			}
			if ctx.err != nil {
				return ctx.err
			}
		}
		return nil
	})
	if ferr != nil {
		return ferr
	}
	for _, t := range b.TimersFired {
		ctx.enterNow(t.StateKey)
		if ferr := call(fmt.Sprintf("ProcessTimer(%q)", t.Key), func() error {
			return comp.ProcessTimer(ctx, t.Key, t.TimeUnixMs)
		}); ferr != nil {
			return ferr
		}
	}
	return answer(stream, ctx, b.Seq, where)
}

// answer sends the logs and the BatchDone of batch seq, unless a callback dropped a
// ProduceError, which is fatal.
func answer(stream sessionStream, ctx *batchContext, seq uint64, where string) *fatalError {
	if ctx.err != nil {
		return &fatalError{message: fmt.Sprintf("%T in %s: %v", ctx.err, where, ctx.err)}
	}
	for _, l := range ctx.logs {
		if err := stream.Send(l); err != nil {
			return &fatalError{message: "SendFailed: sending Log: " + err.Error()}
		}
	}
	if err := stream.Send(ctx.batchDone(seq)); err != nil {
		return &fatalError{message: fmt.Sprintf("SendFailed: sending BatchDone %d: %v", seq, err)}
	}
	ctx.reset()
	return nil
}

func checkInit(init *operatorv1.Init) *fatalError {
	if init.ProtocolVersion != ProtocolVersion {
		return protocolError("executor speaks operator protocol version %d, this SDK (%s) speaks %d; "+
			"use an SDK and executor of matching versions", init.ProtocolVersion, SDKName, ProtocolVersion)
	}
	var missing []string
	for _, req := range init.RequiredCapabilities {
		if !contains(Capabilities, req) {
			missing = append(missing, req)
		}
	}
	if len(missing) > 0 {
		return protocolError("the executor requires capabilities %s that %s lacks (it supports %s); upgrade the SDK",
			strings.Join(missing, ", "), SDKName, strings.Join(Capabilities, ", "))
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (md Metadata) toProto() (*typesv1.OperatorMetadata, error) {
	if md.Name == "" {
		return nil, errors.New("Metadata.Name is empty; set it to the deploy file's name")
	}
	out := &typesv1.OperatorMetadata{Name: md.Name, Outputs: md.Outputs}
	for _, in := range md.Inputs {
		if !streamNamePattern.MatchString(in.Name) {
			return nil, fmt.Errorf("input stream %q is not a stream name; use 1-%d characters from [A-Za-z0-9_.-]", in.Name, StreamNameCharsMax)
		}
		g := in.Grouping
		if g == 0 {
			g = Shuffle
		}
		if g != Shuffle && g != GroupBy && g != Broadcast {
			return nil, fmt.Errorf("input stream %q has grouping %d; use concord.Shuffle, GroupBy or Broadcast", in.Name, g)
		}
		out.Inputs = append(out.Inputs, &typesv1.InputStream{Name: in.Name, Grouping: typesv1.Grouping(g)})
	}
	for _, s := range md.Outputs {
		if !streamNamePattern.MatchString(s) {
			return nil, fmt.Errorf("output stream %q is not a stream name; use 1-%d characters from [A-Za-z0-9_.-]", s, StreamNameCharsMax)
		}
	}
	seen := make(map[string]bool, len(md.States))
	for _, s := range md.States {
		switch {
		case !stateNamePattern.MatchString(s):
			return nil, fmt.Errorf("state %q is not a state name; use 1-%d characters from [A-Za-z0-9_.-]", s, StateNameCharsMax)
		case strings.HasPrefix(s, StateNameReservedPrefix):
			return nil, fmt.Errorf("state %q starts with %q, which is reserved for the executor's own state; choose another name", s, StateNameReservedPrefix)
		case seen[s]:
			return nil, fmt.Errorf("state %q is declared more than once in States; declare each name once", s)
		}
		seen[s] = true
		out.States = append(out.States, &typesv1.StateDescriptor{Name: s, Kind: typesv1.StateKind_STATE_KIND_VALUE})
	}
	return out, nil
}
