package concord

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"runtime/debug"
	"strings"

	operatorv1 "concord/gen/concord/operator/v1"
	typesv1 "concord/gen/concord/types/v1"
)

var streamNamePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)

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

// sessionStream is the part of the generated server stream a session uses.
type sessionStream interface {
	Send(*operatorv1.OperatorMessage) error
	Recv() (*operatorv1.ExecutorMessage, error)
}

type inbound struct {
	msg *operatorv1.ExecutorMessage
	err error
}

// runSession runs the protocol of operator.proto on stream and returns the exit code.
func runSession(comp Computation, stream sessionStream, logf func(string, ...interface{})) int {
	err := serveSession(comp, stream)
	if err == nil {
		return ExitOK
	}
	logf("concord: fatal error: %s\n%s", err.message, err.detail)
	_ = stream.Send(&operatorv1.OperatorMessage{Message: &operatorv1.OperatorMessage_Error{
		Error: &operatorv1.Error{Message: err.message, Detail: err.detail, Fatal: true}}})
	return ExitFatal
}

func serveSession(comp Computation, stream sessionStream) *fatalError {
	first, err := stream.Recv()
	if err != nil {
		return protocolError("the executor closed the session before sending Init: %v", err)
	}
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
	if err := stream.Send(&operatorv1.OperatorMessage{Message: &operatorv1.OperatorMessage_Metadata{
		Metadata: &operatorv1.Metadata{Metadata: mdProto, ProtocolVersion: ProtocolVersion,
			Capabilities: Capabilities, Sdk: SDKName}}}); err != nil {
		return &fatalError{message: "SendFailed: sending Metadata: " + err.Error()}
	}

	ctx := newBatchContext(init, md)
	ctx.enterNow()
	if ferr := call("Init()", func() error { return comp.Init(ctx) }); ferr != nil {
		return ferr
	}
	if ferr := answer(stream, ctx, 0, "Init()"); ferr != nil {
		return ferr
	}

	// Parse batches on another goroutine while the callbacks run on this one.
	depth := int(init.MaxBatchesInFlight)
	if depth <= 0 || depth > InboundBatchesMax {
		depth = InboundBatchesMax
	}
	in := make(chan inbound, depth)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			msg, err := stream.Recv()
			select {
			case in <- inbound{msg, err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()

	for item := range in {
		if item.err != nil {
			if errors.Is(item.err, io.EOF) {
				return protocolError("the executor closed the session without Shutdown")
			}
			return protocolError("the session broke: %v", item.err)
		}
		switch m := item.msg.GetMessage().(type) {
		case *operatorv1.ExecutorMessage_ProcessBatch:
			if ferr := processBatch(comp, stream, ctx, m.ProcessBatch); ferr != nil {
				return ferr
			}
		case *operatorv1.ExecutorMessage_Shutdown:
			return call("Destroy()", func() error { comp.Destroy(); return nil })
		default:
			return protocolError("unexpected %T after Init; the executor must send ProcessBatch or Shutdown", m)
		}
	}
	return nil // unreachable: the reader sends an error before it stops
}

func processBatch(comp Computation, stream sessionStream, ctx *batchContext, b *operatorv1.ProcessBatch) *fatalError {
	where := fmt.Sprintf("ProcessRecord (batch %d)", b.Seq)
	ferr := call(where, func() error {
		for _, r := range b.Records {
			ctx.current = r
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
		ctx.enterNow()
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
		found := false
		for _, c := range Capabilities {
			found = found || c == req
		}
		if !found {
			missing = append(missing, req)
		}
	}
	if len(missing) > 0 {
		return protocolError("the executor requires capabilities %s that %s lacks (it supports %s); upgrade the SDK",
			strings.Join(missing, ", "), SDKName, strings.Join(Capabilities, ", "))
	}
	return nil
}

func (md Metadata) toProto() (*typesv1.OperatorMetadata, error) {
	if md.Name == "" {
		return nil, errors.New("Metadata.Name is empty; set it to the deploy file's name")
	}
	out := &typesv1.OperatorMetadata{Name: md.Name, Outputs: md.Outputs}
	for _, in := range md.Inputs {
		if !streamNamePattern.MatchString(in.Name) {
			return nil, fmt.Errorf("input stream %q is not a stream name; use 1-128 characters from [A-Za-z0-9_.-]", in.Name)
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
			return nil, fmt.Errorf("output stream %q is not a stream name; use 1-128 characters from [A-Za-z0-9_.-]", s)
		}
	}
	return out, nil
}
