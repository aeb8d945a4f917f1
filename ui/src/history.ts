// The records in/out history behind each operator's chart: seeded from GET /ui/api/history when
// the page opens, then one point per snapshot. Bounded per operator; operators that disappear
// (killed) are dropped, like on the server.

import { HistoryPointsMax } from "./limits.js";
import type { HistoryPoint, HistoryResponse, Snapshot } from "./types.js";

/** A fixed-capacity ring of points in time order; pushing onto a full ring drops the oldest. */
export class HistoryRing {
  private readonly buffer: (HistoryPoint | undefined)[];
  private start = 0;
  private count = 0;

  constructor(readonly capacity: number = HistoryPointsMax) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`history capacity ${capacity} is out of range; use an integer >= 1`);
    }
    this.buffer = new Array<HistoryPoint | undefined>(capacity);
  }

  get length(): number {
    return this.count;
  }

  /** The newest point, if any. */
  last(): HistoryPoint | undefined {
    return this.count === 0 ? undefined : this.buffer[(this.start + this.count - 1) % this.capacity];
  }

  /**
   * Adds a point unless it is not newer than the last one: the history response and the first
   * snapshots overlap, and a repeated snapshot must not draw a vertical step.
   */
  push(point: HistoryPoint): boolean {
    const last = this.last();
    if (last !== undefined && point.t <= last.t) return false;
    if (this.count < this.capacity) {
      this.buffer[(this.start + this.count) % this.capacity] = point;
      this.count++;
    } else {
      this.buffer[this.start] = point;
      this.start = (this.start + 1) % this.capacity;
    }
    return true;
  }

  /** The points, oldest first (a copy). */
  points(): HistoryPoint[] {
    const out: HistoryPoint[] = [];
    for (let i = 0; i < this.count; i++) {
      const p = this.buffer[(this.start + i) % this.capacity];
      if (p !== undefined) out.push(p);
    }
    return out;
  }
}

/** One ring per operator. */
export class History {
  private readonly rings = new Map<string, HistoryRing>();

  constructor(private readonly capacity: number = HistoryPointsMax) {}

  private ring(name: string): HistoryRing {
    let ring = this.rings.get(name);
    if (ring === undefined) {
      ring = new HistoryRing(this.capacity);
      this.rings.set(name, ring);
    }
    return ring;
  }

  /**
   * Merges the server's history with what snapshots already added (the event stream may answer
   * before the history request does), in time order, one point per timestamp.
   */
  load(response: HistoryResponse): void {
    for (const [name, points] of Object.entries(response.operators ?? {})) {
      const merged = [...(this.rings.get(name)?.points() ?? []), ...points].sort((a, b) => a.t - b.t);
      const ring = new HistoryRing(this.capacity);
      for (const p of merged) ring.push(p);
      this.rings.set(name, ring);
    }
  }

  /** One point per operator from a snapshot; forgets operators the snapshot no longer has. */
  append(snapshot: Snapshot): void {
    const names = new Set<string>();
    for (const op of snapshot.operators) {
      names.add(op.name);
      this.ring(op.name).push({ t: snapshot.takenUnixMs, in: op.recordsInPerSec, out: op.recordsOutPerSec });
    }
    for (const name of [...this.rings.keys()]) {
      if (!names.has(name)) this.rings.delete(name);
    }
  }

  points(name: string): HistoryPoint[] {
    return this.rings.get(name)?.points() ?? [];
  }

  operators(): string[] {
    return [...this.rings.keys()];
  }
}
