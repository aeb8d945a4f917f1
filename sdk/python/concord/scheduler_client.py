"""SchedulerClient: the user-facing API of a running Concord scheduler (topology, logs, metrics,
traces, stream tails, checkpoints)."""

import os
import re
import time

import grpc
from google.protobuf import json_format

from concord import _limits
from concord.scheduler.v1 import scheduler_pb2, scheduler_pb2_grpc
from concord.types.v1 import types_pb2

__all__ = ["SchedulerClient", "SchedulerError", "OperatorList", "spec_from_deploy_dict"]

_GROUPINGS = {
    "shuffle": types_pb2.GROUPING_SHUFFLE,
    "group_by": types_pb2.GROUPING_GROUP_BY,
    "broadcast": types_pb2.GROUPING_BROADCAST,
}

# Deploy-file keys (as `concord deploy FILE.json` reads them) and OperatorSpec fields they fill.
_DEPLOY_KEYS = {"name", "executable", "args", "instances", "cpus", "mem", "environment",
                "files", "inputs", "outputs", "builtin", "allow_cycles", "delivery",
                "unavailable_reader_drop_after_ms", "image"}

# The deploy file's "delivery" names (OperatorSpecValidator.DeliveryNames), weakest first.
_DELIVERIES = {
    "at_most_once": types_pb2.DELIVERY_AT_MOST_ONCE,
    "at_least_once": types_pb2.DELIVERY_AT_LEAST_ONCE,
    "exactly_once": types_pb2.DELIVERY_EXACTLY_ONCE,
}


def _closest_name(unknown, known):
    """The known name closest to ``unknown`` if close enough to be a typo (a third of the name,
    at least 2 edits), else None: the CLI's DeployFile.ClosestName, so hints read the same."""
    unknown = unknown.lower()
    best, best_distance = None, None
    for candidate in known:
        previous = list(range(len(candidate) + 1))
        for i, a in enumerate(unknown, 1):
            current = [i]
            for j, b in enumerate(candidate, 1):
                current.append(min(current[j - 1] + 1, previous[j] + 1, previous[j - 1] + (a != b)))
            previous = current
        if best_distance is None or previous[-1] < best_distance:
            best, best_distance = candidate, previous[-1]
    return best if best_distance is not None and best_distance <= max(2, len(unknown) // 3) else None


def _describe(value):
    """A JSON type in words, as the CLI names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "an array"
    return type(value).__name__


def _delivery(value):
    """The DeliveryGuarantee of a deploy dict's "delivery", with the CLI's wording on error."""
    if not isinstance(value, str):
        quote = '; quote it: "%s"' % value if isinstance(value, (int, float)) and not isinstance(value, bool) else ""
        raise ValueError("deploy spec: delivery: expected a string, got %s%s" % (_describe(value), quote))
    if value not in _DELIVERIES:
        close = _closest_name(value, _DELIVERIES)
        hint = 'did you mean "%s"? ' % close if close else ""
        raise ValueError('deploy spec: delivery: "%s" is not a delivery guarantee; %suse one of: %s '
                         "(default at_most_once; see docs/guarantees.md)" % (value, hint, ", ".join(_DELIVERIES)))
    return _DELIVERIES[value]


def _drop_after_ms(value):
    """A deploy dict's "unavailable_reader_drop_after_ms", range-checked with the CLI's wording."""
    field, top = "unavailable_reader_drop_after_ms", _limits.UNAVAILABLE_READER_DROP_AFTER_MS_MAX
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        got = ("%r, which is not a whole number" % value) if isinstance(value, float) else _describe(value)
        raise ValueError("deploy spec: %s: expected a whole number such as 3000, got %s" % (field, got))
    if not 1 <= value <= top:
        raise ValueError("deploy spec: %s: %d is out of range; use 1..%d: how long, in ms, records for a reader "
                         "instance that is down wait before they are dropped (at_most_once)" % (field, value, top))
    return value


def _image(value):
    """A deploy dict's "image": a string, with the CLI's wording on error. Whether it is an image
    reference is checked by the scheduler (OperatorSpecValidator.ImageProblem), as for the CLI."""
    if not isinstance(value, str):
        raise ValueError("deploy spec: image: expected a string, got %s" % _describe(value))
    if not value:
        raise ValueError('deploy spec: image: is empty; give an image reference such as '
                         '"registry.example.com/team/counter:1.0", or remove "image"')
    return value


# docs/security.md: the operator token every API call carries, and where clients find it.
TOKEN_VARIABLE = "CONCORD_TOKEN"
TOKEN_FILE_NAME = "token"


def default_token():
    """The token a client uses when given none: $CONCORD_TOKEN, else the token file of the
    scheduler home ($CONCORD_HOME, else ~/.concord); None when neither exists."""
    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    if token:
        return token
    home = os.environ.get("CONCORD_HOME") or os.path.join(os.path.expanduser("~"), ".concord")
    try:
        with open(os.path.join(home, TOKEN_FILE_NAME), encoding="utf-8") as f:
            return f.read().strip() or None
    except OSError:
        return None


class SchedulerError(Exception):
    """A scheduler call failed; ``code`` is the grpc.StatusCode, the message says why."""

    def __init__(self, method, code, details):
        super().__init__("%s failed: %s: %s" % (method, code.name if code else "UNKNOWN", details))
        self.code = code
        self.details = details


def spec_from_deploy_dict(spec):
    """An OperatorSpec from a deploy-file shaped dict ({"name", "executable", "args",
    "instances", "cpus", "mem" (MB), "inputs": [{"stream", "grouping"}], "outputs",
    "environment", "files", "builtin": {"kind", "options"}, "allow_cycles", "delivery"
    ("at_most_once" | "at_least_once" | "exactly_once"), "unavailable_reader_drop_after_ms",
    "image" (the container image, used by --runtime kubernetes)};
    see docs/deploy-file.md). Checked as the CLI checks them, with the same wording; raises
    ValueError. Paths are sent as given: make them absolute (the CLI resolves relative ones
    against the deploy file's directory; this client has no such file)."""
    unknown = sorted(set(spec) - _DEPLOY_KEYS)
    if unknown:
        raise ValueError("deploy spec: unknown keys %s; allowed keys are %s"
                         % (", ".join(unknown), ", ".join(sorted(_DEPLOY_KEYS))))
    out = types_pb2.OperatorSpec(
        name=spec.get("name", ""),
        executable=spec.get("executable", ""),
        args=list(spec.get("args", [])),
        instances=int(spec.get("instances", 1)),
        cpus=float(spec.get("cpus", 0)),
        mem_mb=int(spec.get("mem", 0)),
        environment=dict(spec.get("environment", {})),
        files=list(spec.get("files", [])),
        expected_outputs=list(spec.get("outputs", [])),
    )
    allow_cycles = spec.get("allow_cycles", False)
    if not isinstance(allow_cycles, bool):
        raise ValueError("deploy spec: allow_cycles is %r; use True or False" % (allow_cycles,))
    out.allow_cycles = allow_cycles
    if "delivery" in spec:
        out.delivery = _delivery(spec["delivery"])
    if "unavailable_reader_drop_after_ms" in spec:
        out.unavailable_reader_drop_after_ms = _drop_after_ms(spec["unavailable_reader_drop_after_ms"])
    if "image" in spec:
        out.image = _image(spec["image"])
    for item in spec.get("inputs", []):
        if isinstance(item, str):
            item = {"stream": item}
        grouping = item.get("grouping", "shuffle")
        if grouping not in _GROUPINGS:
            raise ValueError("deploy spec: input %r has grouping %r; use one of %s"
                             % (item.get("stream"), grouping, ", ".join(_GROUPINGS)))
        out.expected_inputs.add(name=item.get("stream", ""), grouping=_GROUPINGS[grouping])
    builtin = spec.get("builtin")
    if builtin is not None:
        out.builtin.kind = builtin.get("kind", "")
        out.builtin.options.update({k: str(v) for k, v in builtin.get("options", {}).items()})
    return out


# docs/cluster.md: how a standby scheduler names the leader in its refusal
# (services/hosting/Concord.Hosting/LeaderRedirect.cs).
STANDBY_PREFIX = "this scheduler is a standby"
LEADER_MARKER = "the leader is "

_TRACE_ID = re.compile(r"^[0-9a-fA-F]{32}$")


def leader_in(details):
    """The leader's http(s) address a standby named in ``details``, or None."""
    at = (details or "").find(LEADER_MARKER)
    if at < 0:
        return None
    rest = details[at + len(LEADER_MARKER):]
    address = re.split(r"[ ;,)\n]", rest, maxsplit=1)[0].rstrip("./")
    return address if re.match(r"^https?://[^/\s]+", address) else None


class OperatorList(list):
    """What list() returns: the OperatorStatus of every deployed operator, ordered by name, with
    ``leader`` (the leading scheduler's address as the answering one knows it; "" for a
    scheduler that always leads) and ``from_standby`` (True when a standby answered: every
    instance then shows as not running)."""

    def __init__(self, operators, leader="", from_standby=False):
        super().__init__(operators)
        self.leader = leader
        self.from_standby = from_standby


class SchedulerClient:
    """Client of the scheduler's gRPC API.

    ``address`` is "host:port" or "http://host:port" (what scheduler.json and
    CONCORD_SCHEDULER_ADDRESS hold), or several comma-separated (a leader and its standbys): a
    call goes to the first, follows a standby's redirect to the leader it names, and tries the
    next when one is unreachable. ``token`` is the scheduler's operator token, sent as
    ``authorization: Bearer``; None means default_token() ($CONCORD_TOKEN, else the home's
    token file). Every call has a deadline of ``timeout_s`` seconds (calls that wait for
    processes or checkpoints have the longer ones in concord._limits) and raises SchedulerError
    on failure. Use as a context manager or call close().
    """

    def __init__(self, address, timeout_s=_limits.SCHEDULER_CALL_TIMEOUT_S, token=None):
        self.addresses = [self._target(a.strip().rstrip("/")) for a in address.split(",") if a.strip()]
        if not self.addresses:
            raise ValueError("%r is not a scheduler address; use host:port or http://host:port, e.g. 127.0.0.1:7400"
                             % address)
        self.address = self.addresses[0]
        self._channels = {}
        self._timeout_s = timeout_s
        token = token if token is not None else default_token()
        self._metadata = (("authorization", "Bearer " + token),) if token else ()

    @staticmethod
    def _target(address):
        target = address
        if target.startswith("https://"):
            raise ValueError("the scheduler serves plain HTTP/2; use http://host:port, not %s" % address)
        for scheme in ("http://", "dns:///"):
            if target.startswith(scheme):
                target = target[len(scheme):]
        return target

    def _stub(self, target=None):
        target = target or self.address
        if target not in self._channels:
            channel = grpc.insecure_channel(target, options=[
                ("grpc.max_receive_message_length", _limits.GRPC_MESSAGE_BYTES_MAX)])
            self._channels[target] = (channel, scheduler_pb2_grpc.SchedulerStub(channel))
        return self._channels[target][1]

    def close(self):
        for channel, _ in self._channels.values():
            channel.close()
        self._channels.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _next_after(self, exc, tried):
        """Where a call goes after the current scheduler was unavailable: the leader a standby
        named, else a scheduler not tried yet; None when there is none."""
        tried.add(self.address)
        leader = leader_in(exc.details())
        if leader is not None:
            leader = self._target(leader)
            if leader != self.address:
                return leader
        return next((a for a in self.addresses if a not in tried), None)

    def _call(self, name, request, timeout_s=None):
        # One deadline for the call, however many schedulers it tries.
        deadline = time.monotonic() + (timeout_s or self._timeout_s)
        tried = set()
        for attempt in range(1, _limits.SCHEDULER_TRIES_MAX + 1):
            try:
                return getattr(self._stub(), name)(request, timeout=max(0.001, deadline - time.monotonic()),
                                                   metadata=self._metadata)
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.UNAVAILABLE and attempt < _limits.SCHEDULER_TRIES_MAX:
                    following = self._next_after(exc, tried)
                    if following is not None:
                        self.address = following
                        continue
                raise SchedulerError(name, exc.code(), exc.details()) from None

    def deploy(self, spec):
        """Deploy an operator: ``spec`` is a types_pb2.OperatorSpec or a deploy-file dict
        (see spec_from_deploy_dict). Returns the stored OperatorStatus."""
        if isinstance(spec, dict):
            spec = spec_from_deploy_dict(spec)
        return self._call("Deploy", scheduler_pb2.DeployRequest(spec=spec)).operator

    def replace(self, spec, drop_state=False, running_timeout_s=_limits.REPLACE_RUNNING_TIMEOUT_S):
        """Replace a deployed operator by a new version of the same name: ``spec`` is a
        types_pb2.OperatorSpec or a deploy-file dict. A rolling replace (new instances beside
        the old, routing switched, old ones drained; rolled back on failure). An operator with a
        delivery guarantee is replaced by a restart of every operator with a guarantee from a
        fresh checkpoint, this one as the new version keeping its state (rolled back when the new
        version does not declare the checkpoint's state names); with ``drop_state`` from the last
        completed checkpoint with empty state for it (docs/live-changes.md). The new instances
        may take ``running_timeout_s`` to run (at most REPLACE_RUNNING_TIMEOUT_S, as
        `concord deploy --replace --timeout`). Returns the ReplaceResponse (operator, switch_ms,
        total_ms, restarted). The deadline is at least REPLACE_CALL_TIMEOUT_S."""
        if isinstance(spec, dict):
            spec = spec_from_deploy_dict(spec)
        if not 0 < running_timeout_s <= _limits.REPLACE_RUNNING_TIMEOUT_S:
            raise ValueError("running_timeout_s %r is out of range; use more than 0 and at most %g s (the scheduler's bound)"
                             % (running_timeout_s, _limits.REPLACE_RUNNING_TIMEOUT_S))
        request = scheduler_pb2.ReplaceRequest(spec=spec, drop_state=bool(drop_state),
                                               running_timeout_ms=max(1, int(running_timeout_s * 1000)))
        return self._call("Replace", request, timeout_s=max(self._timeout_s, _limits.REPLACE_CALL_TIMEOUT_S))

    def kill(self, name):
        """Stop every instance of ``name`` and remove it from the topology."""
        self._call("Kill", scheduler_pb2.KillRequest(name=name))

    def scale(self, name, instances):
        """Change the number of instances of ``name``. Returns the stored OperatorStatus. Scaling
        an operator with a delivery guarantee waits for a checkpoint, so the deadline is at least
        CHECKPOINT_CALL_TIMEOUT_S."""
        return self._call("Scale", scheduler_pb2.ScaleRequest(name=name, instances=instances),
                          timeout_s=max(self._timeout_s, _limits.CHECKPOINT_CALL_TIMEOUT_S)).operator

    def list(self):
        """Every deployed operator (OperatorStatus), ordered by name, as an OperatorList: a list
        that also says ``leader`` and ``from_standby``."""
        response = self._call("List", scheduler_pb2.ListRequest())
        return OperatorList(response.operators, response.leader, response.from_standby)

    def graph(self):
        """The GraphResponse: operators and one edge per (stream, producer, reader)."""
        return self._call("Graph", scheduler_pb2.GraphRequest())

    def logs(self, name, instances=None, tail_lines=_limits.LOG_TAIL_LINES_DEFAULT, follow=False):
        """Lines of the executor.log of ``name``'s instances (the executor's events and the
        operator's stdout/stderr), oldest first: an iterator of LogLine (operator_name,
        instance_index, line). ``instances``: indexes to read (None: every instance);
        ``tail_lines``: lines of history per instance, 0..LOG_TAIL_LINES_MAX (0: none, only new
        lines with follow), as `concord logs --tail`. Without ``follow`` the call has the usual
        deadline; with it, new lines keep coming until the iterator is closed (``close()`` on it,
        or leaving a ``for`` loop with break). Raises SchedulerError (NOT_FOUND for an operator
        that is not deployed) when iterated."""
        if not 0 <= tail_lines <= _limits.LOG_TAIL_LINES_MAX:
            raise ValueError("tail_lines %r is out of range; use 0..%d" % (tail_lines, _limits.LOG_TAIL_LINES_MAX))
        request = scheduler_pb2.GetLogsRequest(operator_name=name, follow=bool(follow),
                                               tail_lines=-1 if tail_lines == 0 else tail_lines,
                                               instance_indexes=list(instances or []))
        return self._stream_logs(request)

    def _stream_logs(self, request):
        tried = set()
        for attempt in range(1, _limits.SCHEDULER_TRIES_MAX + 1):
            call = self._stub().GetLogs(request, timeout=None if request.follow else self._timeout_s,
                                        metadata=self._metadata)
            received = False
            try:
                for line in call:
                    received = True
                    yield line
                return
            except grpc.RpcError as exc:
                # A standby refuses before the first line: the call moves like a unary one.
                if (not received and exc.code() == grpc.StatusCode.UNAVAILABLE
                        and attempt < _limits.SCHEDULER_TRIES_MAX):
                    following = self._next_after(exc, tried)
                    if following is not None:
                        self.address = following
                        continue
                raise SchedulerError("GetLogs", exc.code(), exc.details()) from None
            finally:
                call.cancel()

    def instance_metrics(self, name=""):
        """The current figures of every running instance (of ``name`` only, if given): a list of
        InstanceMetrics ordered by operator then index. Counters are totals since each executor
        started: compute rates from two calls."""
        return list(self._call("GetInstanceMetrics", scheduler_pb2.GetInstanceMetricsRequest(operator_name=name))
                    .instances)

    def list_traces(self, limit=_limits.TRACE_LIST_DEFAULT):
        """Recent sampled traces (TraceSummary), newest first; ``limit`` 1..TRACE_LIST_MAX.
        Sources sample one record in CONCORD_TRACE_SAMPLE_EVERY (docs/observability.md)."""
        if not 1 <= limit <= _limits.TRACE_LIST_MAX:
            raise ValueError("limit %r is out of range; use 1..%d" % (limit, _limits.TRACE_LIST_MAX))
        return list(self._call("ListTraces", scheduler_pb2.ListTracesRequest(limit=limit)).traces)

    def get_trace(self, trace_id):
        """Every Span of one trace (32 hex digits, as list_traces gives them), by start time.
        SchedulerError NOT_FOUND when no executor holds it."""
        if not _TRACE_ID.match(trace_id.strip()):
            raise ValueError("%r is not a trace id (32 hex digits); list_traces() gives recent ones" % trace_id)
        return list(self._call("GetTrace", scheduler_pb2.GetTraceRequest(trace_id=trace_id.strip().lower())).spans)

    def tail(self, stream, records_max=_limits.TAIL_RECORDS_DEFAULT):
        """The last records (TailRecord) produced on ``stream``, each instance's oldest first;
        ``records_max`` 1..TAIL_RECORDS_MAX. Executors start keeping a stream's records when a
        tail asks for it (and keep doing so for a while), so a first call may be empty: poll.
        Deploys nothing; SchedulerError NOT_FOUND (naming the streams there are) for a stream no
        deployed operator writes."""
        if not 1 <= records_max <= _limits.TAIL_RECORDS_MAX:
            raise ValueError("records_max %r is out of range; use 1..%d" % (records_max, _limits.TAIL_RECORDS_MAX))
        return list(self._call("TailStream", scheduler_pb2.TailStreamRequest(stream=stream, records_max=records_max))
                    .records)

    def checkpoints(self):
        """The ListCheckpointsResponse: ``checkpoints`` (CheckpointInfo) newest first, the one in
        progress first, and ``latest_completed_id`` (what a restore would use; 0 when none)."""
        return self._call("ListCheckpoints", scheduler_pb2.ListCheckpointsRequest())

    def trigger_savepoint(self):
        """Take a savepoint now (a checkpoint kept until deleted by hand) and return its
        CheckpointInfo once completed; SchedulerError FAILED_PRECONDITION naming why it could
        not. The deadline is at least CHECKPOINT_CALL_TIMEOUT_S."""
        return self._call("TriggerSavepoint", scheduler_pb2.TriggerSavepointRequest(),
                          timeout_s=max(self._timeout_s, _limits.CHECKPOINT_CALL_TIMEOUT_S)).savepoint

    @staticmethod
    def to_dict(message):
        """A protobuf message as a JSON-ready dict (enum names, camelCase keys)."""
        return json_format.MessageToDict(message)
