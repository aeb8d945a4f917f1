#!/usr/bin/python3
"""The kill drill of docs/operations.md ("Failures stay local"), outside the test suite.

Starts an embedded cluster with the word count (C# sink, counter with 2 instances, source at
--rate words/s), then every --every seconds SIGKILLs one random operator process and one random
executor, for --seconds. Once a second it samples the sink's output file and the instance states
(`concord list --format json`). It prints:

  * samples (about one a second) without sink progress, of all samples, and of the samples at
    which every instance was running (and was at the sample before: one sample of grace for
    channels to reconnect), over the drill and one more --every period;
  * how long after the last kill every instance was running again (polled every 0.25 s).

    /usr/bin/python3 bench/kill-drill.py [--seconds 60] [--every 5] [--rate 20000] [--seed 1]

Needs a built tree (bash scripts/setup.sh). Deploys with the CLI and reads states through the
Python SDK's scheduler client (a `concord list` per look would cost the busy machine a dotnet
start each time), so it measures any build with the same scheduler API.
"""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = os.path.join(ROOT, "artifacts/bin/concord/release/concord.dll")
EXE = os.path.join(ROOT, "artifacts/bin/WordCount/release/WordCount")
RUNNING = "INSTANCE_STATE_RUNNING"
sys.path.insert(0, os.path.join(ROOT, "sdk", "python"))
_clients = {}


def concord(home, *args, check=True):
    env = dict(os.environ, CONCORD_HOME=home)
    p = subprocess.run(["dotnet", CLI, *args], env=env, capture_output=True, text=True, timeout=60)
    if check and p.returncode != 0:
        sys.exit(f"concord {' '.join(args)} failed ({p.returncode}): {p.stderr.strip()}")
    return p.stdout


def instances(home):
    from concord.scheduler_client import SchedulerClient, SchedulerError
    if home not in _clients:
        address = json.load(open(os.path.join(home, "scheduler.json")))["address"]
        token = open(os.path.join(home, "token")).read().strip()
        _clients[home] = SchedulerClient(address, token=token)
    try:
        ops = _clients[home].list()
    except SchedulerError:
        return []
    return [(o.spec.name, SchedulerClient.to_dict(i)) for o in ops for i in o.instances]


def all_running(insts):
    return bool(insts) and all(i.get("state") == RUNNING for _, i in insts)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--every", type=float, default=5.0)
    ap.add_argument("--rate", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep-log", help="copy the scheduler's log here at the end")
    a = ap.parse_args()
    rnd = random.Random(a.seed)

    # A short home path: operator sockets live under it (unix socket paths are capped at 107 bytes).
    home = tempfile.mkdtemp(prefix="concord-drill.", dir="/tmp")
    out = os.path.join(home, "counts.csv")
    try:
        concord(home, "up", "--port", "0", "--detach")
        deploy = os.path.join(home, "deploy")
        os.makedirs(deploy)
        shutil.copyfile(os.path.join(ROOT, "examples/wordcount/words.txt"), os.path.join(deploy, "words.txt"))
        specs = {
            "sink": {"args": ["sink"], "instances": 1, "environment": {"WORDCOUNT_OUTPUT": out},
                     "inputs": [{"stream": "counts", "grouping": "shuffle"}]},
            "counter": {"args": ["counter"], "instances": 2,
                        "inputs": [{"stream": "words", "grouping": "group_by"}], "outputs": ["counts"]},
            "source": {"args": ["source"], "instances": 1, "files": ["words.txt"],
                       "environment": {"WORDCOUNT_DICTIONARY": "words.txt", "WORDCOUNT_RATE": str(a.rate), "WORDCOUNT_LIMIT": "0"},
                       "outputs": ["words"]},
        }
        for name, s in specs.items():
            s.update(name=name, executable=EXE, cpus=0.5, mem=256)
            path = os.path.join(deploy, name + ".json")
            json.dump(s, open(path, "w"))
            concord(home, "deploy", path)
        deadline = time.time() + 60
        while not all_running(instances(home)):
            if time.time() > deadline:
                sys.exit("the word count did not reach running within 60 s")
            time.sleep(0.5)  # polling another process's state, with the deadline above

        size = lambda: os.path.getsize(out) if os.path.exists(out) else 0
        samples = []  # (progress, all running at this and the previous sample)
        prev_size, prev_running = size(), True
        start = time.time()
        next_kill, next_sample = start, start + 1.0
        last_kill = start
        kills = []
        victims = {}  # (operator, index) -> incarnation when last hit
        recovered_at = None
        # Recovered: all running, every victim under a new incarnation (its kill was seen).
        recovered = lambda insts: all_running(insts) and all(
            i.get("incarnation") != victims.get((n, i.get("index", 0))) for n, i in insts)
        while time.time() - start < a.seconds + a.every:
            now = time.time()
            if now >= next_kill and next_kill - start < a.seconds:
                insts = instances(home)
                for kind, key in (("operator", "operatorPid"), ("executor", "executorPid")):
                    hit = [(n, i) for n, i in insts if i.get(key)]
                    if hit:
                        n, i = rnd.choice(hit)
                        victims[(n, i.get("index", 0))] = i.get("incarnation")
                        try:
                            os.kill(i[key], signal.SIGKILL)
                            kills.append((round(time.time() - start, 1), kind, f"{n}/{i.get('index', 0)}"))
                        except ProcessLookupError:
                            pass
                last_kill = time.time()
                next_kill = max(next_kill + a.every, last_kill)  # a slow `list` does not bunch kills
                prev_running = False  # the sample that holds a kill is not "all running"
            if now >= next_sample:
                s = size()
                running = all_running(instances(home))
                samples.append((s != prev_size, running and prev_running))
                prev_size, prev_running = s, running
                next_sample = max(next_sample + 1.0, time.time())
            elif next_kill - start >= a.seconds and recovered_at is None and recovered(instances(home)):
                recovered_at = time.time()
            time.sleep(0.05)  # pacing the loop; kills and samples have their own times
        # Everything running again after the last kill (if not yet seen within the loop).
        deadline = time.time() + 60
        while recovered_at is None and time.time() < deadline:
            if recovered(instances(home)):
                recovered_at = time.time()
            time.sleep(0.25)  # polling another process's state, with the deadline above
        recovered_after = (recovered_at or float("nan")) - last_kill
        stalls = sum(1 for p, _ in samples if not p)
        stalls_running = sum(1 for p, r in samples if not p and r)
        print(f"kills: {len(kills)} ({', '.join(f'{k}@{t}s' for t, k, _ in kills)})")
        print(f"samples without sink progress: {stalls} of {len(samples)}; "
              f"while every instance was running: {stalls_running} of {sum(1 for _, r in samples if r)}")
        print(f"all instances running {recovered_after:.1f} s after the last kill")
        for name, i in instances(home):
            print(f"  {name}/{i.get('index', 0)}: {i.get('state')} restarts={i.get('restarts', 0)}")
    finally:
        concord(home, "down", check=False)
        if a.keep_log and os.path.exists(os.path.join(home, "scheduler.log")):
            shutil.copyfile(os.path.join(home, "scheduler.log"), a.keep_log)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
