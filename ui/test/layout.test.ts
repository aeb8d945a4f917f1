import assert from "node:assert/strict";
import { test } from "node:test";
import { declutterLabels, layoutGraph, type LayoutEdgeInput, type LayoutNodeInput, type PlacedNode } from "../src/layout.js";

const node = (id: string): LayoutNodeInput => ({ id, width: 170, height: 56 });
const edge = (from: string, to: string, stream = from): LayoutEdgeInput => ({ id: `${stream}:${from}->${to}`, from, to });

/** A seeded generator, so a failure reproduces. */
function random(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
}

function randomDag(n: number, seed: number): { nodes: LayoutNodeInput[]; edges: LayoutEdgeInput[] } {
  const rnd = random(seed);
  const nodes = Array.from({ length: n }, (_, i) => node(`op${i}`));
  const edges: LayoutEdgeInput[] = [];
  for (let i = 1; i < n; i++) {
    for (let k = 0; k < 1 + Math.floor(rnd() * 3); k++) {
      const j = Math.floor(rnd() * i);
      edges.push(edge(`op${j}`, `op${i}`, `s${k}`));
    }
  }
  return { nodes, edges };
}

function overlaps(a: PlacedNode, b: PlacedNode): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

test("the word count lays out as three columns left to right", () => {
  const l = layoutGraph([node("sink"), node("counter"), node("source")], [edge("source", "counter", "words"), edge("counter", "sink", "counts")]);
  assert.deepEqual(l.layers, [["source"], ["counter"], ["sink"]]);
  const x = Object.fromEntries(l.nodes.map((n) => [n.id, n.x]));
  assert.ok(x["source"]! < x["counter"]! && x["counter"]! < x["sink"]!, JSON.stringify(x));
  assert.equal(l.crossings, 0);
  for (const e of l.edges) assert.equal(e.points.length, 2, `${e.id} is a direct edge`);
});

test("longest-path layering puts a node right of its furthest predecessor", () => {
  // a -> b -> c -> d and a -> d: d must be in layer 3, not 1.
  const l = layoutGraph(["a", "b", "c", "d"].map(node), [edge("a", "b"), edge("b", "c"), edge("c", "d"), edge("a", "d", "skip")]);
  const layer = Object.fromEntries(l.nodes.map((n) => [n.id, n.layer]));
  assert.deepEqual(layer, { a: 0, b: 1, c: 2, d: 3 });
  // The long edge passes through columns 1 and 2: two points per column crossed plus both ends.
  const skip = l.edges.find((e) => e.id === "skip:a->d")!;
  assert.equal(skip.points.length, 2 + 2 * 2);
  // and never through a node box.
  for (const n of l.nodes.filter((n) => n.id === "b" || n.id === "c")) {
    for (const p of skip.points) {
      const inside = p.x > n.x && p.x < n.x + n.width && p.y > n.y && p.y < n.y + n.height;
      assert.ok(!inside, `long edge point ${JSON.stringify(p)} inside ${n.id}`);
    }
  }
});

test("a 50-operator random DAG: every edge points right, no two boxes overlap, few crossings", () => {
  for (const seed of [1, 2, 3, 42, 2016]) {
    const { nodes, edges } = randomDag(50, seed);
    const l = layoutGraph(nodes, edges);
    assert.equal(l.nodes.length, 50);
    assert.equal(l.edges.length, edges.length);
    const byId = new Map(l.nodes.map((n) => [n.id, n]));
    for (const e of edges) assert.ok(byId.get(e.from)!.layer < byId.get(e.to)!.layer, `seed ${seed}: ${e.id} goes right`);
    for (let i = 0; i < l.nodes.length; i++) {
      for (let j = i + 1; j < l.nodes.length; j++) {
        assert.ok(!overlaps(l.nodes[i]!, l.nodes[j]!), `seed ${seed}: ${l.nodes[i]!.id} overlaps ${l.nodes[j]!.id}`);
      }
    }
    for (const n of l.nodes) {
      assert.ok(n.x >= 0 && n.y >= 0 && n.x + n.width <= l.width && n.y + n.height <= l.height, `seed ${seed}: ${n.id} inside the drawing`);
    }
  }
});

test("barycentre ordering removes the crossing the first order has", () => {
  // Depth-first order gives columns [p, q, r] and [x, y]: r -> x crosses q -> y. The up sweep
  // moves r next to p, its partner on x.
  const l = layoutGraph(["p", "q", "r", "x", "y"].map(node), [edge("p", "x"), edge("q", "y"), edge("r", "x")]);
  assert.deepEqual(l.layers, [["p", "r", "q"], ["x", "y"]]);
  assert.equal(l.crossings, 0);
});

test("cycles terminate: a ring, a two-node loop and a self-loop are laid out with back edges reversed", () => {
  const ring = Array.from({ length: 10 }, (_, i) => `r${i}`);
  const edges = [...ring.map((id, i) => edge(id, ring[(i + 1) % ring.length]!)), edge("p", "q"), edge("q", "p"), edge("s", "s")];
  const l = layoutGraph([...ring, "p", "q", "s"].map(node), edges);
  assert.equal(l.nodes.length, 13);
  assert.equal(l.edges.length, edges.length);
  assert.equal(l.edges.filter((e) => e.reversed).length, 2, "one back edge per cycle");
  assert.ok(l.edges.find((e) => e.from === "s")!.selfLoop);
  for (const e of l.edges) assert.ok(e.points.every((p) => Number.isFinite(p.x) && Number.isFinite(p.y)), e.id);
});

test("a dense cyclic graph of 50 nodes finishes", () => {
  const rnd = random(9);
  const nodes = Array.from({ length: 50 }, (_, i) => node(`n${i}`));
  const edges = Array.from({ length: 200 }, (_, k) => edge(`n${Math.floor(rnd() * 50)}`, `n${Math.floor(rnd() * 50)}`, `e${k}`));
  const started = Date.now();
  const l = layoutGraph(nodes, edges);
  assert.equal(l.nodes.length, 50);
  assert.ok(Date.now() - started < 5000, "layout of 50 nodes and 200 edges within 5 s");
});

test("edges to unknown nodes are left out; an empty graph has a size", () => {
  const l = layoutGraph([node("a")], [edge("a", "ghost")]);
  assert.equal(l.edges.length, 0);
  const empty = layoutGraph([], []);
  assert.deepEqual([empty.nodes.length, empty.edges.length], [0, 0]);
  assert.ok(empty.width > 0 && empty.height > 0);
});

test("parallel edges between the same operators get distinct routes", () => {
  const l = layoutGraph([node("a"), node("b")], [edge("a", "b", "s1"), edge("a", "b", "s2")]);
  const [e1, e2] = l.edges;
  assert.notEqual(e1!.label.y, e2!.label.y);
});

test("declutter separates overlapping labels and leaves separate ones alone", () => {
  const boxes = [
    { x: 100, y: 100, width: 80, height: 28 },
    { x: 105, y: 104, width: 80, height: 28 },
    { x: 110, y: 98, width: 80, height: 28 },
    { x: 400, y: 100, width: 80, height: 28 },
  ];
  const ys = declutterLabels(boxes);
  assert.equal(ys[3], 100, "a label far away does not move");
  const moved = boxes.map((b, i) => ({ ...b, y: ys[i]! }));
  for (let i = 0; i < moved.length; i++) {
    for (let j = i + 1; j < moved.length; j++) {
      const a = moved[i]!;
      const b = moved[j]!;
      const overlap = Math.abs(a.x - b.x) * 2 < a.width + b.width && Math.abs(a.y - b.y) * 2 < a.height + b.height;
      assert.ok(!overlap, `labels ${i} and ${j} overlap: ${JSON.stringify([a, b])}`);
    }
  }
});
