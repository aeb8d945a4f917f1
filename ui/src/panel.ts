// The operator panel: opened by clicking a node. Its frame (and the scale input the user may be
// typing in) is built once per open; every snapshot refreshes the numbers, the instances table
// and the chart; logs and traces are fetched on open and every PanelRefreshMs while open.

import * as api from "./api.js";
import { chartGeometry } from "./chart.js";
import { h, s, setAttr, setText } from "./dom.js";
import { formatAgo, formatDuration, formatMicros } from "./format.js";
import type { History } from "./history.js";
import { LogLinesMax, PanelRefreshMs, TracesMax } from "./limits.js";
import type { Snapshot, Span } from "./types.js";
import { operatorPanelVm, spanDepths, type OperatorPanelVm } from "./viewmodel.js";

const ChartWidthPx = 360;
const ChartHeightPx = 90;

export interface PanelActions {
  scale(operator: string, instances: number): void;
  kill(operator: string): void;
  close(): void;
}

interface Fields {
  title: HTMLElement;
  state: HTMLElement;
  stats: Map<keyof OperatorPanelVm, HTMLElement>;
  lastError: HTMLElement;
  rows: HTMLTableSectionElement;
  chartIn: SVGPolylineElement;
  chartOut: SVGPolylineElement;
  chartMax: SVGTextElement;
  chartSpan: HTMLElement;
  logs: HTMLElement;
  traces: HTMLElement;
  spans: HTMLElement;
  scaleInput: HTMLInputElement;
  buttons: HTMLButtonElement[];
}

const Stats: [keyof OperatorPanelVm, string][] = [
  ["instances", "instances"],
  ["recordsIn", "records in"],
  ["recordsOut", "records out"],
  ["dropped", "dropped"],
  ["p50", "latency p50"],
  ["p99", "latency p99"],
  ["inputs", "inputs"],
  ["outputs", "outputs"],
];

export class OperatorPanel {
  private operator = "";
  private fields: Fields | null = null;
  private timer: number | undefined;
  private openTrace = "";

  constructor(
    private readonly host: HTMLElement,
    private readonly history: History,
    private readonly actions: PanelActions,
  ) {}

  get current(): string {
    return this.operator;
  }

  open(operator: string, snapshot: Snapshot | null): void {
    this.close();
    this.operator = operator;
    this.fields = this.build(operator);
    this.host.hidden = false;
    if (snapshot !== null) this.update(snapshot, true);
    void this.refresh();
    this.timer = window.setInterval(() => void this.refresh(), PanelRefreshMs);
  }

  close(): void {
    if (this.timer !== undefined) window.clearInterval(this.timer);
    this.timer = undefined;
    this.operator = "";
    this.fields = null;
    this.openTrace = "";
    this.host.hidden = true;
    this.host.replaceChildren();
  }

  /** Refreshes from a snapshot; closes when the operator is gone (killed). */
  update(snapshot: Snapshot, first = false): void {
    const f = this.fields;
    if (f === null) return;
    const op = snapshot.operators.find((o) => o.name === this.operator);
    if (op === undefined) {
      this.actions.close();
      return;
    }
    const vm = operatorPanelVm(op, snapshot.takenUnixMs);
    setText(f.state, vm.state + (vm.backpressured ? " · backpressured" : ""));
    setAttr(f.state, "class", `badge state-${vm.state}`);
    for (const [key, el] of f.stats) setText(el, String(vm[key]));
    setText(f.lastError, vm.lastError);
    f.lastError.hidden = vm.lastError === "";
    if (first) f.scaleInput.value = String(vm.desired);
    const actionsOff = snapshot.scheduler.fromStandby;
    for (const b of f.buttons) b.disabled = actionsOff;
    f.rows.replaceChildren(
      ...vm.rows.map((r) =>
        h(
          "tr",
          {},
          h("td", {}, String(r.index)),
          h("td", { class: `state-text state-${r.state}` }, r.state),
          h("td", {}, r.host),
          h("td", { class: "num" }, r.restarts),
          h("td", {}, r.since),
          h("td", { class: "num", title: r.metricsError || undefined }, r.cpu),
          h("td", { class: "num", title: r.metricsError || undefined }, r.memory),
          h("td", { class: "num" }, r.recordsIn),
          h("td", { class: "num" }, r.recordsOut),
          h("td", { class: "error-text" }, r.lastError || (r.metricsError ? `metrics: ${r.metricsError}` : "")),
        ),
      ),
    );
    const g = chartGeometry(this.history.points(this.operator), ChartWidthPx, ChartHeightPx);
    setAttr(f.chartIn, "points", g.inPoints);
    setAttr(f.chartOut, "points", g.outPoints);
    setText(f.chartMax, g.maxLabel);
    setText(f.chartSpan, g.spanMs > 0 ? `last ${formatDuration(g.spanMs)}` : "collecting…");
  }

  private build(operator: string): Fields {
    const stats = new Map<keyof OperatorPanelVm, HTMLElement>();
    const statList = h("dl", { class: "stats" });
    for (const [key, label] of Stats) {
      const dd = h("dd");
      stats.set(key, dd);
      statList.append(h("dt", {}, label), dd);
    }
    const scaleInput = h("input", { type: "number", min: 1, step: 1, "data-testid": "scale-input", "aria-label": "instances" });
    const scaleButton = h("button", { type: "button", "data-testid": "scale-button" }, "Scale");
    const killButton = h("button", { type: "button", class: "danger", "data-testid": "kill-button" }, "Kill");
    scaleButton.addEventListener("click", () => this.actions.scale(operator, Number(scaleInput.value)));
    killButton.addEventListener("click", () => this.actions.kill(operator));
    const closeButton = h("button", { type: "button", class: "close", "aria-label": "close panel" }, "×");
    closeButton.addEventListener("click", () => this.actions.close());

    const chartIn = s("polyline", { class: "in" });
    const chartOut = s("polyline", { class: "out" });
    const chartMax = s("text", { x: 2, y: 10 });
    const chartSpan = h("span", { class: "muted" });
    const chart = s(
      "svg",
      { class: "chart", viewBox: `0 0 ${ChartWidthPx} ${ChartHeightPx}`, preserveAspectRatio: "none", role: "img", "aria-label": "records in and out per second" },
      s("line", { x1: 0, y1: ChartHeightPx, x2: ChartWidthPx, y2: ChartHeightPx, class: "axis" }),
      chartIn,
      chartOut,
      chartMax,
    );
    const rows = h("tbody");
    const logs = h("pre", { class: "logs", "data-testid": "logs" }, "loading…");
    const traces = h("ul", { class: "traces", "data-testid": "traces" }, h("li", { class: "muted" }, "loading…"));
    const spans = h("div", { class: "spans" });
    const lastError = h("p", { class: "error-text" });
    const title = h("h2", {}, operator);
    const state = h("span", { class: "badge" });
    this.host.replaceChildren(
      h("header", {}, title, state, closeButton),
      lastError,
      statList,
      h(
        "div",
        { class: "actions" },
        h("label", {}, "instances ", scaleInput),
        scaleButton,
        killButton,
      ),
      h("h3", {}, "Records per second ", h("span", { class: "legend in" }, "in"), " ", h("span", { class: "legend out" }, "out"), " ", chartSpan),
      chart,
      h("h3", {}, "Instances"),
      h(
        "div",
        { class: "scroll" },
        h(
          "table",
          { class: "instances" },
          h(
            "thead",
            {},
            h("tr", {}, ...["#", "state", "host", "restarts", "since", "CPU", "memory", "in", "out", "last error"].map((c) => h("th", {}, c))),
          ),
          rows,
        ),
      ),
      h("h3", {}, "Recent log lines"),
      logs,
      h("h3", {}, "Recent traces"),
      traces,
      spans,
    );
    return { title, state, stats, lastError, rows, chartIn, chartOut, chartMax, chartSpan, logs, traces, spans, scaleInput, buttons: [scaleButton, killButton] };
  }

  private async refresh(): Promise<void> {
    const operator = this.operator;
    const [logs, traces] = await Promise.allSettled([api.getLogs(operator, LogLinesMax), api.getTraces(TracesMax)]);
    const f = this.fields;
    if (f === null || operator !== this.operator) return;
    if (logs.status === "fulfilled") {
      const text = logs.value.lines.map((l) => `[${l.instance}] ${l.line}`).join("\n");
      // Newest lines last: follow them, unless the reader scrolled up to read older ones.
      const following = f.logs.scrollTop + f.logs.clientHeight >= f.logs.scrollHeight - 4 || f.logs.textContent === "loading…";
      setText(f.logs, text === "" ? "(no log lines)" : text);
      if (following) f.logs.scrollTop = f.logs.scrollHeight;
    } else {
      setText(f.logs, `logs unavailable: ${errorText(logs.reason)}`);
    }
    if (traces.status === "fulfilled") {
      const mine = traces.value.traces.filter((t) => t.operators.includes(operator));
      const now = Date.now();
      f.traces.replaceChildren(
        ...(mine.length === 0
          ? [h("li", { class: "muted" }, "no sampled traces through this operator")]
          : mine.map((t) => {
              const b = h(
                "button",
                { type: "button", class: t.traceId === this.openTrace ? "link open" : "link", "data-trace": t.traceId },
                `${t.traceId.slice(0, 16)} · ${formatMicros(t.durationUs)} · ${t.spanCount} spans · ${t.operators.join(" → ")} · ${formatAgo(t.startUnixUs / 1000, now)}`,
              );
              b.addEventListener("click", () => void this.showSpans(t.traceId));
              return h("li", {}, b);
            })),
      );
    } else {
      f.traces.replaceChildren(h("li", { class: "error-text" }, `traces unavailable: ${errorText(traces.reason)}`));
    }
  }

  private async showSpans(traceId: string): Promise<void> {
    const f = this.fields;
    if (f === null) return;
    this.openTrace = traceId;
    setText(f.spans, "loading…");
    try {
      const { spans } = await api.getSpans(traceId);
      if (this.fields !== f || this.openTrace !== traceId) return;
      f.spans.replaceChildren(spansTable(traceId, spans));
    } catch (e) {
      if (this.fields === f) f.spans.replaceChildren(h("p", { class: "error-text" }, errorText(e)));
    }
  }
}

function spansTable(traceId: string, spans: readonly Span[]): HTMLElement {
  const sorted = [...spans].sort((a, b) => a.startUnixUs - b.startUnixUs);
  const t0 = sorted[0]?.startUnixUs ?? 0;
  const depth = spanDepths(sorted);
  // The executors' spans carry no name today: the column shows only when some span has one.
  const named = sorted.some((sp) => sp.name);
  const headers = ["+start", "operator", "instance", "kind", ...(named ? ["name"] : []), "stream", "duration"];
  return h(
    "div",
    {},
    h("h4", {}, `Trace ${traceId}: ${sorted.length} spans, hop by hop`),
    h(
      "table",
      { class: "spans" },
      h("thead", {}, h("tr", {}, ...headers.map((c) => h("th", {}, c)))),
      h(
        "tbody",
        {},
        ...sorted.map((sp) =>
          h(
            "tr",
            {},
            h("td", { class: "num" }, formatMicros(sp.startUnixUs - t0)),
            h("td", { style: `padding-left:${0.4 + (depth.get(sp.spanId) ?? 0) * 1.2}em` }, sp.operator),
            h("td", { class: "num" }, String(sp.instance)),
            h("td", {}, sp.kind),
            named && h("td", {}, sp.name ?? ""),
            h("td", {}, sp.stream),
            h("td", { class: "num" }, formatMicros(sp.durationUs)),
          ),
        ),
      ),
    ),
  );
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
