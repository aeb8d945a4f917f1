// Layered ("Sugiyama") layout of the topology, left to right, small enough to read in one sitting:
//   1. cycles broken by reversing the back edges a depth-first search finds (Concord allows cycles);
//   2. longest-path layering: a node sits one layer right of its furthest predecessor;
//   3. edges spanning several layers get one virtual point per layer crossed, so they are routed
//      through the gaps between nodes instead of across them;
//   4. barycentre ordering: a fixed number of down/up sweeps, keeping the order with the fewest crossings;
//   5. coordinates: layers are columns, each column's items stacked and centred.
// Pure (no DOM) so it is unit-tested under Node.

import { LayoutSweepsMax } from "./limits.js";

export interface Point {
  x: number;
  y: number;
}

export interface LayoutNodeInput {
  id: string;
  width: number;
  height: number;
}

export interface LayoutEdgeInput {
  id: string;
  from: string;
  to: string;
}

export interface LayoutOptions {
  /** Horizontal space between two columns, for the edge labels. */
  layerGapPx: number;
  /** Vertical space between two items of a column. */
  rowGapPx: number;
  /** Space around the drawing (self-loops are drawn in it). */
  marginPx: number;
  /** Height reserved in a column for an edge passing through it. */
  passHeightPx: number;
  /** Vertical distance between parallel edges (two streams between the same operators). */
  parallelGapPx: number;
}

export const DefaultLayoutOptions: LayoutOptions = {
  layerGapPx: 140,
  rowGapPx: 28,
  marginPx: 36,
  passHeightPx: 14,
  parallelGapPx: 10,
};

export interface PlacedNode extends LayoutNodeInput {
  x: number;
  y: number;
  layer: number;
  order: number;
}

export interface RoutedEdge extends LayoutEdgeInput {
  /** From the source's side to the target's side, through the gaps of the columns in between. */
  points: Point[];
  /** Where the label goes: the middle of the route's first segment. */
  label: Point;
  /** A back edge of a cycle, drawn right to left. */
  reversed: boolean;
  selfLoop: boolean;
}

export interface Layout {
  nodes: PlacedNode[];
  edges: RoutedEdge[];
  /** Node ids per column, top to bottom. */
  layers: string[][];
  width: number;
  height: number;
  crossings: number;
}

interface Item {
  key: string;
  node?: LayoutNodeInput;
  height: number;
  layer: number;
  preds: Item[];
  succs: Item[];
  pos: number;
  y: number;
}

/** Lays out `nodes` and `edges`; edges naming unknown nodes are left out. */
export function layoutGraph(
  nodes: readonly LayoutNodeInput[],
  edges: readonly LayoutEdgeInput[],
  options: LayoutOptions = DefaultLayoutOptions,
): Layout {
  const byId = new Map<string, LayoutNodeInput>();
  for (const n of nodes) if (!byId.has(n.id)) byId.set(n.id, n);
  const ids = [...byId.keys()];
  const known = edges.filter((e) => byId.has(e.from) && byId.has(e.to));
  const selfLoops = known.filter((e) => e.from === e.to);
  const proper = known.filter((e) => e.from !== e.to);

  const reversedIds = backEdges(ids, proper);
  // The acyclic graph: each edge as (tail, head) with back edges turned around.
  const dag = proper.map((e) => (reversedIds.has(e.id) ? { e, tail: e.to, head: e.from } : { e, tail: e.from, head: e.to }));
  const layerOf = longestPathLayers(ids, dag);

  // Items per column: the nodes and one virtual item per column a long edge crosses.
  const items = new Map<string, Item>();
  for (const id of ids) {
    const n = byId.get(id)!;
    items.set(id, { key: id, node: n, height: n.height, layer: layerOf.get(id)!, preds: [], succs: [], pos: 0, y: 0 });
  }
  const chains = new Map<string, Item[]>();
  for (const { e, tail, head } of dag) {
    const chain: Item[] = [items.get(tail)!];
    const from = layerOf.get(tail)!;
    const to = layerOf.get(head)!;
    for (let l = from + 1; l < to; l++) {
      const pass: Item = { key: `${e.id}\u0000${l}`, height: options.passHeightPx, layer: l, preds: [], succs: [], pos: 0, y: 0 };
      items.set(pass.key, pass);
      chain.push(pass);
    }
    chain.push(items.get(head)!);
    for (let i = 0; i + 1 < chain.length; i++) {
      chain[i]!.succs.push(chain[i + 1]!);
      chain[i + 1]!.preds.push(chain[i]!);
    }
    chains.set(e.id, chain);
  }

  const layerCount = ids.length === 0 ? 0 : Math.max(...ids.map((id) => layerOf.get(id)!)) + 1;
  let columns: Item[][] = Array.from({ length: layerCount }, () => []);
  // Initial order: depth-first from the first column, so connected operators start close together.
  const seen = new Set<Item>();
  const visit = (start: Item) => {
    const stack = [start];
    while (stack.length > 0) {
      const it = stack.pop()!;
      if (seen.has(it)) continue;
      seen.add(it);
      columns[it.layer]!.push(it);
      for (let i = it.succs.length - 1; i >= 0; i--) stack.push(it.succs[i]!);
    }
  };
  for (const id of ids) if (layerOf.get(id) === 0) visit(items.get(id)!);
  for (const it of items.values()) visit(it);
  renumber(columns);

  let best = columns.map((c) => [...c]);
  let bestCrossings = countCrossings(columns);
  for (let sweep = 0; sweep < LayoutSweepsMax && bestCrossings > 0; sweep++) {
    for (let l = 1; l < layerCount; l++) reorder(columns[l]!, (it) => it.preds);
    for (let l = layerCount - 2; l >= 0; l--) reorder(columns[l]!, (it) => it.succs);
    const crossings = countCrossings(columns);
    if (crossings < bestCrossings) {
      bestCrossings = crossings;
      best = columns.map((c) => [...c]);
    }
  }
  columns = best;
  renumber(columns);

  // Coordinates: column x from the widest node of the columns before; items stacked and centred.
  const columnWidth = columns.map((c) => Math.max(0, ...c.map((it) => it.node?.width ?? 0)));
  const columnX: number[] = [];
  let x = options.marginPx;
  for (let l = 0; l < layerCount; l++) {
    columnX.push(x);
    x += columnWidth[l]! + options.layerGapPx;
  }
  const columnHeight = columns.map((c) => c.reduce((h, it) => h + it.height, 0) + Math.max(0, c.length - 1) * options.rowGapPx);
  const tallest = Math.max(0, ...columnHeight);
  columns.forEach((c, l) => {
    let y = options.marginPx + (tallest - columnHeight[l]!) / 2;
    for (const it of c) {
      it.y = y;
      y += it.height + options.rowGapPx;
    }
  });

  const placed = new Map<string, PlacedNode>();
  for (const id of ids) {
    const it = items.get(id)!;
    const n = it.node!;
    const colX = columnX[it.layer]!;
    // Narrower nodes are centred in their column.
    placed.set(id, { ...n, x: colX + (columnWidth[it.layer]! - n.width) / 2, y: it.y, layer: it.layer, order: it.pos });
  }

  const parallelIndex = parallelOffsets(proper);
  const routed: RoutedEdge[] = [];
  for (const { e } of dag) {
    const chain = chains.get(e.id)!;
    const offset = (parallelIndex.get(e.id) ?? 0) * options.parallelGapPx;
    const points: Point[] = chain.map((it, i) => {
      if (it.node !== undefined) {
        const p = placed.get(it.key)!;
        // Leave the tail from its right side, enter the head on its left side.
        return { x: i === 0 ? p.x + p.width : p.x, y: p.y + p.height / 2 + offset };
      }
      const colX = columnX[it.layer]!;
      return { x: colX + columnWidth[it.layer]! / 2, y: it.y + it.height / 2 + offset };
    });
    // Long edges run straight through each column they cross.
    const expanded: Point[] = [];
    points.forEach((p, i) => {
      const it = chain[i]!;
      if (it.node === undefined) {
        const half = columnWidth[it.layer]! / 2;
        expanded.push({ x: p.x - half, y: p.y }, { x: p.x + half, y: p.y });
      } else {
        expanded.push(p);
      }
    });
    const reversed = reversedIds.has(e.id);
    if (reversed) expanded.reverse();
    routed.push({ ...e, points: expanded, label: middle(expanded), reversed, selfLoop: false });
  }
  for (const e of selfLoops) {
    const p = placed.get(e.from)!;
    const top = p.y - options.marginPx * 0.6;
    const points = [
      { x: p.x + p.width * 0.7, y: p.y },
      { x: p.x + p.width * 0.7, y: top },
      { x: p.x + p.width * 0.3, y: top },
      { x: p.x + p.width * 0.3, y: p.y },
    ];
    routed.push({ ...e, points, label: { x: p.x + p.width / 2, y: top }, reversed: false, selfLoop: true });
  }
  // Keep the caller's edge order (stable DOM order across updates).
  const order = new Map(edges.map((e, i) => [e.id, i]));
  routed.sort((a, b) => order.get(a.id)! - order.get(b.id)!);

  return {
    nodes: ids.map((id) => placed.get(id)!),
    edges: routed,
    layers: columns.map((c) => c.filter((it) => it.node !== undefined).map((it) => it.key)),
    width: layerCount === 0 ? 2 * options.marginPx : x - options.layerGapPx + options.marginPx,
    height: tallest + 2 * options.marginPx,
    crossings: bestCrossings,
  };
}

/** The ids of the edges that close a cycle, found by an iterative depth-first search (no recursion limit). */
export function backEdges(ids: readonly string[], edges: readonly LayoutEdgeInput[]): Set<string> {
  const out = new Map<string, LayoutEdgeInput[]>();
  for (const id of ids) out.set(id, []);
  for (const e of edges) out.get(e.from)?.push(e);
  const state = new Map<string, 1 | 2>(); // 1 on the stack, 2 done
  const back = new Set<string>();
  for (const root of ids) {
    if (state.has(root)) continue;
    const stack: { id: string; next: number }[] = [{ id: root, next: 0 }];
    state.set(root, 1);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const list = out.get(top.id)!;
      if (top.next >= list.length) {
        state.set(top.id, 2);
        stack.pop();
        continue;
      }
      const e = list[top.next++]!;
      const s = state.get(e.to);
      if (s === 1) back.add(e.id);
      else if (s === undefined) {
        state.set(e.to, 1);
        stack.push({ id: e.to, next: 0 });
      }
    }
  }
  return back;
}

/** Longest-path layers of an acyclic graph (Kahn's order): sources in layer 0. */
function longestPathLayers(ids: readonly string[], dag: readonly { tail: string; head: string }[]): Map<string, number> {
  const layer = new Map<string, number>(ids.map((id) => [id, 0]));
  const indegree = new Map<string, number>(ids.map((id) => [id, 0]));
  const succ = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const { tail, head } of dag) {
    succ.get(tail)!.push(head);
    indegree.set(head, indegree.get(head)! + 1);
  }
  const queue = ids.filter((id) => indegree.get(id) === 0);
  for (let i = 0; i < queue.length; i++) {
    const id = queue[i]!;
    for (const next of succ.get(id)!) {
      layer.set(next, Math.max(layer.get(next)!, layer.get(id)! + 1));
      const d = indegree.get(next)! - 1;
      indegree.set(next, d);
      if (d === 0) queue.push(next);
    }
  }
  return layer;
}

function renumber(columns: Item[][]): void {
  for (const c of columns) c.forEach((it, i) => (it.pos = i));
}

/** Sorts a column by the mean position of each item's neighbours in the adjacent column (stable; no neighbours keeps its place). */
function reorder(column: Item[], neighbours: (it: Item) => Item[]): void {
  const keyed = column.map((it) => {
    const ns = neighbours(it);
    const bary = ns.length === 0 ? it.pos : ns.reduce((s, n) => s + n.pos, 0) / ns.length;
    return { it, bary };
  });
  keyed.sort((a, b) => a.bary - b.bary || a.it.pos - b.it.pos);
  keyed.forEach((k, i) => {
    column[i] = k.it;
    k.it.pos = i;
  });
}

/** Edge crossings between adjacent columns, with positions as the columns' current order. */
function countCrossings(columns: Item[][]): number {
  renumber(columns);
  let crossings = 0;
  for (let l = 0; l + 1 < columns.length; l++) {
    const segments: [number, number][] = [];
    for (const it of columns[l]!) for (const s of it.succs) segments.push([it.pos, s.pos]);
    for (let i = 0; i < segments.length; i++) {
      for (let j = i + 1; j < segments.length; j++) {
        const [a1, b1] = segments[i]!;
        const [a2, b2] = segments[j]!;
        if ((a1 - a2) * (b1 - b2) < 0) crossings++;
      }
    }
  }
  return crossings;
}

/** Offsets (in parallel gaps, centred on 0) for edges sharing both ends, so their lines and labels do not coincide. */
function parallelOffsets(edges: readonly LayoutEdgeInput[]): Map<string, number> {
  const groups = new Map<string, LayoutEdgeInput[]>();
  for (const e of edges) {
    const key = e.from < e.to ? `${e.from}\u0000${e.to}` : `${e.to}\u0000${e.from}`;
    const g = groups.get(key) ?? [];
    g.push(e);
    groups.set(key, g);
  }
  const out = new Map<string, number>();
  for (const g of groups.values()) g.forEach((e, i) => out.set(e.id, i - (g.length - 1) / 2));
  return out;
}

function middle(points: readonly Point[]): Point {
  const a = points[0];
  const b = points[1] ?? a;
  if (a === undefined || b === undefined) return { x: 0, y: 0 };
  // The middle of the first segment: always in the gap right after the source's column (or left
  // of it for a back edge), never inside a column where a label could cover a node.
  return { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
}

export interface LabelBox {
  /** Centre. */
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * Moves labels apart vertically so no two boxes overlap (greedy, in order of height): labels of
 * a fan-out or fan-in start close together. Returns the new centres' y, in the input's order.
 * Each label moves down past the ones already placed that it would overlap, so the loop is
 * bounded by the label count.
 */
export function declutterLabels(labels: readonly LabelBox[], gapPx = 2): number[] {
  const order = labels.map((_, i) => i).sort((a, b) => labels[a]!.y - labels[b]!.y || labels[a]!.x - labels[b]!.x);
  const placed: LabelBox[] = [];
  const ys = labels.map((l) => l.y);
  for (const i of order) {
    const l = { ...labels[i]! };
    for (let moved = true, guard = 0; moved && guard <= placed.length; guard++) {
      moved = false;
      for (const p of placed) {
        const overlapX = Math.abs(p.x - l.x) * 2 < p.width + l.width;
        const overlapY = Math.abs(p.y - l.y) * 2 < p.height + l.height + 2 * gapPx;
        if (overlapX && overlapY) {
          l.y = p.y + (p.height + l.height) / 2 + gapPx;
          moved = true;
        }
      }
    }
    placed.push(l);
    ys[i] = l.y;
  }
  return ys;
}
