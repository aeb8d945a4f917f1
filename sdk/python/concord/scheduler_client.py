"""SchedulerClient: deploy, replace, kill, scale, list and graph a running Concord scheduler."""

import os

import grpc
from google.protobuf import json_format

from concord import _limits
from concord.scheduler.v1 import scheduler_pb2, scheduler_pb2_grpc
from concord.types.v1 import types_pb2

__all__ = ["SchedulerClient", "SchedulerError", "spec_from_deploy_dict"]

_GROUPINGS = {
    "shuffle": types_pb2.GROUPING_SHUFFLE,
    "group_by": types_pb2.GROUPING_GROUP_BY,
    "broadcast": types_pb2.GROUPING_BROADCAST,
}

# Deploy-file keys (as `concord deploy FILE.json` reads them) and OperatorSpec fields they fill.
_DEPLOY_KEYS = {"name", "executable", "args", "instances", "cpus", "mem", "environment",
                "files", "inputs", "outputs", "builtin", "allow_cycles", "delivery",
                "unavailable_reader_drop_after_ms"}

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
    ("at_most_once" | "at_least_once" | "exactly_once"), "unavailable_reader_drop_after_ms"};
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


class SchedulerClient:
    """Client of the scheduler's gRPC API.

    ``address`` is "host:port" or "http://host:port" (what scheduler.json and
    CONCORD_SCHEDULER_ADDRESS hold). ``token`` is the scheduler's operator token, sent as
    ``authorization: Bearer``; None means default_token() ($CONCORD_TOKEN, else the home's
    token file). Every call has a deadline of ``timeout_s`` seconds and raises SchedulerError
    on failure. Use as a context manager or call close().
    """

    def __init__(self, address, timeout_s=_limits.SCHEDULER_CALL_TIMEOUT_S, token=None):
        target = address
        for scheme in ("http://", "dns:///"):
            if target.startswith(scheme):
                target = target[len(scheme):]
        if target.startswith("https://"):
            raise ValueError("the scheduler serves plain HTTP/2; use http://host:port, not %s" % address)
        self._channel = grpc.insecure_channel(target, options=[
            ("grpc.max_receive_message_length", _limits.GRPC_MESSAGE_BYTES_MAX)])
        self._stub = scheduler_pb2_grpc.SchedulerStub(self._channel)
        self._timeout_s = timeout_s
        token = token if token is not None else default_token()
        self._metadata = (("authorization", "Bearer " + token),) if token else ()

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, name, request, timeout_s=None):
        try:
            return getattr(self._stub, name)(request, timeout=timeout_s or self._timeout_s, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise SchedulerError(name, exc.code(), exc.details()) from None

    def deploy(self, spec):
        """Deploy an operator: ``spec`` is a types_pb2.OperatorSpec or a deploy-file dict
        (see spec_from_deploy_dict). Returns the stored OperatorStatus."""
        if isinstance(spec, dict):
            spec = spec_from_deploy_dict(spec)
        return self._call("Deploy", scheduler_pb2.DeployRequest(spec=spec)).operator

    def replace(self, spec, drop_state=False):
        """Replace a deployed operator by a new version of the same name: ``spec`` is a
        types_pb2.OperatorSpec or a deploy-file dict. A rolling replace (new instances beside
        the old, routing switched, old ones drained; rolled back on failure). An operator with a
        delivery guarantee is replaced by a restart of every operator with a guarantee from a
        fresh checkpoint, this one as the new version keeping its state (rolled back when the new
        version does not declare the checkpoint's state names); with ``drop_state`` from the last
        completed checkpoint with empty state for it (docs/live-changes.md). Returns the ReplaceResponse (operator, switch_ms,
        total_ms, restarted). The deadline is at least REPLACE_CALL_TIMEOUT_S."""
        if isinstance(spec, dict):
            spec = spec_from_deploy_dict(spec)
        return self._call("Replace", scheduler_pb2.ReplaceRequest(spec=spec, drop_state=bool(drop_state)),
                          timeout_s=max(self._timeout_s, _limits.REPLACE_CALL_TIMEOUT_S))

    def kill(self, name):
        """Stop every instance of ``name`` and remove it from the topology."""
        self._call("Kill", scheduler_pb2.KillRequest(name=name))

    def scale(self, name, instances):
        """Change the number of instances of ``name``. Returns the stored OperatorStatus."""
        return self._call("Scale", scheduler_pb2.ScaleRequest(name=name, instances=instances)).operator

    def list(self):
        """Every deployed operator (OperatorStatus), ordered by name."""
        return list(self._call("List", scheduler_pb2.ListRequest()).operators)

    def graph(self):
        """The GraphResponse: operators and one edge per (stream, producer, reader)."""
        return self._call("Graph", scheduler_pb2.GraphRequest())

    @staticmethod
    def to_dict(message):
        """A protobuf message as a JSON-ready dict (enum names, camelCase keys)."""
        return json_format.MessageToDict(message)
