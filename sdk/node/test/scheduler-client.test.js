'use strict';
// SchedulerClient against a real scheduler (artifacts/bin/Concord.Scheduler, built by
// scripts/setup.sh) on a free port, deploying the Node test operator.
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
/** How long the scheduler may take to start and write scheduler.json, in ms (a loaded machine). */
const SCHEDULER_START_TIMEOUT_MS = 60000;
/** How long a deploy, scale or replace may take to reach running instances, in ms. */
const RUNNING_TIMEOUT_MS = 90000;
/** How long the scheduler may take to exit after SIGTERM, in ms. */
const SCHEDULER_STOP_TIMEOUT_MS = 20000;
/** Poll interval while waiting for another process's state, in ms. */
const POLL_MS = 200;

async function pollUntil(what, timeoutMs, probe) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function spec(environment = {}) {
  return {
    name: 'node-op', executable: OPERATOR, instances: 1, mem: 256,
    inputs: [{ stream: 'in', grouping: 'group_by' }], outputs: ['out-a', 'out-b'],
    environment: { CONFORMANCE_CASE: 'echo', ...environment },
  };
}

const running = (status, n) => status.instances.filter((i) => i.state === 3 /* INSTANCE_STATE_RUNNING */).length >= n;

test('deploy, list, scale, graph, replace and kill against a real scheduler', { timeout: 5 * RUNNING_TIMEOUT_MS }, async (t) => {
  assert.ok(fs.existsSync(SCHEDULER_DLL), `${SCHEDULER_DLL} is missing; run scripts/setup.sh (it builds the solution)`);
  // A short home: operator sockets live under it and unix socket paths are capped at 107 bytes.
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cc-nsc-'));
  const scheduler = spawn('dotnet', [SCHEDULER_DLL, '--home', home, '--port', '0'], {
    stdio: ['ignore', fs.openSync(path.join(home, 'scheduler.out'), 'w'), fs.openSync(path.join(home, 'scheduler.err'), 'w')],
  });
  const exited = new Promise((resolve) => scheduler.on('exit', (code, signal) => resolve({ code, signal })));
  t.after(async () => {
    scheduler.kill('SIGTERM');
    await within(exited, 'the scheduler to exit', SCHEDULER_STOP_TIMEOUT_MS).catch(() => scheduler.kill('SIGKILL'));
    fs.rmSync(home, { recursive: true, force: true });
  });
  const info = await pollUntil('scheduler.json', SCHEDULER_START_TIMEOUT_MS, () => {
    try { return JSON.parse(fs.readFileSync(path.join(home, 'scheduler.json'), 'utf8')); } catch { return null; }
  });
  const token = fs.readFileSync(path.join(home, 'token'), 'utf8').trim();
  const client = new concord.SchedulerClient(info.address, { token });
  t.after(() => client.close());

  // Without the token every call is refused.
  const anonymous = new concord.SchedulerClient(info.address, { token: 'not-the-token-at-all-0000000000' });
  await assert.rejects(anonymous.list(), (err) => err instanceof concord.SchedulerError && err.code === 16 /* UNAUTHENTICATED */);
  anonymous.close();

  const deployed = await client.deploy(spec());
  assert.equal(deployed.spec.name, 'node-op');
  assert.equal(deployed.spec.expectedInputs[0].grouping, 2);
  await assert.rejects(client.deploy(spec()), (err) => err instanceof concord.SchedulerError && /node-op/.test(err.message));
  await pollUntil('node-op running', RUNNING_TIMEOUT_MS, async () => running((await client.list())[0], 1));

  const scaled = await client.scale('node-op', 2);
  assert.equal(scaled.spec.instances, 2);
  await pollUntil('2 instances running', RUNNING_TIMEOUT_MS, async () => running((await client.list())[0], 2));

  const graph = await client.graph();
  assert.deepEqual(graph.operators.map((o) => o.spec.name), ['node-op']);

  const replaced = await client.replace(spec({ VERSION: '2' }));
  assert.equal(replaced.operator.spec.environment.VERSION, '2');
  assert.equal(replaced.operator.spec.instances, 2, 'replace keeps the instance count');
  assert.equal(replaced.restarted, false);
  assert.ok(replaced.totalMs >= replaced.switchMs);

  await client.kill('node-op');
  assert.deepEqual(await client.list(), []);
  await assert.rejects(client.kill('node-op'), (err) => err.code === 5 /* NOT_FOUND */);
});

test('deploy objects are checked as the CLI checks deploy files', () => {
  assert.throws(() => concord.specFromDeployObject({ name: 'x', delivery: 'exactly_onc' }), /did you mean "exactly_once"/);
  assert.throws(() => concord.specFromDeployObject({ name: 'x', colour: 1 }), /unknown keys colour/);
  assert.throws(() => concord.specFromDeployObject({ name: 'x', inputs: [{ stream: 'a', grouping: 'hash' }] }), /use one of shuffle, group_by, broadcast/);
  assert.throws(() => concord.specFromDeployObject({ name: 'x', unavailable_reader_drop_after_ms: 0 }), /out of range/);
  assert.throws(() => concord.specFromDeployObject({ name: 'x', image: 1 }), /image: expected a string, got a number/);
  assert.throws(() => concord.specFromDeployObject({ name: 'x', image: '' }), /image: is empty; give an image reference/);
  assert.equal(concord.specFromDeployObject({ name: 'x', image: 'registry.example.com/t/x:1' }).image, 'registry.example.com/t/x:1');
  const s = concord.specFromDeployObject({ name: 'x', mem: 64, delivery: 'at_least_once', inputs: ['a'] });
  assert.equal(s.memMb, 64);
  assert.equal(s.delivery, 2);
  assert.deepEqual(s.expectedInputs, [{ name: 'a', grouping: 1 }]);
});

test('an https address needs the client certificate, key and CA', () => {
  const saved = { ...process.env };
  for (const v of ['CONCORD_TLS_CERT', 'CONCORD_TLS_KEY', 'CONCORD_TLS_CA']) delete process.env[v];
  try {
    assert.throws(() => new concord.SchedulerClient('https://127.0.0.1:7400'), /mutual TLS.*CONCORD_TLS_CERT/);
    assert.throws(() => new concord.SchedulerClient('http://127.0.0.1:7400', { tls: { cert: 'a', key: 'b', ca: 'c' } }), /not https/);
    assert.throws(() => new concord.SchedulerClient('https://127.0.0.1:7400', { tls: { cert: '/nope', key: '/nope', ca: '/nope' } }), /cannot read the TLS ca \/nope/);
  } finally {
    Object.assign(process.env, saved);
  }
});
