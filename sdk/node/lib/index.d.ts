// Type declarations of the Concord Node SDK (hand-written; the package is plain JavaScript).

/// <reference types="node" />

/** How a stream's records are spread over the reading operator's instances. */
export declare const StreamGrouping: Readonly<{ SHUFFLE: 1; GROUP_BY: 2; BROADCAST: 3 }>;
export type StreamGrouping = 1 | 2 | 3;

/** What clock a timer follows. */
export declare const TimeDomain: Readonly<{ PROCESSING: 1; EVENT: 2 }>;
export type TimeDomain = 1 | 2;

/** Levels of ctx.log. */
export declare const LogLevel: Readonly<{ DEBUG: 1; INFO: 2; WARNING: 3; ERROR: 4 }>;
export type LogLevel = 1 | 2 | 3 | 4;

/** Bytes a record key, value or state value may be given as (strings are UTF-8). */
export type Bytes = Buffer | Uint8Array | string;

/** Thrown by ctx.produceRecord for a record the protocol forbids; fatal even when caught. */
export declare class ProduceError extends Error {}
/** Thrown by ctx.state(...) and its methods for a forbidden use; fatal even when caught. */
export declare class StateError extends Error {}
/** The executor broke the session protocol. */
export declare class ProtocolError extends Error {}

export type InputStreamSpec = string | [name: string, grouping: StreamGrouping] | { name: string; grouping?: StreamGrouping };

export interface MetadataSpec {
  /** The operator's name: the deploy file's `name`. */
  name: string;
  /** Streams read: a name (SHUFFLE), a [name, grouping] pair or {name, grouping}. */
  inputs?: readonly InputStreamSpec[];
  /** Streams the operator may produce to. */
  outputs?: readonly string[];
  /** Keyed states used through ctx.state(name). */
  states?: readonly string[];
}

/** What the operator says about itself; validated on construction (throws TypeError). */
export declare class Metadata {
  constructor(spec: MetadataSpec);
  static from(value: Metadata | MetadataSpec): Metadata;
  readonly name: string;
  readonly inputs: ReadonlyArray<{ readonly name: string; readonly grouping: StreamGrouping }>;
  readonly outputs: ReadonlyArray<string>;
  readonly states: ReadonlyArray<string>;
}

/** A Dapper-style trace context carried by sampled records. */
export interface TraceContext {
  traceId: Buffer;
  parentSpanId: Buffer;
}

/** An input record (concord.types.v1.Record). */
export interface Record {
  /** Routing key; empty means "no key". */
  readonly key: Buffer;
  readonly value: Buffer;
  /** Event time, ms since the Unix epoch (0: not set). */
  readonly eventTimeUnixMs: number;
  readonly trace: TraceContext | null;
  /** When the record's lineage entered the topology, µs since the Unix epoch. */
  readonly ingestTimeUnixUs: number;
}

/** One declared state for the key in scope (ctx.stateKey at the time of the call). */
export declare class State {
  readonly name: string;
  /** The value last set for the key in scope, or null. */
  get(): Buffer | null;
  /** Sets the value for the key in scope (at most Init.max_state_value_bytes). */
  set(value: Bytes): void;
  /** Removes the value of the key in scope. */
  clear(): void;
}

/** What callbacks use; everything is sent in the BatchDone of the batch being processed. */
export declare class Context {
  readonly operatorName: string;
  readonly instanceIndex: number;
  readonly instanceCount: number;
  /** The key whose state is in scope: the record's key, the timer's state key, empty in init. */
  readonly stateKey: Buffer;
  /** The executor's input watermark when the batch was cut (ms; 0 when not known, and in init). */
  readonly watermarkUnixMs: number;
  /** The declared state `name` (not in init: no key is in scope there). */
  state(name: string): State;
  /** Emits a record on a declared output; eventTimeMs 0 inherits the input record's. */
  produceRecord(stream: string, key: Bytes, value: Bytes, eventTimeMs?: number): void;
  /** processTimer(ctx, key, timeMs) at timeMs (absolute ms since the Unix epoch, not a delay). */
  setTimer(key: string, timeMs: number, domain?: TimeDomain): void;
  /** A line in the executor's structured log. */
  log(message: unknown, level?: LogLevel): void;
}

type MaybePromise<T> = T | Promise<T>;

/** An operator: extend Computation or give any object with these methods. Callbacks may
 * return a Promise; the session waits for it before the next callback. */
export interface Operator {
  metadata(): MaybePromise<Metadata | MetadataSpec>;
  init?(ctx: Context): MaybePromise<void>;
  processRecord(ctx: Context, record: Record): MaybePromise<void>;
  processTimer?(ctx: Context, key: string, timeMs: number): MaybePromise<void>;
  destroy?(): MaybePromise<void>;
}

export declare abstract class Computation implements Operator {
  abstract metadata(): MaybePromise<Metadata | MetadataSpec>;
  init(ctx: Context): MaybePromise<void>;
  processRecord(ctx: Context, record: Record): MaybePromise<void>;
  processTimer(ctx: Context, key: string, timeMs: number): MaybePromise<void>;
  destroy(): MaybePromise<void>;
}

/** Serves the operator on CONCORD_OPERATOR_ADDRESS (or `address`) and exits the process when
 * the session ends: 0 after Shutdown, 1 after a fatal error, 2 for a missing/bad address. */
export declare function serveComputation(computation: Operator, address?: string): void;
/** serveComputation without the exit: resolves to the exit code. */
export declare function runComputation(computation: Operator, address?: string): Promise<number>;
/** The grpc-js bind target of an operator address (throws an Error naming the fix). */
export declare function grpcAddress(address: string): string;

// ---- scheduler client ----

/** An input of an OperatorSpec (proto-loader's camelCase objects, as the scheduler returns them). */
export interface InputStream { name: string; grouping: StreamGrouping }

/** concord.types.v1.OperatorSpec. */
export interface OperatorSpec {
  name: string;
  executable: string;
  args: string[];
  instances: number;
  cpus: number;
  memMb: number;
  environment: { [name: string]: string };
  files: string[];
  expectedInputs: InputStream[];
  expectedOutputs: string[];
  builtin?: { kind: string; options: { [name: string]: string } } | null;
  sourceDirectory?: string;
  allowCycles?: boolean;
  /** 1 at_most_once, 2 at_least_once, 3 exactly_once. */
  delivery?: number;
  unavailableReaderDropAfterMs?: number;
  watermarkOutOfOrdernessMs?: number;
  /** The container image (--runtime kubernetes); ignored by the local runtime. */
  image?: string;
}

/** A deploy file's JSON (docs/deploy-file.md), as `concord deploy FILE.json` reads it. */
export interface DeploySpec {
  name: string;
  executable?: string;
  args?: string[];
  instances?: number;
  cpus?: number;
  /** MB. */
  mem?: number;
  environment?: { [name: string]: string | number | boolean };
  files?: string[];
  inputs?: Array<string | { stream: string; grouping?: 'shuffle' | 'group_by' | 'broadcast' }>;
  outputs?: string[];
  builtin?: { kind: string; options?: { [name: string]: string | number | boolean } };
  allow_cycles?: boolean;
  delivery?: 'at_most_once' | 'at_least_once' | 'exactly_once';
  unavailable_reader_drop_after_ms?: number;
  /** The container image (--runtime kubernetes); ignored by the local runtime. */
  image?: string;
}

/** concord.scheduler.v1.InstanceStatus (state: 1 pending, 2 starting, 3 running, 4 draining, ...). */
export interface InstanceStatus {
  index: number;
  state: number;
  executorPid: number;
  operatorPid: number;
  incarnation: string;
  dataAddress: string;
  metricsAddress: string;
  restarts: number;
  lastError: string;
  stateSinceUnixMs: number;
  [field: string]: unknown;
}

/** concord.scheduler.v1.OperatorStatus. */
export interface OperatorStatus {
  spec: OperatorSpec;
  instances: InstanceStatus[];
  [field: string]: unknown;
}

export interface StreamEdge { stream: string; fromOperator: string; toOperator: string; grouping: StreamGrouping }
export interface GraphResponse { operators: OperatorStatus[]; edges: StreamEdge[] }
export interface ReplaceResponse { operator: OperatorStatus; switchMs: number; totalMs: number; restarted: boolean }

export interface SchedulerClientOptions {
  /** The operator token; default $CONCORD_TOKEN, else the token file of $CONCORD_HOME (or ~/.concord). */
  token?: string | null;
  /** Deadline of each call in ms (default 30,000; replace at least 120,000). */
  timeoutMs?: number;
  /** Client certificate, key and CA files for an https:// scheduler (default the CONCORD_TLS_* variables). */
  tls?: { cert: string; key: string; ca: string };
}

/** A scheduler call failed: `code` is the gRPC status code, `details` the scheduler's reason. */
export declare class SchedulerError extends Error {
  readonly code: number;
  readonly details: string;
}

/** Client of the scheduler's gRPC API; every method rejects with SchedulerError. */
export declare class SchedulerClient {
  constructor(address: string, options?: SchedulerClientOptions);
  deploy(spec: DeploySpec | OperatorSpec): Promise<OperatorStatus>;
  replace(spec: DeploySpec | OperatorSpec, options?: { dropState?: boolean }): Promise<ReplaceResponse>;
  kill(name: string): Promise<void>;
  scale(name: string, instances: number): Promise<OperatorStatus>;
  list(): Promise<OperatorStatus[]>;
  graph(): Promise<GraphResponse>;
  /** executor.log lines of `name`'s instances; with `follow`, new lines until the loop is left. */
  logs(name: string, options?: { instances?: number[]; tailLines?: number; follow?: boolean }): AsyncIterableIterator<LogLine>;
  /** Current figures of every running instance (of `name` only, if given). */
  instanceMetrics(name?: string): Promise<InstanceMetrics[]>;
  listTraces(limit?: number): Promise<TraceSummary[]>;
  getTrace(traceId: string): Promise<Span[]>;
  tail(stream: string, recordsMax?: number): Promise<TailRecord[]>;
  checkpoints(): Promise<{ checkpoints: CheckpointInfo[]; latestCompletedId: number }>;
  triggerSavepoint(): Promise<CheckpointInfo>;
  close(): void;
}

/** scheduler.proto's messages as the client returns them (camelCase, int64 as number). */
export interface LogLine { operatorName: string; instanceIndex: number; line: string }
export interface HistogramBucket { upperBoundSeconds: number; count: number }
export interface InstanceMetrics {
  operatorName: string; instanceIndex: number; metricsAddress: string; scrapedUnixMs: number; error: string;
  recordsInTotal: number; recordsOutTotal: number; batchDurationBuckets: HistogramBucket[];
  endToEndLatencyBuckets: HistogramBucket[]; inboundQueueRows: number; inboundQueueRowsMax: number;
  outboundQueueRows: number; cpuSecondsTotal: number; residentMemoryBytes: number;
  backpressureSecondsTotal: number; recordsDroppedTotal: number;
}
export interface TraceSummary { traceId: string; startUnixUs: number; durationUs: number; spanCount: number; operators: string[] }
export interface Span { traceId: string; [field: string]: unknown }
export interface TailRecord { operatorName: string; instanceIndex: number; stream: string; [field: string]: unknown }
export interface CheckpointInfo {
  checkpointId: number; status: number; triggerUnixMs: number; durationMs: number; alignmentMsMax: number;
  stateBytes: number; writtenBytes: number; savepoint: boolean; directory: string; abortReason: string;
}

/** An OperatorSpec from a deploy-file shaped object, checked as the CLI checks deploy files. */
export declare function specFromDeployObject(spec: DeploySpec): OperatorSpec;
/** The token a client uses when given none, or null. */
export declare function defaultToken(): string | null;

/** Every limit and protocol constant of the SDK (lib/limits.js). */
export declare const limits: Readonly<{ [name: string]: number | string | ReadonlyArray<string> }>;
export declare const version: string;
