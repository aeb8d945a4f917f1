'use strict';
// SchedulerClient: deploy, replace, kill, scale, list and graph a running Concord scheduler.
const fs = require('fs');
const os = require('os');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const limits = require('./limits');
const proto = require('./proto');

/** docs/security.md: the operator token every API call carries, and where clients find it. */
const TOKEN_VARIABLE = 'CONCORD_TOKEN';
const TOKEN_FILE_NAME = 'token';
/** The client certificate, key and CA of a TLS scheduler (an https:// address), as the CLI. */
const TLS_VARIABLES = Object.freeze({ cert: 'CONCORD_TLS_CERT', key: 'CONCORD_TLS_KEY', ca: 'CONCORD_TLS_CA' });

const GROUPINGS = Object.freeze({ shuffle: 1, group_by: 2, broadcast: 3 });
// The deploy file's "delivery" names (OperatorSpecValidator.DeliveryNames), weakest first.
const DELIVERIES = Object.freeze({ at_most_once: 1, at_least_once: 2, exactly_once: 3 });
// Deploy-file keys (as `concord deploy FILE.json` reads them).
const DEPLOY_KEYS = Object.freeze(['allow_cycles', 'args', 'builtin', 'cpus', 'delivery', 'environment',
  'executable', 'files', 'image', 'inputs', 'instances', 'mem', 'name', 'outputs', 'unavailable_reader_drop_after_ms']);

/** A scheduler call failed; `code` is the gRPC status code, `details` the scheduler's reason. */
class SchedulerError extends Error {
  constructor(method, code, details) {
    const name = Object.keys(grpc.status).find((k) => grpc.status[k] === code) || 'UNKNOWN';
    super(`${method} failed: ${name}: ${details}`);
    this.name = 'SchedulerError';
    this.code = code;
    this.details = details;
  }
}

/** The token a client uses when given none: $CONCORD_TOKEN, else the token file of the
 * scheduler home ($CONCORD_HOME, else ~/.concord); null when neither exists. */
function defaultToken() {
  const fromEnv = (process.env[TOKEN_VARIABLE] || '').trim();
  if (fromEnv) return fromEnv;
  const home = process.env.CONCORD_HOME || path.join(os.homedir(), '.concord');
  try {
    return fs.readFileSync(path.join(home, TOKEN_FILE_NAME), 'utf8').trim() || null;
  } catch {
    return null;
  }
}

/** The known name closest to `unknown` if close enough to be a typo (a third of the name, at
 * least 2 edits), else null: the CLI's DeployFile.ClosestName, so hints read the same. */
function closestName(unknown, known) {
  const u = unknown.toLowerCase();
  let best = null;
  let bestDistance = Infinity;
  for (const candidate of known) {
    let previous = Array.from({ length: candidate.length + 1 }, (_, i) => i);
    for (let i = 1; i <= u.length; i++) {
      const current = [i];
      for (let j = 1; j <= candidate.length; j++) {
        current.push(Math.min(current[j - 1] + 1, previous[j] + 1, previous[j - 1] + (u[i - 1] !== candidate[j - 1] ? 1 : 0)));
      }
      previous = current;
    }
    if (previous[candidate.length] < bestDistance) {
      best = candidate;
      bestDistance = previous[candidate.length];
    }
  }
  return bestDistance <= Math.max(2, Math.floor(u.length / 3)) ? best : null;
}

function describe(value) {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return 'a boolean';
  if (typeof value === 'number') return 'a number';
  if (typeof value === 'string') return 'a string';
  if (Array.isArray(value)) return 'an array';
  return 'an object';
}

function delivery(value) {
  if (typeof value !== 'string') {
    const quote = typeof value === 'number' ? `; quote it: "${value}"` : '';
    throw new TypeError(`deploy spec: delivery: expected a string, got ${describe(value)}${quote}`);
  }
  if (!(value in DELIVERIES)) {
    const close = closestName(value, Object.keys(DELIVERIES));
    throw new TypeError(`deploy spec: delivery: "${value}" is not a delivery guarantee; ` +
      `${close ? `did you mean "${close}"? ` : ''}use one of: ${Object.keys(DELIVERIES).join(', ')} ` +
      '(default at_most_once; see docs/guarantees.md)');
  }
  return DELIVERIES[value];
}

function dropAfterMs(value) {
  const field = 'unavailable_reader_drop_after_ms';
  const top = limits.UNAVAILABLE_READER_DROP_AFTER_MS_MAX;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    const got = typeof value === 'number' ? `${value}, which is not a whole number` : describe(value);
    throw new TypeError(`deploy spec: ${field}: expected a whole number such as 3000, got ${got}`);
  }
  if (value < 1 || value > top) {
    throw new RangeError(`deploy spec: ${field}: ${value} is out of range; use 1..${top}: how long, in ` +
      'ms, records for a reader instance that is down wait before they are dropped (at_most_once)');
  }
  return value;
}

// A deploy object's "image" with the CLI's wording on error; whether it is an image reference
// is checked by the scheduler (OperatorSpecValidator.ImageProblem), as for the CLI.
function image(value) {
  if (typeof value !== 'string') {
    throw new TypeError(`deploy spec: image: expected a string, got ${describe(value)}`);
  }
  if (value === '') {
    throw new TypeError('deploy spec: image: is empty; give an image reference such as ' +
      '"registry.example.com/team/counter:1.0", or remove "image"');
  }
  return value;
}

/**
 * An OperatorSpec (proto-loader object) from a deploy-file shaped object ({name, executable,
 * args, instances, cpus, mem (MB), inputs: [{stream, grouping}], outputs, environment, files,
 * builtin: {kind, options}, allow_cycles, delivery, unavailable_reader_drop_after_ms, image}; see
 * docs/deploy-file.md), checked as the CLI checks them. Paths are sent as given: make them
 * absolute (the CLI resolves relative ones against the deploy file's directory).
 */
function specFromDeployObject(spec) {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
    throw new TypeError(`deploy spec: expected an object, got ${describe(spec)}`);
  }
  const unknown = Object.keys(spec).filter((k) => !DEPLOY_KEYS.includes(k)).sort();
  if (unknown.length) {
    throw new TypeError(`deploy spec: unknown keys ${unknown.join(', ')}; allowed keys are ${DEPLOY_KEYS.join(', ')}`);
  }
  const out = {
    name: spec.name || '',
    executable: spec.executable || '',
    args: [...(spec.args || [])].map(String),
    instances: spec.instances === undefined ? 1 : spec.instances,
    cpus: spec.cpus || 0,
    memMb: spec.mem || 0,
    environment: Object.fromEntries(Object.entries(spec.environment || {}).map(([k, v]) => [k, String(v)])),
    files: [...(spec.files || [])],
    expectedOutputs: [...(spec.outputs || [])],
    expectedInputs: [],
  };
  if (spec.allow_cycles !== undefined) {
    if (typeof spec.allow_cycles !== 'boolean') {
      throw new TypeError(`deploy spec: allow_cycles is ${JSON.stringify(spec.allow_cycles)}; use true or false`);
    }
    out.allowCycles = spec.allow_cycles;
  }
  if (spec.delivery !== undefined) out.delivery = delivery(spec.delivery);
  if (spec.unavailable_reader_drop_after_ms !== undefined) {
    out.unavailableReaderDropAfterMs = dropAfterMs(spec.unavailable_reader_drop_after_ms);
  }
  if (spec.image !== undefined) out.image = image(spec.image);
  for (let item of spec.inputs || []) {
    if (typeof item === 'string') item = { stream: item };
    const grouping = item.grouping === undefined ? 'shuffle' : item.grouping;
    if (!(grouping in GROUPINGS)) {
      throw new TypeError(`deploy spec: input ${JSON.stringify(item.stream)} has grouping ` +
        `${JSON.stringify(grouping)}; use one of ${Object.keys(GROUPINGS).join(', ')}`);
    }
    out.expectedInputs.push({ name: item.stream || '', grouping: GROUPINGS[grouping] });
  }
  if (spec.builtin !== undefined && spec.builtin !== null) {
    out.builtin = {
      kind: spec.builtin.kind || '',
      options: Object.fromEntries(Object.entries(spec.builtin.options || {}).map(([k, v]) => [k, String(v)])),
    };
  }
  return out;
}

function credentialsFor(address, tls) {
  if (!address.startsWith('https://')) {
    if (tls) {
      throw new Error(`TLS files were given but the scheduler address ${address} is not https://; ` +
        'use the https:// address the TLS scheduler publishes in scheduler.json');
    }
    return grpc.credentials.createInsecure();
  }
  const files = {};
  for (const [part, variable] of Object.entries(TLS_VARIABLES)) {
    files[part] = (tls && tls[part]) || process.env[variable];
    if (!files[part]) {
      throw new Error(`the scheduler address ${address} is https:// (mutual TLS) but no client ` +
        `${part} was given; pass tls: {cert, key, ca} or set ${Object.values(TLS_VARIABLES).join(', ')} ` +
        '(docs/security.md, "TLS")');
    }
  }
  const read = (part) => {
    try {
      return fs.readFileSync(files[part]);
    } catch (err) {
      throw new Error(`cannot read the TLS ${part} ${files[part]} (${err.code || err.message}); check the path`);
    }
  };
  return grpc.credentials.createSsl(read('ca'), read('key'), read('cert'));
}

/**
 * Client of the scheduler's gRPC API. `address` is "host:port", "http://host:port" or, for a
 * TLS scheduler, "https://host:port" (what scheduler.json and CONCORD_SCHEDULER_ADDRESS hold).
 * Options: `token` (the operator token, sent as `authorization: Bearer`; default defaultToken()),
 * `timeoutMs` (each call's deadline), `tls` ({cert, key, ca} file paths; default the
 * CONCORD_TLS_* variables). Every method returns a Promise and rejects with SchedulerError.
 */
class SchedulerClient {
  constructor(address, options = {}) {
    if (typeof address !== 'string' || address === '') {
      throw new TypeError('SchedulerClient: give the scheduler address, e.g. http://127.0.0.1:7400 ' +
        '(scheduler.json in the scheduler home has it)');
    }
    const credentials = credentialsFor(address, options.tls);
    const target = address.replace(/^(https?:\/\/|dns:\/\/\/)/, '');
    const def = proto.load('concord/scheduler/v1/scheduler.proto');
    const Service = grpc.makeGenericClientConstructor(def['concord.scheduler.v1.Scheduler'], 'Scheduler');
    this._client = new Service(target, credentials, {
      'grpc.max_receive_message_length': limits.GRPC_MESSAGE_BYTES_MAX,
    });
    this._timeoutMs = options.timeoutMs || limits.SCHEDULER_CALL_TIMEOUT_MS;
    const token = options.token !== undefined && options.token !== null ? options.token : defaultToken();
    this._metadata = new grpc.Metadata();
    if (token) this._metadata.set('authorization', 'Bearer ' + token);
  }

  close() {
    this._client.close();
  }

  _call(method, request, timeoutMs = this._timeoutMs) {
    return new Promise((resolve, reject) => {
      this._client[method](request, this._metadata, { deadline: Date.now() + timeoutMs }, (err, response) => {
        if (err) reject(new SchedulerError(method, err.code, err.details || err.message));
        else resolve(response);
      });
    });
  }

  /** Deploys an operator: an OperatorSpec object or a deploy-file shaped object. Resolves to the
   * stored OperatorStatus. */
  async deploy(spec) {
    return (await this._call('Deploy', { spec: toSpec(spec) })).operator;
  }

  /** Replaces a deployed operator by a new version of the same name (a rolling replace, or for
   * an operator with a delivery guarantee a restart from a fresh checkpoint keeping its state;
   * `dropState` restarts it with empty state; docs/live-changes.md). Resolves to the
   * ReplaceResponse {operator, switchMs, totalMs, restarted}. The deadline is at least
   * REPLACE_CALL_TIMEOUT_MS. */
  async replace(spec, { dropState = false } = {}) {
    return this._call('Replace', { spec: toSpec(spec), dropState: Boolean(dropState) },
      Math.max(this._timeoutMs, limits.REPLACE_CALL_TIMEOUT_MS));
  }

  /** Stops every instance of `name` and removes it from the topology. */
  async kill(name) {
    await this._call('Kill', { name });
  }

  /** Changes the number of instances of `name`; resolves to the stored OperatorStatus. */
  async scale(name, instances) {
    return (await this._call('Scale', { name, instances })).operator;
  }

  /** Every deployed operator (OperatorStatus), ordered by name. */
  async list() {
    return (await this._call('List', {})).operators;
  }

  /** The GraphResponse: {operators, edges: one per (stream, producer, reader)}. */
  async graph() {
    return this._call('Graph', {});
  }

  /**
   * Lines of the executor.log of `name`'s instances (the executor's events and the operator's
   * stdout/stderr), oldest first, as an async iterator of LogLine {operatorName, instanceIndex,
   * line}. `instances`: indexes to read (default every instance); `tailLines`: lines of history
   * per instance, 0..LOG_TAIL_LINES_MAX (0: none, only new lines with follow), as `concord logs
   * --tail`. Without `follow` the call has the usual deadline; with it, new lines keep coming
   * until the loop is left (break/return cancels the call). Throws SchedulerError (code 5,
   * NOT_FOUND, for an operator that is not deployed) while iterating.
   */
  logs(name, { instances = [], tailLines = limits.LOG_TAIL_LINES_DEFAULT, follow = false } = {}) {
    if (!Number.isInteger(tailLines) || tailLines < 0 || tailLines > limits.LOG_TAIL_LINES_MAX) {
      throw new RangeError(`tailLines ${tailLines} is out of range; use 0..${limits.LOG_TAIL_LINES_MAX}`);
    }
    const request = {
      operatorName: name, follow: Boolean(follow), tailLines: tailLines === 0 ? -1 : tailLines,
      instanceIndexes: [...instances],
    };
    const options = follow ? {} : { deadline: Date.now() + this._timeoutMs };
    const call = this._client.GetLogs(request, this._metadata, options);
    return (async function* lines() {
      try {
        for await (const line of call) yield line;
      } catch (err) {
        throw new SchedulerError('GetLogs', err.code, err.details || err.message);
      } finally {
        call.cancel();
      }
    })();
  }

  /** The current figures of every running instance (of `name` only, if given): InstanceMetrics
   * objects ordered by operator then index. Counters are totals since each executor started:
   * compute rates from two calls. */
  async instanceMetrics(name = '') {
    return (await this._call('GetInstanceMetrics', { operatorName: name })).instances;
  }

  /** Recent traces (TraceSummary: traceId, startUnixUs, durationUs, spanCount, operators), newest
   * first, at most `limit` (1..TRACE_LIST_MAX). Sources sample one record in
   * CONCORD_TRACE_SAMPLE_EVERY (docs/observability.md). */
  async listTraces(limit = limits.TRACE_LIST_DEFAULT) {
    if (!Number.isInteger(limit) || limit < 1 || limit > limits.TRACE_LIST_MAX) {
      throw new RangeError(`limit ${limit} is out of range; use 1..${limits.TRACE_LIST_MAX}`);
    }
    return (await this._call('ListTraces', { limit })).traces;
  }

  /** The spans of one trace (32 hex digits), hop by hop; SchedulerError code 5 (NOT_FOUND) when
   * no executor holds it. */
  async getTrace(traceId) {
    const id = String(traceId).trim().toLowerCase();
    if (!/^[0-9a-f]{32}$/.test(id)) {
      throw new TypeError(`'${traceId}' is not a trace id (32 hex digits); listTraces() gives recent ones`);
    }
    return (await this._call('GetTrace', { traceId: id })).spans;
  }

  /** The last records written to `stream` (TailRecord: operatorName, instanceIndex, stream,
   * key, value, …), at most `recordsMax` (1..TAIL_RECORDS_MAX). Executors start keeping a
   * stream's records when a tail asks for it, so a first call may be empty: poll. SchedulerError
   * code 5 (NOT_FOUND, naming the streams there are) for a stream no deployed operator writes. */
  async tail(stream, recordsMax = limits.TAIL_RECORDS_DEFAULT) {
    if (!Number.isInteger(recordsMax) || recordsMax < 1 || recordsMax > limits.TAIL_RECORDS_MAX) {
      throw new RangeError(`recordsMax ${recordsMax} is out of range; use 1..${limits.TAIL_RECORDS_MAX}`);
    }
    return (await this._call('TailStream', { stream, recordsMax })).records;
  }

  /** The ListCheckpointsResponse: {checkpoints (the one in progress first), latestCompletedId
   * (what a restore would use; 0 when none)}. */
  async checkpoints() {
    return this._call('ListCheckpoints', {});
  }

  /** Takes a savepoint now (a checkpoint kept until deleted) and resolves to its CheckpointInfo
   * once completed; SchedulerError code 9 (FAILED_PRECONDITION) naming why it could not. */
  async triggerSavepoint() {
    return (await this._call('TriggerSavepoint', {}, Math.max(this._timeoutMs, limits.CHECKPOINT_CALL_TIMEOUT_MS))).savepoint;
  }
}

function toSpec(spec) {
  // A deploy-file object uses snake_case keys and "mem"; an OperatorSpec object camelCase ones.
  if (spec && typeof spec === 'object' && ('expectedInputs' in spec || 'memMb' in spec || 'expectedOutputs' in spec)) {
    return spec;
  }
  return specFromDeployObject(spec);
}

module.exports = {
  SchedulerClient, SchedulerError, specFromDeployObject, defaultToken, TOKEN_VARIABLE, TOKEN_FILE_NAME, TLS_VARIABLES,
};
