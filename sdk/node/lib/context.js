'use strict';
// What callbacks use: produce records, set timers, log, and reach keyed state. Everything they
// do is buffered and sent to the executor in the BatchDone of the batch being processed.
const limits = require('./limits');
const { utf8Length } = require('./wire');
const { TimeDomain, LogLevel, ProduceError, StateError } = require('./computation');

const EMPTY = Buffer.alloc(0);

function toBuffer(data, what, ErrorType) {
  if (Buffer.isBuffer(data)) return data;
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new ErrorType(`${what} must be a Buffer, Uint8Array or string, got ` +
    `${data === null ? 'null' : typeof data}; encode it first (e.g. String(x))`);
}

// A produced key or value: a string stays a string (wire.js writes its UTF-8 straight into
// BatchDone, saving a Buffer per record), anything else as toBuffer.
function toPayload(data, what) {
  return typeof data === 'string' ? data : toBuffer(data, what, ProduceError);
}

// Maps keyed by (state key, name): the name cannot contain NUL, and latin1 maps each byte to
// one character, so the joined string is unique per pair and binary keys survive.
function ref(key, name) {
  return name + '\0' + key.toString('latin1');
}

function nowUs() {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000);
}

/** One declared state, as ctx.state(name) returns it. Every call acts on the value of the key
 * in scope at that moment (ctx.stateKey): the record's key in processRecord, the timer's state
 * key in processTimer. */
class State {
  constructor(ctx, name) {
    this._ctx = ctx;
    /** The declared state name. */
    this.name = name;
  }

  /** The value (Buffer) last set for the key in scope, or null when it has none. */
  get() {
    const ctx = this._ctx;
    const value = ctx._view.get(ref(ctx.stateKey, this.name));
    return value === undefined ? null : value;
  }

  /** Sets the value for the key in scope: a Buffer, Uint8Array or string (stored as UTF-8), at
   * most the executor's Init.max_state_value_bytes. */
  set(value) {
    value = toBuffer(value, `state "${this.name}": the value`, StateError);
    const ctx = this._ctx;
    if (value.length > ctx._maxStateValueBytes) {
      throw ctx._fail(new StateError(`state "${this.name}": value of ${value.length} bytes exceeds ` +
        `the limit of ${ctx._maxStateValueBytes} bytes (Init.max_state_value_bytes); keep large ` +
        'values elsewhere and store a reference'));
    }
    // Copied: the caller may reuse its buffer after set() returns.
    this._write(Buffer.from(value));
  }

  /** Removes the value of the key in scope (get() returns null afterwards). */
  clear() {
    this._write(null);
  }

  _write(value) {
    const ctx = this._ctx;
    const key = ctx.stateKey;
    const r = ref(key, this.name);
    ctx._view.set(r, value);
    ctx._mutations.set(r, { key, name: this.name, value });
    ctx._countBytes(key.length + this.name.length + (value ? value.length : 0) +
      limits.STATE_MUTATION_OVERHEAD_BYTES);
  }
}

/** The context handed to every callback. */
class Context {
  constructor(init, metadata) {
    /** Operator name, instance index and instance count from the executor's Init. */
    this.operatorName = init.operatorName;
    this.instanceIndex = init.instanceIndex;
    this.instanceCount = init.instanceCount;
    this._streams = new Set(metadata.outputs);
    this._maxRecordBytes = init.maxRecordBytes || limits.RECORD_BYTES_MAX_DEFAULT;
    this._maxStateValueBytes = init.maxStateValueBytes || limits.STATE_VALUE_BYTES_MAX_DEFAULT;
    this._maxBatchesInFlight = init.maxBatchesInFlight;
    this._eventTime = init.capabilities.includes(limits.CAPABILITY_EVENT_TIME);
    this._states = new Map(metadata.states.map((n) => [n, new State(this, n)]));
    this._produced = [];
    this._producedBytes = 0;
    this._timers = new Map();
    this._logs = [];
    this._current = null;
    this._nowMs = 0;
    this._nowUs = 0;
    this._timerStateKey = EMPTY;
    this._inInit = false;
    this._watermarkMs = 0;
    // A ProduceError or StateError thrown in a callback: fatal even if the callback caught it.
    this._error = null;
    // The values callbacks read, ref -> Buffer or null (cleared): the states shipped with the
    // batch, overlaid with this SDK's own mutations of later batches (_overlays, {seq,
    // mutations} oldest first) and of the batch being processed (_mutations, also what BatchDone
    // returns: a Map keeps one entry per (key, name), the last change).
    this._view = new Map();
    this._mutations = new Map();
    this._overlays = [];
  }

  /** The key (Buffer) whose state is in scope: the record's key in processRecord, the timer's
   * state key (the record key in scope when it was set) in processTimer, empty in init. */
  get stateKey() {
    return this._current !== null ? this._current.key : this._timerStateKey;
  }

  /** The executor's input watermark when the batch was cut (ms since the Unix epoch; 0 when
   * not known yet, and in init). */
  get watermarkUnixMs() {
    return this._watermarkMs;
  }

  /** The declared state `name` (one of metadata().states) for the key in scope. */
  state(name) {
    const handle = this._states.get(name);
    if (handle === undefined) {
      throw this._fail(new StateError(`state "${name}" is not declared in metadata().states ` +
        `[${[...this._states.keys()].join(', ')}]; add it to states or use a declared name`));
    }
    if (this._inInit) {
      throw this._fail(new StateError(`state "${name}" used in init(): state belongs to a key and ` +
        'init() has none in scope; use state in processRecord or processTimer'));
    }
    return handle;
  }

  /** Emits a record on `stream` (one of metadata().outputs). `key` and `value` are Buffers,
   * Uint8Arrays or strings (UTF-8). `eventTimeMs` 0 (the default) inherits the event time of the
   * record being processed ("now" in init and timers). */
  produceRecord(stream, key, value, eventTimeMs = 0) {
    if (!this._streams.has(stream)) {
      throw this._fail(new ProduceError(`produceRecord: stream ${JSON.stringify(stream)} is not in ` +
        `metadata().outputs [${[...this._streams].join(', ')}]; add it to outputs or produce to a ` +
        'declared stream'));
    }
    try {
      key = toPayload(key, 'produceRecord: key');
      value = toPayload(value, 'produceRecord: value');
    } catch (err) {
      throw this._fail(err);
    }
    const keyBytes = typeof key === 'string' ? utf8Length(key) : key.length;
    const valueBytes = typeof value === 'string' ? utf8Length(value) : value.length;
    const size = keyBytes + valueBytes;
    if (size > this._maxRecordBytes) {
      throw this._fail(new ProduceError(`produceRecord: record of ${size} bytes (key ${keyBytes} + ` +
        `value ${valueBytes}) on stream "${stream}" exceeds the limit of ${this._maxRecordBytes} ` +
        'bytes; store large payloads elsewhere and send a reference'));
    }
    if (!Number.isSafeInteger(eventTimeMs) || eventTimeMs < 0) {
      throw this._fail(new ProduceError(`produceRecord: eventTimeMs ${eventTimeMs} is not a ` +
        'non-negative integer (ms since the Unix epoch); pass 0 to inherit the input\'s'));
    }
    this._countBytes(size + limits.PRODUCED_RECORD_OVERHEAD_BYTES, 'produceRecord');
    const current = this._current;
    let record;
    if (current !== null) {
      record = {
        key, value,
        eventTimeUnixMs: eventTimeMs || current.eventTimeUnixMs,
        trace: current.trace,
        ingestTimeUnixUs: current.ingestTimeUnixUs,
      };
    } else {
      record = { key, value, eventTimeUnixMs: eventTimeMs || this._nowMs, ingestTimeUnixUs: this._nowUs };
    }
    this._produced.push({ stream, record });
  }

  /** Asks for processTimer(ctx, key, timeMs) at `timeMs`, an absolute time in ms since the Unix
   * epoch (not a delay). `domain` TimeDomain.PROCESSING (the default) fires on the wall clock,
   * TimeDomain.EVENT when the input watermark reaches `timeMs`. In an operator that declares
   * states the timer belongs to the key in scope (ctx.stateKey), whose state processTimer sees:
   * one pending timer per (state key, key, domain); setting it again replaces its time. Without
   * declared states: one per (key, domain). */
  setTimer(key, timeMs, domain = TimeDomain.PROCESSING) {
    if (typeof key !== 'string') {
      throw new TypeError(`setTimer: key must be a string, got ${typeof key}`);
    }
    if (!Number.isSafeInteger(timeMs)) {
      throw new TypeError(`setTimer: timeMs ${timeMs} is not an integer number of ms since the ` +
        'Unix epoch; use e.g. Date.now() + 1000');
    }
    if (domain !== TimeDomain.PROCESSING && domain !== TimeDomain.EVENT) {
      throw new TypeError(`setTimer: domain ${domain} is not a TimeDomain; use ` +
        'TimeDomain.PROCESSING or TimeDomain.EVENT');
    }
    if (domain === TimeDomain.EVENT && !this._eventTime) {
      throw new TypeError(`setTimer: event-time timers need an executor with the capability ` +
        `${limits.CAPABILITY_EVENT_TIME}, which this one lacks; use TimeDomain.PROCESSING or ` +
        'upgrade the executor');
    }
    // An operator without declared states keeps one timer per key: keying them by record key
    // would turn its single "flush" timer into one per key seen.
    const stateKey = this._states.size ? this.stateKey : EMPTY;
    this._timers.set(domain + '\0' + key + '\0' + stateKey.toString('latin1'),
      { key, timeUnixMs: timeMs, stateKey, domain });
  }

  /** Sends a log line to the executor's structured log (console.log works too, unstructured). */
  log(message, level = LogLevel.INFO) {
    let text = String(message);
    if (text.length > limits.LOG_MESSAGE_CHARS_MAX) {
      text = text.slice(0, limits.LOG_MESSAGE_CHARS_MAX) + ' …[cut]';
    }
    this._logs.push({ log: { level, message: text } });
  }

  // ---- used by the session ----

  _fail(err) {
    if (this._error === null) this._error = err;
    return err;
  }

  _countBytes(n, what = 'state') {
    this._producedBytes += n;
    if (this._producedBytes > limits.PRODUCED_BYTES_PER_BATCH_MAX) {
      const Type = what === 'produceRecord' ? ProduceError : StateError;
      throw this._fail(new Type(`the callbacks of one batch produced more than ` +
        `${limits.PRODUCED_BYTES_PER_BATCH_MAX} bytes of records and state changes; produce less ` +
        'per callback, e.g. emit from a timer in smaller steps, or keep smaller state values'));
    }
  }

  /** Before init and each timer: produced records get event and ingest time "now". */
  _enterNow(stateKey = EMPTY) {
    this._nowUs = nowUs();
    this._nowMs = Math.floor(this._nowUs / 1000);
    this._current = null;
    this._timerStateKey = stateKey;
  }

  /** Before the callbacks of `batch`: the watermark, and the state view (shipped states as of
   * batch.stateAsOfSeq, then this SDK's own later mutations). Throws a protocol error. */
  _beginBatch(batch) {
    this._watermarkMs = batch.watermarkUnixMs;
    if (this._states.size === 0) return;
    const asOf = batch.stateAsOfSeq;
    if (asOf >= batch.seq) {
      throw new Error(`ProtocolError: batch ${batch.seq} carries state as of batch ${asOf}, which is ` +
        'not an earlier batch; the executor must set state_as_of_seq below seq');
    }
    const unapplied = batch.seq - 1 - asOf;
    if (this._maxBatchesInFlight > 0 && unapplied > this._maxBatchesInFlight) {
      throw new Error(`ProtocolError: batch ${batch.seq} carries state as of batch ${asOf}: ` +
        `${unapplied} earlier batches' state mutations are not applied, more than ` +
        `max_batches_in_flight ${this._maxBatchesInFlight}; the executor must apply ` +
        'BatchDone.state_mutations before it cuts more batches');
    }
    while (this._overlays.length && this._overlays[0].seq <= asOf) this._overlays.shift();
    const view = new Map();
    for (const keyState of batch.states) {
      for (const v of keyState.values) view.set(ref(keyState.key, v.name), v.value);
    }
    for (const overlay of this._overlays) {
      for (const [r, m] of overlay.mutations) view.set(r, m.value);
    }
    this._view = view;
  }

  /** The messages that finish batch `seq`: logs, then BatchDone. */
  _take(seq) {
    const out = this._logs;
    const mutations = this._mutations;
    const stateMutations = [];
    for (const m of mutations.values()) {
      stateMutations.push(m.value === null
        ? { key: m.key, name: m.name, clear: true }
        : { key: m.key, name: m.name, value: m.value });
    }
    out.push({
      batchDone: { seq, produced: this._produced, timersSet: [...this._timers.values()], stateMutations },
    });
    if (mutations.size) {
      // Kept until a batch arrives whose shipped states include them (state_as_of_seq).
      this._overlays.push({ seq, mutations });
      this._mutations = new Map();
    }
    this._logs = [];
    this._produced = [];
    this._producedBytes = 0;
    this._timers = new Map();
    this._current = null;
    return out;
  }
}

module.exports = { Context, State };
