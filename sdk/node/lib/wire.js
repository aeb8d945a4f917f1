'use strict';
// Hand-written protobuf wire format of the two messages on the hot path: the executor's
// ExecutorMessage{process_batch} (decoded) and the SDK's OperatorMessage{batch_done} (encoded).
// Through @grpc/proto-loader (protobufjs) every record costs a generic decode into a message
// instance, then toObject() into a second object, and BatchDone a fromObject() copy before the
// encode; here a record is read straight into the plain object the session hands to
// processRecord, and BatchDone is written into one Buffer sized in a first pass. Every other
// message (Init, Shutdown, Metadata, Log, Error) still goes through proto-loader, and so does a
// message this decoder does not recognise. The objects have the shape proto-loader gives with
// proto.js's LOAD_OPTIONS (camelCase, 64-bit integers as Number, bytes as Buffer views of the
// received message, defaults filled in, `message` naming the oneof member).
//
// Field numbers (operator.proto, types.proto):
//   ExecutorMessage.process_batch = 2    OperatorMessage.batch_done = 2
//   ProcessBatch.seq = 1, records = 2, timers_fired = 3, states = 4, state_as_of_seq = 5,
//                watermark_unix_ms = 6
//   Record.key = 1, value = 2, event_time_unix_ms = 3, trace = 4, ingest_time_unix_us = 5
//   TraceContext.trace_id = 1, parent_span_id = 2
//   TimerFired / TimerSet.key = 1, time_unix_ms = 2, state_key = 3, domain = 4
//   KeyState.key = 1, values = 2         StateValue.name = 1, value = 2
//   BatchDone.seq = 1, produced = 2, timers_set = 3, state_mutations = 4
//   ProducedRecord.stream = 1, record = 2
//   StateMutation.key = 1, name = 2, value = 3, clear = 4

const limits = require('./limits');

const EMPTY = Buffer.alloc(0);
const TWO_32 = 4294967296;

/** The message is not one this decoder handles; the caller falls back to proto-loader. */
class NotHandled extends Error {}
const NOT_HANDLED = new NotHandled('not a message wire.js decodes');

// ---- decoding ----

// A cursor over one message: `buf` and the current offset `pos`, shared by the readers below.
class Reader {
  constructor(buf) {
    this.buf = buf;
    this.pos = 0;
  }

  /** A varint of at most 32 significant bits (tags, lengths, enums), as a non-negative Number. */
  uint32() {
    const buf = this.buf;
    let b = buf[this.pos++];
    if (b < 0x80) return b;
    let value = b & 0x7f;
    b = buf[this.pos++]; value |= (b & 0x7f) << 7; if (b < 0x80) return value;
    b = buf[this.pos++]; value |= (b & 0x7f) << 14; if (b < 0x80) return value;
    b = buf[this.pos++]; value |= (b & 0x7f) << 21; if (b < 0x80) return value;
    b = buf[this.pos++]; value = (value | ((b & 0x0f) << 28)) >>> 0; if (b < 0x80) return value;
    // A negative int32 is sent as ten bytes; its low 32 bits are the value.
    for (let i = 0; i < 5; i++) {
      if (this.pos >= buf.length) throw NOT_HANDLED;
      if (buf[this.pos++] < 0x80) return value;
    }
    throw NOT_HANDLED;
  }

  /** A 64-bit varint as a Number (exact below 2^53, as proto-loader's `longs: Number`);
   * `signed` for int64, whose negative values are ten-byte two's complement. */
  int64(signed) {
    const buf = this.buf;
    let b = buf[this.pos++];
    if (b < 0x80) return b;
    // Up to 4 bytes fit a 28-bit value exactly in a small integer.
    let lo = b & 0x7f;
    let shift = 7;
    for (; shift < 28; shift += 7) {
      b = buf[this.pos++];
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) return lo;
    }
    // Byte 5 carries bits 28..34: 4 into lo, 3 into hi.
    b = buf[this.pos++];
    lo = (lo | ((b & 0x0f) << 28)) >>> 0;
    let hi = (b & 0x7f) >> 4;
    if (b >= 0x80) {
      shift = 3;
      for (;;) {
        if (shift > 31) throw NOT_HANDLED;
        b = buf[this.pos++];
        if (b === undefined) throw NOT_HANDLED;
        hi = (hi | ((b & 0x7f) << shift)) >>> 0;
        if (b < 0x80) break;
        shift += 7;
      }
    }
    if (signed && hi >>> 31) {
      // Two's complement: -(~value + 1).
      lo = (~lo + 1) >>> 0;
      hi = ~hi >>> 0;
      if (lo === 0) hi = (hi + 1) >>> 0;
      return -(lo + hi * TWO_32);
    }
    return lo + hi * TWO_32;
  }

  /** The end offset of a length-delimited field that starts at the current offset. */
  end() {
    const length = this.uint32();
    const end = this.pos + length;
    if (end > this.buf.length) throw NOT_HANDLED;
    return end;
  }

  bytes() {
    const end = this.end();
    if (end === this.pos) return EMPTY;
    // A view, as protobufjs gives: the received message is not reused by grpc-js.
    const value = this.buf.subarray(this.pos, end);
    this.pos = end;
    return value;
  }

  string() {
    const end = this.end();
    const value = this.buf.toString('utf8', this.pos, end);
    this.pos = end;
    return value;
  }

  /** Skips a field of an unknown number (proto3 parsers ignore them). */
  skip(wireType) {
    switch (wireType) {
      case 0: this.int64(false); break;
      case 1: this.pos += 8; break;
      case 2: this.pos = this.end(); break;
      case 5: this.pos += 4; break;
      default: throw NOT_HANDLED; // groups: never in these .proto files
    }
    if (this.pos > this.buf.length) throw NOT_HANDLED;
  }
}

function readTrace(r, end) {
  const trace = { traceId: EMPTY, parentSpanId: EMPTY };
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 0x0a) trace.traceId = r.bytes();
    else if (tag === 0x12) trace.parentSpanId = r.bytes();
    else r.skip(tag & 7);
  }
  if (r.pos !== end) throw NOT_HANDLED;
  return trace;
}

function readRecord(r, end) {
  let key = EMPTY;
  let value = EMPTY;
  let eventTimeUnixMs = 0;
  let trace = null;
  let ingestTimeUnixUs = 0;
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 0x0a: key = r.bytes(); break;
      case 0x12: value = r.bytes(); break;
      case 0x18: eventTimeUnixMs = r.int64(true); break;
      case 0x22: trace = readTrace(r, r.end()); break;
      case 0x28: ingestTimeUnixUs = r.int64(true); break;
      default: r.skip(tag & 7);
    }
  }
  if (r.pos !== end) throw NOT_HANDLED;
  return { key, value, eventTimeUnixMs, trace, ingestTimeUnixUs };
}

function readTimerFired(r, end) {
  const timer = { key: '', timeUnixMs: 0, stateKey: EMPTY, domain: 0 };
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 0x0a: timer.key = r.string(); break;
      case 0x10: timer.timeUnixMs = r.int64(true); break;
      case 0x1a: timer.stateKey = r.bytes(); break;
      case 0x20: timer.domain = r.uint32() | 0; break;
      default: r.skip(tag & 7);
    }
  }
  if (r.pos !== end) throw NOT_HANDLED;
  return timer;
}

function readStateValue(r, end) {
  const v = { name: '', value: EMPTY };
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 0x0a) v.name = r.string();
    else if (tag === 0x12) v.value = r.bytes();
    else r.skip(tag & 7);
  }
  if (r.pos !== end) throw NOT_HANDLED;
  return v;
}

function readKeyState(r, end) {
  const ks = { key: EMPTY, values: [] };
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 0x0a) ks.key = r.bytes();
    else if (tag === 0x12) ks.values.push(readStateValue(r, r.end()));
    else r.skip(tag & 7);
  }
  if (r.pos !== end) throw NOT_HANDLED;
  return ks;
}

function readProcessBatch(r, end) {
  const batch = {
    seq: 0, records: [], timersFired: [], states: [], stateAsOfSeq: 0, watermarkUnixMs: 0,
  };
  const records = batch.records;
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 0x12: records.push(readRecord(r, r.end())); break;
      case 0x08: batch.seq = r.int64(false); break;
      case 0x1a: batch.timersFired.push(readTimerFired(r, r.end())); break;
      case 0x22: batch.states.push(readKeyState(r, r.end())); break;
      case 0x28: batch.stateAsOfSeq = r.int64(false); break;
      case 0x30: batch.watermarkUnixMs = r.int64(true); break;
      default: r.skip(tag & 7);
    }
  }
  if (r.pos !== end) throw NOT_HANDLED;
  return batch;
}

/**
 * An ExecutorMessage{process_batch} as proto-loader's object, or null when `buf` is any other
 * message (or one this decoder cannot read: the caller then decodes it with proto-loader, which
 * gives the same object or the same error).
 */
function decodeProcessBatch(buf) {
  // The executor sends exactly one field: process_batch. Anything else (Init, Shutdown, a
  // repeated oneof, unknown fields) is left to proto-loader.
  if (buf.length === 0 || buf[0] !== 0x12) return null;
  try {
    const r = new Reader(buf);
    r.pos = 1;
    const end = r.end();
    if (end !== buf.length) return null;
    return { message: 'processBatch', processBatch: readProcessBatch(r, end) };
  } catch (err) {
    if (err === NOT_HANDLED || err instanceof RangeError) return null;
    throw err;
  }
}

// ---- encoding ----

function varintSize(n) {
  if (n < 0x80) return 1;
  if (n < 0x4000) return 2;
  if (n < 0x200000) return 3;
  if (n < 0x10000000) return 4;
  if (n < 0x800000000) return 5;
  let size = 5;
  n = Math.floor(n / 0x800000000);
  while (n > 0) { size++; n = Math.floor(n / 128); }
  return size;
}

/** Encoded size of an int64/uint64 Number (negative: ten bytes). */
function int64Size(n) {
  return n < 0 ? 10 : varintSize(n);
}

const COPY_LOOP_BYTES_MAX = limits.WIRE_COPY_LOOP_BYTES_MAX;

// A forward-only writer into a Buffer of the exact size.
class Writer {
  constructor(size) {
    this.buf = Buffer.allocUnsafe(size);
    this.pos = 0;
  }

  byte(b) { this.buf[this.pos++] = b; }

  /** A non-negative integer below 2^53. */
  varint(n) {
    const buf = this.buf;
    while (n >= 0x80000000) {
      buf[this.pos++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    while (n >= 0x80) {
      buf[this.pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    buf[this.pos++] = n;
  }

  int64(n) {
    if (n >= 0) { this.varint(n); return; }
    // Ten-byte two's complement of a negative Number (exact above -2^53).
    const abs = -n;
    let lo = abs >>> 0;
    let hi = Math.floor(abs / TWO_32) >>> 0;
    lo = (~lo + 1) >>> 0;
    hi = ~hi >>> 0;
    if (lo === 0) hi = (hi + 1) >>> 0;
    const buf = this.buf;
    for (let i = 0; i < 4; i++) { buf[this.pos++] = (lo & 0x7f) | 0x80; lo >>>= 7; }
    buf[this.pos++] = (lo & 0x0f) | ((hi & 0x07) << 4) | 0x80;
    hi >>>= 3;
    for (let i = 0; i < 4; i++) { buf[this.pos++] = (hi & 0x7f) | 0x80; hi >>>= 7; }
    buf[this.pos++] = hi & 0x01;
  }

  bytes(tag, data) {
    const buf = this.buf;
    const n = data.length;
    buf[this.pos++] = tag;
    this.varint(n);
    if (n <= COPY_LOOP_BYTES_MAX) {
      let pos = this.pos;
      for (let i = 0; i < n; i++) buf[pos++] = data[i];
      this.pos = pos;
    } else {
      data.copy(buf, this.pos);
      this.pos += n;
    }
  }

  /** A string field of `n` UTF-8 bytes (utf8Length). */
  string(tag, text, n) {
    const buf = this.buf;
    buf[this.pos++] = tag;
    this.varint(n);
    if (n === text.length && n <= COPY_LOOP_BYTES_MAX) {
      let pos = this.pos;
      for (let i = 0; i < n; i++) buf[pos++] = text.charCodeAt(i);
      this.pos = pos;
    } else {
      this.pos += buf.write(text, this.pos, n, 'utf8');
    }
  }
}

/** The UTF-8 size of `text`. */
function utf8Length(text) {
  const n = text.length;
  if (n > COPY_LOOP_BYTES_MAX) return Buffer.byteLength(text, 'utf8');
  for (let i = 0; i < n; i++) {
    if (text.charCodeAt(i) >= 0x80) return Buffer.byteLength(text, 'utf8');
  }
  return n;
}

// Stream names, timer keys and state names are few distinct strings: their UTF-8 is kept.
const utf8Cache = new Map();

function utf8(text) {
  let raw = utf8Cache.get(text);
  if (raw === undefined) {
    raw = Buffer.from(text, 'utf8');
    if (utf8Cache.size >= limits.WIRE_UTF8_CACHE_ENTRIES_MAX) utf8Cache.clear();
    utf8Cache.set(text, raw);
  }
  return raw;
}

function lengthField(n) {
  return 1 + varintSize(n) + n;
}

function bytesField(data) {
  return data.length ? lengthField(data.length) : 0;
}

function traceSize(trace) {
  return bytesField(trace.traceId) + bytesField(trace.parentSpanId);
}

// A produced key or value is a Buffer or (Context keeps them) a string.
function payloadSize(data) {
  return typeof data === 'string' ? utf8Length(data) : data.length;
}

function fieldSize(n) {
  return n ? lengthField(n) : 0;
}

// Record size from the key and value sizes in bytes.
function recordSize(record, keyBytes, valueBytes) {
  let size = fieldSize(keyBytes) + fieldSize(valueBytes);
  if (record.eventTimeUnixMs) size += 1 + int64Size(record.eventTimeUnixMs);
  if (record.trace) size += lengthField(traceSize(record.trace));
  if (record.ingestTimeUnixUs) size += 1 + int64Size(record.ingestTimeUnixUs);
  return size;
}

function writePayload(w, tag, data, n) {
  if (n === 0) return;
  if (typeof data === 'string') w.string(tag, data, n);
  else w.bytes(tag, data);
}

function writeRecord(w, record, size, keyBytes, valueBytes) {
  w.varint(size);
  writePayload(w, 0x0a, record.key, keyBytes);
  writePayload(w, 0x12, record.value, valueBytes);
  if (record.eventTimeUnixMs) { w.byte(0x18); w.int64(record.eventTimeUnixMs); }
  const trace = record.trace;
  if (trace) {
    w.byte(0x22);
    w.varint(traceSize(trace));
    if (trace.traceId.length) w.bytes(0x0a, trace.traceId);
    if (trace.parentSpanId.length) w.bytes(0x12, trace.parentSpanId);
  }
  if (record.ingestTimeUnixUs) { w.byte(0x28); w.int64(record.ingestTimeUnixUs); }
}

function timerSize(t) {
  let size = bytesField(utf8(t.key)) + bytesField(t.stateKey);
  if (t.timeUnixMs) size += 1 + int64Size(t.timeUnixMs);
  if (t.domain) size += 1 + int64Size(t.domain);
  return size;
}

function mutationSize(m) {
  let size = bytesField(m.key) + bytesField(utf8(m.name));
  if (m.value) size += bytesField(m.value);
  if (m.clear) size += 2;
  return size;
}

/**
 * The OperatorMessage{batch_done} of `done`, the BatchDone object Context._take builds (Buffers
 * for bytes, or strings for produced keys and values; Numbers for integers), as one Buffer.
 */
function encodeBatchDone(done) {
  const produced = done.produced;
  const n = produced.length;
  // Sizes per produced record (key, value, Record, ProducedRecord), kept for the second pass.
  const sizes = new Array(4 * n);
  let size = done.seq ? 1 + varintSize(done.seq) : 0;
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    const p = produced[i];
    const record = p.record;
    const keyBytes = payloadSize(record.key);
    const valueBytes = payloadSize(record.value);
    const rs = recordSize(record, keyBytes, valueBytes);
    const es = bytesField(utf8(p.stream)) + lengthField(rs);
    sizes[j] = keyBytes;
    sizes[j + 1] = valueBytes;
    sizes[j + 2] = rs;
    sizes[j + 3] = es;
    size += lengthField(es);
  }
  const timers = done.timersSet;
  for (const t of timers) size += lengthField(timerSize(t));
  const mutations = done.stateMutations;
  for (const m of mutations) size += lengthField(mutationSize(m));

  const w = new Writer(1 + varintSize(size) + size);
  w.byte(0x12);
  w.varint(size);
  if (done.seq) { w.byte(0x08); w.varint(done.seq); }
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    const p = produced[i];
    w.byte(0x12);
    w.varint(sizes[j + 3]);
    const stream = utf8(p.stream);
    if (stream.length) w.bytes(0x0a, stream);
    w.byte(0x12);
    writeRecord(w, p.record, sizes[j + 2], sizes[j], sizes[j + 1]);
  }
  for (const t of timers) {
    w.byte(0x1a);
    w.varint(timerSize(t));
    const key = utf8(t.key);
    if (key.length) w.bytes(0x0a, key);
    if (t.timeUnixMs) { w.byte(0x10); w.int64(t.timeUnixMs); }
    if (t.stateKey.length) w.bytes(0x1a, t.stateKey);
    if (t.domain) { w.byte(0x20); w.int64(t.domain); }
  }
  for (const m of mutations) {
    w.byte(0x22);
    w.varint(mutationSize(m));
    if (m.key.length) w.bytes(0x0a, m.key);
    const name = utf8(m.name);
    if (name.length) w.bytes(0x12, name);
    if (m.value && m.value.length) w.bytes(0x1a, m.value);
    if (m.clear) { w.byte(0x20); w.byte(1); }
  }
  if (w.pos !== w.buf.length) {
    throw new Error(`wire.js: BatchDone ${done.seq} sized ${w.buf.length} bytes but wrote ${w.pos}; ` +
      'this is a bug in the Node SDK, please report it');
  }
  return w.buf;
}

/**
 * The method definition `method` (proto-loader's Operator.Session) with the hot messages
 * decoded and encoded by hand and all others through proto-loader's own functions.
 */
function fastSession(method) {
  const deserialize = method.requestDeserialize;
  const serialize = method.responseSerialize;
  return {
    ...method,
    requestDeserialize: (buf) => decodeProcessBatch(buf) || deserialize(buf),
    responseSerialize: (message) => (message.batchDone ? encodeBatchDone(message.batchDone) : serialize(message)),
  };
}

module.exports = { decodeProcessBatch, encodeBatchDone, fastSession, utf8Length };
