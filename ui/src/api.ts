// Calls to the scheduler's /ui/api (docs/dashboard.md). Failures become ApiError carrying the
// server's own message verbatim; a 401 sends the browser to the login form.

import type { HistoryResponse, LogsResponse, SpansResponse, TracesResponse } from "./types.js";

export const LoginPath = "/ui/login";
export const EventsPath = "/ui/api/events";
// The CSRF guard of the mutating endpoints: a cross-site form cannot set a custom header.
export const DashboardHeader = "X-Concord-Dashboard";

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

async function errorOf(response: Response): Promise<ApiError> {
  const text = await response.text().catch(() => "");
  let message = text;
  try {
    const body = JSON.parse(text) as { error?: unknown };
    if (typeof body.error === "string") message = body.error;
  } catch {
    // Not JSON (a proxy's page): show the text as it came.
  }
  if (message.trim() === "") message = `${response.status} ${response.statusText}`;
  return new ApiError(message, response.status);
}

async function call<T>(path: string, init?: RequestInit): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, { credentials: "same-origin", ...init });
  } catch (e) {
    throw new ApiError(`cannot reach the scheduler (${e instanceof Error ? e.message : String(e)}); is it running?`, 0);
  }
  if (response.status === 401) {
    window.location.assign(LoginPath);
  }
  if (!response.ok) throw await errorOf(response);
  return (await response.json()) as T;
}

export const getHistory = () => call<HistoryResponse>("/ui/api/history");

export const getLogs = (operator: string, lines: number) =>
  call<LogsResponse>(`/ui/api/logs?operator=${encodeURIComponent(operator)}&lines=${lines}`);

export const getTraces = (limit: number) => call<TracesResponse>(`/ui/api/traces?limit=${limit}`);

export const getSpans = (traceId: string) => call<SpansResponse>(`/ui/api/traces/${encodeURIComponent(traceId)}`);

function post(path: string, body: unknown): Promise<{ message: string }> {
  return call<{ message: string }>(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", [DashboardHeader]: "1" },
    body: JSON.stringify(body),
  });
}

export const scale = (operator: string, instances: number) => post("/ui/api/scale", { operator, instances });

export const kill = (operator: string) => post("/ui/api/kill", { operator });
