"""The hand-written ProcessBatch reader (_wire.executor_message) against the generated parser:
the same values on the executor's shapes, the generated message itself on anything unusual."""

import unittest

import concord
from concord import _wire
from concord._session import Session
from concord.operator.v1 import operator_pb2
from concord.types.v1 import types_pb2
from tests.harness import init_message, shutdown_message


def batch_bytes(**fields):
    return operator_pb2.ExecutorMessage(
        process_batch=operator_pb2.ProcessBatch(**fields)).SerializeToString()


def record_tuple(r):
    return (r.key, r.value, r.event_time_unix_ms, r.ingest_time_unix_us, r.HasField("trace"))


class ReaderTests(unittest.TestCase):

    def assert_same_as_generated(self, data):
        got = _wire.executor_message(data)
        self.assertIsInstance(got, _wire.Batch, "expected the hand reader to take it")
        want = operator_pb2.ExecutorMessage.FromString(data).process_batch
        self.assertEqual(
            (want.seq, want.state_as_of_seq, want.watermark_unix_ms),
            (got.seq, got.state_as_of_seq, got.watermark_unix_ms))
        self.assertEqual([record_tuple(r) for r in want.records],
                         [record_tuple(r) for r in got.records])
        self.assertEqual(list(want.timers_fired), list(got.timers_fired))
        self.assertEqual(list(want.states), list(got.states))
        # What a produced record inherits: the record's own encoding after key and value.
        self.assertEqual([_wire.suffix_of(r) for r in want.records],
                         [r[2] for r in got.records])
        self.assertEqual([r.SerializeToString() for r in want.records],
                         [r.SerializeToString() for r in got.records])
        return got

    def assert_falls_back(self, data):
        got = _wire.executor_message(data)
        self.assertIsInstance(got, operator_pb2.ExecutorMessage)
        self.assertEqual(operator_pb2.ExecutorMessage.FromString(data), got)

    def test_ordinary_batch(self):
        records = [types_pb2.Record(key=b"w%d" % i, event_time_unix_ms=1_700_000_000_000 + i,
                                    ingest_time_unix_us=1_700_000_000_000_000 + i)
                   for i in range(1000)]
        got = self.assert_same_as_generated(batch_bytes(seq=7, records=records))
        self.assertEqual(1000, len(got.records))

    def test_unusual_but_valid_values(self):
        records = [
            types_pb2.Record(),                                       # empty record
            types_pb2.Record(value=b"only value"),
            types_pb2.Record(key=b"k" * 200, value=b"v" * 20000),     # multi-byte lengths
            types_pb2.Record(key=b"\x00\xff", event_time_unix_ms=-5),  # negative: 10-byte varint
            types_pb2.Record(ingest_time_unix_us=1),
            types_pb2.Record(key="é".encode(), event_time_unix_ms=(1 << 63) - 1),
        ]
        self.assert_same_as_generated(batch_bytes(
            seq=(1 << 64) - 1, records=records, state_as_of_seq=3, watermark_unix_ms=-1))

    def test_empty_batch_timers_and_states(self):
        self.assert_same_as_generated(batch_bytes(seq=1))
        self.assert_same_as_generated(batch_bytes(
            seq=2, records=[types_pb2.Record(key=b"a")],
            timers_fired=[operator_pb2.TimerFired(key="t", time_unix_ms=5, state_key=b"a",
                                                  domain=operator_pb2.TIME_DOMAIN_EVENT)],
            states=[operator_pb2.KeyState(key=b"a", values=[
                operator_pb2.StateValue(name="count", value=b"3")])],
            state_as_of_seq=1))

    def test_fields_in_any_order(self):
        body = operator_pb2.ProcessBatch(records=[types_pb2.Record(key=b"a")]).SerializeToString()
        body += operator_pb2.ProcessBatch(seq=3).SerializeToString()
        self.assertEqual(b"\x12", body[:1])  # records before seq, unlike protobuf's own order
        raw = b"\x12" + bytes([len(body)]) + body
        got = _wire.executor_message(raw)
        self.assertIsInstance(got, _wire.Batch)
        self.assertEqual((3, [b"a"]), (got.seq, [r.key for r in got.records]))

    def test_traced_records(self):
        trace = types_pb2.TraceContext(trace_id=b"t" * 16, parent_span_id=b"s" * 8)
        records = [types_pb2.Record(key=b"a", value=b"a", event_time_unix_ms=5),
                   types_pb2.Record(key=b"b", value=b"b", trace=trace, event_time_unix_ms=6,
                                    ingest_time_unix_us=9),
                   types_pb2.Record(key=b"c", trace=types_pb2.TraceContext()),  # empty trace
                   types_pb2.Record(trace=trace)]
        got = self.assert_same_as_generated(batch_bytes(seq=1, records=records))
        self.assertEqual(trace, got.records[1].trace)
        self.assertEqual(records[1], got.records[1].to_proto())
        self.assertEqual([False, True, True, True], [r.HasField("trace") for r in got.records])

    def test_unknown_fields_and_odd_shapes_fall_back(self):
        # a trace whose fields are out of order (valid, not how protobuf writes it)
        trace = b"\x12\x01s\x0a\x01t"
        record = b"\x0a\x01k\x22" + bytes([len(trace)]) + trace
        body = b"\x12" + bytes([len(record)]) + record
        self.assert_falls_back(b"\x12" + bytes([len(body)]) + body)
        plain = types_pb2.Record(key=b"a").SerializeToString()
        unknown_in_record = plain + b"\x30\x01"      # field 6, varint
        body = b"\x08\x01\x12" + bytes([len(unknown_in_record)]) + unknown_in_record
        self.assert_falls_back(b"\x12" + bytes([len(body)]) + body)
        body = b"\x08\x01\x38\x05"                   # ProcessBatch field 7
        self.assert_falls_back(b"\x12" + bytes([len(body)]) + body)
        # value before key, key twice: valid protobuf, not the executor's shape
        odd = b"\x12\x01v\x0a\x01k"
        body = b"\x12" + bytes([len(odd)]) + odd
        self.assert_falls_back(b"\x12" + bytes([len(body)]) + body)
        twice = b"\x0a\x01k\x0a\x01j"
        body = b"\x12" + bytes([len(twice)]) + twice
        self.assert_falls_back(b"\x12" + bytes([len(body)]) + body)
        # seq twice (last wins), process_batch twice (merged)
        self.assert_falls_back(b"\x12\x04\x08\x01\x08\x02")
        self.assert_falls_back(batch_bytes(seq=1) + batch_bytes(seq=2))
        # other messages
        self.assert_falls_back(init_message().SerializeToString())
        self.assert_falls_back(shutdown_message().SerializeToString())
        self.assert_falls_back(b"")

    def test_malformed_input_raises_like_the_generated_parser(self):
        good = batch_bytes(seq=1, records=[types_pb2.Record(key=b"abc", ingest_time_unix_us=7)])
        for bad in (good[:-1], good[:5], b"\x12\x05\x12\x09\x0a\x07", b"\x12\x02\x08\xff",
                    b"\x12\x03\x12\x01\x0a"):
            with self.subTest(bad=bad):
                with self.assertRaises(Exception) as caught:
                    operator_pb2.ExecutorMessage.FromString(bad)
                with self.assertRaises(type(caught.exception)):
                    _wire.executor_message(bad)


class Nothing(concord.Computation):
    def metadata(self):
        return concord.Metadata(name="nothing")


class Echo(concord.Computation):
    def metadata(self):
        return concord.Metadata(name="echo", istreams=["in"], ostreams=["out"])

    def process_record(self, ctx, record):
        ctx.produce_record("out", record.key, record.value)
        ctx.produce_record("out", record.key, b"", event_time_ms=record.event_time_unix_ms + 1)


class SessionOutputTests(unittest.TestCase):

    def test_a_hand_read_batch_before_init_is_a_protocol_error(self):
        session = Session(Nothing())
        out = list(session.run([_wire.executor_message(batch_bytes(seq=1))]))
        self.assertEqual(1, session.exit_code)
        error = operator_pb2.OperatorMessage.FromString(out[-1]).error
        self.assertIn("must be Init, got process_batch", error.message)

    def test_hand_read_batches_produce_the_same_bytes(self):
        records = [types_pb2.Record(key=b"w%d" % i, value=b"v", event_time_unix_ms=100 + i,
                                    ingest_time_unix_us=5000 + i) for i in range(50)]
        records.append(types_pb2.Record(key=b"t", trace=types_pb2.TraceContext(
            trace_id=b"t" * 16, parent_span_id=b"s" * 8)))
        data = [init_message().SerializeToString(), batch_bytes(seq=1, records=records[:50]),
                batch_bytes(seq=2, records=records), shutdown_message().SerializeToString()]

        def run(parse):
            session = Session(Echo())
            out = list(session.run(parse(m) for m in data))
            self.assertEqual(0, session.exit_code)
            return out[2:]  # after Metadata and BatchDone 0 (init's "now")

        fast = run(_wire.executor_message)
        self.assertEqual(run(operator_pb2.ExecutorMessage.FromString), fast)
        done = operator_pb2.OperatorMessage.FromString(fast[0]).batch_done
        self.assertEqual((b"w0", 100, 5000), (done.produced[0].record.key,
                                             done.produced[0].record.event_time_unix_ms,
                                             done.produced[0].record.ingest_time_unix_us))
        self.assertEqual(101, done.produced[1].record.event_time_unix_ms)


if __name__ == "__main__":
    unittest.main()
