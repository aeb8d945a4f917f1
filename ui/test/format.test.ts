import assert from "node:assert/strict";
import { test } from "node:test";
import { formatAgo, formatBytes, formatDuration, formatLatency, formatMicros, formatPercent, formatRate, Unknown } from "../src/format.js";

test("rates: units, rounding across a unit, small and unknown", () => {
  assert.equal(formatRate(0), "0/s");
  assert.equal(formatRate(950), "950/s");
  assert.equal(formatRate(1234), "1.2k/s");
  assert.equal(formatRate(34_567), "35k/s");
  assert.equal(formatRate(999_960), "1.0M/s");
  assert.equal(formatRate(5_600_000), "5.6M/s");
  assert.equal(formatRate(0.25), "0.3/s");
  assert.equal(formatRate(null), Unknown);
  assert.equal(formatRate(Number.NaN), Unknown);
});

test("bytes in binary units", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(52_428_800), "50 MiB");
  assert.equal(formatBytes(3 * 1024 ** 3), "3.0 GiB");
  assert.equal(formatBytes(null), Unknown);
});

test("durations from sub-millisecond to days", () => {
  assert.equal(formatDuration(0), "0 ms");
  assert.equal(formatDuration(0.25), "0.25 ms");
  assert.equal(formatDuration(1.8), "1.8 ms");
  assert.equal(formatDuration(850), "850 ms");
  assert.equal(formatDuration(1200), "1.2 s");
  assert.equal(formatDuration(45_000), "45 s");
  assert.equal(formatDuration(185_000), "3m 05s");
  assert.equal(formatDuration(7_380_000), "2h 03m");
  assert.equal(formatDuration(360_000_000), "4d 04h");
  assert.equal(formatDuration(-1200), "-1.2 s");
  assert.equal(formatDuration(undefined), Unknown);
  assert.equal(formatMicros(2300), "2.3 ms");
  assert.equal(formatLatency(null), Unknown);
  assert.equal(formatLatency(7.4), "7.4 ms");
});

test("ago, percent", () => {
  assert.equal(formatAgo(1_000, 13_000), "12 s ago");
  assert.equal(formatAgo(20_000, 13_000), "0 ms ago", "a clock ahead of the page is not a negative age");
  assert.equal(formatAgo(0, 13_000), Unknown);
  assert.equal(formatPercent(37.4), "37%");
  assert.equal(formatPercent(0.44), "0.4%");
  assert.equal(formatPercent(0), "0%");
  assert.equal(formatPercent(null), Unknown);
});
