"""One operator session: the protocol of operator.proto and docs/architecture.md
("Operator session rules"), independent of the transport so it can be tested directly."""

import sys
import time
import traceback

from concord import _limits
from concord import _wire
from concord.computation import Metadata, ProduceError, StateError, TimeDomain
from concord.operator.v1 import operator_pb2

_SMALL = _wire._SMALL
_SMALL_MAX = _wire._SMALL_MAX
_varint = _wire.varint
#: Tag and one-byte length of a BatchDone.produced entry, a Record.key and a Record.value.
_PRODUCED_1 = [b"\x12" + bytes([i]) for i in range(0x80)]
_KEY_1 = [b"\x0a" + bytes([i]) for i in range(0x80)]
_VALUE_1 = [b"\x12" + bytes([i]) for i in range(0x80)]
_Batch = _wire.Batch

LOG_DEBUG = operator_pb2.Log.LEVEL_DEBUG
LOG_INFO = operator_pb2.Log.LEVEL_INFO
LOG_WARNING = operator_pb2.Log.LEVEL_WARNING
LOG_ERROR = operator_pb2.Log.LEVEL_ERROR


class ProtocolError(Exception):
    """The executor broke the session protocol (wrong first message, bad Init)."""


def _to_bytes(data, what):
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise ProduceError(
        "produce_record: %s must be bytes or str, got %s; encode it first (e.g. str(x).encode())"
        % (what, type(data).__name__))


class State:
    """One declared state of the operator, as ``ctx.state(name)`` returns it. Every call acts
    on the value of the key in scope at that moment (``ctx.state_key``): the record's key in
    process_record, the timer's state key in process_timer."""

    __slots__ = ("_ctx", "name")

    def __init__(self, ctx, name):
        self._ctx = ctx
        #: The declared state name.
        self.name = name

    def get(self):
        """The value (bytes) last set for the key in scope, or None when it has none."""
        ctx = self._ctx
        return ctx._view.get((ctx.state_key, self.name))

    def set(self, value):
        """Sets the value for the key in scope: bytes (or str, stored as UTF-8), at most the
        executor's Init.max_state_value_bytes."""
        if type(value) is not bytes:
            if isinstance(value, str):
                value = value.encode("utf-8")
            elif isinstance(value, (bytearray, memoryview)):
                value = bytes(value)
            else:
                raise StateError(
                    "state %r: set takes bytes or str, got %s; encode it first (e.g. "
                    "str(x).encode())" % (self.name, type(value).__name__))
        ctx = self._ctx
        if len(value) > ctx._max_state_value_bytes:
            raise StateError(
                "state %r: value of %d bytes exceeds the limit of %d bytes "
                "(Init.max_state_value_bytes); keep large values elsewhere and store a reference"
                % (self.name, len(value), ctx._max_state_value_bytes))
        ref = (ctx.state_key, self.name)
        ctx._view[ref] = value
        ctx._mutations[ref] = value

    def clear(self):
        """Removes the value of the key in scope (get() returns None afterwards)."""
        ctx = self._ctx
        ref = (ctx.state_key, self.name)
        ctx._view[ref] = None
        ctx._mutations[ref] = None

    def __repr__(self):
        return "State(%r)" % self.name


class Context:
    """What callbacks use to emit records, set timers and reach keyed state. Everything they do
    is buffered and sent to the executor in the BatchDone of the batch being processed."""

    __slots__ = ("operator_name", "instance_index", "instance_count", "_streams",
                 "_max_record_bytes", "_parts", "_timers", "_logs", "_current", "_suffix",
                 "_now_us", "_states", "_max_state_value_bytes", "_max_batches_in_flight",
                 "_view", "_mutations", "_overlays", "_timer_state_key", "_in_init",
                 "_watermark_ms", "_event_time")

    def __init__(self, init, metadata):
        #: Operator name, instance index and instance count from the executor's Init.
        self.operator_name = init.operator_name
        self.instance_index = init.instance_index
        self.instance_count = init.instance_count
        self._streams = {s: _wire.stream_prefix(s) for s in metadata.ostreams}
        self._max_record_bytes = init.max_record_bytes or _limits.RECORD_BYTES_MAX_DEFAULT
        self._parts = []
        self._timers = {}
        self._logs = []
        self._current = None
        self._suffix = None
        self._now_us = 0
        self._states = {name: State(self, name) for name in metadata.states}
        self._max_state_value_bytes = (init.max_state_value_bytes
                                       or _limits.STATE_VALUE_BYTES_MAX_DEFAULT)
        self._max_batches_in_flight = init.max_batches_in_flight
        # The values callbacks read, (key, name) -> bytes or None (cleared): the states shipped
        # with the batch, overlaid with this SDK's own mutations of later batches (_overlays,
        # (seq, mutations) oldest first) and of the batch being processed (_mutations, also
        # what BatchDone returns: a dict keeps one entry per (key, name), the last change).
        self._view = {}
        self._mutations = {}
        self._overlays = []
        self._timer_state_key = b""
        self._in_init = False
        self._watermark_ms = 0
        self._event_time = _limits.CAPABILITY_EVENT_TIME in init.capabilities

    @property
    def state_key(self):
        """The key whose state is in scope (bytes): the record's key in process_record, the
        timer's state key (the record key in scope when it was set) in process_timer, b"" in
        init."""
        current = self._current
        if current is not None:
            return current.key
        return self._timer_state_key

    @property
    def watermark_unix_ms(self):
        """The executor's input watermark when the batch was cut (ms since the Unix epoch; 0
        when not known yet, and in init)."""
        return self._watermark_ms

    def state(self, name):
        """The declared state ``name`` (one of metadata().states) for the key in scope:
        ``.get()`` -> bytes or None, ``.set(bytes)``, ``.clear()``."""
        handle = self._states.get(name)
        if handle is None:
            raise StateError(
                "state %r is not declared in metadata().states %r; add it to states=[...] or "
                "use a declared name" % (name, sorted(self._states)))
        if self._in_init:
            raise StateError(
                "state %r used in init(): state belongs to a key and init() has none in scope; "
                "use state in process_record or process_timer" % name)
        return handle

    def produce_record(self, stream, key, value, event_time_ms=0):
        """Emit a record on ``stream`` (one of metadata().ostreams). ``key`` and ``value`` are
        bytes or str (str is encoded as UTF-8). ``event_time_ms`` 0 inherits the event time of
        the record being processed ("now" in init and timers)."""
        prefix = self._streams.get(stream)
        if prefix is None:
            raise ProduceError(
                "produce_record: stream %r is not in metadata().ostreams %r; add it to ostreams "
                "or produce to a declared stream" % (stream, sorted(self._streams)))
        if type(key) is not bytes:
            key = _to_bytes(key, "key")
        if type(value) is not bytes:
            value = _to_bytes(value, "value")
        k = len(key)
        v = len(value)
        if k + v > self._max_record_bytes:
            raise ProduceError(
                "produce_record: record of %d bytes (key %d + value %d) on stream %r exceeds the "
                "limit of %d bytes; store large payloads elsewhere and send a reference"
                % (k + v, k, v, stream, self._max_record_bytes))
        if event_time_ms:
            suffix = self._suffix_with_event_time(event_time_ms)
        else:
            suffix = self._suffix
            if suffix is None:
                suffix = self._suffix = _wire.suffix_of(self._current)
        # The ProducedRecord goes into the batch's parts as pieces that BatchDone joins once:
        # cheaper than formatting each record's bytes apart (and keys and values are not copied).
        n = k + v + 4 + len(suffix)  # the Record's length when key and value lengths take 1 byte
        m = n + 1 + len(prefix)      # the ProducedRecord's, when the Record's length takes 1
        if m < 0x80:
            self._parts.extend((_PRODUCED_1[m], prefix, _SMALL[n], _KEY_1[k], key, _VALUE_1[v],
                                value, suffix))
            return
        kl = _SMALL[k] if k < _SMALL_MAX else _varint(k)
        vl = _SMALL[v] if v < _SMALL_MAX else _varint(v)
        n = 2 + len(kl) + k + len(vl) + v + len(suffix)
        rl = _SMALL[n] if n < _SMALL_MAX else _varint(n)
        m = len(prefix) + len(rl) + n
        self._parts.extend((b"\x12", _SMALL[m] if m < _SMALL_MAX else _varint(m), prefix, rl,
                            b"\x0a", kl, key, b"\x12", vl, value, suffix))

    def set_timer(self, key, time_ms, domain=TimeDomain.PROCESSING):
        """Ask for process_timer(ctx, key, time_ms) at ``time_ms``, an absolute time in ms since
        the Unix epoch (not a delay). ``domain`` TimeDomain.PROCESSING (the default) fires on
        the wall clock, TimeDomain.EVENT when the input watermark reaches ``time_ms``. In an
        operator that declares states the timer belongs to the key in scope (ctx.state_key),
        whose state process_timer sees: one pending timer per (state key, key, domain);
        setting it again replaces its time. Without declared states: one per (key, domain)."""
        if not isinstance(key, str):
            raise TypeError("set_timer: key must be a str, got %s" % type(key).__name__)
        try:
            domain = TimeDomain(domain)
        except ValueError:
            raise ValueError("set_timer: domain %r is not a TimeDomain; use TimeDomain.PROCESSING "
                             "or TimeDomain.EVENT" % (domain,)) from None
        if domain == TimeDomain.EVENT and not self._event_time:
            raise ValueError(
                "set_timer: event-time timers need an executor with the capability %s, which this "
                "one lacks; use TimeDomain.PROCESSING or upgrade the executor"
                % _limits.CAPABILITY_EVENT_TIME)
        # An operator without declared states keeps round-1 timers, one per key: keying them by
        # record key would turn its single "flush" timer into one per key seen.
        state_key = self.state_key if self._states else b""
        self._timers[(state_key, key, int(domain))] = int(time_ms)

    def log(self, message, level=LOG_INFO):
        """Send a log line to the executor's structured log (printing to stdout works too)."""
        self._logs.append(operator_pb2.OperatorMessage(
            log=operator_pb2.Log(level=level, message=str(message))).SerializeToString())

    # ---- used by the session ----

    def _suffix_with_event_time(self, event_time_ms):
        current = self._current
        if current is None:
            return _wire.suffix_fields(event_time_ms, b"", self._now_us)
        trace = current.trace.SerializeToString() if current.HasField("trace") else b""
        return _wire.suffix_fields(event_time_ms, trace, current.ingest_time_unix_us)

    def _enter_now(self, state_key=b""):
        """Before init and each timer: produced records get event and ingest time "now"."""
        now_us = time.time_ns() // 1000
        self._now_us = now_us
        self._current = None
        self._timer_state_key = state_key
        self._suffix = _wire.suffix_fields(now_us // 1000, b"", now_us)

    def _begin_batch(self, batch):
        """Before the callbacks of ``batch``: the watermark, and the state view (shipped
        states as of batch.state_as_of_seq, then this SDK's own later mutations)."""
        self._watermark_ms = batch.watermark_unix_ms
        if not self._states:
            return
        as_of = batch.state_as_of_seq
        if as_of >= batch.seq:
            raise ProtocolError(
                "batch %d carries state as of batch %d, which is not an earlier batch; the "
                "executor must set state_as_of_seq below seq" % (batch.seq, as_of))
        unapplied = batch.seq - 1 - as_of
        if 0 < self._max_batches_in_flight < unapplied:
            raise ProtocolError(
                "batch %d carries state as of batch %d: %d earlier batches' state mutations are "
                "not applied, more than max_batches_in_flight %d; the executor must apply "
                "BatchDone.state_mutations before it cuts more batches"
                % (batch.seq, as_of, unapplied, self._max_batches_in_flight))
        overlays = self._overlays
        if overlays and overlays[0][0] <= as_of:
            overlays = self._overlays = [o for o in overlays if o[0] > as_of]
        view = {}
        for key_state in batch.states:
            key = key_state.key
            for value in key_state.values:
                view[(key, value.name)] = value.value
        for _, mutations in overlays:
            view.update(mutations)
        self._view = view

    def _take(self, seq):
        """The serialized messages that finish batch ``seq``: logs, then BatchDone."""
        out = self._logs
        mutations = self._mutations
        out.append(_wire.batch_done(seq, self._parts, self._timers, mutations))
        if mutations:
            # Kept until a batch arrives whose shipped states include them (state_as_of_seq).
            self._overlays.append((seq, mutations))
            self._mutations = {}
        self._logs = []
        self._parts = []
        self._timers = {}
        return out


def _error_message(exc, where):
    return operator_pb2.OperatorMessage(error=operator_pb2.Error(
        message="%s in %s: %s" % (type(exc).__name__, where, exc),
        detail="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        fatal=True)).SerializeToString()


class Session:
    """Runs one session over an iterator of ExecutorMessage; yields serialized OperatorMessage.

    After the generator ends, ``exit_code`` says how the process should exit.
    """

    def __init__(self, computation):
        self._computation = computation
        self.exit_code = None

    def run(self, requests):
        where = "session start"
        requests = iter(requests)
        try:
            where = "Init"
            first = next(requests, None)
            init = self._check_init(first)
            where = "metadata()"
            metadata = self._computation.metadata()
            if not isinstance(metadata, Metadata):
                raise TypeError("metadata() must return concord.Metadata, got %s"
                                % type(metadata).__name__)
            if metadata.states and _limits.CAPABILITY_KEYED_STATE not in init.capabilities:
                raise ProtocolError(
                    "the operator declares states %s but the executor lacks the capability %s "
                    "(it supports %s), so the state would not be kept; upgrade the executor"
                    % (metadata.states, _limits.CAPABILITY_KEYED_STATE,
                       ", ".join(init.capabilities) or "nothing"))
            yield operator_pb2.OperatorMessage(metadata=operator_pb2.Metadata(
                metadata=metadata.to_proto(),
                protocol_version=_limits.PROTOCOL_VERSION,
                capabilities=list(_limits.CAPABILITIES),
                sdk=_limits.SDK_NAME)).SerializeToString()

            ctx = Context(init, metadata)
            where = "init()"
            ctx._enter_now()
            ctx._in_init = True
            self._computation.init(ctx)
            ctx._in_init = False
            yield from ctx._take(0)

            where = "session"
            for message in requests:
                if type(message) is _Batch:  # read by hand (_wire.executor_message)
                    where = "batch %d" % message.seq
                    yield from self._process(ctx, message)
                    where = "session"
                    continue
                kind = message.WhichOneof("message")
                if kind == "process_batch":
                    batch = message.process_batch
                    where = "batch %d" % batch.seq
                    yield from self._process(ctx, batch)
                    where = "session"
                elif kind == "shutdown":
                    where = "destroy()"
                    self._computation.destroy()
                    self.exit_code = _limits.EXIT_OK
                    return
                else:
                    raise ProtocolError(
                        "unexpected %s message after Init; the executor must send ProcessBatch "
                        "or Shutdown" % (kind or "empty"))
            raise ProtocolError("the executor closed the session before sending Shutdown")
        except Exception as exc:  # every failure is fatal for the session
            sys.stderr.write("concord: fatal error in %s: %s: %s\n" % (where, type(exc).__name__, exc))
            traceback.print_exc(file=sys.stderr)
            self.exit_code = _limits.EXIT_FATAL
            yield _error_message(exc, where)

    def _check_init(self, message):
        if message is None:
            raise ProtocolError("the executor closed the session before sending Init")
        if message.WhichOneof("message") != "init":
            raise ProtocolError("the first message of a session must be Init, got %s"
                                % (message.WhichOneof("message") or "an empty message"))
        init = message.init
        if init.protocol_version != _limits.PROTOCOL_VERSION:
            raise ProtocolError(
                "executor speaks operator protocol version %d, this SDK (%s) speaks %d; use an "
                "SDK and executor of matching versions"
                % (init.protocol_version, _limits.SDK_NAME, _limits.PROTOCOL_VERSION))
        missing = [c for c in init.required_capabilities if c not in _limits.CAPABILITIES]
        if missing:
            raise ProtocolError(
                "the executor requires capabilities %s that %s lacks (it supports %s); upgrade "
                "the SDK" % (", ".join(missing), _limits.SDK_NAME, ", ".join(_limits.CAPABILITIES)))
        return init

    def _process(self, ctx, batch):
        ctx._begin_batch(batch)
        process_record = self._computation.process_record
        if type(batch) is _Batch:
            # A hand-read record carries the bytes its produced records inherit.
            for record in batch.records:
                ctx._current = record
                ctx._suffix = record[2]
                process_record(ctx, record)
        else:
            for record in batch.records:
                ctx._current = record
                ctx._suffix = None
                process_record(ctx, record)
        if len(batch.timers_fired):
            process_timer = self._computation.process_timer
            for timer in batch.timers_fired:
                ctx._enter_now(timer.state_key)
                process_timer(ctx, timer.key, timer.time_unix_ms)
        ctx._current = None
        return ctx._take(batch.seq)
