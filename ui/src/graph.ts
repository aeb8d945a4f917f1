// The topology as an SVG: laid out again only when operators or streams appear or go; every
// snapshot in between updates texts, classes and data-rate in place, so elements keep their
// identity (no flicker, no stale element handles in browser tests).

import { s, setAttr, setText } from "./dom.js";
import { declutterLabels, layoutGraph, type Point } from "./layout.js";
import { FitScaleMin } from "./limits.js";
import type { GraphVm } from "./viewmodel.js";

interface NodeEls {
  g: SVGGElement;
  title: SVGTitleElement;
  name: SVGTextElement;
  language: SVGTextElement;
  instances: SVGTextElement;
  rates: SVGTextElement;
}

interface EdgeEls {
  g: SVGGElement;
  title: SVGTitleElement;
  path: SVGPathElement;
  label: SVGTSpanElement;
  rate: SVGTSpanElement;
}

/** An SVG path through `points`: straight where level, a horizontal-tangent curve where the route changes height. */
export function pathThrough(points: readonly Point[], selfLoop: boolean): string {
  const f = (p: Point) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`;
  const first = points[0];
  if (first === undefined) return "";
  if (selfLoop && points.length === 4) return `M${f(first)} C${f(points[1]!)} ${f(points[2]!)} ${f(points[3]!)}`;
  let d = `M${f(first)}`;
  for (let i = 1; i < points.length; i++) {
    const p = points[i - 1]!;
    const q = points[i]!;
    if (Math.abs(p.y - q.y) < 0.5) {
      d += ` L${f(q)}`;
    } else {
      const mx = (p.x + q.x) / 2;
      d += ` C${f({ x: mx, y: p.y })} ${f({ x: mx, y: q.y })} ${f(q)}`;
    }
  }
  return d;
}

// Edge label boxes for decluttering: 11px text, two lines.
const LabelCharWidthPx = 6.3;
const LabelHeightPx = 28;
// Room left for a page scroll bar that appears after the fit (an opened panel makes the page taller).
const FitSlackPx = 20;

export class GraphView {
  private readonly svg: SVGSVGElement;
  private structureKey = "";
  private nodes = new Map<string, NodeEls>();
  private edges = new Map<string, EdgeEls>();
  private selected = "";
  private naturalWidth = 0;
  private naturalHeight = 0;

  constructor(
    private readonly host: HTMLElement,
    onSelect: (operator: string) => void,
  ) {
    this.svg = s("svg", { class: "graph", role: "img", "aria-label": "topology graph" });
    host.append(this.svg);
    const pick = (e: Event) => {
      const target = (e.target as Element | null)?.closest("[data-operator]");
      const name = target?.getAttribute("data-operator");
      if (name) onSelect(name);
    };
    this.svg.addEventListener("click", pick);
    this.svg.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") pick(e);
    });
  }

  select(operator: string): void {
    this.selected = operator;
    for (const [name, els] of this.nodes) els.g.classList.toggle("selected", name === operator);
  }

  update(vm: GraphVm): void {
    if (vm.structureKey !== this.structureKey) this.rebuild(vm);
    for (const n of vm.nodes) {
      const els = this.nodes.get(n.id);
      if (els === undefined) continue;
      setAttr(els.g, "class", `node state-${n.state}${n.backpressured ? " backpressured" : ""}${n.id === this.selected ? " selected" : ""}`);
      setAttr(els.g, "data-state", n.state);
      setText(els.title, n.title);
      setText(els.name, n.name);
      setText(els.language, n.language);
      setText(els.instances, n.instances);
      setText(els.rates, n.rates);
    }
    for (const e of vm.edges) {
      const els = this.edges.get(e.id);
      if (els === undefined) continue;
      setAttr(els.g, "class", e.backpressured ? "edge backpressured" : "edge");
      setAttr(els.g, "data-rate", String(e.rate));
      setAttr(els.g, "data-backpressured", String(e.backpressured));
      setAttr(els.path, "marker-end", e.backpressured ? "url(#arrow-bp)" : "url(#arrow)");
      setText(els.title, e.title);
      setText(els.label, e.label);
      setText(els.rate, e.rateText);
    }
  }

  private rebuild(vm: GraphVm): void {
    this.structureKey = vm.structureKey;
    this.nodes = new Map();
    this.edges = new Map();
    const layout = layoutGraph(vm.nodes, vm.edges);
    const marker = (id: string) =>
      s("marker", { id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, s("path", { d: "M0,0 L10,5 L0,10 z" }));
    const edgeLayer = s("g", { class: "edges" });
    const nodeLayer = s("g", { class: "nodes" });
    const labelLayer = s("g", { class: "labels" });
    const routes = new Map(layout.edges.map((r) => [r.id, r]));
    const labelled = vm.edges.filter((e) => routes.has(e.id));
    const labelY = declutterLabels(
      labelled.map((e) => {
        const r = routes.get(e.id)!;
        return { x: r.label.x, y: r.label.y, width: Math.max(e.label.length, 7) * LabelCharWidthPx, height: LabelHeightPx };
      }),
    );
    labelled.forEach((e, i) => {
      const r = routes.get(e.id)!;
      r.label = { x: r.label.x, y: labelY[i]! };
    });
    for (const e of labelled) {
      const r = routes.get(e.id)!;
      const title = s("title");
      const path = s("path", { d: pathThrough(r.points, r.selfLoop) });
      const label = s("tspan", { x: r.label.x.toFixed(1), dy: "-0.35em" });
      const rate = s("tspan", { x: r.label.x.toFixed(1), dy: "1.2em", class: "rate" });
      // The label sits on a halo so crossing lines do not run through its letters.
      const text = s("text", { x: r.label.x.toFixed(1), y: r.label.y.toFixed(1), "text-anchor": "middle" }, label, rate);
      const g = s("g", { "data-testid": e.testId, "data-stream": e.id }, title, path);
      edgeLayer.append(g);
      labelLayer.append(s("g", { class: "edge-label" }, text));
      this.edges.set(e.id, { g, title, path, label, rate });
    }
    const placed = new Map(layout.nodes.map((n) => [n.id, n]));
    for (const n of vm.nodes) {
      const p = placed.get(n.id);
      if (p === undefined) continue;
      const title = s("title");
      const name = s("text", { x: 10, y: 20, class: "name" });
      const language = s("text", { x: 10, y: 37, class: "language" });
      const instances = s("text", { x: p.width - 10, y: 20, class: "instances", "text-anchor": "end", "data-testid": `instances-${n.id}` });
      const rates = s("text", { x: 10, y: 51, class: "rates" });
      const g = s(
        "g",
        { "data-testid": n.testId, "data-operator": n.id, transform: `translate(${p.x.toFixed(1)},${p.y.toFixed(1)})`, tabindex: 0, role: "button" },
        title,
        s("rect", { width: p.width, height: p.height, rx: 6 }),
        name,
        language,
        instances,
        rates,
      );
      nodeLayer.append(g);
      this.nodes.set(n.id, { g, title, name, language, instances, rates });
    }
    const bottom = Math.max(layout.height, ...labelY.map((y) => y + LabelHeightPx));
    this.naturalWidth = Math.ceil(layout.width);
    this.naturalHeight = Math.ceil(bottom);
    this.svg.replaceChildren(s("defs", {}, marker("arrow"), marker("arrow-bp")), edgeLayer, nodeLayer, labelLayer);
    setAttr(this.svg, "viewBox", `0 0 ${this.naturalWidth} ${this.naturalHeight}`);
    this.fit();
    this.host.classList.toggle("empty", vm.nodes.length === 0);
  }

  /** Shrinks a wide graph to the box's width, down to a readable scale; below that the box scrolls. */
  fit(): void {
    const room = this.host.clientWidth - FitSlackPx;
    const scale = room > 0 ? Math.max(FitScaleMin, Math.min(1, room / this.naturalWidth)) : 1;
    setAttr(this.svg, "width", String(Math.floor(this.naturalWidth * scale)));
    setAttr(this.svg, "height", String(Math.floor(this.naturalHeight * scale)));
  }
}
