using Microsoft.Extensions.Logging;

namespace Concord.Scheduler.Reconcile;

/// <summary>Log messages of the reconcile loop (event ids 100-199).</summary>
public sealed partial class Reconciler
{
    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Deployed {Operator} with {Instances} instance(s)")]
    private partial void LogDeployed(string @operator, int instances);

    [LoggerMessage(EventId = 101, Level = LogLevel.Information, Message = "Killed {Operator}")]
    private partial void LogKilled(string @operator);

    [LoggerMessage(EventId = 102, Level = LogLevel.Information, Message = "Scaled {Operator} from {From} to {To} instance(s)")]
    private partial void LogScaled(string @operator, int from, int to);

    [LoggerMessage(EventId = 103, Level = LogLevel.Information, Message = "Recorded metadata of {Operator}: {Inputs} input(s), {Outputs} output(s)")]
    private partial void LogMetadataRecorded(string @operator, int inputs, int outputs);

    [LoggerMessage(EventId = 104, Level = LogLevel.Information, Message = "{Operator}/{Index} running (incarnation {Incarnation}, data plane {DataAddress})")]
    private partial void LogRunning(string @operator, int index, string incarnation, string dataAddress);

    [LoggerMessage(EventId = 105, Level = LogLevel.Warning, Message = "{Operator}/{Index} reported failure: {Message}")]
    private partial void LogFailureReported(string @operator, int index, string message);

    [LoggerMessage(EventId = 106, Level = LogLevel.Debug, Message = "Ignored failure report of {Operator}/{Index} from stale incarnation {Incarnation}")]
    private partial void LogStaleFailureReport(string @operator, int index, string incarnation);

    [LoggerMessage(EventId = 107, Level = LogLevel.Warning, Message = "{Operator}/{Index} failed ({FailuresInWindow} in window), restarting in {DelayMs} ms: {Error}")]
    private partial void LogFailed(string @operator, int index, int failuresInWindow, long delayMs, string error);

    [LoggerMessage(EventId = 108, Level = LogLevel.Error, Message = "Could not launch {Operator}/{Index}")]
    private partial void LogLaunchFailed(string @operator, int index, Exception exception);

    [LoggerMessage(EventId = 109, Level = LogLevel.Warning, Message = "{Operator}/{Index} did not register within {TimeoutMs} ms; stopping it")]
    private partial void LogStartingTimeout(string @operator, int index, int timeoutMs);

    [LoggerMessage(EventId = 110, Level = LogLevel.Information, Message = "{Operator}/{Index} stopped ({Exit})")]
    private partial void LogStopped(string @operator, int index, string exit);

    [LoggerMessage(EventId = 111, Level = LogLevel.Error, Message = "Stopping {Operator}/{Index} failed")]
    private partial void LogStopFailed(string @operator, int index, Exception exception);

    [LoggerMessage(EventId = 112, Level = LogLevel.Debug, Message = "Routing table {Version}: {Streams} stream(s), {Watchers} watcher(s)")]
    private partial void LogRoutingPublished(long version, int streams, int watchers);

    [LoggerMessage(EventId = 113, Level = LogLevel.Critical, Message = "Reconcile loop event failed; the loop goes on")]
    private partial void LogLoopError(Exception exception);

    [LoggerMessage(EventId = 114, Level = LogLevel.Information, Message = "Replacing {Operator}: launching release {Release} ({Instances} instance(s)), {TimeoutMs} ms to reach running")]
    private partial void LogReplaceStarted(string @operator, int release, int instances, long timeoutMs);

    [LoggerMessage(EventId = 115, Level = LogLevel.Information, Message = "{Operator}/{Index} release {Release} running (data plane {DataAddress}), not routed to until the switch")]
    private partial void LogReplacementRunning(string @operator, int index, int release, string dataAddress);

    [LoggerMessage(EventId = 116, Level = LogLevel.Information, Message = "Replaced {Operator}: routing moved to release {Release} after {SwitchMs} ms; draining {Old} old instance(s)")]
    private partial void LogReplaced(string @operator, int release, long switchMs, int old);

    [LoggerMessage(EventId = 117, Level = LogLevel.Warning, Message = "Replace of {Operator} (release {Release}) rolled back: {Reason}")]
    private partial void LogReplaceFailed(string @operator, int release, string reason);

    [LoggerMessage(EventId = 118, Level = LogLevel.Information, Message = "Not adopting leftover {Operator}/{Index} (pid {Pid}): {Reason}; stopping it")]
    private partial void LogNotAdopted(string @operator, int index, int pid, string reason);

    [LoggerMessage(EventId = 119, Level = LogLevel.Warning, Message = "Routing table {Version} did not reach every watcher within {TimeoutMs} ms; stopping {Operator}/{Index} anyway")]
    private partial void LogRoutingNotDelivered(string @operator, int index, long version, int timeoutMs);

    [LoggerMessage(EventId = 120, Level = LogLevel.Information, Message = "Every added instance of {Operator} runs: routing now spreads its key groups over {Instances} instance(s)")]
    private partial void LogScaleRouted(string @operator, int instances);
}
