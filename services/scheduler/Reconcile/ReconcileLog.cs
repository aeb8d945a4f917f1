using Microsoft.Extensions.Logging;

namespace Concord.Scheduler.Reconcile;

/// <summary>
/// Log messages of the reconcile loop (event ids 100-199), shared by the core (decisions) and
/// the effects layer (launch and stop failures, routing), under the reconciler's log category.
/// </summary>
internal static partial class ReconcileLog
{
    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Deployed {Operator} with {Instances} instance(s)")]
    public static partial void LogDeployed(ILogger logger, string @operator, int instances);

    [LoggerMessage(EventId = 101, Level = LogLevel.Information, Message = "Killed {Operator}")]
    public static partial void LogKilled(ILogger logger, string @operator);

    [LoggerMessage(EventId = 102, Level = LogLevel.Information, Message = "Scaled {Operator} from {From} to {To} instance(s)")]
    public static partial void LogScaled(ILogger logger, string @operator, int from, int to);

    [LoggerMessage(EventId = 103, Level = LogLevel.Information, Message = "Recorded metadata of {Operator}: {Inputs} input(s), {Outputs} output(s)")]
    public static partial void LogMetadataRecorded(ILogger logger, string @operator, int inputs, int outputs);

    [LoggerMessage(EventId = 104, Level = LogLevel.Information, Message = "{Operator}/{Index} running (incarnation {Incarnation}, data plane {DataAddress})")]
    public static partial void LogRunning(ILogger logger, string @operator, int index, string incarnation, string dataAddress);

    [LoggerMessage(EventId = 105, Level = LogLevel.Warning, Message = "{Operator}/{Index} reported failure: {Message}")]
    public static partial void LogFailureReported(ILogger logger, string @operator, int index, string message);

    [LoggerMessage(EventId = 106, Level = LogLevel.Debug, Message = "Ignored failure report of {Operator}/{Index} from stale incarnation {Incarnation}")]
    public static partial void LogStaleFailureReport(ILogger logger, string @operator, int index, string incarnation);

    [LoggerMessage(EventId = 107, Level = LogLevel.Warning, Message = "{Operator}/{Index} failed ({FailuresInWindow} in window), restarting in {DelayMs} ms: {Error}")]
    public static partial void LogFailed(ILogger logger, string @operator, int index, int failuresInWindow, long delayMs, string error);

    [LoggerMessage(EventId = 108, Level = LogLevel.Error, Message = "Could not launch {Operator}/{Index}")]
    public static partial void LogLaunchFailed(ILogger logger, string @operator, int index, Exception exception);

    [LoggerMessage(EventId = 109, Level = LogLevel.Warning, Message = "{Operator}/{Index} did not register within {TimeoutMs} ms; stopping it")]
    public static partial void LogStartingTimeout(ILogger logger, string @operator, int index, int timeoutMs);

    [LoggerMessage(EventId = 110, Level = LogLevel.Information, Message = "{Operator}/{Index} stopped ({Exit})")]
    public static partial void LogStopped(ILogger logger, string @operator, int index, string exit);

    [LoggerMessage(EventId = 111, Level = LogLevel.Error, Message = "Stopping {Operator}/{Index} failed")]
    public static partial void LogStopFailed(ILogger logger, string @operator, int index, Exception exception);

    [LoggerMessage(EventId = 112, Level = LogLevel.Debug, Message = "Routing table {Version}: {Streams} stream(s), {Watchers} watcher(s)")]
    public static partial void LogRoutingPublished(ILogger logger, long version, int streams, int watchers);

    [LoggerMessage(EventId = 113, Level = LogLevel.Critical, Message = "Reconcile loop event failed; the loop goes on")]
    public static partial void LogLoopError(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 114, Level = LogLevel.Information, Message = "Replacing {Operator}: launching release {Release} ({Instances} instance(s)), {TimeoutMs} ms to reach running")]
    public static partial void LogReplaceStarted(ILogger logger, string @operator, int release, int instances, long timeoutMs);

    [LoggerMessage(EventId = 115, Level = LogLevel.Information, Message = "{Operator}/{Index} release {Release} running (data plane {DataAddress}), not routed to until the switch")]
    public static partial void LogReplacementRunning(ILogger logger, string @operator, int index, int release, string dataAddress);

    [LoggerMessage(EventId = 116, Level = LogLevel.Information, Message = "Replaced {Operator}: routing moved to release {Release} after {SwitchMs} ms; draining {Old} old instance(s)")]
    public static partial void LogReplaced(ILogger logger, string @operator, int release, long switchMs, int old);

    [LoggerMessage(EventId = 117, Level = LogLevel.Warning, Message = "Replace of {Operator} (release {Release}) rolled back: {Reason}")]
    public static partial void LogReplaceFailed(ILogger logger, string @operator, int release, string reason);

    [LoggerMessage(EventId = 118, Level = LogLevel.Information, Message = "Not adopting leftover {Operator}/{Index} (pid {Pid}): {Reason}; stopping it")]
    public static partial void LogNotAdopted(ILogger logger, string @operator, int index, int pid, string reason);

    [LoggerMessage(EventId = 119, Level = LogLevel.Warning, Message = "Routing table {Version} did not reach every watcher within {TimeoutMs} ms; stopping {Operator}/{Index} anyway")]
    public static partial void LogRoutingNotDelivered(ILogger logger, string @operator, int index, long version, int timeoutMs);

    [LoggerMessage(EventId = 120, Level = LogLevel.Information, Message = "Every added instance of {Operator} runs: routing now spreads its key groups over {Instances} instance(s)")]
    public static partial void LogScaleRouted(ILogger logger, string @operator, int instances);

    [LoggerMessage(EventId = 121, Level = LogLevel.Warning, Message = "Removing the working state of a stopped instance failed; it stays on disk")]
    public static partial void LogForgetFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 122, Level = LogLevel.Warning, Message = "Restoring every operator with a delivery guarantee from checkpoint {CheckpointId} (0: none, they start empty): {Reason}")]
    public static partial void LogRestoring(ILogger logger, string reason, ulong checkpointId);

    [LoggerMessage(EventId = 128, Level = LogLevel.Warning, Message = "Replacing {Operator} with release {Release} and empty state (drop-state): every operator with a delivery guarantee restarts from checkpoint {CheckpointId} (0: none)")]
    public static partial void LogReplacedDroppingState(ILogger logger, string @operator, int release, ulong checkpointId);

    [LoggerMessage(EventId = 129, Level = LogLevel.Warning, Message = "Replacing {Operator} with release {Release}, keeping its state: every operator with a delivery guarantee restarts from checkpoint {CheckpointId} (0: none)")]
    public static partial void LogReplacingKeepingState(ILogger logger, string @operator, int release, ulong checkpointId);

    [LoggerMessage(EventId = 130, Level = LogLevel.Information, Message = "Replaced {Operator}: release {Release} runs with the state of checkpoint {CheckpointId}, after {ElapsedMs} ms")]
    public static partial void LogReplacedKeepingState(ILogger logger, string @operator, int release, ulong checkpointId, long elapsedMs);

    [LoggerMessage(EventId = 131, Level = LogLevel.Warning, Message = "Replacing {Operator} from the last completed checkpoint: a fresh one could not be taken ({Reason})")]
    public static partial void LogReplaceWithoutFreshCheckpoint(ILogger logger, string @operator, string reason);

    [LoggerMessage(EventId = 132, Level = LogLevel.Warning, Message = "Not carrying out {Action}: this scheduler's term as leader ended, the instances are the new leader's")]
    public static partial void LogNotActing(ILogger logger, string action);
}
