"""serve_computation(): serve the operator session on CONCORD_OPERATOR_ADDRESS with grpcio."""

import os
import sys
import threading
from concurrent import futures

import grpc

from concord import _limits, _wire
from concord._session import ProtocolError, Session
from concord.operator.v1 import operator_pb2

__all__ = ["serve_computation", "grpc_address"]

_SESSION_METHOD = "Session"
_SERVICE = "concord.operator.v1.Operator"


def grpc_address(text):
    """The grpcio listen address for an operator address: a unix socket path ("/x/op.sock",
    "./op.sock" or "unix:///x/op.sock") or "host:port". Raises ValueError naming the fix."""
    if not text or not text.strip():
        raise ValueError("the operator address is empty; expected a unix socket path "
                         "(/path/op.sock) or host:port (127.0.0.1:7001)")
    path = text[len("unix://"):] if text.startswith("unix://") else text
    if path.startswith("/") or path.startswith("./"):
        if len(path.encode("utf-8")) > _limits.UNIX_SOCKET_PATH_BYTES_MAX:
            raise ValueError(
                "unix socket path '%s' is longer than %d bytes; use a shorter working directory "
                "or a host:port address" % (path, _limits.UNIX_SOCKET_PATH_BYTES_MAX))
        return "unix:" + path if path.startswith("./") else "unix://" + path
    host, sep, port = path.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(
            "'%s' is not an operator address; expected a unix socket path (/path/op.sock) or "
            "host:port (127.0.0.1:7001)" % text)
    return path


def _unix_path(address):
    if address.startswith("unix://"):
        return address[len("unix://"):]
    if address.startswith("unix:"):
        return address[len("unix:"):]
    return None


class _Handler(grpc.GenericRpcHandler):
    """Routes Operator/Session to one Session; refuses a second one while the first is open."""

    def __init__(self, computation, finished):
        self._computation = computation
        self._finished = finished
        #: Set when the session generator finished or the RPC ended, whichever comes first: a
        #: cancelled RPC (the executor died) never resumes the generator.
        self.ended = threading.Event()
        self._lock = threading.Lock()
        self._opened = False
        self.exit_code = None
        self.session_opened = threading.Event()
        #: Set by gRPC once the session's RPC has ended (its last message and status sent).
        self.rpc_done = threading.Event()
        identity = lambda data: data  # responses are pre-serialized bytes (see _wire)
        self._method = grpc.stream_stream_rpc_method_handler(
            self._session,
            # ProcessBatch read by hand, everything else by the generated code (_wire).
            request_deserializer=_wire.executor_message,
            response_serializer=identity)

    def service(self, handler_call_details):
        if handler_call_details.method == "/%s/%s" % (_SERVICE, _SESSION_METHOD):
            return self._method
        return None

    def _session(self, requests, context):
        with self._lock:
            already = self._opened
            self._opened = True
        if already:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                          "an operator serves exactly one session and it is already open")
        context.add_callback(self._rpc_ended)
        self.session_opened.set()
        session = Session(self._computation)
        try:
            yield from session.run(_requests(requests))
            if session.exit_code == _limits.EXIT_OK:
                _await_executor_close(requests)
        finally:
            if session.exit_code is None:
                # gRPC closed the generator (GeneratorExit) because the call was cancelled.
                sys.stderr.write("concord: the executor cancelled the session or disconnected "
                                 "before sending Shutdown; exiting\n")
            self.exit_code = session.exit_code if session.exit_code is not None else _limits.EXIT_FATAL
            self._finished.set()
            self.ended.set()

    def _rpc_ended(self):
        self.rpc_done.set()
        self.ended.set()


def _await_executor_close(requests):
    """After Shutdown, waits (bounded) until the executor has closed its side of the stream.

    Ending the RPC sends its status, and the process then stops the server, which closes the
    connection. If the executor's end of stream was still on its way, writing it to the closed
    connection fails and the executor's client reports UNAVAILABLE (broken pipe) instead of the
    clean end it was sent: a race that shows under load. The executor completes its request
    stream right after Shutdown, so this wait is short; a client that never closes its side
    costs at most EXECUTOR_CLOSE_WAIT_S before the session ends anyway.
    """
    def drain():
        try:
            for _ in requests:
                pass  # nothing may follow Shutdown; read only to see the end of the stream
        except grpc.RpcError:
            pass  # cancelled or disconnected: closed either way
    reader = threading.Thread(target=drain, name="concord-close-wait", daemon=True)
    reader.start()
    reader.join(_limits.EXECUTOR_CLOSE_WAIT_S)


def _requests(requests):
    """The executor's messages; a cancelled or broken call becomes a ProtocolError that says so
    (grpc.RpcError raised by the request iterator has no message of its own)."""
    try:
        yield from requests
    except grpc.RpcError:
        raise ProtocolError("the executor cancelled the session or disconnected before "
                            "sending Shutdown") from None


def serve_computation(computation, address=None):
    """Serve ``computation`` until the executor shuts the session down, then exit the process:
    0 after Shutdown, 1 after a fatal error, 2 when the address is missing or malformed.

    ``address`` defaults to the CONCORD_OPERATOR_ADDRESS environment variable.
    """
    sys.exit(run_computation(computation, address))


def run_computation(computation, address=None):
    """Like serve_computation, but returns the exit code instead of exiting (for tests)."""
    if address is None:
        address = os.environ.get(_limits.OPERATOR_ADDRESS_VARIABLE)
        if not address:
            sys.stderr.write(
                "concord: %s is not set. Operators are started by the Concord executor, which "
                "sets it; to run one by hand set it to a socket path, e.g. "
                "%s=/tmp/op.sock\n" % (_limits.OPERATOR_ADDRESS_VARIABLE,
                                       _limits.OPERATOR_ADDRESS_VARIABLE))
            return _limits.EXIT_USAGE
    try:
        listen = grpc_address(address)
    except ValueError as exc:
        sys.stderr.write("concord: %s=%r: %s\n" % (_limits.OPERATOR_ADDRESS_VARIABLE, address, exc))
        return _limits.EXIT_USAGE

    socket_path = _unix_path(listen)
    if socket_path and os.path.exists(socket_path):
        os.unlink(socket_path)  # a stale socket from an earlier run would make bind fail

    finished = threading.Event()
    handler = _Handler(computation, finished)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=_limits.SERVER_THREADS),
        handlers=[handler],
        options=[
            ("grpc.max_receive_message_length", _limits.GRPC_MESSAGE_BYTES_MAX),
            ("grpc.max_send_message_length", _limits.GRPC_MESSAGE_BYTES_MAX),
            ("grpc.so_reuseport", 0),
        ])
    try:
        if server.add_insecure_port(listen) == 0:
            raise RuntimeError("bind failed")
    except RuntimeError as exc:
        sys.stderr.write("concord: cannot listen on %s (%s); check the path's directory exists "
                         "and the port is free\n" % (address, exc))
        return _limits.EXIT_FATAL
    server.start()
    try:
        if not handler.session_opened.wait(_limits.SESSION_OPEN_TIMEOUT_S):
            sys.stderr.write("concord: no session opened on %s within %.0f s; the executor is "
                             "gone, exiting\n" % (address, _limits.SESSION_OPEN_TIMEOUT_S))
            return _limits.EXIT_FATAL
        handler.ended.wait()
        if not finished.is_set():
            sys.stderr.write("concord: the executor cancelled the session or disconnected "
                             "before sending Shutdown; exiting\n")
            return _limits.EXIT_FATAL
        # Let the last message and the end of the stream reach the executor before exiting.
        handler.rpc_done.wait(_limits.SHUTDOWN_GRACE_S)
        return handler.exit_code
    finally:
        server.stop(0).wait()
        if socket_path and os.path.exists(socket_path):
            os.unlink(socket_path)
