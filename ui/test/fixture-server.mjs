#!/usr/bin/env node
// A development tool, not a test: serves ui/dist and the dashboard's JSON API (docs/dashboard.md)
// from a recorded snapshot, with jittered rates pushed every second, so the page can be worked on
// without a cluster. Scale and kill change the in-memory snapshot.
//
//   node ui/test/fixture-server.mjs [--port 8099] [--random N] [--token dev]
//   then open http://127.0.0.1:8099/ui/ (log in with the token).
// --random N replaces the word count by N operators in a random DAG (with one cycle), for the layout.
import { createServer } from "node:http";
import { readFileSync, existsSync } from "node:fs";
import { join, dirname, extname, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "..", "dist");
const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const port = Number(arg("--port", "8099"));
const token = arg("--token", "dev");
const randomCount = Number(arg("--random", "0"));
const session = "fixture-session";

// The recording's timestamps moved to now, so "12 s ago" reads as it did when recorded.
const recorded = readFileSync(join(here, "fixtures", "snapshot.json"), "utf8");
const shiftMs = Date.now() - JSON.parse(recorded).takenUnixMs;
let snapshot = JSON.parse(recorded, (key, value) => (key.endsWith("UnixMs") && value > 0 ? value + shiftMs : value));
if (randomCount > 0) snapshot = randomSnapshot(randomCount);
const base = JSON.parse(JSON.stringify(snapshot));
const history = {};

function randomSnapshot(n) {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const ops = [];
  const streams = [];
  const states = ["running", "running", "running", "starting", "degraded", "failing", "stopped"];
  for (let i = 0; i < n; i++) {
    const name = `op${String(i).padStart(2, "0")}`;
    ops.push({ name, language: ["C#", "Python", "Go", "Node"][i % 4], desired: 2, running: 2, state: states[Math.floor(rnd() * states.length)], lastError: "",
      inputs: [], outputs: [`s${i}`], recordsInPerSec: 1000, recordsOutPerSec: 1000, droppedPerSec: 0, latencyP50Ms: 1, latencyP99Ms: 5, backpressured: false,
      instances: [0, 1].map((index) => ({ index, state: "running", host: `host${index}`, restarts: 0, lastError: "", stateSinceUnixMs: Date.now() - 60000,
        cpuPercent: 5, memoryBytes: 30e6, recordsInPerSec: 500, recordsOutPerSec: 500, metricsError: "" })) });
  }
  for (let i = 1; i < n; i++) {
    const fanIn = 1 + Math.floor(rnd() * 2);
    for (let k = 0; k < fanIn; k++) {
      const j = Math.floor(rnd() * i);
      if (streams.some((s) => s.from === ops[j].name && s.to === ops[i].name)) continue;
      streams.push({ stream: `s${j}`, from: ops[j].name, to: ops[i].name, grouping: rnd() < 0.5 ? "shuffle" : "group_by", recordsPerSec: 1000, backpressured: rnd() < 0.1 });
      ops[i].inputs.push({ stream: `s${j}`, grouping: "shuffle" });
    }
  }
  if (n > 3) streams.push({ stream: `s${n - 1}`, from: ops[n - 1].name, to: ops[1].name, grouping: "shuffle", recordsPerSec: 10, backpressured: false });
  return { takenUnixMs: Date.now(), scheduler: { address: `http://127.0.0.1:${port}`, leader: "", fromStandby: false }, operators: ops, streams, checkpoints: null };
}

function tick() {
  snapshot.takenUnixMs = Date.now();
  const jitter = (v) => (v === 0 ? 0 : Math.round(v * (0.9 + Math.random() * 0.2)));
  for (const op of snapshot.operators) {
    const b = base.operators.find((o) => o.name === op.name) ?? op;
    const scaleBy = op.desired / Math.max(1, b.desired);
    op.recordsInPerSec = jitter(b.recordsInPerSec);
    op.recordsOutPerSec = jitter(b.recordsOutPerSec);
    // Scaling: new instances start, then run.
    while (op.instances.length < op.desired) {
      op.instances.push({ ...op.instances[0], index: op.instances.length, state: "starting", restarts: 0, lastError: "", stateSinceUnixMs: Date.now() });
    }
    op.instances.length = op.desired;
    for (const i of op.instances) if (i.state === "starting" && Date.now() - i.stateSinceUnixMs > 2000) i.state = "running";
    op.running = op.instances.filter((i) => i.state === "running").length;
    op.state = op.running === op.desired ? (b.state === "starting" ? "running" : b.state) : "starting";
    void scaleBy;
    (history[op.name] ??= []).push({ t: snapshot.takenUnixMs, in: op.recordsInPerSec, out: op.recordsOutPerSec });
    if (history[op.name].length > 300) history[op.name].shift();
  }
  for (const s of snapshot.streams) {
    const b = base.streams.find((x) => x.stream === s.stream && x.from === s.from && x.to === s.to) ?? s;
    s.recordsPerSec = jitter(b.recordsPerSec);
  }
}

const types = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8" };
const json = (res, status, body) => {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-cache" });
  res.end(JSON.stringify(body));
};
const authed = (req) =>
  (req.headers.cookie ?? "").split(/;\s*/).includes(`concord_ui=${session}`) || req.headers.authorization === `Bearer ${token}`;
const readBody = (req) => new Promise((resolve) => {
  let data = "";
  req.on("data", (c) => (data += c));
  req.on("end", () => resolve(data));
});
const subscribers = new Set();

setInterval(() => {
  tick();
  const frame = `event: snapshot\ndata: ${JSON.stringify(snapshot)}\n\n`;
  for (const res of subscribers) res.write(frame);
}, 1000);
tick();

createServer(async (req, res) => {
  const url = new URL(req.url ?? "/", "http://x");
  const path = url.pathname;
  if (path === "/ui/login" && req.method === "POST") {
    const form = new URLSearchParams(await readBody(req));
    if (form.get("token") === token) {
      res.writeHead(303, { location: "/ui/", "set-cookie": `concord_ui=${session}; HttpOnly; SameSite=Strict; Path=/ui` });
      return res.end();
    }
    res.writeHead(401, { "content-type": "text/html; charset=utf-8" });
    return res.end(readFileSync(join(dist, "login.html"), "utf8").replace("<!--message-->", "wrong token; copy it from the scheduler's token file"));
  }
  if (path === "/ui/login" || path === "/ui/login.html" || path === "/ui/app.css") {
    res.writeHead(200, { "content-type": types[extname(path) || ".html"] });
    return res.end(readFileSync(join(dist, path === "/ui/app.css" ? "app.css" : "login.html")));
  }
  if (!authed(req)) {
    if (path.startsWith("/ui/api/")) return json(res, 401, { error: "not logged in; open /ui/login or send Authorization: Bearer <token>" });
    res.writeHead(303, { location: "/ui/login" });
    return res.end();
  }
  if (path === "/ui/logout" && req.method === "POST") {
    res.writeHead(303, { location: "/ui/login", "set-cookie": "concord_ui=; Max-Age=0; Path=/ui" });
    return res.end();
  }
  if (path === "/ui/api/snapshot") return json(res, 200, snapshot);
  if (path === "/ui/api/history") return json(res, 200, { operators: history });
  if (path === "/ui/api/events") {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.write(`event: snapshot\ndata: ${JSON.stringify(snapshot)}\n\n`);
    subscribers.add(res);
    req.on("close", () => subscribers.delete(res));
    return;
  }
  if (path === "/ui/api/logs") {
    const name = url.searchParams.get("operator");
    const op = snapshot.operators.find((o) => o.name === name);
    if (!op) return json(res, 404, { error: `no operator '${name}'; see the graph for the deployed ones` });
    return json(res, 200, { lines: op.instances.flatMap((i) => [`${new Date().toISOString()} info started`, `${new Date().toISOString()} info processed 5000 records`].map((line) => ({ instance: i.index, line }))) });
  }
  if (path === "/ui/api/traces") {
    const now = Date.now() * 1000;
    return json(res, 200, { traces: [1, 2, 3].map((k) => ({ traceId: `${k}`.repeat(32), startUnixUs: now - k * 4e6, durationUs: 2300 + k * 100, spanCount: 3, operators: ["source", "counter", "sink"] })) });
  }
  if (path.startsWith("/ui/api/traces/")) {
    const traceId = decodeURIComponent(path.slice("/ui/api/traces/".length));
    const t0 = Date.now() * 1000;
    const hop = (spanId, parentSpanId, operator, kind, name, stream, start, duration) => ({ traceId, spanId, parentSpanId, operator, instance: 0, kind, name, startUnixUs: t0 + start, durationUs: duration, stream });
    return json(res, 200, { spans: [hop("a", "", "source", "producer", "emit", "words", 0, 40), hop("b", "a", "counter", "consumer", "process", "words", 900, 120), hop("c", "b", "sink", "consumer", "process", "counts", 2100, 90)] });
  }
  if ((path === "/ui/api/scale" || path === "/ui/api/kill") && req.method === "POST") {
    if (req.headers["x-concord-dashboard"] !== "1") return json(res, 403, { error: "missing header X-Concord-Dashboard: 1 (cross-site request refused)" });
    const body = JSON.parse((await readBody(req)) || "{}");
    const op = snapshot.operators.find((o) => o.name === body.operator);
    if (!op) return json(res, 404, { error: `no operator named '${body.operator}'; concord list shows the deployed ones` });
    if (path.endsWith("kill")) {
      snapshot.operators = snapshot.operators.filter((o) => o !== op);
      snapshot.streams = snapshot.streams.filter((s) => s.from !== op.name && s.to !== op.name);
      return json(res, 200, { message: `killed ${op.name}` });
    }
    if (!Number.isInteger(body.instances) || body.instances < 1 || body.instances > 128) return json(res, 400, { error: `instances: ${body.instances} is out of range; use 1..128` });
    op.desired = body.instances;
    return json(res, 200, { message: `scaling ${op.name} to ${body.instances}` });
  }
  const file = path === "/ui/" ? "index.html" : normalize(path.replace(/^\/ui\//, ""));
  const full = join(dist, file);
  if (path.startsWith("/ui/") && !file.includes("..") && existsSync(full)) {
    res.writeHead(200, { "content-type": types[extname(full)] ?? "application/octet-stream", "cache-control": "no-cache" });
    return res.end(readFileSync(full));
  }
  if (path === "/" || path === "/ui") {
    res.writeHead(303, { location: "/ui/" });
    return res.end();
  }
  json(res, 404, { error: `no such path ${path}` });
}).listen(port, "127.0.0.1", () => console.log(`fixture dashboard on http://127.0.0.1:${port}/ui/ (token: ${token})`));
