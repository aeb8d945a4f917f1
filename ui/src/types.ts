// The JSON the scheduler serves under /ui/api (docs/dashboard.md). camelCase, as System.Text.Json's
// web defaults write it. Kept in one file so a change to the server's shapes is one diff here.

export type OperatorState = "running" | "starting" | "degraded" | "failing" | "stopped";

export interface Snapshot {
  takenUnixMs: number;
  scheduler: { address: string; leader: string; fromStandby: boolean };
  operators: OperatorView[];
  streams: StreamView[];
  checkpoints: CheckpointsView | null;
}

export interface OperatorView {
  name: string;
  language: string;
  desired: number;
  running: number;
  state: OperatorState;
  lastError: string;
  inputs: { stream: string; grouping: string }[];
  outputs: string[];
  recordsInPerSec: number;
  recordsOutPerSec: number;
  droppedPerSec: number;
  latencyP50Ms: number | null;
  latencyP99Ms: number | null;
  backpressured: boolean;
  instances: InstanceView[];
}

export interface InstanceView {
  index: number;
  state: string;
  host: string;
  restarts: number;
  lastError: string;
  stateSinceUnixMs: number;
  cpuPercent: number | null;
  memoryBytes: number | null;
  recordsInPerSec: number;
  recordsOutPerSec: number;
  metricsError: string;
}

export interface StreamView {
  stream: string;
  from: string;
  to: string;
  grouping: string;
  recordsPerSec: number;
  backpressured: boolean;
}

export interface CheckpointSummary {
  id: number;
  status: string;
  savepoint: boolean;
  durationMs: number;
  sizeBytes: number;
  startedUnixMs: number;
}

export interface CheckpointsView {
  latestCompletedId: number;
  latestCompletedUnixMs: number;
  durationMs: number;
  sizeBytes: number;
  failedRecent: number;
  recent: CheckpointSummary[];
}

export interface HistoryPoint {
  t: number;
  in: number;
  out: number;
}

export interface HistoryResponse {
  operators: Record<string, HistoryPoint[]>;
}

export interface LogsResponse {
  lines: { instance: number; line: string }[];
}

export interface TraceSummary {
  traceId: string;
  startUnixUs: number;
  durationUs: number;
  spanCount: number;
  operators: string[];
}

export interface TracesResponse {
  traces: TraceSummary[];
}

export interface Span {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  operator: string;
  instance: number;
  kind: string;
  /** Not in the executors' span store today; shown when a server sends it. */
  name?: string;
  startUnixUs: number;
  durationUs: number;
  stream: string;
}

export interface SpansResponse {
  spans: Span[];
}
