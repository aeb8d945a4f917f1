"""Drives an operator session the way the executor does, with the generated client."""

import os
import queue
import shutil
import subprocess
import tempfile
import time

import grpc

from concord.operator.v1 import operator_pb2, operator_pb2_grpc
from concord.types.v1 import types_pb2

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
PYTHON = "/usr/bin/python3"

#: Bound of every wait in the tests, in seconds.
TEST_TIMEOUT_S = 30.0
#: How often to look for the operator's socket file, in seconds (there is no event to await).
SOCKET_POLL_S = 0.02


#: What an executor with keyed state and event time offers in Init.
EXECUTOR_CAPABILITIES = ("batch-pipelining.v1", "timers.v1", "keyed-state.v1", "event-time.v1")


def init_message(max_record_bytes=1024 * 1024, required=("batch-pipelining.v1",), version=1,
                 capabilities=EXECUTOR_CAPABILITIES, max_state_value_bytes=0,
                 max_batches_in_flight=4):
    return operator_pb2.ExecutorMessage(init=operator_pb2.Init(
        protocol_version=version,
        capabilities=list(capabilities),
        required_capabilities=list(required),
        operator_name="counter", instance_index=0, instance_count=1,
        max_batches_in_flight=max_batches_in_flight, max_record_bytes=max_record_bytes,
        max_state_value_bytes=max_state_value_bytes))


def batch_message(seq, words, **record_fields):
    return operator_pb2.ExecutorMessage(process_batch=operator_pb2.ProcessBatch(
        seq=seq, records=[types_pb2.Record(key=w.encode(), **record_fields) for w in words]))


def shutdown_message():
    return operator_pb2.ExecutorMessage(shutdown=operator_pb2.Shutdown(reason="test"))


class OperatorProcess:
    """Starts an operator process on a unix socket in a short temp dir and opens its session."""

    def __init__(self, argv, env_extra=None):
        self.dir = tempfile.mkdtemp(prefix="cc-py-", dir="/tmp")
        self.socket = os.path.join(self.dir, "op.sock")
        env = dict(os.environ)
        env["CONCORD_OPERATOR_ADDRESS"] = self.socket
        env.update(env_extra or {})
        self.proc = subprocess.Popen(argv, env=env, cwd=self.dir, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.requests = queue.Queue()
        self.channel = None

    def open_session(self):
        self.wait_for_socket()
        self.channel = grpc.insecure_channel("unix://" + self.socket)
        stub = operator_pb2_grpc.OperatorStub(self.channel)
        # The socket file appears at bind(), a moment before listen(): wait_for_ready makes the
        # call retry a refused connection (within the timeout) instead of failing at once.
        return stub.Session(self._requests(), timeout=TEST_TIMEOUT_S, wait_for_ready=True)

    def wait_for_socket(self):
        deadline = time.monotonic() + TEST_TIMEOUT_S
        while not os.path.exists(self.socket):
            if self.proc.poll() is not None:
                raise AssertionError("operator exited with %s before serving: %s"
                                     % (self.proc.returncode, self.proc.stderr.read().decode()))
            if time.monotonic() > deadline:
                raise AssertionError("operator did not create %s in time" % self.socket)
            time.sleep(SOCKET_POLL_S)

    def send(self, message):
        self.requests.put(message)

    def close_requests(self):
        self.requests.put(None)

    def _requests(self):
        while True:
            item = self.requests.get(timeout=TEST_TIMEOUT_S)
            if item is None:
                return
            yield item

    def wait(self):
        try:
            code = self.proc.wait(timeout=TEST_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("operator did not exit within %s s" % TEST_TIMEOUT_S)
        self.stderr = self.proc.stderr.read().decode()
        return code

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=TEST_TIMEOUT_S)
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()
        if self.channel is not None:
            self.channel.close()
        shutil.rmtree(self.dir, ignore_errors=True)
