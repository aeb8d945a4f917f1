// Every bound of the dashboard page, with its unit last and why (CONTRIBUTING.md).

// Points kept per operator for the records in/out chart: the server keeps HistorySeconds (300) at
// one point per push (PushIntervalMs, 1000), so the page holds the same five minutes and no more.
export const HistoryPointsMax = 300;

// How often the open operator panel refreshes its log lines and traces: the contract asks for
// 5 s, often enough to follow a failure, rare enough not to load the scheduler's log reader.
export const PanelRefreshMs = 5000;

// Log lines asked for per refresh (the server caps it at 200).
export const LogLinesMax = 50;

// Traces asked for per refresh (the server caps it at 100).
export const TracesMax = 20;

// First and largest delay before reopening the event stream after the server closed it or
// refused it: doubling from 1 s keeps a restarting scheduler from being hammered by every tab.
export const ReconnectDelayMs = 1000;
export const ReconnectDelayMsMax = 30000;

// A snapshot older than this means the stream is stuck (the server pushes every 1000 ms and
// sends a keep-alive comment within 15 s): the page says so instead of showing stale rates as live.
export const StaleSnapshotMs = 20000;

// Barycentre sweeps of the graph layout: crossing counts stop improving after a few sweeps for
// graphs of the size the dashboard is for (2..50 operators), and a fixed number bounds the time.
export const LayoutSweepsMax = 8;

// Characters of an operator's name shown in its box (176 px wide); longer names are cut with an
// ellipsis there, and are whole in the box's tooltip and in the operator panel.
export const NodeNameCharsMax = 22;

// The smallest scale a wide graph is shrunk to fit its box: below it 12 px text is unreadable,
// so the box scrolls instead.
export const FitScaleMin = 0.6;
