using Microsoft.Extensions.Logging;

namespace Concord.Executor.DataPlane;

/// <summary>Log events of the data plane (event ids 200–299).</summary>
internal static partial class DataPlaneLog
{
    [LoggerMessage(200, LogLevel.Information, "Inbound channel from {Sender} on stream {Stream} opened", EventName = "ChannelOpened")]
    public static partial void ChannelOpened(ILogger logger, string sender, string stream);

    [LoggerMessage(201, LogLevel.Information, "Inbound channel from {Sender} on stream {Stream} closed", EventName = "ChannelClosed")]
    public static partial void ChannelClosed(ILogger logger, string sender, string stream);

    [LoggerMessage(202, LogLevel.Warning, "Inbound channel from {Sender} rejected: {Problem}", EventName = "ChannelRejected")]
    public static partial void ChannelRejected(ILogger logger, string sender, string problem);

    [LoggerMessage(203, LogLevel.Information, "Outbound channel {Channel} connected to {Address} (incarnation {Incarnation})", EventName = "OutboundConnected")]
    public static partial void OutboundConnected(ILogger logger, string channel, string address, string incarnation);

    [LoggerMessage(204, LogLevel.Warning, "Outbound channel {Channel} to {Address} failed: {Reason}; retrying in {BackoffMs} ms", EventName = "OutboundFailed")]
    public static partial void OutboundFailed(ILogger logger, string channel, string address, string reason, int backoffMs);

    [LoggerMessage(206, LogLevel.Warning, "Outbound channel {Channel} gave up on {Address} after {Attempts} failed attempts in a row (ExecutorLimits.OutboundReconnectAttemptsMax); records wait until the routing table names a new address or incarnation", EventName = "OutboundGaveUp")]
    public static partial void OutboundGaveUp(ILogger logger, string channel, string address, int attempts);

    [LoggerMessage(207, LogLevel.Debug, "Outbound channel {Channel} to {Address} closed after {IdleMs} ms without records (ExecutorLimits.OutboundChannelIdleMs); it reconnects when records come", EventName = "OutboundIdleClosed")]
    public static partial void OutboundIdleClosed(ILogger logger, string channel, string address, int idleMs);

    [LoggerMessage(205, LogLevel.Information, "Data plane serving on {Address}", EventName = "DataPlaneServing")]
    public static partial void DataPlaneServing(ILogger logger, string address);
}
