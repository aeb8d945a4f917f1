"""The session protocol in-process (no gRPC): timers, inheritance, init output, errors."""

import unittest

import concord
from concord._session import Session
from concord.operator.v1 import operator_pb2
from concord.types.v1 import types_pb2
from tests.harness import batch_message, init_message, shutdown_message


def run(computation, *messages):
    session = Session(computation)
    out = [operator_pb2.OperatorMessage.FromString(m) for m in session.run(list(messages))]
    return session.exit_code, out


class Timers(concord.Computation):
    def __init__(self):
        self.destroyed = False
        self.fired = []

    def metadata(self):
        return concord.Metadata(name="timers", istreams=["in"], ostreams=["out", "other"])

    def init(self, ctx):
        ctx.set_timer("t1", 5000)
        ctx.set_timer("t1", 6000)  # replaces
        ctx.produce_record("out", "héllo", "wörld")
        ctx.log("started")

    def process_record(self, ctx, record):
        ctx.produce_record("other", b"", record.value, event_time_ms=42)

    def process_timer(self, ctx, key, time_ms):
        self.fired.append((key, time_ms))
        ctx.produce_record("out", key, str(time_ms))

    def destroy(self):
        self.destroyed = True


class SessionTests(unittest.TestCase):

    def test_init_output_timers_and_logs_come_in_BatchDone_0_with_now_times(self):
        code, out = run(Timers(), init_message(), shutdown_message())
        self.assertEqual(0, code)
        kinds = [m.WhichOneof("message") for m in out]
        self.assertEqual(["metadata", "log", "batch_done"], kinds)
        self.assertEqual(["in"], [i.name for i in out[0].metadata.metadata.inputs])
        self.assertEqual(types_pb2.GROUPING_SHUFFLE, out[0].metadata.metadata.inputs[0].grouping)
        self.assertEqual("started", out[1].log.message)
        done = out[2].batch_done
        self.assertEqual(0, done.seq)
        self.assertEqual([("t1", 6000)], [(t.key, t.time_unix_ms) for t in done.timers_set])
        record = done.produced[0].record
        self.assertEqual(("héllo".encode(), "wörld".encode()), (record.key, record.value))
        self.assertGreater(record.event_time_unix_ms, 1_600_000_000_000)
        self.assertGreater(record.ingest_time_unix_us, 1_600_000_000_000_000)

    def test_timers_fire_after_records_and_explicit_event_time_keeps_trace_and_ingest(self):
        comp = Timers()
        trace = types_pb2.TraceContext(trace_id=b"1" * 16, parent_span_id=b"2" * 8)
        batch = operator_pb2.ExecutorMessage(process_batch=operator_pb2.ProcessBatch(
            seq=1,
            records=[types_pb2.Record(value=b"v", trace=trace, ingest_time_unix_us=99,
                                      event_time_unix_ms=7)],
            timers_fired=[operator_pb2.TimerFired(key="t1", time_unix_ms=6000)]))
        code, out = run(comp, init_message(), batch, shutdown_message())
        self.assertEqual(0, code)
        self.assertTrue(comp.destroyed)
        done = out[-1].batch_done
        self.assertEqual(1, done.seq)
        first, second = done.produced
        self.assertEqual(("other", b"v", 42, 99, trace),
                         (first.stream, first.record.value, first.record.event_time_unix_ms,
                          first.record.ingest_time_unix_us, first.record.trace))
        self.assertEqual(("out", b"t1", b"6000"), (second.stream, second.record.key, second.record.value))
        self.assertFalse(second.record.HasField("trace"))
        self.assertEqual([("t1", 6000)], comp.fired)

    def test_first_message_other_than_Init_is_a_fatal_protocol_error(self):
        code, out = run(Timers(), batch_message(1, ["a"]))
        self.assertEqual(1, code)
        self.assertIn("first message of a session must be Init", out[0].error.message)

    def test_other_protocol_version_is_refused(self):
        code, out = run(Timers(), init_message(version=2))
        self.assertEqual(1, code)
        self.assertIn("version 2", out[0].error.message)

    def test_session_closed_without_Shutdown_exits_1(self):
        comp = Timers()
        code, out = run(comp, init_message())
        self.assertEqual(1, code)
        self.assertIn("before sending Shutdown", out[-1].error.message)
        self.assertFalse(comp.destroyed)

    def test_metadata_with_bad_stream_name_fails_with_the_fix(self):
        with self.assertRaisesRegex(ValueError, r"\[A-Za-z0-9_.-\]"):
            concord.Metadata(name="x", istreams=["bad name"])
        with self.assertRaisesRegex(ValueError, "StreamGrouping"):
            concord.Metadata(name="x", istreams=[("s", 9)])

    def test_non_bytes_value_is_a_ProduceError(self):
        class Bad(Timers):
            def process_record(self, ctx, record):
                ctx.produce_record("out", b"k", 12)

        code, out = run(Bad(), init_message(), batch_message(1, ["a"]))
        self.assertEqual(1, code)
        self.assertIn("ProduceError", out[-1].error.message)
        self.assertIn("value must be bytes or str, got int", out[-1].error.message)


if __name__ == "__main__":
    unittest.main()
