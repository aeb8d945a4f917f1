'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const concord = require('..');
const { init, record, batch, SHUTDOWN, runInMemory } = require('./helpers');

class Counter extends concord.Computation {
  metadata() { return { name: 'op', inputs: [['in', 2]], outputs: ['out'], states: ['count'] }; }
  processRecord(ctx, r) {
    const count = ctx.state('count');
    if (r.value.toString() === 'clear') { count.clear(); return; }
    const c = Number((count.get() || '0').toString()) + 1;
    count.set(String(c));
    ctx.produceRecord('out', r.key, String(c));
    ctx.setTimer('flush', 1000);
  }
  processTimer(ctx, key) {
    ctx.produceRecord('out', ctx.stateKey, `${key}:${(ctx.state('count').get() || '').toString()}`);
  }
}

const values = (m) => m.batchDone.produced.map((p) => `${p.record.key}=${p.record.value}`);
const ks = (key, count) => ({ key: Buffer.from(key), values: [{ name: 'count', value: Buffer.from(String(count)) }] });

test('pipelined batches see the SDK\'s own unapplied mutations over the shipped state', async () => {
  const { code, sent } = await runInMemory(new Counter(), [
    init(),
    batch(1, { records: [record('k', 'x'), record('k', 'x')] }),
    // Shipped as of batch 0: batch 1's mutations are not applied yet, the SDK overlays them.
    batch(2, { records: [record('k', 'x'), record('j', 'x')], stateAsOfSeq: 0 }),
    // As of batch 1 (k=2 applied); batch 2's k=3, j=1 are overlaid.
    batch(3, { records: [record('k', 'x'), record('j', 'x')], states: [ks('k', 2)], stateAsOfSeq: 1 }),
    // As of batch 3: everything applied, the shipped values are the truth.
    batch(4, { records: [record('k', 'clear'), record('k', 'x'), record('j', 'x')], states: [ks('k', 4), ks('j', 2)], stateAsOfSeq: 3 }),
    SHUTDOWN,
  ]);
  assert.equal(code, 0);
  const done = sent.filter((m) => m.batchDone);
  assert.deepEqual(values(done[1]), ['k=1', 'k=2']);
  assert.deepEqual(values(done[2]), ['k=3', 'j=1']);
  assert.deepEqual(values(done[3]), ['k=4', 'j=2']);
  assert.deepEqual(values(done[4]), ['k=1', 'j=3']);
  // One mutation per (key, name): the last change; a clear followed by a set is a set.
  assert.deepEqual(done[1].batchDone.stateMutations.map((m) => [m.key.toString(), m.name, String(m.value)]),
    [['k', 'count', '2']]);
  assert.deepEqual(done[4].batchDone.stateMutations.map((m) => [m.key.toString(), String(m.value)]),
    [['k', '1'], ['j', '3']]);
  // Keyed timers carry the record key in scope.
  assert.deepEqual(done[2].batchDone.timersSet.map((t) => t.stateKey.toString()), ['k', 'j']);
});

test('a clear is sent as clear and reads back as null', async () => {
  class Op extends Counter {
    processRecord(ctx, r) {
      const count = ctx.state('count');
      count.clear();
      ctx.produceRecord('out', r.key, String(count.get()));
    }
  }
  const { sent } = await runInMemory(new Op(), [init(), batch(1, { records: [record('k', 'x')], states: [ks('k', 5)] }), SHUTDOWN]);
  const done = sent.filter((m) => m.batchDone)[1].batchDone;
  assert.deepEqual(values({ batchDone: done }), ['k=null']);
  assert.deepEqual(done.stateMutations, [{ key: Buffer.from('k'), name: 'count', clear: true }]);
});

test('process_timer sees the state of the timer\'s state key', async () => {
  const { sent } = await runInMemory(new Counter(), [
    init(),
    batch(1, { timersFired: [{ key: 'flush', timeUnixMs: 5, stateKey: Buffer.from([0xc3, 0x28]), domain: 1 }],
      states: [{ key: Buffer.from([0xc3, 0x28]), values: [{ name: 'count', value: Buffer.from('7') }] }] }),
    SHUTDOWN,
  ]);
  const produced = sent.filter((m) => m.batchDone)[1].batchDone.produced[0].record;
  assert.deepEqual([...produced.key], [0xc3, 0x28]);
  assert.equal(produced.value.toString(), 'flush:7');
});

test('state misuse is fatal with a message naming the fix', async () => {
  class InInit extends Counter { init(ctx) { ctx.state('count'); } }
  let r = await runInMemory(new InInit(), [init()]);
  assert.match(r.sent[r.sent.length - 1].error.message, /StateError: state "count" used in init\(\)/);
  class Undeclared extends Counter { processRecord(ctx) { ctx.state('other'); } }
  r = await runInMemory(new Undeclared(), [init(), batch(1, { records: [record('k', 'x')] })]);
  assert.match(r.sent[r.sent.length - 1].error.message, /"other" is not declared in metadata\(\)\.states \[count\]/);
  class TooLarge extends Counter { processRecord(ctx) { ctx.state('count').set(Buffer.alloc(1025)); } }
  r = await runInMemory(new TooLarge(), [init(), batch(1, { records: [record('k', 'x')] })]);
  assert.match(r.sent[r.sent.length - 1].error.message, /1025 bytes exceeds the limit of 1024 bytes/);
  r = await runInMemory(new Counter(), [init({ capabilities: ['batch-pipelining.v1', 'timers.v1'] })]);
  assert.match(r.sent[0].error.message, /lacks the capability keyed-state\.v1/);
  r = await runInMemory(new Counter(), [init(), batch(1, { stateAsOfSeq: 1 })]);
  assert.match(r.sent[r.sent.length - 1].error.message, /state_as_of_seq below seq/);
});
