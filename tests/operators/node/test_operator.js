'use strict';
// The Node test operator of the conformance suite. Every language has one like it, with the
// same behaviours, selected by CONFORMANCE_CASE (the table is in docs/conformance.md). Run it
// through run-test-operator.sh, which finds sdk/node from this directory.
const fs = require('fs');
const path = require('path');
const concord = require(path.join(__dirname, '..', '..', '..', 'sdk', 'node'));

/** The documented record limit (ProtocolLimits.RecordBytesMax), key + value. */
const RECORD_BYTES_MAX = 1024 * 1024;
/** How long the backpressure case blocks at most before it gives up, in ms. */
const GATE_TIMEOUT_MS = 60000;
/** How often the backpressure case looks for the release file, in ms. */
const GATE_POLL_MS = 10;
/** How long after a record the keyed_timers case flushes its key, in ms. */
const FLUSH_DELAY_MS = 100;
/** The cases that keep keyed state "count". */
const STATE_CASES = ['state', 'keyed_timers', 'event_time_timers'];
/** How far after a record's event time the event_time_timers case sets its timer, in ms. */
const EVENT_TIMER_DELAY_MS = 100;

function increment(count) {
  const c = Number((count.get() || Buffer.from('0')).toString('ascii')) + 1;
  count.set(String(c));
  return c;
}

class TestOperator extends concord.Computation {
  constructor(testCase, name) {
    super();
    this.testCase = testCase;
    this.name = name;
    this.gatePassed = false;
    this.rearmed = false;
  }

  metadata() {
    return {
      name: this.testCase === 'invalid_metadata' ? 'not-' + this.name : this.name,
      inputs: [['in', concord.StreamGrouping.GROUP_BY]],
      outputs: ['out-a', 'out-b'],
      states: STATE_CASES.includes(this.testCase) ? ['count'] : [],
    };
  }

  init(ctx) {
    if (this.testCase === 'timers') {
      const now = Date.now();
      ctx.setTimer('t3', now + 300);
      ctx.setTimer('t1', now + 100);
      ctx.setTimer('t2', now + 200);
      ctx.setTimer('rearm', now + 150);
    }
  }

  processRecord(ctx, record) {
    switch (this.testCase) {
      case 'produce':
        ctx.produceRecord('out-a', record.key, Buffer.concat([Buffer.from('a:'), record.value]));
        ctx.produceRecord('out-b', record.key, Buffer.concat([Buffer.from('b:'), record.value]));
        return undefined;
      case 'group_by':
        ctx.produceRecord('out-a', record.key, String(ctx.instanceIndex));
        return undefined;
      case 'state': {
        const count = ctx.state('count');
        if (record.value.toString('latin1') === 'clear') {
          count.clear();
          ctx.produceRecord('out-a', record.key, 'cleared');
          return undefined;
        }
        ctx.produceRecord('out-a', record.key, String(increment(count)));
        return undefined;
      }
      case 'keyed_timers':
        increment(ctx.state('count'));
        ctx.setTimer('flush', Date.now() + FLUSH_DELAY_MS);
        return undefined;
      case 'event_time_timers':
        ctx.setTimer('fire', record.eventTimeUnixMs + EVENT_TIMER_DELAY_MS, concord.TimeDomain.EVENT);
        return undefined;
      case 'backpressure':
        // Asynchronous: the session waits for the promise before the next callback.
        return this.waitForGate().then(() => ctx.produceRecord('out-a', record.key, record.value));
      case 'exception':
        throw new Error('conformance failure on purpose');
      case 'size_limit':
        if (record.key.toString('latin1') === 'grow') {
          ctx.produceRecord('out-a', record.key, Buffer.alloc(RECORD_BYTES_MAX - record.key.length + 1));
          return undefined;
        }
        break;
      default:
        break;
    }
    ctx.produceRecord('out-a', record.key, record.value);
    return undefined;
  }

  processTimer(ctx, key, timeMs) {
    if (this.testCase === 'event_time_timers') {
      ctx.produceRecord('out-b', ctx.stateKey, String(timeMs));
      return;
    }
    if (this.testCase === 'keyed_timers') {
      const count = ctx.state('count');
      ctx.produceRecord('out-b', ctx.stateKey, count.get() || '');
      count.clear();
      return;
    }
    ctx.produceRecord('out-a', key, String(timeMs));
    if (key === 'rearm' && !this.rearmed) {
      this.rearmed = true;
      ctx.setTimer(key, timeMs + 200);
    }
  }

  destroy() {
    if (this.testCase === 'destroy') fs.writeFileSync('destroyed', 'destroyed');
  }

  /** Resolves once the harness creates "release" in the working directory (the first time). */
  async waitForGate() {
    const deadline = Date.now() + GATE_TIMEOUT_MS;
    while (!this.gatePassed && !fs.existsSync('release')) {
      if (Date.now() > deadline) {
        throw new Error(`the harness did not create 'release' within ${GATE_TIMEOUT_MS / 1000} s`);
      }
      await new Promise((resolve) => setTimeout(resolve, GATE_POLL_MS));
    }
    this.gatePassed = true;
  }
}

concord.serveComputation(new TestOperator(process.env.CONFORMANCE_CASE || '',
  process.env.CONCORD_OPERATOR_NAME || 'conformance'));
