"""The word-count counter and misbehaving operators as real processes on a unix socket."""

import os
import subprocess
import unittest

from concord.types.v1 import types_pb2
from tests.harness import (PYTHON, ROOT, TEST_TIMEOUT_S, OperatorProcess, batch_message,
                           init_message, shutdown_message)

COUNTER = [os.path.join(ROOT, "examples", "wordcount", "python", "run-counter.sh")]
MISBEHAVING = [PYTHON, os.path.join(os.path.dirname(__file__), "operators.py")]


class CounterProcessTests(unittest.TestCase):

    def start(self, argv):
        op = OperatorProcess(argv)
        self.addCleanup(op.cleanup)
        return op, op.open_session()

    def test_counter_answers_pipelined_batches_in_order_and_exits_0_on_shutdown(self):
        op, responses = self.start(COUNTER)
        op.send(init_message())
        first = next(responses)
        self.assertEqual("metadata", first.WhichOneof("message"))
        self.assertEqual("counter", first.metadata.metadata.name)
        self.assertEqual([("words", types_pb2.GROUPING_GROUP_BY)],
                         [(i.name, i.grouping) for i in first.metadata.metadata.inputs])
        self.assertEqual(["counts"], list(first.metadata.metadata.outputs))
        self.assertIn("batch-pipelining.v1", first.metadata.capabilities)
        init_done = next(responses)
        self.assertEqual(0, init_done.batch_done.seq)
        self.assertEqual(0, len(init_done.batch_done.produced))

        trace = types_pb2.TraceContext(trace_id=b"t" * 16, parent_span_id=b"s" * 8)
        # Three batches sent before any answer is read: the executor pipelines them.
        op.send(batch_message(1, ["a", "b", "a"], event_time_unix_ms=1000, ingest_time_unix_us=7))
        op.send(batch_message(2, ["a", "c"], trace=trace, ingest_time_unix_us=1_700_000_000_000_000))
        op.send(batch_message(3, ["b"] * 1000))

        got = []
        for expected_seq in (1, 2, 3):
            done = next(responses).batch_done
            self.assertEqual(expected_seq, done.seq)
            got.append(done)
        self.assertEqual([("counts", b"a", b"1"), ("counts", b"b", b"1"), ("counts", b"a", b"2")],
                         [(p.stream, p.record.key, p.record.value) for p in got[0].produced])
        self.assertTrue(all(p.record.event_time_unix_ms == 1000 and p.record.ingest_time_unix_us == 7
                            for p in got[0].produced))
        self.assertEqual([(b"a", b"3"), (b"c", b"1")],
                         [(p.record.key, p.record.value) for p in got[1].produced])
        self.assertTrue(all(p.record.trace == trace
                            and p.record.ingest_time_unix_us == 1_700_000_000_000_000
                            for p in got[1].produced))
        self.assertEqual(b"1001", got[2].produced[-1].record.value)
        self.assertEqual(1000, len(got[2].produced))

        op.send(shutdown_message())
        op.close_requests()
        self.assertEqual([], list(responses))  # the stream completes after destroy()
        self.assertEqual(0, op.wait())

    def assert_fatal(self, mode, expected_in_message):
        op, responses = self.start(MISBEHAVING + [mode])
        op.send(init_message(max_record_bytes=1024))
        self.assertEqual("metadata", next(responses).WhichOneof("message"))
        self.assertEqual(0, next(responses).batch_done.seq)
        op.send(batch_message(1, ["ok", "boom", "never"]))
        error = next(responses)
        self.assertEqual("error", error.WhichOneof("message"))
        self.assertTrue(error.error.fatal)
        self.assertIn(expected_in_message, error.error.message)
        self.assertIn("Traceback", error.error.detail)
        op.close_requests()
        self.assertEqual([], list(responses))
        self.assertEqual(1, op.wait())
        self.assertIn(expected_in_message, op.stderr)

    def test_exception_in_process_record_sends_fatal_error_with_type_and_exits_1(self):
        self.assert_fatal("raise", "KeyError")

    def test_produce_to_undeclared_stream_is_a_fatal_ProduceError(self):
        self.assert_fatal("undeclared", "stream 'nowhere' is not in metadata().ostreams")

    def test_record_larger_than_max_record_bytes_is_a_fatal_ProduceError(self):
        self.assert_fatal("too-large", "exceeds the limit of 1024 bytes")

    def test_init_requiring_an_unknown_capability_is_refused_with_an_error_naming_it(self):
        op, responses = self.start(COUNTER)
        op.send(init_message(required=("batch-pipelining.v1", "state.v9")))
        error = next(responses)
        self.assertEqual("error", error.WhichOneof("message"))
        self.assertTrue(error.error.fatal)
        self.assertIn("state.v9", error.error.message)
        op.close_requests()
        self.assertEqual([], list(responses))
        self.assertEqual(1, op.wait())

    def test_executor_disappearing_mid_session_makes_the_operator_exit_1(self):
        op, responses = self.start(COUNTER)
        op.send(init_message())
        next(responses)
        next(responses)
        responses.cancel()  # what the executor's death looks like to the operator
        self.assertEqual(1, op.wait())
        self.assertIn("before sending Shutdown", op.stderr)

    def test_missing_address_variable_exits_2_with_a_message_naming_it(self):
        env = {k: v for k, v in os.environ.items() if k != "CONCORD_OPERATOR_ADDRESS"}
        proc = subprocess.run(COUNTER, env=env, capture_output=True, timeout=TEST_TIMEOUT_S)
        self.assertEqual(2, proc.returncode)
        self.assertIn(b"CONCORD_OPERATOR_ADDRESS is not set", proc.stderr)


if __name__ == "__main__":
    unittest.main()
