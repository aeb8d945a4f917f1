#!/usr/bin/python3
"""Idle cost: the CPU an instance uses while no records flow (issue 18, goal ≤ 1 % of a core each).

On a local cluster (`concord up`, local runtime) and the development Kafka (`concord kafka-dev`),
it deploys topologies that go idle once deployed:

  * gen: generator (count 1, so it finishes at once) → the example counters (examples/wordcount:
    C#, Python, Go; --counters) → csv-sink
  * kafka: kafka-source on an empty topic → csv-sink
  * kafka-ckpt: the same with delivery at_least_once (checkpoints every interval)  [--checkpointed]
  * file: file-source (a one-line file, finished at once) → kafka-sink

After SETTLE_S it samples every process of the run over WINDOW_S: CPU (utime+stime from
/proc/PID/stat, and the threads' run time from /proc/PID/task/*/schedstat, which counts
nanoseconds rather than 10 ms ticks), threads, and voluntary context switches per second summed
over the threads (a thread that sleeps on a timer or polls switches once per wake-up, so this
is a good proxy for polling; one that sleeps on a signal does not switch at all). Prints one row
per executor (by operator and instance), per operator program (the executor's child processes),
the scheduler and the development Kafka, and writes a section into bench/RESULTS.md between the
idle-bench markers. --threads also prints each process's busiest threads (by name), which shows
what wakes it.

    /usr/bin/python3 bench/idle.py [--window 30] [--settle 60] [--threads] [--checkpointed]
                                   [--only gen,kafka,...] [--counters dotnet,python,go]
                                   [--executor DLL] [--env NAME=VALUE] [--results PATH|-] [--label TEXT]

Needs a built tree (bash scripts/setup.sh). Everything it starts (scheduler, executors, operator
programs, Kafka) and its temp directory are removed at the end, also on Ctrl-C or SIGTERM.
CPU time of an idle process hardly depends on how busy the machine is (unlike rates), but a
loaded machine delays wake-ups, so compare runs made in the same session.
"""
import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time

import hostkit as kit

# Seconds after every topology runs before sampling: 60, so start-up work has ended (the Kafka
# group join, the generator's one record, and the JIT: an idle executor calls its loops a few
# times a second, so tiered compilation promotes them over tens of seconds; at 15 s its
# background compiler still took ~0.9 % of a core in an executor on a loaded machine).
SETTLE_S = 60
# Seconds over which CPU time and context switches are counted.
WINDOW_S = 30
# Longest one CLI command may take, in s (a dotnet start on a busy machine; deploy waits for running).
CLI_TIMEOUT_S = 180
# Goal per instance, % of one core (issue 18).
GOAL_PERCENT = 1.0
# Threads listed per process with --threads.
THREADS_SHOWN = 14
# Partitions of the idle topics (the dev Kafka's default is 16; a few keep the broker quiet).
PARTITIONS = 4
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
GO_COUNTER = os.path.join(kit.ROOT, "artifacts/go/bin/wordcount-counter")
PY_COUNTER = os.path.join(kit.ROOT, "examples/wordcount/python/run-counter.sh")
TOPOLOGIES = ("gen", "kafka", "kafka-ckpt", "file")
COUNTERS = ("dotnet", "python", "go")
MARK_BEGIN = "<!-- idle-bench:begin (written by bench/idle.py; the section is replaced on each run) -->"
MARK_END = "<!-- idle-bench:end -->"


def specs(name, run, counters):
    """Deploy dicts of topology `name`, readers first (records on a stream nobody reads are dropped).
    The example counters read "words" and write "counts" (their metadata says so): the counters
    of every language share one generator and one csv-sink."""
    def sink(stream):
        return {"name": f"{name}-sink", "instances": 1, "cpus": 0.1, "mem": 128,
                "builtin": {"kind": "csv-sink", "options": {"path": run.path(f"{name}-{{instance}}.csv")}},
                "inputs": [{"stream": stream, "grouping": "shuffle"}]}

    def counter(language, executable, args):
        return {"name": f"counter-{language}", "instances": 1, "cpus": 0.1, "mem": 128, "executable": executable, "args": args,
                "inputs": [{"stream": "words", "grouping": "group_by"}], "outputs": ["counts"]}

    if name == "gen":
        # Built-ins read only inside the deploy file's directory (or a --data-root): a copy there.
        dictionary = run.path("words.txt")
        shutil.copyfile(kit.DICTIONARY, dictionary)
        programs = {"dotnet": (kit.WORDCOUNT, ["counter"]), "python": (PY_COUNTER, []), "go": (GO_COUNTER, [])}
        generator = {"name": "gen-source", "instances": 1, "cpus": 0.1, "mem": 128,
                     "builtin": {"kind": "generator", "options": {"dictionary": dictionary, "count": "1", "stream": "words"}},
                     "outputs": ["words"]}
        return [sink("counts"), *(counter(c, *programs[c]) for c in counters), generator]
    if name in ("kafka", "kafka-ckpt"):
        stream = f"{name}-records"
        source = {"name": f"{name}-source", "instances": 1, "cpus": 0.1, "mem": 128,
                  "builtin": {"kind": "kafka-source", "options": {"topic": f"{name}-empty", "stream": stream, "start": "earliest"}},
                  "outputs": [stream]}
        reader = sink(stream)
        if name == "kafka-ckpt":
            reader["delivery"] = source["delivery"] = "at_least_once"
        return [reader, source]
    if name == "file":
        path = run.path("one-line.txt")
        with open(path, "w") as f:
            f.write("idle\n")
        kafka_sink = {"name": "file-kafka-sink", "instances": 1, "cpus": 0.1, "mem": 128,
                      "builtin": {"kind": "kafka-sink", "options": {"topic": "file-out"}},
                      "inputs": [{"stream": "lines", "grouping": "shuffle"}]}
        source = {"name": "file-source", "instances": 1, "cpus": 0.1, "mem": 128,
                  "builtin": {"kind": "file-source", "options": {"path": path, "stream": "lines"}},
                  "outputs": ["lines"]}
        return [kafka_sink, source]
    raise ValueError(name)


def cli(home, *args, env=None, executor=kit.EXECUTOR_DLL):
    full_env = dict(os.environ, CONCORD_EXECUTOR_DLL=executor)
    full_env.pop("CONCORD_SCHEDULER", None)
    full_env.update(env or {})
    p = subprocess.run(["dotnet", kit.CLI_DLL, "--home", home, *args], capture_output=True, text=True,
                       timeout=CLI_TIMEOUT_S, env=full_env, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        kit.fail(f"concord {' '.join(args)} failed ({p.returncode}):\n{p.stdout}{p.stderr}")
    return p.stdout


# ---- /proc sampling -------------------------------------------------------------------------

def read(path):
    with open(path) as f:
        return f.read()


def stat_fields(path):
    text = read(path)
    # comm may hold spaces and parentheses: the fields start after the last ')'.
    return text[text.rindex(")") + 2:].split()


def process_sample(pid):
    """(cpu ticks of the process, {tid: (name, run ns, voluntary, involuntary switches)}) or None if gone."""
    try:
        fields = stat_fields(f"/proc/{pid}/stat")
        ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        threads = {}
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                name = read(f"/proc/{pid}/task/{tid}/comm").strip()
                run_ns = int(read(f"/proc/{pid}/task/{tid}/schedstat").split()[0])
                voluntary = involuntary = 0
                for line in read(f"/proc/{pid}/task/{tid}/status").splitlines():
                    if line.startswith("voluntary_ctxt_switches:"):
                        voluntary = int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches:"):
                        involuntary = int(line.split()[1])
                threads[tid] = (name, run_ns, voluntary, involuntary)
            except (OSError, ValueError, IndexError):
                continue
        return ticks, threads
    except (OSError, ValueError, IndexError):
        return None


def environ(pid):
    try:
        raw = open(f"/proc/{pid}/environ", "rb").read()
    except OSError:
        return {}
    return dict(v.split(b"=", 1) for v in raw.split(b"\0") if b"=" in v)


def cmdline(pid):
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
    except OSError:
        return []


def parents():
    result = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                result[int(entry)] = int(stat_fields(f"/proc/{entry}/stat")[1])
            except (OSError, ValueError, IndexError):
                pass
    return result


def processes(home, scheduler_pid, kafka_pid):
    """[(label, kind, pid)]: the scheduler, the dev Kafka, every executor of the run and its operator programs."""
    found = []
    if scheduler_pid:
        found.append(("scheduler", "cluster", scheduler_pid))
    if kafka_pid:
        found.append(("kafka-dev (broker)", "cluster", kafka_pid))
    ppid = parents()
    children = {}
    for pid, parent in ppid.items():
        children.setdefault(parent, []).append(pid)
    for pid, operator, index in sorted(kit.executors_under(home), key=lambda e: (e[1], e[2])):
        found.append((f"{operator}[{index}] executor", "executor", pid))
        stack = list(children.get(pid, []))
        while stack:
            child = stack.pop()
            stack += children.get(child, [])
            argv = cmdline(child)
            program = os.path.basename(argv[1 if argv and argv[0].endswith(b"python3") and len(argv) > 1 else 0].decode(errors="replace")) if argv else "?"
            found.append((f"{operator}[{index}] operator ({program})", "operator", child))
    return found


def measure(procs, window_s):
    before = {pid: process_sample(pid) for _, _, pid in procs}
    t0 = time.monotonic()
    time.sleep(window_s)  # the measurement window itself
    elapsed = time.monotonic() - t0
    after = {pid: process_sample(pid) for _, _, pid in procs}
    rows = []
    for label, kind, pid in procs:
        b, a = before[pid], after[pid]
        if b is None or a is None:
            rows.append({"label": label, "kind": kind, "pid": pid, "gone": True})
            continue
        cpu = (a[0] - b[0]) / CLOCK_TICKS / elapsed * 100
        run_ns = volunt = invol = 0
        per_thread = []
        for tid, (name, r1, v1, i1) in a[1].items():
            r0, v0, i0 = b[1].get(tid, (name, 0, 0, 0))[1:]
            run_ns += r1 - r0
            volunt += v1 - v0
            invol += i1 - i0
            per_thread.append((name, (r1 - r0) / elapsed / 1e7, (v1 - v0) / elapsed))
        per_thread.sort(key=lambda t: (-t[1], -t[2]))
        rows.append({"label": label, "kind": kind, "pid": pid, "gone": False, "cpu": cpu,
                     "run": run_ns / elapsed / 1e7, "threads": len(a[1]),
                     "wakes": volunt / elapsed, "preempted": invol / elapsed, "per_thread": per_thread})
    return rows, elapsed


def table(rows, show_threads):
    lines = ["| process | CPU % of a core (utime+stime) | CPU % (schedstat) | threads | wake-ups/s (voluntary switches) | goal ≤ 1 % |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        if r["gone"]:
            lines.append(f"| {r['label']} | exited during the window | | | | |")
            continue
        goal = "" if r["kind"] == "cluster" else ("met" if r["cpu"] <= GOAL_PERCENT else "**missed**")
        lines.append(f"| {r['label']} | {r['cpu']:.2f} | {r['run']:.2f} | {r['threads']} | {r['wakes']:.0f} | {goal} |")
    text = "\n".join(lines)
    if show_threads:
        extra = []
        for r in rows:
            if r["gone"]:
                continue
            busiest = ", ".join(f"{name} {wakes:.0f}/s {cpu:.2f}%" for name, cpu, wakes in r["per_thread"][:THREADS_SHOWN] if wakes >= 0.5 or cpu >= 0.05)
            extra.append(f"* {r['label']}: {busiest or 'no thread woke'}")
        text += "\n\nBusiest threads (wake-ups/s, CPU % of a core):\n\n" + "\n".join(extra)
    return text


def write_section(path, section):
    text = read(path) if os.path.exists(path) else "# Benchmark results\n"
    s, e = text.find(MARK_BEGIN), text.find(MARK_END)
    if s >= 0 and e > s:
        text = text[:s] + section + text[e + len(MARK_END):].lstrip("\n")
        if not text.endswith("\n"):
            text += "\n"
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    with open(path, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--window", type=float, default=WINDOW_S, help=f"seconds measured (default {WINDOW_S})")
    ap.add_argument("--settle", type=float, default=SETTLE_S, help=f"seconds before measuring (default {SETTLE_S})")
    ap.add_argument("--threads", action="store_true", help="also list each process's busiest threads")
    ap.add_argument("--checkpointed", action="store_true", help="add kafka-ckpt: kafka-source and csv-sink with delivery at_least_once")
    ap.add_argument("--counters", default=",".join(COUNTERS), help=f"example counters behind the generator, comma-separated (default {','.join(COUNTERS)}; empty for none)")
    ap.add_argument("--only", help=f"comma-separated topologies of: {', '.join(TOPOLOGIES)}")
    ap.add_argument("--results", default=os.path.join(kit.ROOT, "bench", "RESULTS.md"), help="file to write the section into, or - for none")
    ap.add_argument("--label", default="", help="a note shown in the section's heading (e.g. 'before')")
    ap.add_argument("--executor", default=kit.EXECUTOR_DLL,
                    help="the Concord.Executor.dll the scheduler launches (default the tree's; another build's for an A/B in one session)")
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                    help="environment of the scheduler, so of every executor it starts (e.g. DOTNET_TieredCompilation=0)")
    a = ap.parse_args()
    chosen = a.only.split(",") if a.only else [t for t in TOPOLOGIES if t != "kafka-ckpt" or a.checkpointed]
    for t in chosen:
        if t not in TOPOLOGIES:
            kit.fail(f"unknown topology '{t}'; the topologies are: {', '.join(TOPOLOGIES)}")
    counters = a.counters.split(",") if a.counters else []
    for c in counters:
        if c not in COUNTERS:
            kit.fail(f"unknown counter '{c}'; the counters are: {', '.join(COUNTERS)}")
    for path in (kit.SCHEDULER_DLL, kit.EXECUTOR_DLL, kit.CLI_DLL, kit.WORDCOUNT) + ((GO_COUNTER,) if "go" in counters else ()):
        if not os.path.exists(path):
            kit.fail(f"{path} is missing; build the tree first: bash scripts/setup.sh")
    command = "bench/idle.py " + shlex.join(sys.argv[1:])
    extra_env = dict(e.split("=", 1) for e in a.env)
    kafka_needed = any(t in ("kafka", "kafka-ckpt", "file") for t in chosen)

    with kit.Run("cc-idle.") as run:
        home = run.path("home")
        os.makedirs(home)
        try:
            kafka_pid = None
            if kafka_needed:
                topics = ",".join([f"{t}-empty" for t in chosen if t.startswith("kafka")] + (["file-out"] if "file" in chosen else []))
                cli(home, "kafka-dev", "--detach", "--topics", topics, "--partitions", str(PARTITIONS))
                kafka_pid = json.loads(read(os.path.join(home, "kafka.json"))).get("pid")
            cli(home, "up", "--detach", "--port", "0", env=extra_env, executor=a.executor)
            scheduler_pid = json.loads(read(os.path.join(home, "scheduler.json"))).get("pid")
            for t in chosen:
                for spec in specs(t, run, counters):
                    path = run.path(f"{spec['name']}.json")
                    with open(path, "w") as f:
                        json.dump(spec, f)
                    cli(home, "deploy", path)
                print(f"deployed {t}", flush=True)
            print(f"settling {a.settle:.0f} s, then measuring {a.window:.0f} s", flush=True)
            time.sleep(a.settle)  # lets start-up work finish before the window
            procs = processes(home, scheduler_pid, kafka_pid)
            rows, elapsed = measure(procs, a.window)
            load = read("/proc/loadavg").split()[:3]
        finally:
            for args in (("down",), ("kafka-dev", "--stop")):
                try:
                    subprocess.run(["dotnet", kit.CLI_DLL, "--home", home, *args], capture_output=True, timeout=CLI_TIMEOUT_S,
                                   stdin=subprocess.DEVNULL)
                except subprocess.TimeoutExpired:
                    pass

    body = table(rows, a.threads)
    label = f" ({a.label})" if a.label else ""
    section = "\n".join([
        MARK_BEGIN,
        f"## Idle cost{label}",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC on {os.cpu_count()} cores, 1/5/15-minute load average "
        f"{' / '.join(load)} at the end of the window. Command: `{command}`.",
        f"Topologies {', '.join(chosen)}, every instance idle after deploy (no records flowing); settle {a.settle:.0f} s, "
        f"window {elapsed:.1f} s. CPU % is of one core; wake-ups/s are voluntary context switches summed over the "
        "process's threads (each timer or poll wake-up is one). Goal (issue 18): ≤ 1 % per instance.",
        "",
        body,
        MARK_END,
    ])
    print()
    print(section)
    if a.results != "-":
        write_section(a.results, section)
        print(f"\nwrote the idle section of {a.results}")


if __name__ == "__main__":
    try:
        main()
    except kit.Interrupted as e:
        sys.exit(f"idle.py: {e}; everything it started was removed")
