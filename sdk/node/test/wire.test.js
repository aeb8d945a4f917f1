'use strict';
// The hand-written codec (lib/wire.js) must agree with proto-loader, the reference encoding.
const test = require('node:test');
const assert = require('node:assert/strict');
const proto = require('../lib/proto');
const wire = require('../lib/wire');

const method = proto.load('concord/operator/v1/operator.proto')['concord.operator.v1.Operator'].Session;

function rec(key, value, eventTimeUnixMs, trace, ingestTimeUnixUs) {
  return { key: Buffer.from(key), value: Buffer.from(value), eventTimeUnixMs, trace, ingestTimeUnixUs };
}

const TRACE = { traceId: Buffer.alloc(16, 7), parentSpanId: Buffer.alloc(8, 9) };

// Values at the edges of the varint encodings: 1..10 bytes, negative int64, 2^53 - 1.
const TIMES = [0, 1, 127, 128, 16383, 16384, 2 ** 28 - 1, 2 ** 28, 2 ** 31, 2 ** 32 + 5,
  1765000000000, 1765000000000123, Number.MAX_SAFE_INTEGER, -1, -2, -(2 ** 32), -1765000000000];

const BATCHES = [
  { seq: 1, records: [], timersFired: [], states: [], stateAsOfSeq: 0, watermarkUnixMs: 0 },
  {
    seq: 2 ** 40 + 3,
    records: TIMES.map((t, i) => rec(`k${i}`, i % 3 ? `v${i}` : '', t, i % 2 ? TRACE : null, TIMES[TIMES.length - 1 - i])),
    timersFired: [{ key: 'flush', timeUnixMs: -5, stateKey: Buffer.from([0, 255]), domain: 2 },
      { key: 'ключ', timeUnixMs: 1765000000000, stateKey: Buffer.alloc(0), domain: 1 }],
    states: [{ key: Buffer.from('k1'), values: [{ name: 'count', value: Buffer.from('3') }, { name: 'é', value: Buffer.alloc(0) }] }],
    stateAsOfSeq: 2 ** 40,
    watermarkUnixMs: -1,
  },
  { seq: 7, records: [rec('', 'x'.repeat(70000), 0, null, 0)], timersFired: [], states: [], stateAsOfSeq: 6, watermarkUnixMs: 5 },
];

test('ProcessBatch decodes to the object proto-loader gives', () => {
  for (const processBatch of BATCHES) {
    const raw = method.requestSerialize({ processBatch });
    const reference = method.requestDeserialize(raw);
    const mine = wire.decodeProcessBatch(raw);
    assert.deepEqual(mine, { message: reference.message, processBatch: reference.processBatch });
    assert.deepEqual(mine.processBatch, processBatch);
  }
});

test('other messages, and malformed ones, are left to proto-loader', () => {
  assert.equal(wire.decodeProcessBatch(method.requestSerialize({ init: { protocolVersion: 1 } })), null);
  assert.equal(wire.decodeProcessBatch(method.requestSerialize({ shutdown: { reason: 'x' } })), null);
  assert.equal(wire.decodeProcessBatch(Buffer.alloc(0)), null);
  const raw = method.requestSerialize({ processBatch: BATCHES[1] });
  for (const cut of [2, 10, raw.length - 1]) {
    assert.equal(wire.decodeProcessBatch(raw.subarray(0, cut)), null, `cut at ${cut}`);
  }
  // A record whose length runs past the end of the batch.
  const bad = Buffer.from([0x12, 0x04, 0x12, 0x05, 0x0a, 0x01]);
  assert.equal(wire.decodeProcessBatch(bad), null);
});

test('utf8Length is the UTF-8 size', () => {
  for (const text of ['', 'a', 'größe', '🙂', 'x'.repeat(200), 'ü'.repeat(200)]) {
    assert.equal(wire.utf8Length(text), Buffer.byteLength(text), text);
  }
});

test('BatchDone encodes to bytes proto-loader decodes to the same message', () => {
  const batchDone = {
    seq: 2 ** 33 + 1,
    produced: TIMES.map((t, i) => ({
      stream: i % 2 ? 'counts' : 'ströme',
      record: rec(`k${i}`, i % 4 ? String(i) : '', t, i % 3 ? TRACE : null, TIMES[TIMES.length - 1 - i]),
    })),
    timersSet: [{ key: 'flush', timeUnixMs: 1765000000000, stateKey: Buffer.from('k'), domain: 1 },
      { key: '', timeUnixMs: -3, stateKey: Buffer.alloc(0), domain: 2 }],
    stateMutations: [{ key: Buffer.from('k1'), name: 'count', value: Buffer.from('12') },
      { key: Buffer.from('k2'), name: 'count', clear: true }],
  };
  // Context keeps string keys and values as strings: ASCII, multi-byte, longer than the copy loop.
  for (const text of ['', '42', 'größe', 'x'.repeat(65), 'é'.repeat(40), '🙂']) {
    batchDone.produced.push({ stream: 'counts', record: { key: text, value: text + '!', eventTimeUnixMs: 0, ingestTimeUnixUs: 0 } });
  }
  const mine = method.responseDeserialize(wire.encodeBatchDone(batchDone));
  const asBuffers = { ...batchDone, produced: batchDone.produced.map((p) => ({ ...p, record: { ...p.record,
    key: Buffer.from(p.record.key), value: Buffer.from(p.record.value) } })) };
  const reference = method.responseDeserialize(method.responseSerialize({ batchDone: asBuffers }));
  assert.equal(mine.message, 'batchDone');
  assert.deepEqual(mine.batchDone, reference.batchDone);
  assert.equal(mine.batchDone.produced.length, TIMES.length + 6);
  assert.equal(mine.batchDone.produced.at(-1).record.value.toString(), '🙂!');
  assert.equal(mine.batchDone.produced[5].record.eventTimeUnixMs, TIMES[5]);
  assert.equal(mine.batchDone.stateMutations[1].clear, true);

  const empty = method.responseDeserialize(wire.encodeBatchDone({ seq: 0, produced: [], timersSet: [], stateMutations: [] }));
  assert.equal(empty.message, 'batchDone');
  assert.equal(empty.batchDone.seq, 0);
});
