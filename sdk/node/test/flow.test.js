'use strict';
// The session's read-ahead and write caps, against a stand-in for the grpc-js call.
const test = require('node:test');
const assert = require('node:assert/strict');
const { EventEmitter } = require('events');
const limits = require('../lib/limits');
const { Inbox, sender } = require('../lib/server');
const { within } = require('./helpers');

function fakeCall() {
  const call = new EventEmitter();
  call.written = [];
  call.writableLength = 0;
  call.paused = false;
  call.write = (m) => { call.written.push(m); call.writableLength++; return true; };
  call.pause = () => { call.paused = true; };
  call.resume = () => { call.paused = false; };
  return call;
}

test('writes wait for drain past SESSION_WRITES_IN_FLIGHT_MAX queued, and fail when the call breaks', async () => {
  const call = fakeCall();
  const send = sender(call, new Inbox(call));
  for (let i = 0; i < limits.SESSION_WRITES_IN_FLIGHT_MAX - 1; i++) assert.equal(send({ i }), undefined);
  const waiting = send({ last: true });
  assert.ok(waiting instanceof Promise, 'the write at the cap waits');
  let settled = false;
  waiting.then(() => { settled = true; });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(settled, false, 'no drain yet');
  call.writableLength = 0;
  call.emit('drain');
  await within(waiting, 'the write to resume after drain');

  const broken = fakeCall();
  const send2 = sender(broken, new Inbox(broken));
  broken.writableLength = limits.SESSION_WRITES_IN_FLIGHT_MAX;
  const stuck = send2({});
  broken.emit('cancelled');
  await assert.rejects(within(stuck, 'the write to fail'), /closed the session while the operator was sending/);
});

test('reading pauses at INBOUND_MESSAGES_MAX unread messages and resumes below half', async () => {
  const call = fakeCall();
  const inbox = new Inbox(call);
  for (let i = 0; i < limits.INBOUND_MESSAGES_MAX; i++) call.emit('data', { i });
  assert.equal(call.paused, true);
  for (let i = 0; i <= limits.INBOUND_MESSAGES_MAX / 2; i++) assert.deepEqual(await inbox.next(), { i });
  assert.equal(call.paused, false);
  call.emit('end');
  let n = 0;
  while ((await inbox.next()) !== null) n++;
  assert.equal(n, limits.INBOUND_MESSAGES_MAX / 2 - 1);
  await within(inbox.closed, 'closed after the end of the stream');
});

test('a cancelled call fails the waiting read with a message that says so', async () => {
  const call = fakeCall();
  const inbox = new Inbox(call);
  const reading = inbox.next();
  call.emit('cancelled');
  await assert.rejects(within(reading, 'the read to fail'), /cancelled the session or disconnected before sending Shutdown/);
});
