import assert from "node:assert/strict";
import { test } from "node:test";
import { History, HistoryRing } from "../src/history.js";
import { HistoryPointsMax } from "../src/limits.js";
import type { Snapshot } from "../src/types.js";

const point = (t: number) => ({ t, in: t * 10, out: t * 5 });

test("the ring keeps the newest points in time order up to its capacity", () => {
  const ring = new HistoryRing(3);
  for (let t = 1; t <= 7; t++) ring.push(point(t));
  assert.equal(ring.length, 3);
  assert.deepEqual(ring.points().map((p) => p.t), [5, 6, 7]);
  assert.equal(ring.last()?.t, 7);
});

test("the ring refuses a point not newer than its last", () => {
  const ring = new HistoryRing(5);
  assert.ok(ring.push(point(10)));
  assert.ok(!ring.push(point(10)));
  assert.ok(!ring.push(point(9)));
  assert.deepEqual(ring.points().map((p) => p.t), [10]);
});

test("the default capacity is five minutes at one point per second, and a bad capacity is refused", () => {
  const ring = new HistoryRing();
  for (let t = 1; t <= 1000; t++) ring.push(point(t));
  assert.equal(ring.length, HistoryPointsMax);
  assert.equal(HistoryPointsMax, 300);
  assert.throws(() => new HistoryRing(0), /out of range/);
});

function snapshot(t: number, names: string[]): Snapshot {
  return {
    takenUnixMs: t,
    scheduler: { address: "", leader: "", fromStandby: false },
    operators: names.map((name) => ({
      name, language: "C#", desired: 1, running: 1, state: "running", lastError: "", inputs: [], outputs: [],
      recordsInPerSec: t, recordsOutPerSec: t / 2, droppedPerSec: 0, latencyP50Ms: null, latencyP99Ms: null, backpressured: false, instances: [],
    })),
    streams: [],
    checkpoints: null,
  };
}

test("snapshots append one point per operator; a killed operator's history goes", () => {
  const h = new History(10);
  h.append(snapshot(1000, ["a", "b"]));
  h.append(snapshot(2000, ["a", "b"]));
  h.append(snapshot(2000, ["a", "b"]));
  assert.deepEqual(h.points("a"), [{ t: 1000, in: 1000, out: 500 }, { t: 2000, in: 2000, out: 1000 }]);
  h.append(snapshot(3000, ["a"]));
  assert.deepEqual(h.operators(), ["a"]);
  assert.deepEqual(h.points("b"), []);
});

test("the server's history merges with points snapshots added first, bounded", () => {
  const h = new History(4);
  h.append(snapshot(5000, ["a"]));
  h.load({ operators: { a: [point(1000), point(3000), point(2000), point(4000), point(5000)] } });
  assert.deepEqual(h.points("a").map((p) => p.t), [2000, 3000, 4000, 5000]);
  h.append(snapshot(6000, ["a"]));
  assert.deepEqual(h.points("a").map((p) => p.t), [3000, 4000, 5000, 6000]);
});
