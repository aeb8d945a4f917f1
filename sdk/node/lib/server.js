'use strict';
// serveComputation(): serves the operator session on CONCORD_OPERATOR_ADDRESS with grpc-js.
const fs = require('fs');
const grpc = require('@grpc/grpc-js');
const limits = require('./limits');
const proto = require('./proto');
const wire = require('./wire');
const { runSession, errorMessage, ProtocolError } = require('./session');

/**
 * The grpc-js bind target for an operator address: a unix socket path ("/x/op.sock",
 * "./op.sock" or "unix:///x/op.sock") or "host:port". Throws an Error naming the fix.
 */
function grpcAddress(text) {
  if (typeof text !== 'string' || text.trim() === '') {
    throw new Error('the operator address is empty; expected a unix socket path (/path/op.sock) ' +
      'or host:port (127.0.0.1:7001)');
  }
  const path = text.startsWith('unix://') ? text.slice('unix://'.length) : text;
  if (path.startsWith('/') || path.startsWith('./')) {
    if (Buffer.byteLength(path, 'utf8') > limits.UNIX_SOCKET_PATH_BYTES_MAX) {
      throw new Error(`unix socket path '${path}' is longer than ${limits.UNIX_SOCKET_PATH_BYTES_MAX} ` +
        'bytes; use a shorter working directory or a host:port address');
    }
    return path.startsWith('./') ? 'unix:' + path : 'unix://' + path;
  }
  const colon = path.lastIndexOf(':');
  const port = colon > 0 ? path.slice(colon + 1) : '';
  if (!/^[0-9]{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    throw new Error(`'${text}' is not an operator address; expected a unix socket path ` +
      '(/path/op.sock) or host:port (127.0.0.1:7001)');
  }
  return path;
}

function unixPath(target) {
  if (target.startsWith('unix://')) return target.slice('unix://'.length);
  if (target.startsWith('unix:')) return target.slice('unix:'.length);
  return null;
}

function delay(ms) {
  let timer;
  const promise = new Promise((resolve) => { timer = setTimeout(resolve, ms); });
  return { promise, cancel: () => clearTimeout(timer) };
}

/** The executor's messages on `call`, read ahead at most INBOUND_MESSAGES_MAX. */
class Inbox {
  constructor(call) {
    this._call = call;
    this._queue = [];
    this._ended = false;
    this._failure = null;
    this._wake = null;
    this._paused = false;
    /** Resolves once the executor closed its side (ended its stream or dropped the call). */
    this.closed = new Promise((resolve) => { this._closedResolve = resolve; });
    /** Resolves once the call is cancelled, failed or closed: nothing more can be sent. */
    this.broken = new Promise((resolve) => { this._brokenResolve = resolve; });
    call.on('data', (m) => {
      this._queue.push(m);
      if (this._queue.length >= limits.INBOUND_MESSAGES_MAX && !this._paused) {
        this._paused = true;
        call.pause();
      }
      this._notify();
    });
    call.on('end', () => { this._ended = true; this._closedResolve(); this._notify(); });
    const broken = () => {
      if (this._failure === null) {
        this._failure = new ProtocolError('the executor cancelled the session or disconnected ' +
          'before sending Shutdown');
      }
      this._closedResolve();
      this._brokenResolve();
      this._notify();
    };
    call.on('cancelled', broken);
    call.on('error', broken);
    call.on('close', () => { this._closedResolve(); this._brokenResolve(); this._notify(); });
  }

  _notify() {
    const wake = this._wake;
    this._wake = null;
    if (wake) wake();
  }

  async next() {
    for (;;) {
      if (this._queue.length) {
        const m = this._queue.shift();
        if (this._paused && this._queue.length < limits.INBOUND_MESSAGES_MAX / 2) {
          this._paused = false;
          this._call.resume();
        }
        return m;
      }
      if (this._failure) throw this._failure;
      if (this._ended) return null;
      await new Promise((resolve) => { this._wake = resolve; });
    }
  }

  /** After the session: read and drop the rest, so the end of the executor's stream is seen. */
  drain() {
    this._queue.length = 0;
    if (this._paused) {
      this._paused = false;
      this._call.resume();
    }
  }
}

/** Sends OperatorMessage objects on `call`; waits while SESSION_WRITES_IN_FLIGHT_MAX are queued. */
function sender(call, inbox) {
  return (message) => {
    call.write(message);
    if (call.writableLength < limits.SESSION_WRITES_IN_FLIGHT_MAX) return undefined;
    return new Promise((resolve, reject) => {
      const done = () => { call.off('drain', done); resolve(); };
      call.on('drain', done);
      inbox.broken.then(() => {
        call.off('drain', done);
        reject(new ProtocolError('the executor closed the session while the operator was sending'));
      });
    });
  };
}

/**
 * Serves `computation` on `address` until the session ends; resolves to the exit code (0 after
 * Shutdown, 1 after a fatal error, 2 when the address is missing or malformed). For tests and
 * programs that embed an operator; serveComputation() exits the process with it.
 */
async function runComputation(computation, address = process.env[limits.OPERATOR_ADDRESS_VARIABLE]) {
  const V = limits.OPERATOR_ADDRESS_VARIABLE;
  if (!address) {
    process.stderr.write(`concord: ${V} is not set. Operators are started by the Concord executor, ` +
      `which sets it; to run one by hand set it to a socket path, e.g. ${V}=/tmp/op.sock\n`);
    return limits.EXIT_USAGE;
  }
  let target;
  try {
    target = grpcAddress(address);
  } catch (err) {
    process.stderr.write(`concord: ${V}='${address}': ${err.message}\n`);
    return limits.EXIT_USAGE;
  }
  const socketPath = unixPath(target);
  if (socketPath !== null) fs.rmSync(socketPath, { force: true }); // a stale socket makes bind fail

  // ProcessBatch and BatchDone by hand (wire.js), every other message through proto-loader.
  const method = wire.fastSession(
    proto.load('concord/operator/v1/operator.proto')['concord.operator.v1.Operator'].Session);
  const server = new grpc.Server({
    'grpc.max_receive_message_length': limits.GRPC_MESSAGE_BYTES_MAX,
    'grpc.max_send_message_length': limits.GRPC_MESSAGE_BYTES_MAX,
  });
  let opened = false;
  let sessionDone;
  const finished = new Promise((resolve) => { sessionDone = resolve; });
  let openedResolve;
  const openedPromise = new Promise((resolve) => { openedResolve = resolve; });

  server.addService({ Session: method }, {
    Session: (call) => {
      if (opened) {
        call.emit('error', {
          code: grpc.status.FAILED_PRECONDITION,
          details: 'an operator serves exactly one session and it is already open',
        });
        return;
      }
      opened = true;
      openedResolve();
      const inbox = new Inbox(call);
      let ended = false;
      const finish = async (code) => {
        if (ended) return;
        ended = true;
        process.off('uncaughtException', onAsyncError);
        process.off('unhandledRejection', onAsyncError);
        inbox.drain();
        if (!call.writableEnded && !call.destroyed) call.end();
        // Keep the connection until the executor closes its side (it has then read our last
        // message), bounded: exiting earlier can make its HTTP/2 client drop the final Error.
        const linger = delay(limits.SESSION_LINGER_MS);
        await Promise.race([inbox.closed, linger.promise]);
        linger.cancel();
        sessionDone(code);
      };
      // An error thrown where the session cannot catch it (a timer or promise the operator
      // started and did not return) is as fatal as one in a callback: the executor gets the
      // Error instead of a bare exit code.
      const onAsyncError = (err) => {
        if (ended) return;
        const where = 'code run outside a callback (a timer or an unawaited promise)';
        process.stderr.write(`concord: fatal error in ${where}: ${err && err.stack ? err.stack : err}\n`);
        if (!call.writableEnded && !call.destroyed) call.write(errorMessage(err, where));
        finish(limits.EXIT_FATAL);
      };
      process.on('uncaughtException', onAsyncError);
      process.on('unhandledRejection', onAsyncError);
      runSession(computation, inbox, sender(call, inbox)).then(finish);
    },
  });

  try {
    await new Promise((resolve, reject) => {
      server.bindAsync(target, grpc.ServerCredentials.createInsecure(),
        (err) => (err ? reject(err) : resolve()));
    });
  } catch (err) {
    process.stderr.write(`concord: cannot listen on ${address} (${err.message}); check the path's ` +
      'directory exists and the port is free\n');
    return limits.EXIT_FATAL;
  }

  try {
    const openTimeout = delay(limits.SESSION_OPEN_TIMEOUT_MS);
    const gotSession = await Promise.race([openedPromise.then(() => true), openTimeout.promise.then(() => false)]);
    openTimeout.cancel();
    if (!gotSession) {
      process.stderr.write(`concord: no session opened on ${address} within ` +
        `${limits.SESSION_OPEN_TIMEOUT_MS / 1000} s; the executor is gone, exiting\n`);
      return limits.EXIT_FATAL;
    }
    return await finished;
  } finally {
    await stopBounded(server);
    if (socketPath !== null) fs.rmSync(socketPath, { force: true });
  }
}

/** Lets the last message and the end of the stream reach the executor, at most SHUTDOWN_GRACE_MS. */
async function stopBounded(server) {
  const grace = delay(limits.SHUTDOWN_GRACE_MS);
  const stopped = new Promise((resolve) => server.tryShutdown(() => resolve(true)));
  const clean = await Promise.race([stopped, grace.promise.then(() => false)]);
  grace.cancel();
  if (!clean) server.forceShutdown();
}

/**
 * Serves `computation` until the executor shuts the session down, then exits the process: 0
 * after Shutdown, 1 after a fatal error, 2 when the address is missing or malformed. `address`
 * defaults to the CONCORD_OPERATOR_ADDRESS environment variable.
 */
function serveComputation(computation, address) {
  runComputation(computation, address).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`concord: ${err && err.stack ? err.stack : err}\n`);
      process.exit(limits.EXIT_FATAL);
    });
}

// Inbox and sender are exported for the tests only (not part of index.js).
module.exports = { serveComputation, runComputation, grpcAddress, Inbox, sender };
