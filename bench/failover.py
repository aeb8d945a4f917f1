#!/usr/bin/python3
"""Scheduler failover, measured N times (docs/cluster.md "High availability", "Failover timing").

On loopback: one ZooKeeper server (Debian's, tickTime 500), two schedulers with
`--store zookeeper --runtime agents` sharing the token, cluster.key and agent.secret, one agent
that knows both, and the word count (sink, counter x2, source at --rate words/s). Then --kills
times: SIGKILL the scheduler that leads and measure, polling the survivor's List every 50 ms,

  (a) ms until the survivor serves as leader (its List says from_standby false),
  (b) ms until every instance is running under it,
  (c) whether the sink kept growing meanwhile (lines gained between the kill and (b), and the
      longest time without a new line in that span; the sink flushes every 200 ms),

and how many instances were relaunched rather than adopted (a changed incarnation). Then the
killed scheduler is started again on the same home and port, waits to stand by (its List says
from_standby true and names the survivor as leader), and the next kill hits the other one.
Prints one line per kill and the median, p90 and max of (a) and (b).

    sudo /usr/bin/python3 bench/failover.py [--kills 10] [--session-timeout-ms 4000] [--rate 2000]

Needs root and a built tree (bash scripts/setup.sh). Everything it starts (ZooKeeper, schedulers,
agent, executors) and its temp directory are removed at the end, also on Ctrl-C or SIGTERM.
"""
import argparse
import os
import shutil
import signal
import sys
import time

import hostkit as kit

# How often the survivor's List is polled, in s: the resolution of the times measured.
POLL_S = 0.05
# Deadline of one List call, in s: short, so a stalled call does not hide a change of state.
LIST_TIMEOUT_S = 2.0
# Longest a scheduler may take to publish scheduler.json and serve, in s (cold JIT on 2 busy cores).
START_TIMEOUT_S = 60
# Longest the failover may take to (b), in s, before the run gives up with the schedulers' logs.
FAILOVER_TIMEOUT_S = 90
# Longest the word count may take to run and reach the sink at the start, in s.
RUNNING_TIMEOUT_S = 120


class Scheduler:
    def __init__(self, run, name, port, zookeeper, session_timeout_ms):
        self.run, self.name, self.port = run, name, port
        self.home = run.path(name)
        os.makedirs(self.home, exist_ok=True)
        self.address = f"http://127.0.0.1:{port}"
        self.argv = ["dotnet", kit.SCHEDULER_DLL, "--home", self.home, "--port", str(port),
                     "--data-root", "/tmp", "--data-root", kit.ROOT,
                     "--store", "zookeeper", "--zookeeper", zookeeper, "--runtime", "agents",
                     "--zookeeper-session-timeout-ms", str(session_timeout_ms)]
        self.proc = None
        self._client = None

    def start(self):
        self.proc = self.run.start(self.name, self.argv, env={"CONCORD_EXECUTOR_DLL": kit.EXECUTOR_DLL, "CONCORD_HOME": None})

    def client(self):
        from concord.scheduler_client import SchedulerClient
        if self._client is None:
            token = open(os.path.join(self.home, "token")).read().strip()
            self._client = SchedulerClient(self.address, timeout_s=LIST_TIMEOUT_S, token=token)
        return self._client

    def list(self):
        """The ListResponse, or None while it does not answer."""
        from concord.scheduler.v1 import scheduler_pb2
        from concord.scheduler_client import SchedulerError
        try:
            return self.client()._call("List", scheduler_pb2.ListRequest())
        except (SchedulerError, OSError):
            return None

    def wait(self, condition, what, timeout_s=START_TIMEOUT_S):
        deadline = time.monotonic() + timeout_s
        while True:
            if not self.proc.alive():
                kit.fail(f"scheduler {self.name} exited with {self.proc.popen.returncode} waiting for {what}:\n{self.proc.output()}")
            listed = self.list() if os.path.exists(os.path.join(self.home, "token")) else None
            if listed is not None and condition(listed):
                return listed
            if time.monotonic() > deadline:
                kit.fail(f"scheduler {self.name}: no {what} within {timeout_s} s:\n{self.proc.output()}")
            time.sleep(POLL_S)  # polling another process's state, with the deadline above


def instances(listed):
    return {(o.spec.name, i.index): i for o in listed.operators for i in o.instances}


def all_running(listed, expected):
    insts = instances(listed)
    return len(insts) == expected and all(_state_name(i) == kit.RUNNING for i in insts.values())


def _state_name(instance):
    return instance.DESCRIPTOR.fields_by_name["state"].enum_type.values_by_number[instance.state].name


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--session-timeout-ms", type=int, default=4000)
    ap.add_argument("--rate", type=int, default=2000, help="words/s of the source (default 2000, as the failover test)")
    a = ap.parse_args()
    kit.require_root_and_build("java", "ip")

    with kit.Run("cc-failover.") as run:
        zookeeper = kit.start_zookeeper(run)
        first = Scheduler(run, "s1", kit.free_port(), zookeeper, a.session_timeout_ms)
        second = Scheduler(run, "s2", kit.free_port(), zookeeper, a.session_timeout_ms)
        first.start()
        first.wait(lambda l: not l.from_standby, "leadership")
        # The schedulers of one cluster share its secrets (docs/cluster.md "Running two schedulers").
        for name in ("token", "cluster.key", "agent.secret"):
            shutil.copyfile(os.path.join(first.home, name), os.path.join(second.home, name))
            os.chmod(os.path.join(second.home, name), 0o600)
        second.start()
        second.wait(lambda l: l.from_standby and l.leader == first.address, "standby naming the leader")
        agent = run.start("agent", ["dotnet", kit.CLI_DLL, "agent", "--home", run.path("agent-a"),
                                    "--scheduler", f"{first.address},{second.address}", "--agent-id", "a",
                                    "--cpus", "8", "--mem", "8192", "--agent-secret-file", os.path.join(first.home, "agent.secret")],
                          env={"CONCORD_EXECUTOR_DLL": kit.EXECUTOR_DLL, "CONCORD_HOME": None, "CONCORD_SCHEDULER": None})
        deadline = time.monotonic() + START_TIMEOUT_S
        while "Agent a connected" not in first.proc.output(400):
            if not agent.alive() or time.monotonic() > deadline:
                kit.fail(f"the agent did not connect to the leader within {START_TIMEOUT_S} s:\n{agent.output()}\n{first.proc.output()}")
            time.sleep(0.2)  # polling another process's log, with the deadline above

        output = run.path("counts.csv")
        specs = kit.wordcount_specs(output, a.rate)
        expected = sum(s["instances"] for s in specs)
        for spec in specs:
            first.client().deploy(spec)
        sink = kit.SinkLines(output)
        deadline = time.monotonic() + RUNNING_TIMEOUT_S
        while True:
            listed = first.list()
            if listed is not None and all_running(listed, expected) and sink.read() > 0:
                break
            if time.monotonic() > deadline:
                kit.fail(f"the word count did not run and reach the sink within {RUNNING_TIMEOUT_S} s:\n{first.proc.output()}\n{agent.output()}")
            time.sleep(0.5)  # polling another process's state, with the deadline above

        print(f"ZooKeeper {zookeeper}, schedulers {first.address} and {second.address}, agent a, word count at {a.rate} words/s; "
              f"session timeout {a.session_timeout_ms} ms; {a.kills} kills", flush=True)
        leader, survivor = first, second
        results = []
        for k in range(1, a.kills + 1):
            before = leader.list()
            incarnations = {key: i.incarnation for key, i in instances(before).items()} if before else {}
            lines_at_kill = sink.read()
            last_growth, last_lines, longest_pause = None, lines_at_kill, 0.0
            os.kill(leader.proc.pid, signal.SIGKILL)
            killed = time.monotonic()
            last_growth = killed
            led_ms = running_ms = None
            while running_ms is None:
                now = time.monotonic()
                lines = sink.read()
                if lines > last_lines:
                    longest_pause = max(longest_pause, now - last_growth)
                    last_growth, last_lines = now, lines
                listed = survivor.list()
                now = time.monotonic()
                if listed is not None and not listed.from_standby:
                    if led_ms is None:
                        led_ms = (now - killed) * 1000
                    if all_running(listed, expected):
                        running_ms = (now - killed) * 1000
                        break
                if now - killed > FAILOVER_TIMEOUT_S:
                    kit.fail(f"kill {k}: the survivor {survivor.name} did not lead with every instance running within {FAILOVER_TIMEOUT_S} s:\n"
                             f"{survivor.proc.output()}\n{agent.output()}")
                time.sleep(POLL_S)  # polling another process's state, with the deadline above
            longest_pause = max(longest_pause, time.monotonic() - last_growth)
            gained = sink.read() - lines_at_kill
            relaunched = sum(1 for key, i in instances(listed).items() if incarnations.get(key) not in (None, i.incarnation))
            leader.proc.popen.wait(kit.STOP_TIMEOUT_S)
            restarted = time.monotonic()
            leader.start()
            leader._client = None
            survivor_address = survivor.address
            leader.wait(lambda l: l.from_standby and l.leader == survivor_address, "standby naming the new leader")
            standby_ms = (time.monotonic() - restarted) * 1000
            results.append((led_ms, running_ms))
            print(f"kill {k:2}: {leader.name} SIGKILLed; {survivor.name} led after {led_ms:6.0f} ms, every instance running under it after "
                  f"{running_ms:6.0f} ms; sink +{gained} lines meanwhile, longest pause {longest_pause * 1000:.0f} ms "
                  f"({'kept growing' if gained > 0 else 'STALLED'}); relaunched {relaunched} of {expected}; "
                  f"{leader.name} restarted, standing by after {standby_ms:.0f} ms", flush=True)
            leader, survivor = survivor, leader

        for label, column in (("(a) led", 0), ("(b) every instance running", 1)):
            values = [r[column] for r in results]
            print(f"{label}: median {kit.percentile(values, 0.5):.0f} ms, p90 {kit.percentile(values, 0.9):.0f} ms, "
                  f"max {max(values):.0f} ms over {len(values)} kills (session timeout {a.session_timeout_ms} ms)")


if __name__ == "__main__":
    try:
        main()
    except kit.Interrupted as e:
        sys.exit(f"failover.py: {e}; everything it started was removed")
