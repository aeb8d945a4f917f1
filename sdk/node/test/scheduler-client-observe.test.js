'use strict';
// SchedulerClient's observation calls (logs, metrics, traces, tail, checkpoints, savepoints)
// against a REAL scheduler (artifacts/bin/Concord.Scheduler, built by scripts/setup.sh) running a
// built-in generator with a delivery guarantee, sampling every record for tracing, that feeds the
// Node test operator.
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const concord = require('..');
const { within } = require('./helpers');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const SCHEDULER_DLL = path.join(ROOT, 'artifacts', 'bin', 'Concord.Scheduler', 'release', 'Concord.Scheduler.dll');
const OPERATOR = path.join(ROOT, 'tests', 'operators', 'node', 'run-test-operator.sh');
const WORDS = path.join(ROOT, 'examples', 'wordcount', 'words.txt');
/** How long the scheduler may take to start and write scheduler.json, in ms (a loaded machine). */
const SCHEDULER_START_TIMEOUT_MS = 60000;
/** Bound of each wait for the cluster's state (instances running, records counted, a trace, a
 * checkpoint), in ms, on a loaded machine. */
const STATE_TIMEOUT_MS = 90000;
/** How long the scheduler may take to exit after SIGTERM, in ms. */
const SCHEDULER_STOP_TIMEOUT_MS = 20000;
/** Poll interval while waiting for another process's state, in ms. */
const POLL_MS = 200;
/** Generator rate, words per second: enough to see records, traces and checkpoints. */
const GENERATOR_RATE = 100;
const RUNNING = 3; // INSTANCE_STATE_RUNNING
const CHECKPOINT_STATUS_COMPLETED = 2;

async function pollUntil(what, probe) {
  const deadline = Date.now() + STATE_TIMEOUT_MS;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${STATE_TIMEOUT_MS} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

test('logs, metrics, traces, tail, checkpoints and a savepoint from a real scheduler', { timeout: 6 * STATE_TIMEOUT_MS }, async (t) => {
  assert.ok(fs.existsSync(SCHEDULER_DLL), `${SCHEDULER_DLL} is missing; run scripts/setup.sh (it builds the solution)`);
  // A short home: operator sockets live under it and unix socket paths are capped at 107 bytes.
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cc-nso-'));
  // --data-root: the generator reads its dictionary from the repository.
  const scheduler = spawn('dotnet', [SCHEDULER_DLL, '--home', home, '--port', '0', '--data-root', ROOT], {
    stdio: ['ignore', fs.openSync(path.join(home, 'scheduler.out'), 'w'), fs.openSync(path.join(home, 'scheduler.err'), 'w')],
  });
  const exited = new Promise((resolve) => scheduler.on('exit', (code, signal) => resolve({ code, signal })));
  t.after(async () => {
    scheduler.kill('SIGTERM');
    await within(exited, 'the scheduler to exit', SCHEDULER_STOP_TIMEOUT_MS).catch(() => scheduler.kill('SIGKILL'));
    fs.rmSync(home, { recursive: true, force: true });
  });
  const info = await pollUntil('scheduler.json', () => {
    try { return JSON.parse(fs.readFileSync(path.join(home, 'scheduler.json'), 'utf8')); } catch { return null; }
  });
  const token = fs.readFileSync(path.join(home, 'token'), 'utf8').trim();
  const client = new concord.SchedulerClient(info.address, { token });
  t.after(() => client.close());

  await client.deploy({
    name: 'words', instances: 1, outputs: ['in'], delivery: 'at_least_once',
    environment: { CONCORD_TRACE_SAMPLE_EVERY: '1' },
    builtin: { kind: 'generator', options: { stream: 'in', rate: GENERATOR_RATE, dictionary: WORDS } },
  });
  await client.deploy({
    name: 'node-op', executable: OPERATOR, instances: 1, mem: 256,
    inputs: [{ stream: 'in', grouping: 'group_by' }], outputs: ['out-a', 'out-b'],
    environment: { CONFORMANCE_CASE: 'echo' },
  });
  await pollUntil('both operators running', async () => {
    const listed = await client.list();
    return listed.length === 2 && listed.every((o) => o.instances.length > 0 && o.instances.every((i) => i.state === RUNNING));
  });

  // Logs: history, then following until the loop is left.
  const lines = await pollUntil('a line in node-op\'s log', async () => {
    const got = [];
    for await (const line of client.logs('node-op', { instances: [0] })) got.push(line);
    return got.length > 0 ? got : null;
  });
  assert.deepEqual([lines[0].operatorName, lines[0].instanceIndex], ['node-op', 0]);
  let followed = null;
  for await (const line of client.logs('words', { tailLines: 1, follow: true })) {
    followed = line;
    break;
  }
  assert.equal(followed.operatorName, 'words');
  await assert.rejects(async () => { for await (const _ of client.logs('ghost')) { /* none */ } },
    (err) => err instanceof concord.SchedulerError && err.code === 5 && /ghost/.test(err.message));
  assert.throws(() => client.logs('words', { tailLines: -1 }), /out of range; use 0\.\.10000/);

  // Metrics: records counted by the operator's executor.
  const metrics = await pollUntil('records counted in node-op\'s metrics', async () => {
    const m = await client.instanceMetrics('node-op');
    return m.length > 0 && m[0].recordsInTotal > 0 ? m : null;
  });
  assert.deepEqual(metrics.map((m) => [m.operatorName, m.error]), [['node-op', '']]);

  // Traces: a sampled record's spans, hop by hop.
  const traces = await pollUntil('a trace through node-op', async () =>
    (await client.listTraces(50)).filter((tr) => tr.operators.includes('node-op')).at(0));
  const spans = await client.getTrace(traces.traceId);
  assert.deepEqual([...new Set(spans.map((s) => s.traceId))], [traces.traceId]);
  await assert.rejects(client.getTrace('0'.repeat(32)), (err) => err.code === 5);
  await assert.rejects(client.getTrace('not-a-trace'), /32 hex digits/);
  await assert.rejects(client.listTraces(0), /out of range/);

  // Tail: the generator's records on its stream; an unknown stream names the ones there are.
  const records = await pollUntil('records on stream in', async () => {
    const r = await client.tail('in', 5);
    return r.length > 0 ? r : null;
  });
  assert.ok(records.length <= 5);
  assert.deepEqual([records[0].operatorName, records[0].stream], ['words', 'in']);
  await assert.rejects(client.tail('no-such-stream'), (err) => err.code === 5 && /in/.test(err.message));

  // Checkpoints, then a savepoint that completes and is listed.
  await pollUntil('a completed checkpoint', async () => (await client.checkpoints()).latestCompletedId > 0);
  const savepoint = await client.triggerSavepoint();
  assert.equal(savepoint.savepoint, true);
  assert.equal(savepoint.status, CHECKPOINT_STATUS_COMPLETED);
  const listed = await client.checkpoints();
  assert.ok(listed.checkpoints.some((c) => c.savepoint && c.checkpointId === savepoint.checkpointId),
    `savepoint ${savepoint.checkpointId} is listed`);
});
