// The dashboard page: one EventSource on /ui/api/events feeds every view; actions go through the
// POST endpoints and their effect shows in the next snapshot (no reload, no optimistic state).

import * as api from "./api.js";
import { byId, h, setText } from "./dom.js";
import { formatDuration } from "./format.js";
import { GraphView } from "./graph.js";
import { History } from "./history.js";
import { ReconnectDelayMs, ReconnectDelayMsMax, StaleSnapshotMs } from "./limits.js";
import { errorText, OperatorPanel } from "./panel.js";
import type { Snapshot } from "./types.js";
import { checkpointsVm, graphVm } from "./viewmodel.js";

const history = new History();
let snapshot: Snapshot | null = null;
let receivedAtMs = 0;

const errorBox = byId("error");
const statusBox = byId("status");
const checkpointsBox = byId("checkpoints");

function showError(message: string): void {
  setText(errorBox.querySelector(".message")!, message);
  errorBox.hidden = message === "";
}
byId("error-dismiss").addEventListener("click", () => showError(""));

/** The page's own confirmation dialog (a native confirm() would block the event stream's handlers). */
function confirmAction(message: string, yesLabel: string): Promise<boolean> {
  const dialog = byId("confirm");
  setText(byId("confirm-message"), message);
  const yes = byId<HTMLButtonElement>("confirm-yes");
  const no = byId<HTMLButtonElement>("confirm-no");
  setText(yes, yesLabel);
  dialog.hidden = false;
  yes.focus();
  return new Promise((resolve) => {
    const done = (answer: boolean) => {
      dialog.hidden = true;
      yes.onclick = no.onclick = null;
      document.removeEventListener("keydown", onKey);
      resolve(answer);
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") done(false);
    };
    yes.onclick = () => done(true);
    no.onclick = () => done(false);
    document.addEventListener("keydown", onKey);
  });
}

async function act(run: () => Promise<{ message: string }>): Promise<void> {
  try {
    const { message } = await run();
    showError("");
    setText(byId("notice"), message);
  } catch (e) {
    // Verbatim: the server's message names the problem and the fix (same as the CLI's).
    showError(errorText(e));
  }
}

const panel: OperatorPanel = new OperatorPanel(byId("operator-panel"), history, {
  scale(operator, instances) {
    if (!Number.isInteger(instances) || instances < 1) {
      showError(`instances: ${String(instances)} is not a whole number of at least 1; type the number of instances ${operator} should run`);
      return;
    }
    void confirmAction(`Scale ${operator} to ${instances} instance${instances === 1 ? "" : "s"}?`, "Scale").then(
      (yes) => (yes ? act(() => api.scale(operator, instances)) : undefined),
    );
  },
  kill(operator) {
    void confirmAction(`Kill ${operator}? Every instance stops and the operator is removed from the topology.`, "Kill").then(
      (yes) => (yes ? act(() => api.kill(operator)) : undefined),
    );
  },
  close() {
    panel.close();
    graph.select("");
    graph.fit();
  },
});

const graph = new GraphView(byId("graph"), (operator) => {
  panel.open(operator, snapshot);
  graph.select(operator);
  graph.fit();
});

window.addEventListener("resize", () => graph.fit());

function renderCheckpoints(s: Snapshot): void {
  const vm = checkpointsVm(s.checkpoints, s.takenUnixMs);
  if (!vm.present) {
    checkpointsBox.replaceChildren(h("h2", {}, "Checkpoints"), h("p", { class: "muted" }, "No operator has a delivery guarantee, so nothing is checkpointed."));
    return;
  }
  checkpointsBox.replaceChildren(
    h("h2", {}, "Checkpoints"),
    h("dl", { class: "stats" }, ...vm.summary.flatMap((i) => [h("dt", {}, i.label), h("dd", { class: i.label.startsWith("failed") && vm.failedRecent > 0 ? "error-text" : undefined }, i.value)])),
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, ...["id", "status", "kind", "started", "duration", "size"].map((c) => h("th", {}, c)))),
      h("tbody", {}, ...vm.rows.map((r) => h("tr", {}, ...[r.id, r.status, r.kind, r.started, r.duration, r.size].map((c) => h("td", {}, c))))),
    ),
  );
}

function render(s: Snapshot): void {
  snapshot = s;
  receivedAtMs = Date.now();
  history.append(s);
  graph.update(graphVm(s));
  if (panel.current !== "") panel.update(s);
  renderCheckpoints(s);
  const where = s.scheduler.fromStandby
    ? `standby scheduler ${s.scheduler.address}; actions go to the leader at ${s.scheduler.leader || "(unknown)"}`
    : `scheduler ${s.scheduler.address}`;
  setText(byId("scheduler"), where);
  byId("empty").hidden = s.operators.length > 0;
  setStatus("live", "live");
}

function setStatus(kind: "live" | "stale" | "down", text: string): void {
  statusBox.className = `status ${kind}`;
  setText(statusBox, text);
}

// One EventSource at a time. The browser retries by itself after a dropped connection; after a
// refusal (401, 503) it gives up (CLOSED), and the page retries with a doubling delay.
let source: EventSource | null = null;
let delayMs = ReconnectDelayMs;
let retryTimer: number | undefined;

function connect(): void {
  source?.close();
  const es = new EventSource(api.EventsPath);
  source = es;
  es.addEventListener("snapshot", (e) => {
    delayMs = ReconnectDelayMs;
    try {
      render(JSON.parse((e as MessageEvent<string>).data) as Snapshot);
    } catch (err) {
      showError(`a snapshot could not be shown (${errorText(err)}); the page and the scheduler may be from different versions: reload the page`);
    }
  });
  es.addEventListener("error", () => {
    if (es !== source) return;
    if (es.readyState === EventSource.CLOSED) {
      es.close();
      setStatus("down", `disconnected; retrying in ${formatDuration(delayMs)}`);
      window.clearTimeout(retryTimer);
      retryTimer = window.setTimeout(() => {
        // A plain request tells why the stream was refused: a 401 goes to the login form (api.ts).
        api.getHistory().then((h) => history.load(h), () => undefined);
        connect();
      }, delayMs);
      delayMs = Math.min(delayMs * 2, ReconnectDelayMsMax);
    } else {
      setStatus("down", "connection lost; reconnecting…");
    }
  });
}

window.setInterval(() => {
  if (snapshot === null || source?.readyState !== EventSource.OPEN) return;
  const age = Date.now() - receivedAtMs;
  if (age > StaleSnapshotMs) setStatus("stale", `no update for ${formatDuration(age)}`);
}, 1000);

api.getHistory().then(
  (h) => {
    history.load(h);
    if (snapshot !== null && panel.current !== "") panel.update(snapshot);
  },
  (e) => showError(`history unavailable: ${errorText(e)}`),
);
connect();
