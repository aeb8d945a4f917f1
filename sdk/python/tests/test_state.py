"""Keyed state and keyed timers in-process (no gRPC): the overlay of the SDK's own mutations
over states shipped as of an earlier batch, coalescing, clear, declared names, the value bound,
timers carrying and scoping state keys, and the event-time domain."""

import unittest

import concord
from concord.operator.v1 import operator_pb2
from concord.types.v1 import types_pb2
from tests.harness import init_message, shutdown_message
from tests.test_session import run


def batch(seq, keys, as_of=0, states=None, timers=(), watermark_ms=0):
    """A ProcessBatch of records with `keys` (bytes or str), `states` {key: {name: value}}
    shipped as of batch `as_of`, and `timers` [(key, time_ms, state_key)]."""
    return operator_pb2.ExecutorMessage(process_batch=operator_pb2.ProcessBatch(
        seq=seq,
        records=[types_pb2.Record(key=k if isinstance(k, bytes) else k.encode(), value=b"v")
                 if not isinstance(k, tuple) else types_pb2.Record(key=k[0], value=k[1])
                 for k in keys],
        states=[operator_pb2.KeyState(key=key, values=[operator_pb2.StateValue(name=n, value=v)
                                                       for n, v in values.items()])
                for key, values in (states or {}).items()],
        state_as_of_seq=as_of,
        watermark_unix_ms=watermark_ms,
        timers_fired=[operator_pb2.TimerFired(key=k, time_unix_ms=t, state_key=sk,
                                              domain=operator_pb2.TIME_DOMAIN_PROCESSING)
                      for k, t, sk in timers]))


def mutations(done):
    return [(m.key, m.name, None if m.clear else m.value) for m in done.state_mutations]


def outputs(done):
    return [(p.record.key, p.record.value) for p in done.produced]


class Counter(concord.Computation):
    """The conformance `state` case: counts per key in state "count"; "clear" clears it."""

    def metadata(self):
        return concord.Metadata(name="counter", istreams=["in"], ostreams=["out"],
                                states=["count"])

    def process_record(self, ctx, record):
        count = ctx.state("count")
        if record.value == b"clear":
            count.clear()
            ctx.produce_record("out", record.key, b"cleared")
            return
        n = int(count.get() or b"0") + 1
        count.set(b"%d" % n)
        ctx.produce_record("out", record.key, b"%d" % n)


class Flusher(Counter):
    """The conformance `keyed_timers` case: counts silently, a timer per key reports and clears."""

    def __init__(self):
        self.fired_state_keys = []

    def process_record(self, ctx, record):
        count = ctx.state("count")
        count.set(b"%d" % (int(count.get() or b"0") + 1))
        ctx.set_timer("flush", 1000 + len(record.key))

    def process_timer(self, ctx, key, time_ms):
        self.fired_state_keys.append(ctx.state_key)
        count = ctx.state("count")
        ctx.produce_record("out", ctx.state_key, count.get() or b"none")
        count.clear()
        ctx.set_timer("again", time_ms + 1)


def dones(out):
    return [m.batch_done for m in out if m.WhichOneof("message") == "batch_done"]


class StateTests(unittest.TestCase):

    def test_metadata_declares_states_and_keeps_the_old_signature(self):
        proto = Counter().metadata().to_proto()
        self.assertEqual([("count", types_pb2.STATE_KIND_VALUE)],
                         [(s.name, s.kind) for s in proto.states])
        self.assertEqual([], list(concord.Metadata("x", ["in"], ["out"]).to_proto().states))
        with self.assertRaisesRegex(ValueError, r"not a state name.*\[A-Za-z0-9_.-\]"):
            concord.Metadata("x", states=["bad name"])
        with self.assertRaisesRegex(ValueError, "'count' declared more than once"):
            concord.Metadata("x", states=["count", "count"])
        with self.assertRaisesRegex(ValueError, "reserved for the executor"):
            concord.Metadata("x", states=["concord.timers"])
        with self.assertRaisesRegex(ValueError, "list of names"):
            concord.Metadata("x", states="count")

    def test_a_pipelined_batch_shipped_with_older_state_sees_the_sdks_own_later_writes(self):
        code, out = run(
            Counter(), init_message(),
            batch(1, ["a", "b"], as_of=0),
            # Batches 2 and 3 were cut before batch 1's mutations were applied.
            batch(2, ["a"], as_of=0),
            batch(3, ["a", "b"], as_of=0),
            # Batch 4: the executor applied batches 1 and 2 (a=2, b=1); batch 3's writes overlay.
            batch(4, ["a", "b"], as_of=2, states={b"a": {"count": b"2"}, b"b": {"count": b"1"}}),
            # Batch 5: as of 4, the shipped value wins over every older overlay.
            batch(5, ["a"], as_of=4, states={b"a": {"count": b"100"}}),
            shutdown_message())
        self.assertEqual(0, code)
        answers = dones(out)[1:]
        self.assertEqual([[(b"a", b"1"), (b"b", b"1")], [(b"a", b"2")],
                          [(b"a", b"3"), (b"b", b"2")], [(b"a", b"4"), (b"b", b"3")],
                          [(b"a", b"101")]],
                         [outputs(d) for d in answers])
        self.assertEqual([(b"a", "count", b"101")], mutations(answers[4]))

    def test_mutations_are_coalesced_to_the_last_change_per_key_and_name(self):
        code, out = run(Counter(), init_message(),
                        batch(1, ["a", "b", "a", "a", (b"b", b"clear"), (b"", b"v")]),
                        shutdown_message())
        self.assertEqual(0, code)
        done = dones(out)[1]
        self.assertEqual([(b"a", "count", b"3"), (b"b", "count", None), (b"", "count", b"1")],
                         mutations(done))
        self.assertEqual(b"b", done.state_mutations[1].key)
        self.assertTrue(done.state_mutations[1].clear)

    def test_clear_hides_a_shipped_value_in_the_batch_and_in_later_pipelined_batches(self):
        shipped = {b"a": {"count": b"5"}}
        code, out = run(Counter(), init_message(),
                        batch(1, ["a", (b"a", b"clear"), "a"], as_of=0, states=shipped),
                        batch(2, [(b"a", b"clear")], as_of=0, states=shipped),
                        batch(3, ["a"], as_of=0, states=shipped),
                        shutdown_message())
        self.assertEqual(0, code)
        answers = dones(out)[1:]
        self.assertEqual([[(b"a", b"6"), (b"a", b"cleared"), (b"a", b"1")],
                          [(b"a", b"cleared")], [(b"a", b"1")]],
                         [outputs(d) for d in answers])
        self.assertEqual([(b"a", "count", None)], mutations(answers[1]))

    def test_an_undeclared_name_is_fatal_naming_the_declared_ones(self):
        class Typo(Counter):
            def process_record(self, ctx, record):
                ctx.state("cuont").get()

        code, out = run(Typo(), init_message(), batch(1, ["a"]))
        self.assertEqual(1, code)
        self.assertIn("StateError in batch 1: state 'cuont' is not declared in "
                      "metadata().states ['count']", out[-1].error.message)

    def test_a_value_over_max_state_value_bytes_is_fatal_naming_the_limit(self):
        class Big(Counter):
            def process_record(self, ctx, record):
                ctx.state("count").set(bytes(len(record.key)))

        code, out = run(Big(), init_message(max_state_value_bytes=8),
                        batch(1, ["12345678"]), batch(2, ["123456789"]))
        self.assertEqual(1, code)
        self.assertEqual([(b"12345678", "count", bytes(8))], mutations(dones(out)[1]))
        self.assertIn("value of 9 bytes exceeds the limit of 8 bytes (Init.max_state_value_bytes)",
                      out[-1].error.message)

    def test_timers_carry_the_state_key_and_process_timer_sees_that_keys_state(self):
        comp = Flusher()
        code, out = run(comp, init_message(),
                        batch(1, ["a", "bb", "a"]),
                        # As of 0 (batch 1 not applied): each timer sees batch 1's overlay.
                        batch(2, [], as_of=0, timers=[("flush", 1001, b"a"), ("flush", 1002, b"bb")]),
                        batch(3, [], as_of=1, states={b"c": {"count": b"7"}},
                              timers=[("flush", 9, b"c"), ("again", 1002, b"a")]),
                        shutdown_message())
        self.assertEqual(0, code)
        first, second, third = dones(out)[1:]
        self.assertEqual([(b"a", "flush", 1001, operator_pb2.TIME_DOMAIN_PROCESSING),
                          (b"bb", "flush", 1002, operator_pb2.TIME_DOMAIN_PROCESSING)],
                         [(t.state_key, t.key, t.time_unix_ms, t.domain) for t in first.timers_set])
        self.assertEqual([(b"a", b"2"), (b"bb", b"1")], outputs(second))
        self.assertEqual([(b"a", "count", None), (b"bb", "count", None)], mutations(second))
        self.assertEqual([(b"a", "again"), (b"bb", "again")],
                         [(t.state_key, t.key) for t in second.timers_set])
        # Batch 3 (as of 1): "c" is shipped; "a" was cleared by batch 2 (still an overlay).
        self.assertEqual([(b"c", b"7"), (b"a", b"none")], outputs(third))
        self.assertEqual([b"a", b"bb", b"c", b"a"], comp.fired_state_keys)

    def test_an_operator_without_states_keeps_one_timer_per_key(self):
        class Stateless(concord.Computation):
            def metadata(self):
                return concord.Metadata(name="counter", istreams=["in"], ostreams=["out"])

            def process_record(self, ctx, record):
                self.key_in_scope = ctx.state_key
                ctx.set_timer("flush", 1000 + len(record.key))

        comp = Stateless()
        code, out = run(comp, init_message(), batch(1, ["a", "bb"]), shutdown_message())
        self.assertEqual(0, code)
        self.assertEqual(b"bb", comp.key_in_scope)
        self.assertEqual([(b"", "flush", 1002)],
                         [(t.state_key, t.key, t.time_unix_ms) for t in dones(out)[1].timers_set])

    def test_timers_set_in_init_have_the_empty_state_key_and_state_is_refused_there(self):
        class InitTimer(Counter):
            def init(self, ctx):
                self.init_key = ctx.state_key
                ctx.set_timer("t", 5)

        comp = InitTimer()
        code, out = run(comp, init_message(), shutdown_message())
        self.assertEqual(0, code)
        self.assertEqual(b"", comp.init_key)
        self.assertEqual([(b"", "t")], [(t.state_key, t.key) for t in dones(out)[0].timers_set])

        class InitState(Counter):
            def init(self, ctx):
                ctx.state("count").get()

        code, out = run(InitState(), init_message())
        self.assertEqual(1, code)
        self.assertIn("state 'count' used in init()", out[-1].error.message)

    def test_event_time_timers_and_the_watermark(self):
        class Windows(Counter):
            def process_record(self, ctx, record):
                self.watermark = ctx.watermark_unix_ms
                ctx.set_timer("window", 60_000, domain=concord.TimeDomain.EVENT)
                ctx.set_timer("window", 70_000)  # processing time: another timer

        comp = Windows()
        code, out = run(comp, init_message(), batch(1, ["a"], watermark_ms=12345),
                        shutdown_message())
        self.assertEqual(0, code)
        self.assertEqual(12345, comp.watermark)
        self.assertEqual([("window", 60_000, operator_pb2.TIME_DOMAIN_EVENT),
                          ("window", 70_000, operator_pb2.TIME_DOMAIN_PROCESSING)],
                         [(t.key, t.time_unix_ms, t.domain) for t in dones(out)[1].timers_set])

        code, out = run(Windows(), init_message(capabilities=("batch-pipelining.v1", "timers.v1",
                                                              "keyed-state.v1")),
                        batch(1, ["a"]))
        self.assertEqual(1, code)
        self.assertIn("event-time timers need an executor with the capability event-time.v1",
                      out[-1].error.message)

    def test_an_executor_without_keyed_state_is_refused_when_states_are_declared(self):
        code, out = run(Counter(), init_message(capabilities=("batch-pipelining.v1", "timers.v1")))
        self.assertEqual(1, code)
        self.assertEqual("error", out[0].WhichOneof("message"))
        self.assertIn("declares states ['count'] but the executor lacks the capability "
                      "keyed-state.v1", out[0].error.message)

    def test_state_older_than_max_batches_in_flight_allows_is_a_protocol_error(self):
        code, out = run(Counter(), init_message(max_batches_in_flight=2),
                        batch(1, ["a"]), batch(2, ["a"]), batch(3, ["a"], as_of=0),
                        batch(4, ["a"], as_of=0))
        self.assertEqual(1, code)
        self.assertEqual([[(b"a", b"1")], [(b"a", b"2")], [(b"a", b"3")]],
                         [outputs(d) for d in dones(out)[1:]])
        self.assertIn("3 earlier batches' state mutations are not applied, more than "
                      "max_batches_in_flight 2", out[-1].error.message)

    def test_the_hand_written_BatchDone_parses_as_protobuf_with_long_keys_and_values(self):
        from concord import _wire
        timers = {(bytes(200), "flush", 1): 2 ** 40, (b"", "é", 2): 1}
        mutations_ = {(bytes(range(256)) * 2, "count"): bytes(20000), (b"", "count"): None,
                      (b"k", "x"): b""}
        got = operator_pb2.OperatorMessage.FromString(
            _wire.batch_done(2 ** 33, [], timers, mutations_)).batch_done
        want = operator_pb2.BatchDone(
            seq=2 ** 33,
            timers_set=[operator_pb2.TimerSet(key=k, time_unix_ms=t, state_key=sk, domain=d)
                        for (sk, k, d), t in timers.items()],
            state_mutations=[operator_pb2.StateMutation(key=k, name=n, value=v or b"",
                                                        clear=v is None)
                             for (k, n), v in mutations_.items()])
        self.assertEqual(want, got)

    def test_metadata_carries_the_new_capabilities(self):
        code, out = run(Counter(), init_message(), shutdown_message())
        self.assertEqual(0, code)
        self.assertIn("keyed-state.v1", out[0].metadata.capabilities)
        self.assertIn("event-time.v1", out[0].metadata.capabilities)
        self.assertEqual(["count"], [s.name for s in out[0].metadata.metadata.states])


if __name__ == "__main__":
    unittest.main()
