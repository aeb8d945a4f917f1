'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const concord = require('..');
const { init, record, batch, SHUTDOWN, runInMemory } = require('./helpers');

class Echo extends concord.Computation {
  metadata() { return { name: 'op', inputs: [['in', concord.StreamGrouping.GROUP_BY]], outputs: ['out'] }; }
  processRecord(ctx, r) { ctx.produceRecord('out', r.key, r.value); }
}

test('metadata comes first, then BatchDone 0, batches are answered in order, Shutdown exits 0', async () => {
  let destroyed = false;
  const op = new Echo();
  op.destroy = () => { destroyed = true; };
  const { code, sent } = await runInMemory(op, [
    init(), batch(1, { records: [record('k', 'v1')] }), batch(2, { records: [record('k', 'v2')] }), SHUTDOWN,
  ]);
  assert.equal(code, 0);
  assert.ok(destroyed);
  assert.deepEqual(sent.map((m) => Object.keys(m)[0]), ['metadata', 'batchDone', 'batchDone', 'batchDone']);
  const md = sent[0].metadata;
  assert.equal(md.sdk, concord.limits.SDK_NAME);
  assert.deepEqual(md.metadata.inputs, [{ name: 'in', grouping: 2 }]);
  assert.deepEqual(sent.slice(1).map((m) => m.batchDone.seq), [0, 1, 2]);
  assert.equal(sent[2].batchDone.produced[0].record.value.toString(), 'v1');
  assert.equal(sent[3].batchDone.produced[0].stream, 'out');
});

test('produced records inherit event time, trace and ingest time; init and timers get now', async () => {
  const trace = { traceId: Buffer.alloc(16, 1), parentSpanId: Buffer.alloc(8, 2) };
  class Op extends Echo {
    init(ctx) { ctx.produceRecord('out', 'i', 'x'); }
    processRecord(ctx, r) {
      ctx.produceRecord('out', r.key, 'inherit');
      ctx.produceRecord('out', r.key, 'own', 42);
    }
    processTimer(ctx, key) { ctx.produceRecord('out', key, 't'); }
  }
  const before = Date.now();
  const { sent } = await runInMemory(new Op(), [
    init(),
    batch(1, {
      records: [record('k', 'v', 1000, { trace, ingestTimeUnixUs: 777 })],
      timersFired: [{ key: 'tk', timeUnixMs: 5, stateKey: Buffer.alloc(0), domain: 1 }],
    }),
  ]);
  const initRec = sent[1].batchDone.produced[0].record;
  assert.ok(initRec.eventTimeUnixMs >= before && initRec.ingestTimeUnixUs >= before * 1000);
  const [inherit, own, timer] = sent[2].batchDone.produced.map((p) => p.record);
  assert.equal(inherit.eventTimeUnixMs, 1000);
  assert.equal(inherit.ingestTimeUnixUs, 777);
  assert.equal(inherit.trace, trace);
  assert.equal(own.eventTimeUnixMs, 42);
  assert.equal(own.ingestTimeUnixUs, 777);
  assert.ok(timer.eventTimeUnixMs >= before);
});

test('an exception in a callback becomes a fatal Error with its message, exit 1', async () => {
  class Op extends Echo { processRecord() { throw new RangeError('boom on purpose'); } }
  const { code, sent } = await runInMemory(new Op(), [init(), batch(1, { records: [record('k', 'v')] })]);
  assert.equal(code, 1);
  const last = sent[sent.length - 1].error;
  assert.equal(last.fatal, true);
  assert.match(last.message, /RangeError: boom on purpose/);
  assert.match(last.message, /processRecord \(batch 1, record 0\)/);
  assert.match(last.detail, /session\.test\.js/);
});

test('a record over the limit is refused even when the callback catches the error', async () => {
  let caught = null;
  class Op extends Echo {
    processRecord(ctx, r) {
      try { ctx.produceRecord('out', r.key, Buffer.alloc(11)); } catch (err) { caught = err; }
    }
  }
  const { code, sent } = await runInMemory(new Op(), [init({ maxRecordBytes: 10 }), batch(1, { records: [record('', '')] })]);
  assert.ok(caught instanceof concord.ProduceError);
  assert.equal(code, 1);
  assert.match(sent[sent.length - 1].error.message, /exceeds the limit of 10 bytes/);
  assert.ok(!sent.some((m) => m.batchDone && m.batchDone.seq === 1), 'no BatchDone for the failed batch');
});

test('producing to an undeclared stream names the declared ones', async () => {
  class Op extends Echo { processRecord(ctx) { ctx.produceRecord('nope', 'k', 'v'); } }
  const { code, sent } = await runInMemory(new Op(), [init(), batch(1, { records: [record('k', 'v')] })]);
  assert.equal(code, 1);
  assert.match(sent[sent.length - 1].error.message, /stream "nope" is not in metadata\(\)\.outputs \[out\]/);
});

test('the executor closing without Shutdown is fatal', async () => {
  const { code, sent } = await runInMemory(new Echo(), [init()]);
  assert.equal(code, 1);
  assert.match(sent[sent.length - 1].error.message, /closed the session without Shutdown/);
});

test('a wrong protocol version or missing capability is refused with the fix', async () => {
  let r = await runInMemory(new Echo(), [init({ protocolVersion: 2 })]);
  assert.equal(r.code, 1);
  assert.match(r.sent[0].error.message, /protocol version 2.*matching versions/);
  r = await runInMemory(new Echo(), [init({ requiredCapabilities: ['teleport.v1'] })]);
  assert.match(r.sent[0].error.message, /requires capabilities teleport\.v1.*upgrade the SDK/);
  r = await runInMemory(new Echo(), [SHUTDOWN]);
  assert.match(r.sent[0].error.message, /first message of a session must be Init/);
});

test('timers: setting a key again replaces it; logs precede their BatchDone', async () => {
  class Op extends Echo {
    init(ctx) {
      ctx.setTimer('a', 100);
      ctx.setTimer('a', 200);
      ctx.setTimer('b', 300, concord.TimeDomain.EVENT);
      ctx.log('hello', concord.LogLevel.WARNING);
    }
  }
  const { sent } = await runInMemory(new Op(), [init(), SHUTDOWN]);
  assert.deepEqual(sent[1], { log: { level: 3, message: 'hello' } });
  assert.deepEqual(sent[2].batchDone.timersSet.map((t) => [t.key, t.timeUnixMs, t.domain]),
    [['a', 200, 1], ['b', 300, 2]]);
});

test('event-time timers need the executor capability', async () => {
  class Op extends Echo { init(ctx) { ctx.setTimer('b', 300, concord.TimeDomain.EVENT); } }
  const { code, sent } = await runInMemory(new Op(), [init({ capabilities: [concord.limits.CAPABILITY_BATCH_PIPELINING] })]);
  assert.equal(code, 1);
  assert.match(sent[sent.length - 1].error.message, /event-time\.v1/);
});

test('async callbacks are awaited in order', async () => {
  const order = [];
  class Op extends Echo {
    async processRecord(ctx, r) {
      await new Promise((resolve) => setTimeout(resolve, r.value.toString() === 'slow' ? 20 : 0));
      order.push(r.value.toString());
      ctx.produceRecord('out', r.key, r.value);
    }
  }
  const { sent } = await runInMemory(new Op(), [
    init(), batch(1, { records: [record('k', 'slow'), record('k', 'fast')] }), SHUTDOWN,
  ]);
  assert.deepEqual(order, ['slow', 'fast']);
  assert.deepEqual(sent[2].batchDone.produced.map((p) => p.record.value.toString()), ['slow', 'fast']);
});

test('metadata is validated with errors that name the fix', () => {
  assert.throws(() => new concord.Metadata({ name: '' }), /non-empty string/);
  assert.throws(() => new concord.Metadata({ name: 'x', outputs: ['bad name'] }), /not a stream name/);
  assert.throws(() => new concord.Metadata({ name: 'x', inputs: [['in', 9]] }), /not a StreamGrouping/);
  assert.throws(() => new concord.Metadata({ name: 'x', states: ['concord.x'] }), /reserved/);
  assert.throws(() => new concord.Metadata({ name: 'x', states: ['a', 'a'] }), /more than once/);
  assert.throws(() => new concord.Metadata({ name: 'x', states: 'a' }), /give an array/);
  const md = new concord.Metadata({ name: 'x', inputs: ['a', { name: 'b', grouping: 3 }] });
  assert.deepEqual(md.inputs, [{ name: 'a', grouping: 1 }, { name: 'b', grouping: 3 }]);
});
