#!/usr/bin/python3
"""The word count spread over three simulated hosts versus all on one, in one run
(docs/cluster.md "Agents", "Addresses and TLS").

Three hosts h1..h3 simulated with network namespaces (one bridge, a veth pair per host, private
addresses 10.203.S.N; as tests/Concord.Testing/MultiHost/SimulatedNetwork.cs), certificates
from `concord certs` for each host and an operator, and two layouts one after the other, each
with a fresh scheduler on h1 (`--runtime agents`, mutual TLS on h1's address, since
non-loopback endpoints require it):

  * spread: one agent per host (h1, h2, h3; --cpus 2 --mem 2048 each), so the placement's
    spread rule puts the word count's instances (1 cpu each) on different hosts;
  * single: one agent on h1 holding all that capacity (--cpus 6 --mem 6144).

The word count is the example's (sink, counter x2, source) with the source at --rate words/s
(default 5,000,000: the most its timer can emit, 5,000 words per 1 ms fire, so the pipeline
runs as fast as it can). After every instance runs and the sink writes, --warmup seconds, then
records/s at the sink (one line per record) over --seconds. Per layout it prints `concord list`
(HOSTS column), the network namespace each executor process really runs in, the bytes through
the hosts' veth ends during the window, and records/s; at the end the ratio spread/single.

    sudo /usr/bin/python3 bench/multihost.py [--seconds 20] [--warmup 5] [--rate 5000000]

Needs root and a built tree (bash scripts/setup.sh). Everything it creates (namespaces, bridge,
veths, processes, temp directory) is removed at the end, also on Ctrl-C or SIGTERM.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import hostkit as kit

# The scheduler's gRPC port inside h1's namespace (its own port space, so a fixed one is free).
SCHEDULER_PORT = 7400
# Longest one CLI command may take, in s (a dotnet start on a busy machine).
CLI_TIMEOUT_S = 120
# Longest a scheduler may take to publish scheduler.json, or agents to connect, in s.
START_TIMEOUT_S = 60
# Longest the word count may take to run and reach the sink, in s.
RUNNING_TIMEOUT_S = 180
# Each agent's capacity in the spread layout; the single agent holds three times this.
AGENT_CPUS = 2
AGENT_MEM_MB = 2048
# What each instance asks for: 1 cpu, so instances of one operator land on different agents.
INSTANCE_CPUS = 1
INSTANCE_MEM_MB = 256


class Layout:
    def __init__(self, run, hosts, name, agents):
        self.run, self.hosts, self.name = run, hosts, name
        self.agents = agents  # [(host, cpus, mem)]
        self.dir = run.path(name)
        os.makedirs(self.dir)
        self.home = os.path.join(self.dir, "home")
        self.h1 = hosts[0]
        self.address = f"https://{self.h1.address}:{SCHEDULER_PORT}"
        self.procs = []

    def tls(self, name):
        certs = self.run.path("certs")
        return ["--tls-cert", os.path.join(certs, name + ".crt"), "--tls-key", os.path.join(certs, name + ".key"),
                "--tls-ca", os.path.join(certs, "ca.crt")]

    def cli(self, *args, check=True):
        token = open(os.path.join(self.home, "token")).read().strip()
        env = dict(os.environ, CONCORD_HOME=self.run.path("cli-home"), CONCORD_TOKEN=token)
        env.pop("CONCORD_SCHEDULER", None)
        p = subprocess.run(["nsenter", f"--net=/run/netns/{self.h1.namespace}", "--", "dotnet", kit.CLI_DLL,
                            "--scheduler", self.address, *self.tls("operator"), *args],
                           env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
        if check and p.returncode != 0:
            raise RuntimeError(f"concord {' '.join(args)} failed ({p.returncode}): {p.stderr.strip()}{p.stdout.strip()}")
        return p

    def start(self):
        env = {"CONCORD_EXECUTOR_DLL": kit.EXECUTOR_DLL, "CONCORD_HOME": None, "CONCORD_SCHEDULER": None}
        scheduler = self.run.start(f"{self.name}-scheduler", [
            "dotnet", kit.SCHEDULER_DLL, "--home", self.home, "--listen", f"{self.h1.address}:{SCHEDULER_PORT}",
            "--runtime", "agents", *self.tls(self.h1.name)], env=env, netns=self.h1.namespace)
        self.procs.append(scheduler)
        deadline = time.monotonic() + START_TIMEOUT_S
        while kit.read_json(os.path.join(self.home, "scheduler.json")) is None:
            if not scheduler.alive() or time.monotonic() > deadline:
                kit.fail(f"{self.name}: the scheduler on h1 did not start within {START_TIMEOUT_S} s:\n{scheduler.output()}")
            time.sleep(0.2)  # polling another process's state, with the deadline above
        for host, cpus, mem in self.agents:
            self.procs.append(self.run.start(f"{self.name}-agent-{host.name}", [
                "dotnet", kit.CLI_DLL, "agent", "--home", os.path.join(self.dir, "agent-" + host.name),
                "--scheduler", self.address, "--agent-id", host.name, "--cpus", str(cpus), "--mem", str(mem),
                "--agent-secret-file", os.path.join(self.home, "agent.secret"), "--advertise-host", host.address,
                *self.tls(host.name)], env=env, netns=host.namespace))
        deadline = time.monotonic() + START_TIMEOUT_S
        while not all(f"Agent {host.name} connected" in scheduler.output(400) for host, _, _ in self.agents):
            if time.monotonic() > deadline:
                kit.fail(f"{self.name}: not every agent connected within {START_TIMEOUT_S} s:\n{scheduler.output()}\n"
                         + "\n".join(p.output(15) for p in self.procs[1:]))
            time.sleep(0.2)  # polling another process's log, with the deadline above

    def deploy(self, rate):
        output = os.path.join(self.dir, "counts.csv")
        for spec in kit.wordcount_specs(output, rate, cpus=INSTANCE_CPUS, mem=INSTANCE_MEM_MB):
            path = os.path.join(self.dir, spec["name"] + ".json")
            with open(path, "w") as f:
                json.dump(spec, f)
            self.cli("deploy", path)
        return kit.SinkLines(output)

    def listed(self):
        """[(operator, index, host, state)] from `concord list --format json`."""
        data = json.loads(self.cli("list", "--format", "json").stdout)
        return [(o["spec"]["name"], i.get("index", 0), i.get("host", ""), str(i.get("state", "")))
                for o in data.get("operators", []) for i in o.get("instances", [])]

    def wait_running(self, sink, expected):
        deadline = time.monotonic() + RUNNING_TIMEOUT_S
        while True:
            insts = self.listed()
            if len(insts) == expected and all("RUNNING" in s and h for _, _, h, s in insts) and sink.read() > 0:
                return insts
            if time.monotonic() > deadline:
                kit.fail(f"{self.name}: the word count did not run and reach the sink within {RUNNING_TIMEOUT_S} s: {insts}\n"
                         + "\n".join(p.output(15) for p in self.procs))
            time.sleep(1)  # polling another process's state, with the deadline above

    def executor_namespaces(self):
        """{host name: [operator/index]} by the network namespace each executor process is in."""
        by_inode = {h.netns_inode(): h.name for h in self.hosts}
        placed = {}
        for pid, operator, index in kit.executors_under(self.dir):
            host = by_inode.get(kit.netns_inode_of(pid), "root namespace")
            placed.setdefault(host, []).append(f"{operator}/{index}")
        return {h: sorted(v) for h, v in sorted(placed.items())}

    def stop(self):
        for proc in reversed(self.procs):
            self.run.stop(proc)
        self.run.kill_leftovers(self.dir)
        try:
            os.remove(os.path.join(self.dir, "counts.csv"))
        except OSError:
            pass


def measure(layout, rate, warmup_s, seconds):
    layout.start()
    sink = layout.deploy(rate)
    insts = layout.wait_running(sink, expected=4)
    table = layout.cli("list").stdout
    hosts = {(op, idx): host for op, idx, host, _ in insts}
    namespaces = layout.executor_namespaces()
    time.sleep(warmup_s)  # the warm-up is a span of time, not a condition
    veth0 = {h.name: h.veth_bytes() for h in layout.hosts}
    lines0, t0 = sink.read(), time.monotonic()
    per_second = []
    previous, tp = lines0, t0
    while time.monotonic() - t0 < seconds:
        time.sleep(1)  # one sample a second over the window
        lines, now = sink.read(), time.monotonic()
        per_second.append((lines - previous) / (now - tp))
        previous, tp = lines, now
    lines1, t1 = sink.read(), time.monotonic()
    veth = {h.name: h.veth_bytes() - veth0[h.name] for h in layout.hosts}
    layout.stop()
    return {"rate": (lines1 - lines0) / (t1 - t0), "records": lines1 - lines0, "seconds": t1 - t0, "per_second": per_second,
            "table": table, "hosts": hosts, "namespaces": namespaces, "veth": veth}


def crossing(hosts):
    """Edges (source -> counter, counter -> sink) whose ends are on different hosts, of all."""
    source, sink = hosts[("source", 0)], hosts[("sink", 0)]
    counters = [h for (op, _), h in hosts.items() if op == "counter"]
    edges = [(source, c) for c in counters] + [(c, sink) for c in counters]
    return sum(1 for a, b in edges if a != b), len(edges)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=20, help="measured window per layout")
    ap.add_argument("--warmup", type=int, default=5, help="seconds between the first records at the sink and the window")
    ap.add_argument("--rate", type=int, default=5_000_000, help="words/s of the source (default: as fast as it can emit)")
    a = ap.parse_args()
    kit.require_root_and_build("ip", "nsenter")

    with kit.Run("cc-mh.") as run:
        hosts = kit.create_network(run, 3)
        certs = subprocess.run(["dotnet", kit.CLI_DLL, "certs", "--out", run.path("certs"),
                                *[w for h in hosts for w in ("--host", f"{h.name},{h.address}")], "--client", "operator"],
                               env=dict(os.environ, CONCORD_HOME=run.path("cli-home")), capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
        if certs.returncode != 0:
            kit.fail(f"concord certs failed: {certs.stderr}{certs.stdout}")
        print(f"hosts: {', '.join(f'{h.name} {h.address} (namespace {h.namespace})' for h in hosts)}; "
              f"source at {a.rate:,} words/s; warm-up {a.warmup} s, window {a.seconds} s per layout", flush=True)
        layouts = [
            Layout(run, hosts, "spread", [(h, AGENT_CPUS, AGENT_MEM_MB) for h in hosts]),
            Layout(run, hosts, "single", [(hosts[0], AGENT_CPUS * len(hosts), AGENT_MEM_MB * len(hosts))]),
        ]
        results = {}
        for layout in layouts:
            print(f"\n== {layout.name}: scheduler on h1, agent(s) on {', '.join(h.name for h, _, _ in layout.agents)}", flush=True)
            r = measure(layout, a.rate, a.warmup, a.seconds)
            results[layout.name] = r
            cross, edges = crossing(r["hosts"])
            print(r["table"].rstrip())
            placed = "; ".join(h + ": " + ", ".join(v) for h, v in r["namespaces"].items())
            print(f"executors by network namespace: {placed}")
            print(f"edges between hosts: {cross} of {edges}; bytes through the veths during the window: "
                  + ", ".join(f"{h} {b / 1e6:.1f} MB" for h, b in r["veth"].items()))
            ps = r["per_second"]
            print(f"{layout.name}: {r['rate']:,.0f} records/s at the sink ({r['records']:,} records in {r['seconds']:.1f} s; "
                  f"1 s samples min {min(ps):,.0f} max {max(ps):,.0f})", flush=True)
            if layout.name == "spread" and cross == 0:
                kit.fail("spread: every edge stayed on one host, so no record crossed a veth; check the agents' capacity and the placement")

        spread, single = results["spread"]["rate"], results["single"]["rate"]
        print(f"\nspread {spread:,.0f} records/s, single {single:,.0f} records/s, spread/single {spread / single:.2f}")


if __name__ == "__main__":
    try:
        main()
    except kit.Interrupted as e:
        sys.exit(f"multihost.py: {e}; everything it created was removed")
