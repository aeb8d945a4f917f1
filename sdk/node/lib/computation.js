'use strict';
// The operator API: a Computation (a class extending it, or any object with the same methods),
// described by its metadata(), served with serveComputation().
const limits = require('./limits');

const STREAM_NAME = new RegExp(limits.STREAM_NAME_PATTERN);
const STATE_NAME = new RegExp(limits.STATE_NAME_PATTERN);

/** How a stream's records are spread over the reading operator's instances (types.proto Grouping). */
const StreamGrouping = Object.freeze({
  /** Round-robin over the instances (the default). */
  SHUFFLE: 1,
  /** Same key, same instance (the key is hashed into key groups). */
  GROUP_BY: 2,
  /** Every instance receives every record. */
  BROADCAST: 3,
});

/** What clock a timer follows (ctx.setTimer's `domain`; operator.proto TimeDomain). */
const TimeDomain = Object.freeze({
  /** Fires when the wall clock reaches the timer's time (the default). */
  PROCESSING: 1,
  /** Fires when the executor's input watermark reaches the timer's time ("event-time.v1"). */
  EVENT: 2,
});

/** Levels of ctx.log (operator.proto Log.Level). */
const LogLevel = Object.freeze({ DEBUG: 1, INFO: 2, WARNING: 3, ERROR: 4 });

/** Thrown in the user's callback by ctx.produceRecord for a record the protocol forbids
 * (undeclared stream, too large, key or value not bytes or string). It is a bug in the operator:
 * the session ends with a fatal error even when the callback catches it. */
class ProduceError extends Error {
  constructor(message) { super(message); this.name = 'ProduceError'; }
}

/** Thrown in the user's callback by ctx.state(...) and its get/set/clear for a use the protocol
 * forbids (an undeclared name, a value over the executor's limit, state in init()). It is a bug
 * in the operator: the session ends with a fatal error even when the callback catches it. */
class StateError extends Error {
  constructor(message) { super(message); this.name = 'StateError'; }
}

function streamName(name, where) {
  if (typeof name !== 'string' || !STREAM_NAME.test(name)) {
    throw new TypeError(`${where}: ${JSON.stringify(name)} is not a stream name; use 1-` +
      `${limits.STREAM_NAME_CHARS_MAX} characters from [A-Za-z0-9_.-]`);
  }
  return name;
}

function inputStream(item) {
  let name = item;
  let grouping = StreamGrouping.SHUFFLE;
  if (Array.isArray(item) && item.length === 2) {
    [name, grouping] = item;
  } else if (item !== null && typeof item === 'object' && !Array.isArray(item)) {
    name = item.name;
    grouping = item.grouping === undefined ? StreamGrouping.SHUFFLE : item.grouping;
  } else if (typeof item !== 'string') {
    throw new TypeError(`inputs: ${JSON.stringify(item)} is neither a stream name, a [name, grouping] ` +
      'pair nor a {name, grouping} object');
  }
  if (!Object.values(StreamGrouping).includes(grouping)) {
    throw new TypeError(`inputs: grouping ${JSON.stringify(grouping)} of stream ${JSON.stringify(name)} ` +
      'is not a StreamGrouping; use StreamGrouping.SHUFFLE, GROUP_BY or BROADCAST');
  }
  return Object.freeze({ name: streamName(name, 'inputs'), grouping });
}

function stateName(name) {
  if (typeof name !== 'string' || !STATE_NAME.test(name)) {
    throw new TypeError(`states: ${JSON.stringify(name)} is not a state name; use 1-` +
      `${limits.STATE_NAME_CHARS_MAX} characters from [A-Za-z0-9_.-]`);
  }
  if (name.startsWith(limits.STATE_NAME_RESERVED_PREFIX)) {
    throw new TypeError(`states: ${JSON.stringify(name)} starts with ` +
      `"${limits.STATE_NAME_RESERVED_PREFIX}", which is reserved for the executor's own state; ` +
      'choose another name');
  }
  return name;
}

function list(value, where) {
  if (value === undefined || value === null) return [];
  if (typeof value === 'string' || typeof value[Symbol.iterator] !== 'function') {
    throw new TypeError(`${where}: give an array, e.g. ${where}: [${JSON.stringify(value)}]`);
  }
  return [...value];
}

/** What the operator says about itself: its name (the deploy file's), the streams it reads
 * (with their grouping), the streams it may produce to, and the keyed states it uses. */
class Metadata {
  /**
   * @param {{name: string, inputs?: Array<string|[string, number]|{name: string, grouping?: number}>,
   *          outputs?: string[], states?: string[]}} spec
   */
  constructor(spec) {
    if (spec === null || typeof spec !== 'object') {
      throw new TypeError('Metadata takes an object: {name, inputs, outputs, states}');
    }
    const { name } = spec;
    if (typeof name !== 'string' || name === '') {
      throw new TypeError("Metadata.name must be a non-empty string equal to the deploy file's name");
    }
    this.name = name;
    this.inputs = Object.freeze(list(spec.inputs, 'inputs').map(inputStream));
    this.outputs = Object.freeze(list(spec.outputs, 'outputs').map((s) => streamName(s, 'outputs')));
    const states = list(spec.states, 'states').map(stateName);
    const repeated = [...new Set(states.filter((s, i) => states.indexOf(s) !== i))];
    if (repeated.length) {
      throw new TypeError(`states: ${repeated.map((s) => JSON.stringify(s)).join(', ')} declared ` +
        'more than once; declare each name once');
    }
    this.states = Object.freeze(states);
    Object.freeze(this);
  }

  /** A Metadata from what metadata() returned: a Metadata or a plain object spec. */
  static from(value) {
    return value instanceof Metadata ? value : new Metadata(value);
  }

  /** The types.proto OperatorMetadata object. */
  toProto() {
    return {
      name: this.name,
      inputs: this.inputs.map((i) => ({ name: i.name, grouping: i.grouping })),
      outputs: [...this.outputs],
      states: this.states.map((s) => ({ name: s, kind: 1 /* STATE_KIND_VALUE */ })),
    };
  }
}

/** Base class of an operator; override metadata() and the callbacks you need. Every callback
 * runs on the event loop, one at a time, in order. A callback may return a Promise: the session
 * waits for it before the next callback (the executor's backpressure does the rest). */
class Computation {
  /** Called once before any record; may produce records and set timers. */
  init(ctx) {} // eslint-disable-line no-unused-vars

  /** Called for each input record: {key: Buffer, value: Buffer, eventTimeUnixMs: number, ...}. */
  processRecord(ctx, record) {} // eslint-disable-line no-unused-vars

  /** Called when a timer set with ctx.setTimer(key, timeMs) is due. The state in scope
   * (ctx.stateKey) is the record key that was in scope when the timer was set. */
  processTimer(ctx, key, timeMs) {} // eslint-disable-line no-unused-vars

  /** Called once on Shutdown, before the process exits 0. */
  destroy() {}

  /** Returns a Metadata (or its spec object) naming the operator and its streams. */
  metadata() {
    throw new Error(`${this.constructor.name} must override metadata()`);
  }
}

module.exports = {
  Computation, Metadata, StreamGrouping, TimeDomain, LogLevel, ProduceError, StateError,
};
