'use strict';
// Drives a session the way the executor does: in memory (runSession) or over real gRPC.
const fs = require('fs');
const os = require('os');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const proto = require('../lib/proto');
const { runSession } = require('../lib/session');
const limits = require('../lib/limits');

/** Every await in the tests is bounded by this, in ms: far above what a session step takes. */
const STEP_TIMEOUT_MS = 10000;

function within(promise, what, ms = STEP_TIMEOUT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function init(overrides = {}) {
  return {
    message: 'init',
    init: {
      protocolVersion: limits.PROTOCOL_VERSION,
      capabilities: [...limits.CAPABILITIES],
      requiredCapabilities: [limits.CAPABILITY_BATCH_PIPELINING],
      operatorName: 'op', instanceIndex: 0, instanceCount: 1,
      maxBatchesInFlight: 4, maxRecordBytes: 1024 * 1024, maxStateValueBytes: 1024,
      ...overrides,
    },
  };
}

function record(key, value, eventTimeUnixMs = 0, extra = {}) {
  return {
    key: Buffer.from(key), value: Buffer.from(value), eventTimeUnixMs,
    trace: null, ingestTimeUnixUs: 0, ...extra,
  };
}

function batch(seq, fields = {}) {
  return {
    message: 'processBatch',
    processBatch: {
      seq, records: [], timersFired: [], states: [], stateAsOfSeq: 0, watermarkUnixMs: 0, ...fields,
    },
  };
}

const SHUTDOWN = { message: 'shutdown', shutdown: { reason: 'test' } };

/** Runs `computation` over the executor messages `inbound` (then the end of the stream);
 * resolves to {code, sent, log}. */
async function runInMemory(computation, inbound) {
  const queue = [...inbound];
  const sent = [];
  let log = '';
  const inbox = { next: async () => (queue.length ? queue.shift() : null) };
  const code = await within(runSession(computation, inbox, (m) => { sent.push(m); },
    (text) => { log += text; }), 'the session');
  return { code, sent, log };
}

function tempSocket() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cc-node-'));
  return { dir, socket: path.join(dir, 'op.sock') };
}

/** An executor stand-in: a grpc-js client of Operator/Session on `address`. */
function connect(address) {
  const def = proto.load('concord/operator/v1/operator.proto');
  const Client = grpc.makeGenericClientConstructor({ Session: def['concord.operator.v1.Operator'].Session });
  const client = new Client('unix://' + address, grpc.credentials.createInsecure());
  const call = client.Session();
  const received = [];
  let waiter = null;
  call.on('data', (m) => { received.push(m); if (waiter) waiter(); });
  const ended = new Promise((resolve) => {
    call.on('end', () => resolve('end'));
    call.on('error', (err) => resolve(err));
  });
  return {
    call,
    client,
    ended,
    /** The next message from the operator. */
    async next() {
      while (received.length === 0) {
        await within(new Promise((resolve) => { waiter = resolve; }), 'a message from the operator');
        waiter = null;
      }
      return received.shift();
    },
    send(message) {
      const { message: which, ...rest } = message;
      call.write({ [which]: rest[which] });
    },
  };
}

module.exports = {
  STEP_TIMEOUT_MS, within, init, record, batch, SHUTDOWN, runInMemory, tempSocket, connect,
};
