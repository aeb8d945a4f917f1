"""The Python test operator of the conformance suite. Every language has one like it, with the
same behaviours, selected by CONFORMANCE_CASE (the table is in docs/conformance.md). Run it
through run-test-operator.sh, which puts sdk/python on PYTHONPATH."""

import os
import time

import concord

#: The documented record limit (ProtocolLimits.RecordBytesMax), key + value.
RECORD_BYTES_MAX = 1024 * 1024
#: How long the backpressure case blocks at most before it gives up, in seconds.
GATE_TIMEOUT_S = 60
#: How long after a record the keyed_timers case flushes its key, in ms.
FLUSH_DELAY_MS = 100
#: The cases that keep keyed state "count".
STATE_CASES = ("state", "keyed_timers", "event_time_timers")
#: How far after a record's event time the event_time_timers case sets its timer, in ms.
EVENT_TIMER_DELAY_MS = 100


class TestOperator(concord.Computation):
    def __init__(self, case, name):
        self.case = case
        self.name = name
        self.gate_passed = False
        self.rearmed = False

    def metadata(self):
        name = "not-" + self.name if self.case == "invalid_metadata" else self.name
        return concord.Metadata(name=name, istreams=[("in", concord.StreamGrouping.GROUP_BY)],
                                ostreams=["out-a", "out-b"],
                                states=["count"] if self.case in STATE_CASES else [])

    def init(self, ctx):
        if self.case == "timers":
            now = int(time.time() * 1000)
            ctx.set_timer("t3", now + 300)
            ctx.set_timer("t1", now + 100)
            ctx.set_timer("t2", now + 200)
            ctx.set_timer("rearm", now + 150)

    def process_record(self, ctx, record):
        if self.case == "produce":
            ctx.produce_record("out-a", record.key, b"a:" + record.value)
            ctx.produce_record("out-b", record.key, b"b:" + record.value)
            return
        if self.case == "group_by":
            ctx.produce_record("out-a", record.key, str(ctx.instance_index))
            return
        if self.case == "state":
            count = ctx.state("count")
            if record.value == b"clear":
                count.clear()
                ctx.produce_record("out-a", record.key, b"cleared")
                return
            c = int((count.get() or b"0").decode("ascii")) + 1
            count.set(str(c).encode("ascii"))
            ctx.produce_record("out-a", record.key, str(c).encode("ascii"))
            return
        if self.case == "keyed_timers":
            count = ctx.state("count")
            count.set(str(int((count.get() or b"0").decode("ascii")) + 1).encode("ascii"))
            ctx.set_timer("flush", int(time.time() * 1000) + FLUSH_DELAY_MS)
            return
        if self.case == "event_time_timers":
            ctx.set_timer("fire", record.event_time_unix_ms + EVENT_TIMER_DELAY_MS, concord.TimeDomain.EVENT)
            return
        if self.case == "backpressure":
            self.wait_for_gate()
        elif self.case == "exception":
            raise RuntimeError("conformance failure on purpose")
        elif self.case == "size_limit" and record.key == b"grow":
            ctx.produce_record("out-a", record.key, bytes(RECORD_BYTES_MAX - len(record.key) + 1))
            return
        ctx.produce_record("out-a", record.key, record.value)

    def process_timer(self, ctx, key, time_ms):
        if self.case == "event_time_timers":
            ctx.produce_record("out-b", ctx.state_key, str(time_ms).encode("ascii"))
            return
        if self.case == "keyed_timers":
            count = ctx.state("count")
            ctx.produce_record("out-b", ctx.state_key, count.get() or b"")
            count.clear()
            return
        ctx.produce_record("out-a", key, str(time_ms))
        if key == "rearm" and not self.rearmed:
            self.rearmed = True
            ctx.set_timer(key, time_ms + 200)

    def destroy(self):
        if self.case == "destroy":
            with open("destroyed", "w") as f:
                f.write("destroyed")

    def wait_for_gate(self):
        """Blocks the first callback until the harness creates "release" in the working directory."""
        deadline = time.monotonic() + GATE_TIMEOUT_S
        while not self.gate_passed and not os.path.exists("release"):
            if time.monotonic() > deadline:
                raise TimeoutError("the harness did not create 'release' within %d s" % GATE_TIMEOUT_S)
            time.sleep(0.01)
        self.gate_passed = True


if __name__ == "__main__":
    concord.serve_computation(TestOperator(os.environ.get("CONFORMANCE_CASE", ""),
                                           os.environ.get("CONCORD_OPERATOR_NAME", "conformance")))
