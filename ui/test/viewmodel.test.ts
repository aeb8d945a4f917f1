import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { chartGeometry, niceMax } from "../src/chart.js";
import type { Snapshot, Span } from "../src/types.js";
import { checkpointsVm, graphVm, operatorPanelVm, spanDepths, stateOf } from "../src/viewmodel.js";

// Compiled to test-out/test/: the fixture stays in ui/test/fixtures.
const fixture = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "test", "fixtures", "snapshot.json");
const load = (): Snapshot => JSON.parse(readFileSync(fixture, "utf8")) as Snapshot;

test("the word-count snapshot maps to three nodes and two labelled edges with the contract's test ids", () => {
  const vm = graphVm(load());
  assert.deepEqual(vm.nodes.map((n) => n.testId), ["node-source", "node-counter", "node-sink"]);
  assert.deepEqual(vm.nodes.map((n) => n.instances), ["1/1", "2/2", "1/1"]);
  assert.deepEqual(vm.edges.map((e) => e.testId), ["edge-words-source-counter", "edge-counts-counter-sink"]);
  const words = vm.edges[0]!;
  assert.equal(words.rate, 5012);
  assert.equal(words.label, "words · group_by");
  assert.equal(words.rateText, "5.0k/s");
  assert.equal(words.backpressured, false);
  assert.equal(vm.nodes[1]!.rates, "in 5.0k/s · out 5.0k/s");
});

test("the layout key ignores rates and changes when an operator goes", () => {
  const a = load();
  const b = load();
  b.streams[0]!.recordsPerSec = 1;
  b.operators[0]!.running = 0;
  assert.equal(graphVm(a).structureKey, graphVm(b).structureKey);
  b.operators = b.operators.filter((o) => o.name !== "sink");
  const killed = graphVm(b);
  assert.notEqual(graphVm(a).structureKey, killed.structureKey);
  assert.deepEqual(killed.edges.map((e) => e.testId), ["edge-words-source-counter"], "a stream to a gone operator has no edge");
});

test("unknown states show as degraded; long names are cut in the box but whole in the tooltip", () => {
  assert.equal(stateOf("exploding"), "degraded");
  assert.equal(stateOf("failing"), "failing");
  const s = load();
  s.operators[0]!.name = "a-very-long-operator-name-indeed";
  s.operators[0]!.lastError = "exit 1";
  const n = graphVm(s).nodes[0]!;
  assert.equal(n.name.length, 22);
  assert.ok(n.name.endsWith("…"));
  assert.match(n.title, /a-very-long-operator-name-indeed/);
  assert.match(n.title, /last error: exit 1/);
});

test("the operator panel: instances sorted, CPU, memory, rates, latency, unknowns as a dash", () => {
  const s = load();
  const counter = s.operators[1]!;
  counter.instances.reverse();
  counter.instances[0]!.cpuPercent = null;
  const vm = operatorPanelVm(counter, s.takenUnixMs);
  assert.equal(vm.instances, "2/2");
  assert.deepEqual(vm.rows.map((r) => r.index), [0, 1]);
  assert.equal(vm.rows[1]!.cpu, "–");
  assert.equal(vm.rows[0]!.memory, "50 MiB");
  assert.equal(vm.rows[1]!.lastError, "exited with code 137 (SIGKILL)");
  assert.equal(vm.rows[1]!.since, "50 s ago");
  counter.instances[0]!.host = "";
  assert.equal(operatorPanelVm(counter, s.takenUnixMs).rows[1]!.host, "local", "the local runtime names no host");
  assert.equal(vm.p50, "1.8 ms");
  assert.equal(vm.p99, "7.4 ms");
  assert.equal(vm.inputs, "words (group_by)");
  assert.equal(operatorPanelVm(s.operators[0]!, 0).p50, "–");
});

test("checkpoints: absent without a guarantee, summarised when present", () => {
  assert.equal(checkpointsVm(null, 0).present, false);
  const s = load();
  const vm = checkpointsVm(s.checkpoints, s.takenUnixMs);
  assert.equal(vm.summary[0]!.value, "#42, 5.0 s ago");
  assert.equal(vm.summary[2]!.value, "1.8 MiB");
  assert.equal(vm.failedRecent, 1);
  assert.deepEqual(vm.rows.map((r) => `${r.id} ${r.status} ${r.kind}`), ["#42 completed checkpoint", "#41 failed checkpoint", "#40 completed savepoint"]);
});

test("spans hop by hop: depth follows parents, a parent cycle is bounded", () => {
  const span = (spanId: string, parentSpanId: string): Span => ({
    traceId: "t", spanId, parentSpanId, operator: "o", instance: 0, kind: "k", name: "n", startUnixUs: 0, durationUs: 1, stream: "",
  });
  const d = spanDepths([span("a", ""), span("b", "a"), span("c", "b"), span("x", "missing")]);
  assert.deepEqual(Object.fromEntries(d), { a: 0, b: 1, c: 2, x: 0 });
  const loop = spanDepths([span("p", "q"), span("q", "p")]);
  assert.ok([...loop.values()].every((v) => v <= 2));
});

test("chart: a round top, both lines across the width, empty history", () => {
  assert.equal(niceMax(0), 1);
  assert.equal(niceMax(4_300), 5_000);
  assert.equal(niceMax(5_000), 5_000);
  assert.equal(niceMax(12_000), 20_000);
  const g = chartGeometry([{ t: 0, in: 0, out: 50 }, { t: 1000, in: 100, out: 50 }], 200, 100);
  assert.equal(g.inPoints, "0.0,100.0 200.0,0.0");
  assert.equal(g.outPoints, "0.0,50.0 200.0,50.0");
  assert.equal(g.maxLabel, "100/s");
  assert.equal(g.spanMs, 1000);
  assert.equal(chartGeometry([], 200, 100).inPoints, "");
});
