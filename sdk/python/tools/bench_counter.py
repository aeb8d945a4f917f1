"""Throughput of an operator process on its session, driven like the executor drives it.

    /usr/bin/python3 sdk/python/tools/bench_counter.py [--batches N] [--batch-rows R]
        [--in-flight F] [-- OPERATOR COMMAND...]

Defaults: the Python word-count counter, 2,000 batches of 1,000 words from
examples/wordcount/words.txt, 4 batches in flight. Requests are serialized once and answers
are not parsed, so the driver costs little next to the operator.
"""

import argparse
import os
import resource
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

import grpc  # noqa: E402

from concord import _wire  # noqa: E402
from concord.operator.v1 import operator_pb2  # noqa: E402
from concord.types.v1 import types_pb2  # noqa: E402
from tests.harness import ROOT, OperatorProcess, init_message, shutdown_message  # noqa: E402

#: Bound of the whole run, in seconds.
RUN_TIMEOUT_S = 300.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--batch-rows", type=int, default=1000)
    parser.add_argument("--in-flight", type=int, default=4)
    parser.add_argument("command", nargs="*",
                        default=[os.path.join(ROOT, "examples/wordcount/python/run-counter.sh")])
    args = parser.parse_args()
    if "/" in args.command[0]:
        args.command[0] = os.path.abspath(args.command[0])  # the operator runs in a temp dir

    with open(os.path.join(ROOT, "examples/wordcount/words.txt"), "rb") as f:
        words = f.read().split()
    now_us = time.time_ns() // 1000
    payloads = []
    for b in range(16):  # distinct batches, reused round-robin
        records = [types_pb2.Record(key=words[(b * args.batch_rows + i) % len(words)],
                                    event_time_unix_ms=now_us // 1000, ingest_time_unix_us=now_us + i)
                   for i in range(args.batch_rows)]
        payloads.append(records)

    op = OperatorProcess(args.command)
    try:
        op.wait_for_socket()
        channel = grpc.insecure_channel("unix://" + op.socket, options=[
            ("grpc.max_receive_message_length", 64 * 1024 * 1024)])
        session = channel.stream_stream("/concord.operator.v1.Operator/Session",
                                        request_serializer=lambda b: b,
                                        response_deserializer=lambda b: b)
        slots = threading.Semaphore(args.in_flight)
        # ProcessBatch bodies without seq; each request appends its seq field and the
        # ExecutorMessage.process_batch framing (field 2), as one message the executor would send.
        bodies = [operator_pb2.ProcessBatch(records=recs).SerializeToString() for recs in payloads]

        def requests():
            yield init_message().SerializeToString()
            for seq in range(1, args.batches + 1):
                slots.acquire(timeout=RUN_TIMEOUT_S)
                body = bodies[seq % len(bodies)] + b"\x08" + _wire.varint(seq)
                yield b"\x12" + _wire.varint(len(body)) + body
            yield shutdown_message().SerializeToString()

        responses = session(requests(), timeout=RUN_TIMEOUT_S)
        next(responses)  # Metadata
        next(responses)  # BatchDone 0
        start = time.perf_counter()
        done = 0
        for _ in responses:
            done += 1
            slots.release()
        elapsed = time.perf_counter() - start
        code = op.wait()
        rows = args.batches * args.batch_rows
        # The operator is the only child process: its CPU time over the whole session.
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_us = (usage.ru_utime + usage.ru_stime) * 1e6
        print("%d records in %d batches of %d, %d in flight: %.2f s, %.0f records/s, operator "
              "CPU %.2f us/record, exit %d" % (rows, args.batches, args.batch_rows,
                                               args.in_flight, elapsed, rows / elapsed,
                                               cpu_us / rows, code))
    finally:
        op.cleanup()


if __name__ == "__main__":
    main()
