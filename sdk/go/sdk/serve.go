package concord

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	operatorv1 "concord/gen/concord/operator/v1"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Serve serves comp on CONCORD_OPERATOR_ADDRESS until the executor shuts the session down,
// then exits the process: 0 after Shutdown, 1 after a fatal error, 2 when the address is
// missing or malformed. It never returns.
func Serve(comp Computation) {
	address, ok := os.LookupEnv(OperatorAddressVariable)
	if !ok || address == "" {
		fmt.Fprintf(os.Stderr, "concord: %s is not set. Operators are started by the Concord "+
			"executor, which sets it; to run one by hand set it to a socket path, e.g. "+
			"%s=/tmp/op.sock\n", OperatorAddressVariable, OperatorAddressVariable)
		os.Exit(ExitUsage)
	}
	os.Exit(Run(comp, address))
}

// ParseAddress returns the network ("unix" or "tcp") and address for an operator address: a
// unix socket path ("/x/op.sock", "./op.sock" or "unix:///x/op.sock") or "host:port".
func ParseAddress(text string) (network, address string, err error) {
	path := strings.TrimPrefix(text, "unix://")
	if strings.HasPrefix(path, "/") || strings.HasPrefix(path, "./") {
		if len(path) > UnixSocketPathBytesMax {
			return "", "", fmt.Errorf("unix socket path %q is longer than %d bytes; use a shorter "+
				"working directory or a host:port address", path, UnixSocketPathBytesMax)
		}
		return "unix", path, nil
	}
	i := strings.LastIndex(path, ":")
	if i > 0 {
		if port, perr := strconv.Atoi(path[i+1:]); perr == nil && port >= 1 && port <= 65535 {
			return "tcp", path, nil
		}
	}
	return "", "", fmt.Errorf("%q is not an operator address; expected a unix socket path "+
		"(/path/op.sock) or host:port (127.0.0.1:7001)", text)
}

// Run is Serve without the exit: it serves comp on address and returns the exit code. Tests
// and programs that embed an operator use it.
func Run(comp Computation, address string) int {
	network, addr, err := ParseAddress(address)
	if err != nil {
		fmt.Fprintf(os.Stderr, "concord: %s=%q: %v\n", OperatorAddressVariable, address, err)
		return ExitUsage
	}
	if network == "unix" {
		_ = os.Remove(addr) // a stale socket from an earlier run would make bind fail
	}
	lis, err := net.Listen(network, addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "concord: cannot listen on %s (%v); check the path's directory "+
			"exists and the port is free\n", address, err)
		return ExitFatal
	}
	if network == "unix" {
		defer os.Remove(addr)
	}
	h := &handler{comp: comp, opened: make(chan struct{}), done: make(chan int, 1)}
	srv := grpc.NewServer(
		// The server serves only the Operator service: its data-path messages are coded by
		// hand (codec.go). grpc 1.33 (Debian's) has no per-service codec; CustomCodec is it.
		grpc.CustomCodec(sessionCodec{}), //nolint:staticcheck
		grpc.MaxRecvMsgSize(GrpcMessageBytesMax),
		grpc.MaxSendMsgSize(GrpcMessageBytesMax),
		grpc.InitialWindowSize(SessionWindowBytes),
		grpc.InitialConnWindowSize(SessionWindowBytes),
	)
	operatorv1.RegisterOperatorServer(srv, h)
	go func() { _ = srv.Serve(lis) }()
	defer stopBounded(srv)

	openTimer := time.NewTimer(SessionOpenTimeout)
	defer openTimer.Stop()
	select {
	case <-h.opened:
	case <-openTimer.C:
		fmt.Fprintf(os.Stderr, "concord: no session opened on %s within %s; the executor is gone, exiting\n",
			address, SessionOpenTimeout)
		return ExitFatal
	}
	return <-h.done
}

// stopBounded lets the session's last message and end of stream reach the executor, but never
// waits longer than ShutdownGrace.
func stopBounded(srv *grpc.Server) {
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	t := time.NewTimer(ShutdownGrace)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
		srv.Stop()
	}
}

type handler struct {
	operatorv1.UnimplementedOperatorServer
	comp    Computation
	started int32
	opened  chan struct{}
	done    chan int
}

func (h *handler) Session(stream operatorv1.Operator_SessionServer) error {
	if !atomic.CompareAndSwapInt32(&h.started, 0, 1) {
		return status.Error(codes.FailedPrecondition, "an operator serves exactly one session and it is already open")
	}
	close(h.opened)
	code := runSession(h.comp, stream, func(format string, args ...interface{}) {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
	})
	h.done <- code
	return nil
}
