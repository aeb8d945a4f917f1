"""Hand-written protobuf encoding of BatchDone, the one message on the hot path.

Building BatchDone through the protobuf API costs ~3.4 us per produced record in Python; writing
the wire format directly costs ~1.5 us (measured on a 1,000-record batch). Only the
OperatorMessage{batch_done} shape is encoded here; every other message goes through protobuf.
Field numbers come from operator.proto and types.proto:

  OperatorMessage.batch_done = 2      BatchDone.seq = 1, produced = 2, timers_set = 3,
                                      state_mutations = 4
  ProducedRecord.stream = 1, record = 2
  TimerSet.key = 1, time_unix_ms = 2, state_key = 3, domain = 4
  StateMutation.key = 1, name = 2, value = 3, clear = 4
  Record.key = 1, value = 2, event_time_unix_ms = 3, trace = 4, ingest_time_unix_us = 5
"""

_SMALL_MAX = 1 << 14

#: Varint encodings of 0 .. 16383 (one or two bytes), so lengths of ordinary records are a lookup.
_SMALL = [bytes([i]) if i < 0x80 else bytes([(i & 0x7F) | 0x80, i >> 7]) for i in range(_SMALL_MAX)]


def varint(value):
    """The protobuf varint encoding of a non-negative int."""
    if value < _SMALL_MAX:
        return _SMALL[value]
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def stream_prefix(stream):
    """ProducedRecord bytes before the record's length: the stream field and the record tag."""
    raw = stream.encode("utf-8")
    return b"\x0a" + varint(len(raw)) + raw + b"\x12"


def suffix_of(record):
    """Record bytes after key and value (event time, trace, ingest time) of an input record.

    protobuf serializes known fields in field-number order, so everything after fields 1 and 2
    of the record's own encoding is exactly what a produced record inherits.
    """
    raw = record.SerializeToString()
    k = len(record.key)
    v = len(record.value)
    skip = 0
    if k:
        skip += 1 + len(varint(k)) + k
    if v:
        skip += 1 + len(varint(v)) + v
    return raw[skip:]


def suffix_fields(event_time_unix_ms, trace_bytes, ingest_time_unix_us):
    """Record bytes for fields 3..5 from their values (trace_bytes: a serialized TraceContext)."""
    out = b""
    if event_time_unix_ms:
        out += b"\x18" + varint(event_time_unix_ms & 0xFFFFFFFFFFFFFFFF)
    if trace_bytes:
        out += b"\x22" + varint(len(trace_bytes)) + trace_bytes
    if ingest_time_unix_us:
        out += b"\x28" + varint(ingest_time_unix_us & 0xFFFFFFFFFFFFFFFF)
    return out


def batch_done(seq, produced_parts, timers_set, state_mutations=None):
    """A serialized OperatorMessage{batch_done}: produced_parts are already-encoded
    `produced` entries (tag included); timers_set maps (state_key, key, domain) -> time ms;
    state_mutations maps (key, name) -> the new value, or None for a clear."""
    body = [b"\x08" + varint(seq)] if seq else []
    body.extend(produced_parts)
    for (state_key, key, domain), time_ms in timers_set.items():
        raw = key.encode("utf-8")
        timer = b"\x0a" + varint(len(raw)) + raw
        if time_ms:
            timer += b"\x10" + varint(time_ms & 0xFFFFFFFFFFFFFFFF)
        if state_key:
            timer += b"\x1a" + varint(len(state_key)) + state_key
        if domain:
            timer += b"\x20" + varint(domain)
        body.append(b"\x1a" + varint(len(timer)) + timer)
    if state_mutations:
        for (key, name), value in state_mutations.items():
            raw = name.encode("utf-8")
            mutation = b"\x12" + varint(len(raw)) + raw
            if key:
                mutation = b"\x0a" + varint(len(key)) + key + mutation
            if value is None:
                mutation += b"\x20\x01"
            elif value:
                mutation += b"\x1a" + varint(len(value)) + value
            body.append(b"\x22" + varint(len(mutation)) + mutation)
    payload = b"".join(body)
    return b"\x12" + varint(len(payload)) + payload
