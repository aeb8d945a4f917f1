// The records in/out chart's geometry, pure so it is unit-tested: two SVG polylines over the
// history's time range, scaled to a round maximum.

import { formatRate } from "./format.js";
import type { HistoryPoint } from "./types.js";

export interface ChartGeometry {
  /** `points` attribute values of the two polylines ("x,y x,y …"). */
  inPoints: string;
  outPoints: string;
  /** The value at the top of the chart, formatted. */
  maxLabel: string;
  /** The time span shown, in ms. */
  spanMs: number;
}

/** The smallest 1-2-5 × 10^n not below `value` (at least 1): a top line that reads well. */
export function niceMax(value: number): number {
  if (!(value > 1)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) {
    if (step * magnitude >= value) return step * magnitude;
  }
  return 10 * magnitude;
}

export function chartGeometry(points: readonly HistoryPoint[], widthPx: number, heightPx: number): ChartGeometry {
  if (points.length === 0) return { inPoints: "", outPoints: "", maxLabel: formatRate(0), spanMs: 0 };
  const t0 = points[0]!.t;
  const t1 = points[points.length - 1]!.t;
  const span = Math.max(1, t1 - t0);
  const top = niceMax(Math.max(...points.map((p) => Math.max(p.in, p.out))));
  const x = (t: number) => (points.length === 1 ? widthPx : ((t - t0) / span) * widthPx);
  const y = (v: number) => heightPx - (Math.max(0, v) / top) * heightPx;
  const line = (pick: (p: HistoryPoint) => number) => points.map((p) => `${x(p.t).toFixed(1)},${y(pick(p)).toFixed(1)}`).join(" ");
  return { inPoints: line((p) => p.in), outPoints: line((p) => p.out), maxLabel: formatRate(top), spanMs: t1 - t0 };
}
