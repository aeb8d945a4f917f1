'use strict';
// One operator session: the protocol of operator.proto and docs/architecture.md ("Operator
// session rules"), independent of the transport so tests can drive it directly.
const limits = require('./limits');
const { Metadata } = require('./computation');
const { Context } = require('./context');

/** The executor broke the session protocol (wrong first message, bad Init, closed early). */
class ProtocolError extends Error {
  constructor(message) { super(message); this.name = 'ProtocolError'; }
}

function isThenable(value) {
  return value !== null && typeof value === 'object' && typeof value.then === 'function';
}

function describe(err) {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return `thrown value (${typeof err}): ${String(err)}`;
}

function errorMessage(err, where) {
  let detail = err instanceof Error && err.stack ? String(err.stack) : '';
  if (detail.length > limits.ERROR_DETAIL_CHARS_MAX) {
    detail = detail.slice(0, limits.ERROR_DETAIL_CHARS_MAX) + '\n…[cut]';
  }
  return { error: { message: `${describe(err)} (in ${where})`, detail, fatal: true } };
}

function checkInit(message) {
  if (message === null) {
    throw new ProtocolError('the executor closed the session before sending Init');
  }
  if (message.message !== 'init') {
    throw new ProtocolError(`the first message of a session must be Init, got ${message.message || 'an empty message'}`);
  }
  const init = message.init;
  if (init.protocolVersion !== limits.PROTOCOL_VERSION) {
    throw new ProtocolError(`executor speaks operator protocol version ${init.protocolVersion}, this ` +
      `SDK (${limits.SDK_NAME}) speaks ${limits.PROTOCOL_VERSION}; use an SDK and executor of ` +
      'matching versions');
  }
  const missing = init.requiredCapabilities.filter((c) => !limits.CAPABILITIES.includes(c));
  if (missing.length) {
    throw new ProtocolError(`the executor requires capabilities ${missing.join(', ')} that ` +
      `${limits.SDK_NAME} lacks (it supports ${limits.CAPABILITIES.join(', ')}); upgrade the SDK`);
  }
  return init;
}

/**
 * Runs one session. `inbox.next()` resolves to the executor's next message (proto-loader
 * object), or null when the executor ended its side, and rejects when the call broke;
 * `send(message)` sends one OperatorMessage object and may return a Promise to wait on
 * (backpressure). Resolves to the process exit code. Never rejects.
 */
async function runSession(computation, inbox, send, logError = (text) => process.stderr.write(text)) {
  let where = 'Init';
  try {
    const init = checkInit(await inbox.next());
    where = 'metadata()';
    const metadata = Metadata.from(await computation.metadata());
    if (metadata.states.length && !init.capabilities.includes(limits.CAPABILITY_KEYED_STATE)) {
      throw new ProtocolError(`the operator declares states ${metadata.states.join(', ')} but the ` +
        `executor lacks the capability ${limits.CAPABILITY_KEYED_STATE} (it supports ` +
        `${init.capabilities.join(', ') || 'nothing'}), so the state would not be kept; upgrade the executor`);
    }
    await send({
      metadata: {
        metadata: metadata.toProto(),
        protocolVersion: limits.PROTOCOL_VERSION,
        capabilities: [...limits.CAPABILITIES],
        sdk: limits.SDK_NAME,
      },
    });

    const ctx = new Context(init, metadata);
    where = 'init()';
    ctx._enterNow();
    ctx._inInit = true;
    if (typeof computation.init === 'function') {
      const r = computation.init(ctx);
      if (isThenable(r)) await r;
    }
    ctx._inInit = false;
    await answer(ctx, 0, send);

    for (;;) {
      where = 'session';
      const message = await inbox.next();
      if (message === null) {
        throw new ProtocolError('the executor closed the session without Shutdown');
      }
      if (message.message === 'processBatch') {
        const batch = message.processBatch;
        where = `batch ${batch.seq}`;
        ctx._beginBatch(batch);
        await processBatch(computation, ctx, batch);
        await answer(ctx, batch.seq, send);
      } else if (message.message === 'shutdown') {
        where = 'destroy()';
        if (typeof computation.destroy === 'function') {
          const r = computation.destroy();
          if (isThenable(r)) await r;
        }
        return limits.EXIT_OK;
      } else {
        throw new ProtocolError(`unexpected ${message.message || 'empty'} message after Init; the ` +
          'executor must send ProcessBatch or Shutdown');
      }
    }
  } catch (caught) {
    let err = caught;
    if (caught instanceof CallbackError) {
      where = caught.where;
      err = caught.cause;
    }
    logError(`concord: fatal error in ${where}: ${describe(err)}\n` +
      (err instanceof Error && err.stack ? err.stack + '\n' : ''));
    try {
      await send(errorMessage(err, where));
    } catch (sendErr) {
      logError(`concord: could not send the fatal error to the executor: ${describe(sendErr)}\n`);
    }
    return limits.EXIT_FATAL;
  }
}

/** Runs the callbacks of one batch; a callback's error is rethrown as a CallbackError that
 * says where it ran. */
async function processBatch(computation, ctx, batch) {
  const records = batch.records;
  let i = 0;
  try {
    for (; i < records.length; i++) {
      const record = records[i];
      ctx._current = record;
      const r = computation.processRecord(ctx, record);
      if (isThenable(r)) await r;
    }
  } catch (err) {
    throw withWhere(err, `processRecord (batch ${batch.seq}, record ${i})`);
  }
  const timers = batch.timersFired;
  for (const timer of timers) {
    ctx._enterNow(timer.stateKey);
    try {
      const r = computation.processTimer(ctx, timer.key, timer.timeUnixMs);
      if (isThenable(r)) await r;
    } catch (err) {
      throw withWhere(err, `processTimer("${timer.key}") (batch ${batch.seq})`);
    }
  }
  ctx._current = null;
}

// Carries the user's error unchanged (its type and message reach the executor) and where it ran.
class CallbackError extends Error {
  constructor(cause, where) {
    super(describe(cause));
    this.cause = cause;
    this.where = where;
  }
}

function withWhere(err, where) {
  return new CallbackError(err, where);
}

async function answer(ctx, seq, send) {
  if (ctx._error !== null) {
    // A ProduceError/StateError the callback caught: still a bug in the operator.
    throw ctx._error;
  }
  for (const message of ctx._take(seq)) {
    const r = send(message);
    if (isThenable(r)) await r;
  }
}

module.exports = { runSession, errorMessage, ProtocolError, CallbackError };
