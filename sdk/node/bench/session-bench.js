'use strict';
// Drives one operator process the way the executor does, over its unix socket, with batches of
// word-count records encoded once up front, so the measured time is the operator's: decode,
// callbacks, BatchDone encode and gRPC. Prints records/s through the operator. For profiling:
//
//   node sdk/node/bench/session-bench.js [--seconds 10] [--batch 1024] [--in-flight 4]
//        [--operator examples/wordcount/node/counter.js] [--cpu-prof DIR] [--node-args '--trace-gc ...']
//
// --cpu-prof DIR starts the operator under `node --cpu-prof --cpu-prof-dir DIR`.
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const proto = require('../lib/proto');
const limits = require('../lib/limits');

const ROOT = path.join(__dirname, '..', '..', '..');
// How long the operator may take to open its socket, in ms (node and grpc-js load in ~0.3 s).
const START_TIMEOUT_MS = 10000;

function options() {
  const o = { seconds: 10, batch: 1024, inFlight: 4, operator: path.join(ROOT, 'examples/wordcount/node/counter.js'), cpuProf: null, nodeArgs: [] };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1];
    switch (argv[i]) {
      case '--seconds': o.seconds = Number(v); break;
      case '--batch': o.batch = Number(v); break;
      case '--in-flight': o.inFlight = Number(v); break;
      case '--operator': o.operator = path.resolve(v); break;
      case '--cpu-prof': o.cpuProf = path.resolve(v); break;
      case '--node-args': o.nodeArgs = v.split(' ').filter(Boolean); break;
      default: throw new Error(`unknown option ${argv[i]}; see the comment at the top of session-bench.js`);
    }
  }
  return o;
}

function varint(n, out) {
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128); }
  out.push(n);
  return out;
}

async function main() {
  const o = options();
  const method = proto.load('concord/operator/v1/operator.proto')['concord.operator.v1.Operator'].Session;
  const words = fs.readFileSync(path.join(ROOT, 'examples/wordcount/words.txt'), 'utf8').split('\n').filter(Boolean);
  const now = Date.now();
  let w = 0;
  const batches = [];
  for (let b = 0; b < 64; b++) {
    const records = [];
    for (let i = 0; i < o.batch; i++) {
      records.push({ key: Buffer.from(words[w++ % words.length]), value: Buffer.alloc(0),
        eventTimeUnixMs: now, trace: null, ingestTimeUnixUs: now * 1000 });
      w += 7;
    }
    // The ProcessBatch body without its seq (added per send): the executor stand-in must cost
    // little next to the operator on a shared machine.
    const whole = method.requestSerialize({ processBatch: { seq: 0, records, timersFired: [], states: [],
      stateAsOfSeq: 0, watermarkUnixMs: now } });
    let p = 1;
    while (whole[p] & 0x80) p++;
    batches.push(whole.subarray(p + 1));
  }

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cc-node-bench-'));
  const socket = path.join(dir, 'op.sock');
  const args = [...o.nodeArgs, ...(o.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', o.cpuProf] : []), o.operator];
  const child = spawn(process.execPath, args, { env: { ...process.env, [limits.OPERATOR_ADDRESS_VARIABLE]: socket }, stdio: 'inherit' });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!fs.existsSync(socket)) {
    if (Date.now() > deadline) throw new Error(`the operator did not listen on ${socket} within ${START_TIMEOUT_MS} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }

  // Batches go out pre-encoded; replies are only counted (their first byte says which message).
  const Client = grpc.makeGenericClientConstructor({ Session: {
    ...method, requestSerialize: (b) => b, responseDeserialize: (b) => b,
  } });
  const client = new Client('unix://' + socket, grpc.credentials.createInsecure());
  const call = client.Session();
  const encode = (m) => method.requestSerialize(m);
  call.write(encode({ init: { protocolVersion: limits.PROTOCOL_VERSION, capabilities: [...limits.CAPABILITIES],
    requiredCapabilities: [], operatorName: 'counter', instanceIndex: 0, instanceCount: 1,
    maxBatchesInFlight: o.inFlight, maxRecordBytes: 1 << 20, maxStateValueBytes: 1 << 16 } }));

  let seq = 0;
  let answered = -1; // BatchDone 0 answers Init
  let start = 0;
  let startAnswered = 0;
  let stopAt = Infinity;
  let finished;
  const done = new Promise((resolve) => { finished = resolve; });
  const sendMore = () => {
    while (seq - answered < o.inFlight && Date.now() < stopAt) {
      seq++;
      const body = batches[seq % batches.length];
      const seqField = varint(seq, [0x08]);
      call.write(Buffer.concat([Buffer.from(varint(seqField.length + body.length, [0x12])), Buffer.from(seqField), body]));
    }
  };
  call.on('data', (m) => {
    if (m[0] !== 0x12) return; // Metadata or Log
    answered++;
    if (answered === 0) {
      // Warm-up of 2 s, then the measured window.
      setTimeout(() => { start = process.hrtime.bigint(); startAnswered = answered; stopAt = Date.now() + o.seconds * 1000; }, 2000);
    }
    if (Date.now() >= stopAt && answered === seq) { finished(); return; }
    sendMore();
  });
  call.on('error', (err) => { if (err.code !== grpc.status.CANCELLED) console.error(err); });
  await done;
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  const records = (answered - startAnswered) * o.batch;
  call.write(encode({ shutdown: { reason: 'bench done' } }));
  call.end();
  const code = await exited;
  client.close();
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(`${Math.round(records / elapsed)} records/s (${records} records in ${elapsed.toFixed(2)} s, ` +
    `batches of ${o.batch}, ${o.inFlight} in flight; operator exit code ${code})`);
}

main().catch((err) => { console.error(err); process.exit(1); });
