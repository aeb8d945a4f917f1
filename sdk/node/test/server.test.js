'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const net = require('net');
const concord = require('..');
const { within, init, record, batch, SHUTDOWN, tempSocket, connect } = require('./helpers');

class Echo extends concord.Computation {
  metadata() { return { name: 'op', inputs: ['in'], outputs: ['out'] }; }
  processRecord(ctx, r) {
    if (r.value.toString() === 'fail') throw new Error('failing on purpose');
    ctx.produceRecord('out', r.key, r.value);
  }
}

function accepts(socket) {
  return new Promise((resolve) => {
    const probe = net.createConnection(socket);
    probe.once('connect', () => { probe.destroy(); resolve(true); });
    probe.once('error', () => resolve(false));
  });
}

async function waitForSocket(socket) {
  // Polls another party's state (the server listening on its socket), with a deadline. The
  // file appears at bind(), a moment before listen(): a session opened in between is refused,
  // so wait until a connection succeeds, not for the file.
  const deadline = Date.now() + 10000;
  while (!fs.existsSync(socket) || !(await accepts(socket))) {
    if (Date.now() > deadline) throw new Error(`${socket} did not accept connections within 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('a session over a unix socket: records in, records out, Shutdown exits 0', async () => {
  const { socket } = tempSocket();
  const running = concord.runComputation(new Echo(), socket);
  await waitForSocket(socket);
  const exec = connect(socket);
  exec.send(init());
  assert.equal((await exec.next()).message, 'metadata');
  assert.equal((await exec.next()).batchDone.seq, 0);
  exec.send(batch(1, { records: [record(Buffer.from([0xff, 0x00]), 'v')] }));
  exec.send(batch(2, { records: [record('k2', 'w')] }));
  const one = (await exec.next()).batchDone;
  assert.equal(one.seq, 1);
  assert.deepEqual([...one.produced[0].record.key], [0xff, 0x00]);
  assert.equal((await exec.next()).batchDone.seq, 2);
  exec.send(SHUTDOWN);
  exec.call.end();
  assert.equal(await within(exec.ended, 'the end of the stream'), 'end');
  assert.equal(await within(running, 'the exit code'), 0);
  assert.ok(!fs.existsSync(socket), 'the socket is removed');
  exec.client.close();
});

test('a fatal error reaches the executor before the operator exits 1; a second session is refused', async () => {
  const { socket } = tempSocket();
  const running = concord.runComputation(new Echo(), socket);
  await waitForSocket(socket);
  const exec = connect(socket);
  exec.send(init());
  await exec.next();
  await exec.next();
  const second = connect(socket);
  const refused = await within(second.ended, 'the refusal of a second session');
  assert.equal(refused.code, 9 /* FAILED_PRECONDITION */);
  assert.match(refused.details, /exactly one session/);
  exec.send(batch(1, { records: [record('k', 'fail')] }));
  const error = (await exec.next()).error;
  assert.equal(error.fatal, true);
  assert.match(error.message, /Error: failing on purpose/);
  exec.call.cancel();
  assert.equal(await within(running, 'the exit code'), 1);
  exec.client.close();
  second.client.close();
});

test('addresses: unix paths, host:port, and errors that name the fix', () => {
  assert.equal(concord.grpcAddress('/x/op.sock'), 'unix:///x/op.sock');
  assert.equal(concord.grpcAddress('unix:///x/op.sock'), 'unix:///x/op.sock');
  assert.equal(concord.grpcAddress('./op.sock'), 'unix:./op.sock');
  assert.equal(concord.grpcAddress('127.0.0.1:7001'), '127.0.0.1:7001');
  assert.throws(() => concord.grpcAddress('/' + 'x'.repeat(200)), /longer than 107 bytes/);
  assert.throws(() => concord.grpcAddress('nonsense'), /not an operator address/);
  assert.throws(() => concord.grpcAddress('host:99999'), /not an operator address/);
  assert.throws(() => concord.grpcAddress(''), /empty/);
});

test('a missing address is a usage error (exit 2)', async () => {
  const saved = process.env.CONCORD_OPERATOR_ADDRESS;
  delete process.env.CONCORD_OPERATOR_ADDRESS;
  const original = process.stderr.write;
  process.stderr.write = () => true;
  try {
    assert.equal(await concord.runComputation(new Echo()), 2);
    assert.equal(await concord.runComputation(new Echo(), 'nonsense'), 2);
  } finally {
    process.stderr.write = original;
    if (saved !== undefined) process.env.CONCORD_OPERATOR_ADDRESS = saved;
  }
});

test('an error thrown outside a callback (a timer) is reported as a fatal Error, exit 1', async () => {
  const { dir, socket } = tempSocket();
  const script = require('path').join(dir, 'op.js');
  fs.writeFileSync(script, `
    const concord = require(${JSON.stringify(require('path').join(__dirname, '..'))});
    class Op extends concord.Computation {
      metadata() { return { name: 'op', inputs: ['in'], outputs: ['out'] }; }
      processRecord() { setTimeout(() => { throw new TypeError('thrown from a timer'); }, 0); }
    }
    concord.serveComputation(new Op());`);
  const { spawn } = require('child_process');
  const child = spawn(process.execPath, [script], { env: { ...process.env, CONCORD_OPERATOR_ADDRESS: socket }, stdio: 'ignore' });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  await waitForSocket(socket);
  const exec = connect(socket);
  exec.send(init());
  await exec.next();
  await exec.next();
  exec.send(batch(1, { records: [record('k', 'v')] }));
  let message = await exec.next();
  if (message.batchDone) message = await exec.next();
  assert.equal(message.error.fatal, true);
  assert.match(message.error.message, /TypeError: thrown from a timer \(in code run outside a callback/);
  exec.call.cancel();
  assert.equal(await within(exited, 'the operator to exit'), 1);
  exec.client.close();
});
