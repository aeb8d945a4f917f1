// Package sdktest drives an operator session the way the executor does, for tests of
// operators and SDKs: it serves a Computation in-process on a unix socket in a short temp
// directory and talks to it with the generated gRPC client.
package sdktest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	operatorv1 "concord/gen/concord/operator/v1"
	typesv1 "concord/gen/concord/types/v1"
	concord "concord/sdk"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// Timeout bounds every wait of a driver: dialing, each message, the operator's exit.
const Timeout = 30 * time.Second

// DialRetry is the first delay between attempts to reach an operator that is not listening yet.
const DialRetry = 10 * time.Millisecond

// Driver is one session with an in-process operator.
type Driver struct {
	t      testing.TB
	stream operatorv1.Operator_SessionClient
	exit   chan int
	cancel context.CancelFunc
	conn   *grpc.ClientConn
}

// Start serves comp with concord.Run on a fresh unix socket and opens its session.
func Start(t testing.TB, comp concord.Computation) *Driver {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "cc-go-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	socket := filepath.Join(dir, "op.sock")
	d := &Driver{t: t, exit: make(chan int, 1)}
	go func() { d.exit <- concord.Run(comp, socket) }()

	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	d.cancel = cancel
	t.Cleanup(cancel)
	// WithBlock retries until the operator listens, bounded by ctx; the short back-off keeps a
	// test from waiting the default second for a socket that appears a millisecond later.
	d.conn, err = grpc.DialContext(ctx, "passthrough:///op", grpc.WithInsecure(), grpc.WithBlock(),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: DialRetry, Multiplier: 1.2, MaxDelay: 10 * DialRetry},
			MinConnectTimeout: Timeout}),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			var dialer net.Dialer
			return dialer.DialContext(ctx, "unix", socket)
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(concord.GrpcMessageBytesMax)))
	if err != nil {
		t.Fatalf("dial operator at %s: %v", socket, err)
	}
	t.Cleanup(func() { d.conn.Close() })
	d.stream, err = operatorv1.NewOperatorClient(d.conn).Session(ctx)
	if err != nil {
		t.Fatalf("open session: %v", err)
	}
	return d
}

// InitMessage is the Init an executor sends, with the given limits.
func InitMessage(maxRecordBytes int32, required ...string) *operatorv1.ExecutorMessage {
	if required == nil {
		required = []string{concord.CapabilityBatchPipelining}
	}
	return &operatorv1.ExecutorMessage{Message: &operatorv1.ExecutorMessage_Init{Init: &operatorv1.Init{
		ProtocolVersion: concord.ProtocolVersion, Capabilities: concord.Capabilities,
		RequiredCapabilities: required, OperatorName: "counter", InstanceIndex: 0, InstanceCount: 1,
		MaxBatchesInFlight: 4, MaxRecordBytes: maxRecordBytes}}}
}

// Batch is a ProcessBatch of records with the given keys; fill sets the other fields.
func Batch(seq uint64, keys []string, fill func(*typesv1.Record)) *operatorv1.ExecutorMessage {
	b := &operatorv1.ProcessBatch{Seq: seq}
	for _, k := range keys {
		r := &typesv1.Record{Key: []byte(k)}
		if fill != nil {
			fill(r)
		}
		b.Records = append(b.Records, r)
	}
	return &operatorv1.ExecutorMessage{Message: &operatorv1.ExecutorMessage_ProcessBatch{ProcessBatch: b}}
}

// ShutdownMessage asks the operator to destroy and end the session.
func ShutdownMessage() *operatorv1.ExecutorMessage {
	return &operatorv1.ExecutorMessage{Message: &operatorv1.ExecutorMessage_Shutdown{Shutdown: &operatorv1.Shutdown{Reason: "test"}}}
}

// Send sends one message to the operator. After Shutdown it ends the executor's side of the
// stream, as the executor does.
func (d *Driver) Send(m *operatorv1.ExecutorMessage) {
	d.t.Helper()
	if err := d.stream.Send(m); err != nil {
		d.t.Fatalf("send: %v", err)
	}
	if m.GetShutdown() != nil {
		d.CloseSend()
	}
}

// Cancel cancels the session, as the executor's death looks to the operator.
func (d *Driver) Cancel() { d.cancel() }

// CloseSend ends the executor's side of the stream.
func (d *Driver) CloseSend() { _ = d.stream.CloseSend() }

// Recv returns the operator's next message; ok is false when the stream ended cleanly.
func (d *Driver) Recv() (msg *operatorv1.OperatorMessage, ok bool) {
	d.t.Helper()
	m, err := d.stream.Recv()
	if err != nil {
		if err.Error() == "EOF" {
			return nil, false
		}
		d.t.Fatalf("recv: %v", err)
	}
	if m.GetError().GetFatal() {
		d.CloseSend() // the executor ends its side once it has read a fatal Error
	}
	return m, true
}

// MustRecv returns the next message and fails the test if the stream ended.
func (d *Driver) MustRecv() *operatorv1.OperatorMessage {
	d.t.Helper()
	m, ok := d.Recv()
	if !ok {
		d.t.Fatal("the operator ended the session early")
	}
	return m
}

// Exit waits (bounded) for concord.Run to return and gives its exit code.
func (d *Driver) Exit() int {
	d.t.Helper()
	select {
	case code := <-d.exit:
		return code
	case <-time.After(Timeout):
		d.t.Fatalf("the operator did not exit within %s", Timeout)
		return -1
	}
}
