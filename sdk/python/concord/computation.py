"""The operator API: subclass Computation, describe it with Metadata, then serve_computation()."""

import enum
import re

from concord import _limits
from concord.operator.v1 import operator_pb2
from concord.types.v1 import types_pb2

__all__ = ["Computation", "Metadata", "StreamGrouping", "TimeDomain", "ProduceError", "StateError"]

_STREAM_NAME = re.compile(_limits.STREAM_NAME_PATTERN)
_STATE_NAME = re.compile(_limits.STATE_NAME_PATTERN)


class StreamGrouping(enum.IntEnum):
    """How a stream's records are spread over this operator's instances."""

    #: Round-robin over the instances (the default).
    SHUFFLE = types_pb2.GROUPING_SHUFFLE
    #: Same key, same instance (the key is hashed into key groups).
    GROUP_BY = types_pb2.GROUPING_GROUP_BY
    #: Every instance receives every record.
    BROADCAST = types_pb2.GROUPING_BROADCAST


class TimeDomain(enum.IntEnum):
    """What clock a timer follows (ctx.set_timer's ``domain``)."""

    #: Fires when the wall clock reaches the timer's time (the default).
    PROCESSING = operator_pb2.TIME_DOMAIN_PROCESSING
    #: Fires when the executor's input watermark reaches the timer's time ("event-time.v1").
    EVENT = operator_pb2.TIME_DOMAIN_EVENT


class ProduceError(ValueError):
    """Raised in the user's callback by ctx.produce_record for a record the protocol forbids
    (undeclared stream, too large, key or value not bytes/str). It is a bug in the operator, so
    if it escapes the callback the session ends with a fatal error."""


class StateError(ValueError):
    """Raised in the user's callback by ctx.state(...) and its get/set/clear for a use the
    protocol forbids (a name not declared in metadata().states, a value over the executor's
    limit, state in init() where no key is in scope). It is a bug in the operator, so if it
    escapes the callback the session ends with a fatal error."""


class Metadata:
    """What the operator says about itself.

    ``istreams`` items are a stream name (grouping SHUFFLE) or a ``(name, StreamGrouping)``
    pair; ``ostreams`` are stream names the operator may produce to; ``states`` are the names of
    the keyed state it uses through ``ctx.state(name)`` (docs/guarantees.md).
    """

    __slots__ = ("name", "istreams", "ostreams", "states")

    def __init__(self, name, istreams=(), ostreams=(), states=()):
        if not isinstance(name, str) or not name:
            raise ValueError("Metadata.name must be a non-empty str equal to the deploy file's name")
        self.name = name
        self.istreams = [_input_stream(s) for s in istreams]
        self.ostreams = [_stream_name(s, "ostreams") for s in ostreams]
        if isinstance(states, str):
            raise ValueError("states: give a list of names, e.g. states=[%r], not a str" % states)
        self.states = [_state_name(s) for s in states]
        repeated = sorted({s for s in self.states if self.states.count(s) > 1})
        if repeated:
            raise ValueError("states: %s declared more than once; declare each name once"
                             % ", ".join(map(repr, repeated)))

    def __repr__(self):
        return "Metadata(name=%r, istreams=%r, ostreams=%r, states=%r)" % (
            self.name, self.istreams, self.ostreams, self.states)

    def to_proto(self):
        return types_pb2.OperatorMetadata(
            name=self.name,
            inputs=[types_pb2.InputStream(name=n, grouping=int(g)) for n, g in self.istreams],
            outputs=list(self.ostreams),
            states=[types_pb2.StateDescriptor(name=n, kind=types_pb2.STATE_KIND_VALUE)
                    for n in self.states],
        )


def _state_name(name):
    if not isinstance(name, str) or not _STATE_NAME.match(name):
        raise ValueError("states: %r is not a state name; use 1-%d characters from [A-Za-z0-9_.-]"
                         % (name, _limits.STATE_NAME_CHARS_MAX))
    if name.startswith(_limits.STATE_NAME_RESERVED_PREFIX):
        raise ValueError("states: %r starts with %r, which is reserved for the executor's own "
                         "state; choose another name" % (name, _limits.STATE_NAME_RESERVED_PREFIX))
    return name


def _stream_name(name, where):
    if not isinstance(name, str) or not _STREAM_NAME.match(name):
        raise ValueError(
            "%s: %r is not a stream name; use 1-%d characters from [A-Za-z0-9_.-]"
            % (where, name, _limits.STREAM_NAME_CHARS_MAX))
    return name


def _input_stream(item):
    if isinstance(item, str):
        return (_stream_name(item, "istreams"), StreamGrouping.SHUFFLE)
    if isinstance(item, (tuple, list)) and len(item) == 2:
        name, grouping = item
        try:
            grouping = StreamGrouping(grouping)
        except ValueError:
            raise ValueError(
                "istreams: grouping %r of stream %r is not a StreamGrouping; use "
                "StreamGrouping.SHUFFLE, GROUP_BY or BROADCAST" % (grouping, name)) from None
        return (_stream_name(name, "istreams"), grouping)
    raise ValueError(
        "istreams: %r is neither a stream name nor a (name, StreamGrouping) pair" % (item,))


class Computation:
    """Base class of an operator. Every callback runs on one thread, in order.

    Records handed to ``process_record`` are read-only and have the fields of
    ``concord.types.v1.types_pb2.Record``: ``record.key`` and ``record.value`` are bytes,
    ``record.event_time_unix_ms`` an int (usually a ``concord._wire.Record`` read straight from
    the wire, whose ``to_proto()`` gives the generated message).
    """

    def init(self, ctx):
        """Called once before any record; may produce records and set timers."""

    def process_record(self, ctx, record):
        """Called for each input record."""

    def process_timer(self, ctx, key, time_ms):
        """Called when a timer set with ctx.set_timer(key, time_ms) is due. The state in scope
        (ctx.state_key) is the record key that was in scope when the timer was set."""

    def destroy(self):
        """Called once on Shutdown, before the process exits 0."""

    def metadata(self):
        """Return a Metadata naming the operator and its streams."""
        raise NotImplementedError("%s must override metadata()" % type(self).__name__)
