// Numbers as people read them: three significant digits at most, a unit suffix, and an explicit
// dash for "unknown" (null) so it is never mistaken for zero.

export const Unknown = "–";

function compact(value: number, units: readonly string[], base: number): string {
  let v = Math.abs(value);
  let i = 0;
  while (v >= base && i < units.length - 1) {
    v /= base;
    i++;
  }
  const sign = value < 0 ? "-" : "";
  // 1 decimal below 10, none above: "1.2k", "12k", "123k".
  const digits = i === 0 || v >= 10 ? 0 : 1;
  let text = v.toFixed(digits);
  // Rounding may reach the base ("999.96k" -> "1000k"): move up a unit instead.
  if (Number(text) >= base && i < units.length - 1) {
    text = "1.0";
    i++;
  }
  return `${sign}${text}${units[i]}`;
}

/** Records per second: "0/s", "950/s", "1.2k/s", "34k/s", "5.6M/s". */
export function formatRate(perSec: number | null | undefined): string {
  if (perSec === null || perSec === undefined || !Number.isFinite(perSec)) return Unknown;
  if (perSec > 0 && perSec < 1) return `${perSec.toFixed(1)}/s`;
  return `${compact(Math.round(perSec), ["", "k", "M", "G"], 1000)}/s`;
}

/** Bytes in binary units: "512 B", "1.5 KiB", "12 MiB". */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return Unknown;
  return compact(Math.round(bytes), [" B", " KiB", " MiB", " GiB", " TiB"], 1024);
}

/** A duration: "1.8 ms", "850 ms", "1.2 s", "45 s", "3m 05s", "2h 03m", "4d 02h". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return Unknown;
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms < 1) return ms === 0 ? "0 ms" : `${ms.toFixed(2)} ms`;
  if (ms < 10) return `${Number(ms.toFixed(1))} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  const total = Math.floor(s);
  const pad = (n: number) => String(n).padStart(2, "0");
  if (total < 3600) return `${Math.floor(total / 60)}m ${pad(total % 60)}s`;
  if (total < 86400) return `${Math.floor(total / 3600)}h ${pad(Math.floor((total % 3600) / 60))}m`;
  return `${Math.floor(total / 86400)}d ${pad(Math.floor((total % 86400) / 3600))}h`;
}

/** Microseconds (trace spans) as a duration. */
export function formatMicros(us: number | null | undefined): string {
  if (us === null || us === undefined) return Unknown;
  return formatDuration(us / 1000);
}

/** How long ago `unixMs` was, seen at `nowMs`: "12 s ago". */
export function formatAgo(unixMs: number, nowMs: number): string {
  if (!unixMs) return Unknown;
  return `${formatDuration(Math.max(0, nowMs - unixMs))} ago`;
}

/** CPU share of one core: "37%", "0.4%", "–" when the scrape had none. */
export function formatPercent(percent: number | null | undefined): string {
  if (percent === null || percent === undefined || !Number.isFinite(percent)) return Unknown;
  return percent < 10 && percent !== 0 ? `${percent.toFixed(1)}%` : `${Math.round(percent)}%`;
}

/** A latency in ms that may be unknown (no histogram yet). */
export function formatLatency(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? Unknown : formatDuration(ms);
}
