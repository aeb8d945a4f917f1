"""What bench/failover.py and bench/multihost.py share: the built binaries, processes they start
and always stop, a ZooKeeper server, hosts simulated with network namespaces, the sink's
line count.

Everything a run creates is registered with its `Run` as it is created, and `Run.close()`
removes it in reverse: processes (SIGTERM to the ones that stop their own children, then SIGKILL
to their process groups and to every process that names the run's directory), namespaces, veth
pairs, the bridge, the temp directory. `Run` is a context manager and turns SIGINT/SIGTERM into
an exception, so `close()` runs on every way out but SIGKILL. Names follow
tests/Concord.Testing/MultiHost/SimulatedNetwork.cs (`cc<pid base 36>-<run>-h<N>`, `…-br`), so
a run killed with SIGKILL leaves names that the test kit's sweep removes.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEDULER_DLL = os.path.join(ROOT, "artifacts/bin/Concord.Scheduler/release/Concord.Scheduler.dll")
EXECUTOR_DLL = os.path.join(ROOT, "artifacts/bin/Concord.Executor/release/Concord.Executor.dll")
CLI_DLL = os.path.join(ROOT, "artifacts/bin/concord/release/concord.dll")
WORDCOUNT = os.path.join(ROOT, "artifacts/bin/WordCount/release/WordCount")
DICTIONARY = os.path.join(ROOT, "examples/wordcount/words.txt")
RUNNING = "INSTANCE_STATE_RUNNING"
sys.path.insert(0, os.path.join(ROOT, "sdk", "python"))

# Longest a process that stops its own children (scheduler, agent) may take after SIGTERM, in s.
STOP_TIMEOUT_S = 30
# Longest the ZooKeeper server may take to answer `srvr` after its start, in s (a cold JVM on a busy machine).
ZOOKEEPER_START_TIMEOUT_S = 60
# Bound of one `srvr` probe, in s: during start-up the port can accept before the server answers.
ZOOKEEPER_PROBE_TIMEOUT_S = 1.0
# ZooKeeper's tick, in ms, and the session bounds it grants: as the test kit's server
# (tests/Concord.Testing/ZooKeeper/ZooKeeperServer.cs), so sessions of a few seconds are allowed.
ZOOKEEPER_TICK_MS = 500
ZOOKEEPER_SESSION_MS_MIN = 1_000
ZOOKEEPER_SESSION_MS_MAX = 60_000
ZOOKEEPER_CLASSPATH = ["/usr/share/java/zookeeper.jar", "/usr/share/java/zookeeper-jute.jar",
                       "/usr/share/java/slf4j-api.jar", "/usr/share/java/slf4j-simple.jar"]
# Longest one `ip` command may take, in s: kernel calls; a hang is a bug to report.
IP_TIMEOUT_S = 10


def fail(message):
    sys.exit(f"{os.path.basename(sys.argv[0])}: {message}")


def require_root_and_build(*tools):
    if os.geteuid() != 0:
        fail("needs root (network namespaces, agents' cgroups); run it with sudo")
    for path in (SCHEDULER_DLL, EXECUTOR_DLL, CLI_DLL, WORDCOUNT):
        if not os.path.exists(path):
            fail(f"{path} is missing; build the tree first: bash scripts/setup.sh")
    for tool in ("dotnet", *tools):
        if shutil.which(tool) is None:
            fail(f"`{tool}` is not on PATH; install it (scripts/setup.sh installs what Concord needs)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values, q):
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * q // 1))
    return ordered[int(rank) - 1]


class Interrupted(Exception):
    pass


def _interrupt(signum, _frame):
    raise Interrupted(f"stopped by {signal.Signals(signum).name}")


class Proc:
    def __init__(self, name, popen, log, graceful):
        self.name, self.popen, self.log, self.graceful = name, popen, log, graceful

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def output(self, tail=40):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-tail:])
        except OSError:
            return ""


class Run:
    """One benchmark run: its temp directory, processes, namespaces and links; close() removes them all."""

    def __init__(self, prefix):
        # A short path: operator sockets live under it (unix socket paths are capped at 107 bytes).
        self.dir = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
        self.procs = []
        self.namespaces = []  # (namespace, host-side veth)
        self.bridges = []
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, _interrupt)
        return self

    def __exit__(self, *exc):
        # A second Ctrl-C must not cut the clean-up short.
        for sig in self._old:
            signal.signal(sig, signal.SIG_IGN)
        try:
            self.close()
        finally:
            for sig, old in self._old.items():
                signal.signal(sig, old)
        return False

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def start(self, name, argv, env=None, netns=None, graceful=True, log=None):
        """Starts argv (in network namespace `netns` if given) in a process group of its own,
        output appended to a log file in the run's directory. `graceful`: SIGTERM first at stop."""
        full_env = dict(os.environ)
        for key, value in (env or {}).items():
            if value is None:
                full_env.pop(key, None)
            else:
                full_env[key] = value
        if netns:
            argv = ["nsenter", f"--net=/run/netns/{netns}", "--", *argv]
        log = log or self.path(f"{name}.log")
        with open(log, "ab") as out:
            popen = subprocess.Popen(argv, env=full_env, stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        proc = Proc(name, popen, log, graceful)
        self.procs.append(proc)
        return proc

    def stop(self, proc, hard=False):
        """SIGTERM (unless hard) and wait, then SIGKILL to its process group."""
        if proc.alive() and proc.graceful and not hard:
            try:
                os.kill(proc.pid, signal.SIGTERM)
                proc.popen.wait(STOP_TIMEOUT_S)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.popen.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass

    def kill_leftovers(self, under=None):
        """SIGKILL every process whose command line, environment or working directory names
        `under` (default: the run's directory): executors and operators the agents launched."""
        # Inside the directory only: "/tmp/x/spread/" must not match "/tmp/x/spread2".
        under = (under or self.dir).rstrip("/")
        killed = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            pid = int(entry)
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    environ = f.read()
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmdline = f.read()
                cwd = os.readlink(f"/proc/{pid}/cwd")
            except OSError:
                continue
            needle = under.encode() + b"/"
            if needle in environ or needle in cmdline or cwd == under or cwd.startswith(under + "/"):
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                except ProcessLookupError:
                    pass
        return killed

    def close(self):
        problems = []
        # Agents and schedulers first (they stop what they launched), newest first.
        for proc in reversed(self.procs):
            self.stop(proc)
        self.kill_leftovers()
        for ns, link in reversed(self.namespaces):
            problems += remove_namespace(ns, link)
        for bridge in self.bridges:
            problems += ip("link", "del", bridge, check=False, missing_ok=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        if problems:
            print("clean-up problems:\n  " + "\n  ".join(problems), file=sys.stderr)


# ---- ZooKeeper -------------------------------------------------------------------------------

def zookeeper_mode(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=ZOOKEEPER_PROBE_TIMEOUT_S) as s:
            s.settimeout(ZOOKEEPER_PROBE_TIMEOUT_S)
            s.sendall(b"srvr")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        for line in data.decode(errors="replace").splitlines():
            if line.startswith("Mode:"):
                return line[5:].strip()
    except OSError:
        return None
    return None


def start_zookeeper(run):
    """One standalone server (Debian's), as the test kit starts it: zoo.cfg, tickTime 500,
    session bounds 1..60 s, readiness by `srvr`. Returns its connect string."""
    if not os.path.exists(ZOOKEEPER_CLASSPATH[0]):
        fail(f"{ZOOKEEPER_CLASSPATH[0]} is missing; install ZooKeeper: bash scripts/install-zookeeper.sh")
    port = free_port()
    data = run.path("zookeeper", "data")
    os.makedirs(data)
    config = run.path("zookeeper", "zoo.cfg")
    with open(config, "w") as f:
        f.write(f"tickTime={ZOOKEEPER_TICK_MS}\ndataDir={data}\nclientPort={port}\nclientPortAddress=127.0.0.1\n"
                "admin.enableServer=false\n4lw.commands.whitelist=ruok,srvr,stat,mntr\n"
                f"minSessionTimeout={ZOOKEEPER_SESSION_MS_MIN}\nmaxSessionTimeout={ZOOKEEPER_SESSION_MS_MAX}\n"
                "initLimit=10\nsyncLimit=5\n")
    proc = run.start("zookeeper", ["java", "-Xmx256m", "-Dzookeeper.log.dir=" + run.path("zookeeper"),
                                   "-cp", ":".join(ZOOKEEPER_CLASSPATH),
                                   "org.apache.zookeeper.server.ZooKeeperServerMain", config])
    deadline = time.monotonic() + ZOOKEEPER_START_TIMEOUT_S
    while zookeeper_mode(port) is None:
        if not proc.alive():
            fail(f"ZooKeeper exited with {proc.popen.returncode}:\n{proc.output()}")
        if time.monotonic() > deadline:
            fail(f"ZooKeeper did not answer `srvr` on 127.0.0.1:{port} within {ZOOKEEPER_START_TIMEOUT_S} s:\n{proc.output()}")
        time.sleep(0.1)  # polling another process's state, with the deadline above
    return f"127.0.0.1:{port}"


# ---- simulated hosts -------------------------------------------------------------------------

def ip(*args, check=True, missing_ok=False):
    p = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=IP_TIMEOUT_S)
    if p.returncode != 0:
        err = p.stderr.strip()
        if missing_ok and ("Cannot find device" in err or "No such file" in err or "does not exist" in err):
            return []
        if check:
            raise RuntimeError(f"ip {' '.join(args)} failed: {err}")
        return [f"ip {' '.join(args)}: {err}"]
    return []


def _base36(n):
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        text = digits[n % 36] + text
        n //= 36
        if n == 0:
            return text


class Host:
    def __init__(self, name, namespace, address):
        self.name, self.namespace, self.address = name, namespace, address

    @property
    def link(self):  # the host-side veth end, on the bridge
        return self.namespace

    def veth_bytes(self):
        total = 0
        for counter in ("rx_bytes", "tx_bytes"):
            with open(f"/sys/class/net/{self.link}/statistics/{counter}") as f:
                total += int(f.read())
        return total

    def netns_inode(self):
        return os.stat(f"/run/netns/{self.namespace}").st_ino


def create_network(run, count):
    """A bridge and `count` hosts h1..hN, each a namespace joined to the bridge by a veth pair,
    at 10.203.S.N/24 (only inside the namespaces; the root namespace has no address there)."""
    pid = os.getpid()
    prefix = f"cc{_base36(pid)}-1"
    subnet = (pid * 31 + 1) % 250 + 1
    bridge = f"{prefix}-br"
    ip("link", "add", bridge, "type", "bridge")
    run.bridges.append(bridge)
    ip("link", "set", bridge, "up")
    hosts = []
    for n in range(1, count + 1):
        host = Host(f"h{n}", f"{prefix}-h{n}", f"10.203.{subnet}.{n}")
        ip("netns", "add", host.namespace)
        run.namespaces.append((host.namespace, host.link))
        ip("link", "add", host.link, "type", "veth", "peer", "name", "eth0", "netns", host.namespace)
        ip("link", "set", host.link, "master", bridge, "up")
        ip("-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", "eth0")
        ip("-n", host.namespace, "link", "set", "eth0", "up")
        ip("-n", host.namespace, "link", "set", "lo", "up")
        hosts.append(host)
    return hosts


def remove_namespace(ns, link):
    problems = []
    if os.path.exists(f"/run/netns/{ns}"):
        p = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=IP_TIMEOUT_S)
        pids = [int(x) for x in p.stdout.split() if x.isdigit() and int(x) != os.getpid()]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    problems += ip("link", "del", link, check=False, missing_ok=True)
    problems += ip("netns", "del", ns, check=False, missing_ok=True)
    return problems


def netns_inode_of(pid):
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


def executors_under(directory):
    """(pid, operator, index) of every executor whose environment names `directory`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                variables = dict(v.split(b"=", 1) for v in f.read().split(b"\0") if b"=" in v)
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if b"Concord.Executor.dll" not in cmdline or directory.encode() not in variables.get(b"CONCORD_WORK_DIR", b""):
            continue
        found.append((int(entry), variables.get(b"CONCORD_OPERATOR_NAME", b"?").decode(),
                      int(variables.get(b"CONCORD_INSTANCE_INDEX", b"0"))))
    return found


# ---- the word count --------------------------------------------------------------------------

def wordcount_specs(output, rate, cpus=0.5, mem=256):
    """The word count as deploy dicts, readers first (records on a stream nobody reads yet are dropped)."""
    specs = [
        {"name": "sink", "args": ["sink"], "instances": 1, "environment": {"WORDCOUNT_OUTPUT": output},
         "inputs": [{"stream": "counts", "grouping": "shuffle"}]},
        {"name": "counter", "args": ["counter"], "instances": 2,
         "inputs": [{"stream": "words", "grouping": "group_by"}], "outputs": ["counts"]},
        {"name": "source", "args": ["source"], "instances": 1,
         "environment": {"WORDCOUNT_DICTIONARY": DICTIONARY, "WORDCOUNT_RATE": str(rate), "WORDCOUNT_LIMIT": "0"},
         "outputs": ["words"]},
    ]
    for s in specs:
        s.update(executable=WORDCOUNT, cpus=cpus, mem=mem)
    return specs


class SinkLines:
    """Lines the word count's sink has written (one per record), read incrementally."""

    def __init__(self, path):
        self.path, self.offset, self.lines = path, 0, 0

    def read(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                while chunk := f.read(1 << 20):
                    self.lines += chunk.count(b"\n")
                    self.offset += len(chunk)
        except FileNotFoundError:
            pass
        return self.lines


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
