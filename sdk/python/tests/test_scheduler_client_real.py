"""SchedulerClient against a REAL scheduler (artifacts/bin/Concord.Scheduler, built by
scripts/setup.sh) on a fresh home and a free port, started once for this file: a built-in
generator with a delivery guarantee and trace sampling on every record, feeding the Python
word-count counter started through a shell that first writes a line to stderr."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from concurrent import futures

import grpc

import concord
from concord.scheduler.v1 import scheduler_pb2, scheduler_pb2_grpc
from tests.harness import ROOT

SCHEDULER_DLL = os.path.join(ROOT, "artifacts", "bin", "Concord.Scheduler", "release", "Concord.Scheduler.dll")
EXECUTOR_DLL = os.path.join(ROOT, "artifacts", "bin", "Concord.Executor", "release", "Concord.Executor.dll")
COUNTER = os.path.join(ROOT, "examples", "wordcount", "python", "run-counter.sh")
WORDS = os.path.join(ROOT, "examples", "wordcount", "words.txt")
#: The line the counter's process writes before the SDK starts; logs() must return it.
COUNTER_LINE = "client-test: the counter process starts"
#: How long the scheduler may take to write scheduler.json, in seconds (.NET starts slowly on a
#: loaded 2-core machine).
SCHEDULER_START_TIMEOUT_S = 60
#: How long a clean scheduler stop (SIGTERM: it stops every instance) may take, in seconds.
SCHEDULER_STOP_TIMEOUT_S = 30
#: Bound of every wait for the scheduler's or the executors' state, in seconds: instances start,
#: records flow, checkpoints complete within it on a loaded machine.
STATE_TIMEOUT_S = 60
#: Poll period of those waits, in seconds: another process's state has no event to await.
POLL_S = 0.2
#: Lines of the scheduler's log printed when a test failed.
SCHEDULER_LOG_LINES_SHOWN = 60
#: Generator rate, words per second: enough to see records, traces and checkpoints, not to load the machine.
GENERATOR_RATE = 100


def _wait_for(what, probe):
    """probe()'s first truthy result, polled until STATE_TIMEOUT_S; fails naming ``what``."""
    deadline = time.monotonic() + STATE_TIMEOUT_S
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("%s: not within %d s" % (what, STATE_TIMEOUT_S))
        time.sleep(POLL_S)


def counter_spec(version="1"):
    return {"name": "counter", "executable": "/bin/sh",
            "args": ["-c", "echo '%s' >&2; exec '%s'" % (COUNTER_LINE, COUNTER)],
            "instances": 1, "mem": 256, "environment": {"VERSION": version},
            "inputs": [{"stream": "words", "grouping": "group_by"}], "outputs": ["counts"]}


def words_spec(version="1"):
    """The source: a built-in generator with a delivery guarantee (so checkpoints are taken) that
    samples every record for tracing."""
    return {"name": "words", "instances": 1, "outputs": ["words"], "delivery": "at_least_once",
            "environment": {"CONCORD_TRACE_SAMPLE_EVERY": "1", "VERSION": version},
            "builtin": {"kind": "generator",
                        "options": {"stream": "words", "rate": GENERATOR_RATE, "dictionary": WORDS}}}


class RealSchedulerTests(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        for f in (SCHEDULER_DLL, EXECUTOR_DLL):
            if not os.path.exists(f):
                raise RuntimeError("%s is missing; run scripts/setup.sh (it builds the scheduler and executor)" % f)
        cls.home = tempfile.mkdtemp(prefix="cc-py-sched-")
        cls.log = open(cls.home + ".log", "wb")
        env = dict(os.environ, CONCORD_EXECUTOR_DLL=EXECUTOR_DLL)
        env.pop("CONCORD_TOKEN", None)
        cls.process = subprocess.Popen(
            ["dotnet", SCHEDULER_DLL, "--home", cls.home, "--port", "0", "--data-root", ROOT],
            stdout=cls.log, stderr=subprocess.STDOUT, env=env)
        state = os.path.join(cls.home, "scheduler.json")
        deadline = time.monotonic() + SCHEDULER_START_TIMEOUT_S
        while not os.path.exists(state):
            if cls.process.poll() is not None or time.monotonic() > deadline:
                cls._stop()
                raise RuntimeError("the scheduler did not write %s within %d s" % (state, SCHEDULER_START_TIMEOUT_S))
            time.sleep(POLL_S)
        time.sleep(POLL_S)  # scheduler.json is written in one go, but give a reader a complete file
        with open(state, encoding="utf-8") as f:
            cls.address = json.load(f)["address"]
        with open(os.path.join(cls.home, "token"), encoding="utf-8") as f:
            cls.token = f.read().strip()
        cls.client = concord.SchedulerClient(cls.address, token=cls.token)
        cls.client.deploy(words_spec())
        cls.client.deploy(counter_spec())
        _wait_for("both operators running", cls._all_running)

    @classmethod
    def _all_running(cls):
        listed = cls.client.list()
        return len(listed) == 2 and all(
            o.instances and all(i.state == scheduler_pb2.INSTANCE_STATE_RUNNING for i in o.instances) for o in listed)

    #: Set when a test of this class failed or raised: tearDownClass then prints the scheduler's log.
    failed = False

    def run(self, result=None):
        bad_before = len(result.errors) + len(result.failures) if result is not None else 0
        outcome = super().run(result)
        if result is not None and len(result.errors) + len(result.failures) > bad_before:
            type(self).failed = True
        return outcome

    @classmethod
    def _stop(cls):
        cls.process.send_signal(signal.SIGTERM)
        try:
            cls.process.wait(SCHEDULER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            cls.process.kill()
            cls.process.wait()
        cls.log.close()
        if cls.failed:
            # CI keeps only the suite's output: the scheduler's last lines say what it did.
            with open(cls.home + ".log", encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()[-SCHEDULER_LOG_LINES_SHOWN:]
            print("\n".join("scheduler log| " + line for line in lines), file=sys.stderr)
        shutil.rmtree(cls.home, ignore_errors=True)
        os.remove(cls.home + ".log")

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls._stop()

    def test_list_says_this_scheduler_leads_alone_and_graph_has_the_edge(self):
        listed = self.client.list()
        self.assertEqual(["counter", "words"], [o.spec.name for o in listed])
        self.assertEqual(("", False), (listed.leader, listed.from_standby))
        edges = [(e.stream, e.from_operator, e.to_operator) for e in self.client.graph().edges]
        self.assertIn(("words", "words", "counter"), edges)

    def test_logs_return_the_line_the_operator_wrote(self):
        def found():
            return [l for l in self.client.logs("counter", instances=[0]) if COUNTER_LINE in l.line]
        lines = _wait_for("the counter's line in its log", found)
        self.assertEqual(("counter", 0), (lines[0].operator_name, lines[0].instance_index))

    def test_logs_follow_sends_new_lines_until_closed(self):
        lines = self.client.logs("words", tail_lines=1, follow=True)
        first = next(lines)
        lines.close()
        self.assertEqual("words", first.operator_name)

    def test_instance_metrics_count_the_records_the_counter_read(self):
        def counted():
            metrics = self.client.instance_metrics("counter")
            return metrics if metrics and metrics[0].records_in_total > 0 else None
        metrics = _wait_for("records counted in the counter's metrics", counted)
        self.assertEqual({"counter"}, {m.operator_name for m in metrics})
        self.assertEqual("", metrics[0].error)

    def test_traces_of_sampled_records_list_and_show_their_spans(self):
        def traced():
            return [t for t in self.client.list_traces(limit=50) if "counter" in t.operators]
        traces = _wait_for("a trace through the counter", traced)
        spans = self.client.get_trace(traces[0].trace_id)
        self.assertEqual({traces[0].trace_id}, {s.trace_id for s in spans})
        self.assertIn("operator", {s.kind for s in spans})
        with self.assertRaises(concord.SchedulerError) as caught:
            self.client.get_trace("0" * 32)
        self.assertEqual(grpc.StatusCode.NOT_FOUND, caught.exception.code)
        with self.assertRaisesRegex(ValueError, "32 hex digits"):
            self.client.get_trace("not-a-trace")

    def test_tail_returns_the_counters_records(self):
        records = _wait_for("records on counts", lambda: self.client.tail("counts", records_max=5))
        self.assertLessEqual(len(records), 5)
        self.assertEqual(("counter", "counts"), (records[0].operator_name, records[0].stream))
        self.assertTrue(records[0].value.isdigit())
        with self.assertRaises(concord.SchedulerError) as caught:
            self.client.tail("no-such-stream")
        self.assertEqual(grpc.StatusCode.NOT_FOUND, caught.exception.code)
        self.assertIn("counts", caught.exception.details)

    def test_checkpoints_are_taken_and_a_savepoint_completes(self):
        _wait_for("a completed checkpoint", lambda: self.client.checkpoints().latest_completed_id)
        savepoint = self.client.trigger_savepoint()
        self.assertTrue(savepoint.savepoint)
        self.assertEqual(scheduler_pb2.CHECKPOINT_STATUS_COMPLETED, savepoint.status)
        listed = self.client.checkpoints()
        self.assertIn(savepoint.checkpoint_id, [c.checkpoint_id for c in listed.checkpoints if c.savepoint])

    def test_replace_runs_the_new_version(self):
        replaced = self.client.replace(counter_spec(version="2"), running_timeout_s=30)
        self.assertFalse(replaced.restarted)
        self.assertEqual("2", replaced.operator.spec.environment["VERSION"])
        self.assertGreater(replaced.total_ms, 0)
        self.assertEqual([scheduler_pb2.INSTANCE_STATE_RUNNING], [i.state for i in replaced.operator.instances])

    def test_replace_with_drop_state_restarts_the_operators_with_a_guarantee(self):
        _wait_for("a completed checkpoint to restart from", lambda: self.client.checkpoints().latest_completed_id)
        replaced = self.client.replace(words_spec(version="2"), drop_state=True)
        self.assertTrue(replaced.restarted)
        self.assertEqual(replaced.switch_ms, replaced.total_ms)
        self.assertEqual("2", replaced.operator.spec.environment["VERSION"])
        # The next test finds the topology running again.
        _wait_for("both operators running after the restart", self._all_running)

    def test_errors_carry_the_status_code_and_the_schedulers_message(self):
        with self.assertRaises(concord.SchedulerError) as caught:
            list(self.client.logs("ghost"))
        self.assertEqual(grpc.StatusCode.NOT_FOUND, caught.exception.code)
        self.assertIn("ghost", caught.exception.details)
        with self.assertRaises(concord.SchedulerError) as caught:
            self.client.kill("ghost")
        self.assertEqual(grpc.StatusCode.NOT_FOUND, caught.exception.code)
        self.assertIn("'ghost'", caught.exception.details)
        with concord.SchedulerClient(self.address, token="not-the-token") as wrong:
            with self.assertRaises(concord.SchedulerError) as caught:
                wrong.list()
        self.assertEqual(grpc.StatusCode.UNAUTHENTICATED, caught.exception.code)
        self.assertTrue(caught.exception.details)

    def test_a_standbys_refusal_is_followed_to_the_leader_it_names_and_a_dead_address_passed_over(self):
        leader = self.address if self.address.startswith("http") else "http://" + self.address

        class Standby(scheduler_pb2_grpc.SchedulerServicer):
            def List(self, request, context):
                context.abort(grpc.StatusCode.UNAVAILABLE, "this scheduler is a standby; the leader is %s" % leader)

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
        scheduler_pb2_grpc.add_SchedulerServicer_to_server(Standby(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self.addCleanup(lambda: server.stop(0).wait())
        with concord.SchedulerClient("http://127.0.0.1:%d" % port, token=self.token) as client:
            self.assertEqual(["counter", "words"], [o.spec.name for o in client.list()])
            self.assertEqual(leader.replace("http://", ""), client.address)
        with grpc_dead_port() as dead, concord.SchedulerClient("127.0.0.1:%d,%s" % (dead, leader), token=self.token) as client:
            self.assertEqual(["counter", "words"], [o.spec.name for o in client.list()])


class grpc_dead_port:
    """A loopback port nothing listens on (bound, then released)."""

    def __enter__(self):
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        return port

    def __exit__(self, *exc):
        return False


if __name__ == "__main__":
    unittest.main()
