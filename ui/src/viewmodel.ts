// Snapshot -> what the page draws: every string formatted here, so the DOM code only places text
// and the mapping is unit-tested under Node.

import { formatAgo, formatBytes, formatDuration, formatLatency, formatPercent, formatRate, Unknown } from "./format.js";
import { NodeNameCharsMax } from "./limits.js";
import type { CheckpointsView, InstanceView, OperatorState, OperatorView, Snapshot, Span, StreamView } from "./types.js";

export const NodeWidthPx = 176;
export const NodeHeightPx = 58;

const KnownStates: readonly OperatorState[] = ["running", "starting", "degraded", "failing", "stopped"];

export interface NodeVm {
  id: string;
  testId: string;
  name: string;
  title: string;
  language: string;
  instances: string;
  state: OperatorState;
  rates: string;
  backpressured: boolean;
  width: number;
  height: number;
}

export interface EdgeVm {
  id: string;
  testId: string;
  from: string;
  to: string;
  /** Stream and grouping (first line of the label). */
  label: string;
  /** Records/s (second line). */
  rateText: string;
  rate: number;
  backpressured: boolean;
  title: string;
}

export interface GraphVm {
  nodes: NodeVm[];
  edges: EdgeVm[];
  /** Changes only when operators or streams appear or go: the layout is recomputed only then. */
  structureKey: string;
}

export interface InstanceRowVm {
  index: number;
  state: string;
  host: string;
  restarts: string;
  since: string;
  cpu: string;
  memory: string;
  recordsIn: string;
  recordsOut: string;
  lastError: string;
  metricsError: string;
}

export interface OperatorPanelVm {
  name: string;
  language: string;
  state: OperatorState;
  instances: string;
  desired: number;
  recordsIn: string;
  recordsOut: string;
  dropped: string;
  p50: string;
  p99: string;
  inputs: string;
  outputs: string;
  lastError: string;
  backpressured: boolean;
  rows: InstanceRowVm[];
}

export interface CheckpointRowVm {
  id: string;
  status: string;
  kind: string;
  started: string;
  duration: string;
  size: string;
}

export interface CheckpointsVm {
  present: boolean;
  summary: { label: string; value: string }[];
  failedRecent: number;
  rows: CheckpointRowVm[];
}

/** The state the colour key knows; anything else the server may add shows as "degraded". */
export function stateOf(state: string): OperatorState {
  return (KnownStates as readonly string[]).includes(state) ? (state as OperatorState) : "degraded";
}

export function edgeTestId(s: Pick<StreamView, "stream" | "from" | "to">): string {
  return `edge-${s.stream}-${s.from}-${s.to}`;
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export function nodeVm(op: OperatorView): NodeVm {
  const state = stateOf(op.state);
  const lines = [`${op.name} (${op.language || "unknown language"})`, `${state}, ${op.running}/${op.desired} instances`];
  if (op.lastError) lines.push(`last error: ${op.lastError}`);
  return {
    id: op.name,
    testId: `node-${op.name}`,
    name: truncate(op.name, NodeNameCharsMax),
    title: lines.join("\n"),
    language: op.language || Unknown,
    instances: `${op.running}/${op.desired}`,
    state,
    rates: `in ${formatRate(op.recordsInPerSec)} · out ${formatRate(op.recordsOutPerSec)}`,
    backpressured: op.backpressured,
    width: NodeWidthPx,
    height: NodeHeightPx,
  };
}

export function edgeVm(s: StreamView): EdgeVm {
  const rate = Number.isFinite(s.recordsPerSec) ? s.recordsPerSec : 0;
  return {
    id: JSON.stringify([s.stream, s.from, s.to]),
    testId: edgeTestId(s),
    from: s.from,
    to: s.to,
    label: `${s.stream} · ${s.grouping}`,
    rateText: formatRate(rate),
    rate,
    backpressured: s.backpressured,
    title: `${s.stream}: ${s.from} → ${s.to} (${s.grouping}), ${formatRate(rate)}${s.backpressured ? ", backpressured" : ""}`,
  };
}

export function graphVm(snapshot: Snapshot): GraphVm {
  const nodes = snapshot.operators.map(nodeVm);
  const names = new Set(nodes.map((n) => n.id));
  // A stream whose end is not an operator of this snapshot (being deployed or killed) has no box to attach to.
  const edges = snapshot.streams.filter((s) => names.has(s.from) && names.has(s.to)).map(edgeVm);
  const structureKey = JSON.stringify([nodes.map((n) => n.id).sort(), edges.map((e) => e.id).sort()]);
  return { nodes, edges, structureKey };
}

export function instanceRowVm(i: InstanceView, nowMs: number): InstanceRowVm {
  return {
    index: i.index,
    state: i.state,
    // The local runtime leaves the host empty: its instances run on the scheduler's machine.
    host: i.host || "local",
    restarts: String(i.restarts),
    since: formatAgo(i.stateSinceUnixMs, nowMs),
    cpu: formatPercent(i.cpuPercent),
    memory: formatBytes(i.memoryBytes),
    recordsIn: formatRate(i.recordsInPerSec),
    recordsOut: formatRate(i.recordsOutPerSec),
    lastError: i.lastError,
    metricsError: i.metricsError,
  };
}

export function operatorPanelVm(op: OperatorView, nowMs: number): OperatorPanelVm {
  return {
    name: op.name,
    language: op.language || Unknown,
    state: stateOf(op.state),
    instances: `${op.running}/${op.desired}`,
    desired: op.desired,
    recordsIn: formatRate(op.recordsInPerSec),
    recordsOut: formatRate(op.recordsOutPerSec),
    dropped: formatRate(op.droppedPerSec),
    p50: formatLatency(op.latencyP50Ms),
    p99: formatLatency(op.latencyP99Ms),
    inputs: op.inputs.length === 0 ? "none" : op.inputs.map((i) => `${i.stream} (${i.grouping})`).join(", "),
    outputs: op.outputs.length === 0 ? "none" : op.outputs.join(", "),
    lastError: op.lastError,
    backpressured: op.backpressured,
    rows: [...op.instances].sort((a, b) => a.index - b.index).map((i) => instanceRowVm(i, nowMs)),
  };
}

export function checkpointsVm(view: CheckpointsView | null, nowMs: number): CheckpointsVm {
  if (view === null) return { present: false, summary: [], failedRecent: 0, rows: [] };
  const latest = view.latestCompletedId > 0;
  return {
    present: true,
    summary: [
      { label: "last completed", value: latest ? `#${view.latestCompletedId}, ${formatAgo(view.latestCompletedUnixMs, nowMs)}` : "none yet" },
      { label: "duration", value: latest ? formatDuration(view.durationMs) : Unknown },
      { label: "size", value: latest ? formatBytes(view.sizeBytes) : Unknown },
      { label: "failed (recent)", value: String(view.failedRecent) },
    ],
    failedRecent: view.failedRecent,
    rows: view.recent.map((c) => ({
      id: `#${c.id}`,
      status: c.status,
      kind: c.savepoint ? "savepoint" : "checkpoint",
      started: formatAgo(c.startedUnixMs, nowMs),
      duration: formatDuration(c.durationMs),
      size: formatBytes(c.sizeBytes),
    })),
  };
}

/** Depth of each span under its parents (hop count), for the indentation. */
export function spanDepths(spans: readonly Span[]): Map<string, number> {
  const byId = new Map(spans.map((sp) => [sp.spanId, sp]));
  const depth = new Map<string, number>();
  for (const sp of spans) {
    let d = 0;
    let cur: Span | undefined = sp;
    // Bounded by the span count: a malformed parent cycle cannot loop forever.
    while (cur !== undefined && cur.parentSpanId && d < spans.length) {
      cur = byId.get(cur.parentSpanId);
      if (cur !== undefined) d++;
    }
    depth.set(sp.spanId, d);
  }
  return depth;
}

