using Microsoft.Extensions.Logging;

namespace Concord.Executor.Session;

/// <summary>Log events of the operator session and process (event ids 100–199).</summary>
internal static partial class SessionLog
{
    [LoggerMessage(100, LogLevel.Information, "{Line}", EventName = "OperatorStdout")]
    public static partial void OperatorStdout(ILogger logger, string line);

    [LoggerMessage(101, LogLevel.Warning, "{Line}", EventName = "OperatorStderr")]
    public static partial void OperatorStderr(ILogger logger, string line);

    [LoggerMessage(102, LogLevel.Information, "Operator process {Pid} started: {Executable}", EventName = "OperatorStarted")]
    public static partial void OperatorStarted(ILogger logger, int pid, string executable);

    [LoggerMessage(103, LogLevel.Information, "Operator session open: sdk {Sdk}, capabilities [{Capabilities}]", EventName = "SessionOpen")]
    public static partial void SessionOpen(ILogger logger, string sdk, string capabilities);

    [LoggerMessage(104, LogLevel.Warning, "Operator reported a non-fatal error: {Message}", EventName = "OperatorNonFatalError")]
    public static partial void OperatorNonFatalError(ILogger logger, string message);

    [LoggerMessage(105, LogLevel.Information, "Operator process exited with code {ExitCode}", EventName = "OperatorExited")]
    public static partial void OperatorExited(ILogger logger, int exitCode);

    [LoggerMessage(106, LogLevel.Warning, "Operator did not exit within {TimeoutMs} ms of Shutdown; killing it", EventName = "OperatorKilled")]
    public static partial void OperatorKilled(ILogger logger, int timeoutMs);

    [LoggerMessage(108, LogLevel.Information, "Waiting up to {TimeoutMs} ms for an operator started by someone else to serve {Socket} (attach mode)", EventName = "OperatorAttachWaiting")]
    public static partial void OperatorAttachWaiting(ILogger logger, string socket, int timeoutMs);

    [LoggerMessage(109, LogLevel.Information, "Attached to the operator serving {Socket}", EventName = "OperatorAttached")]
    public static partial void OperatorAttached(ILogger logger, string socket);

    public static void OperatorLog(ILogger logger, Contracts.Operator.V1.Log.Types.Level level, string message)
    {
        var logLevel = level switch
        {
            Contracts.Operator.V1.Log.Types.Level.Debug => LogLevel.Debug,
            Contracts.Operator.V1.Log.Types.Level.Warning => LogLevel.Warning,
            Contracts.Operator.V1.Log.Types.Level.Error => LogLevel.Error,
            _ => LogLevel.Information,
        };
        OperatorLogMessage(logger, logLevel, message);
    }

    [LoggerMessage(EventId = 107, Message = "{Message}", EventName = "OperatorLog")]
    private static partial void OperatorLogMessage(ILogger logger, LogLevel level, string message);
}
