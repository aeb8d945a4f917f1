namespace Concord.Scheduler.Dashboard;

// The JSON the dashboard's browser code reads (docs/dashboard.md, "Snapshot"), serialised with
// System.Text.Json's web defaults (camelCase). Field names are a contract with ui/src: change
// both or neither.

/// <summary>Everything one dashboard view shows at one moment.</summary>
public sealed record DashboardSnapshot(
    long TakenUnixMs,
    SchedulerView Scheduler,
    IReadOnlyList<OperatorView> Operators,
    IReadOnlyList<StreamView> Streams,
    CheckpointsView? Checkpoints);

/// <summary>Which scheduler answered: its address, the leader's, and whether it is a standby (which shows no instance state).</summary>
public sealed record SchedulerView(string Address, string Leader, bool FromStandby);

/// <summary>One operator: its spec in short, its state, and its figures over the last interval.</summary>
public sealed record OperatorView(
    string Name,
    string Language,
    int Desired,
    int Running,
    string State,
    string LastError,
    IReadOnlyList<InputView> Inputs,
    IReadOnlyList<string> Outputs,
    double RecordsInPerSec,
    double RecordsOutPerSec,
    double DroppedPerSec,
    double? LatencyP50Ms,
    double? LatencyP99Ms,
    bool Backpressured,
    IReadOnlyList<InstanceView> Instances);

/// <summary>A stream an operator reads and how it is spread over its instances.</summary>
public sealed record InputView(string Stream, string Grouping);

/// <summary>One instance: where and how it runs, and its own figures (null when its executor was not scraped).</summary>
public sealed record InstanceView(
    int Index,
    string State,
    string Host,
    int Restarts,
    string LastError,
    long StateSinceUnixMs,
    double? CpuPercent,
    double? MemoryBytes,
    double RecordsInPerSec,
    double RecordsOutPerSec,
    string MetricsError);

/// <summary>One edge of the graph: a stream from one operator to one reader.</summary>
public sealed record StreamView(string Stream, string From, string To, string Grouping, double RecordsPerSec, bool Backpressured);

/// <summary>The checkpoints of operators with a delivery guarantee.</summary>
public sealed record CheckpointsView(
    long LatestCompletedId,
    long LatestCompletedUnixMs,
    long DurationMs,
    long SizeBytes,
    int FailedRecent,
    IReadOnlyList<CheckpointView> Recent);

/// <summary>One recent checkpoint.</summary>
public sealed record CheckpointView(long Id, string Status, bool Savepoint, long DurationMs, long SizeBytes, long StartedUnixMs);

/// <summary>One point of an operator's rate history.</summary>
public sealed record HistoryPoint(long T, double In, double Out);
