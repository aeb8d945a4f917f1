import assert from "node:assert/strict";
import { test } from "node:test";
import { pathThrough } from "../src/graph.js";
import { edgeVm } from "../src/viewmodel.js";

test("edge paths: straight where level, a curve where the route changes height, a loop for a self-loop", () => {
  assert.equal(pathThrough([{ x: 0, y: 10 }, { x: 100, y: 10 }], false), "M0.0,10.0 L100.0,10.0");
  assert.equal(pathThrough([{ x: 0, y: 0 }, { x: 100, y: 50 }], false), "M0.0,0.0 C50.0,0.0 50.0,50.0 100.0,50.0");
  const loop = pathThrough([{ x: 70, y: 40 }, { x: 70, y: 10 }, { x: 30, y: 10 }, { x: 30, y: 40 }], true);
  assert.equal(loop, "M70.0,40.0 C70.0,10.0 30.0,10.0 30.0,40.0");
  assert.equal(pathThrough([], false), "");
});

test("an edge's data-rate is a number even when the server sends none", () => {
  const e = edgeVm({ stream: "words", from: "source", to: "counter", grouping: "group_by", recordsPerSec: Number.NaN, backpressured: true });
  assert.equal(e.rate, 0);
  assert.equal(e.testId, "edge-words-source-counter");
  assert.match(e.title, /backpressured/);
});
