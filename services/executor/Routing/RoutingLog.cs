using Microsoft.Extensions.Logging;

namespace Concord.Executor.Routing;

/// <summary>Log events of routing (event ids 300–399).</summary>
internal static partial class RoutingLog
{
    [LoggerMessage(300, LogLevel.Information, "Routing table {Version} applied ({Streams} streams with readers)", EventName = "TableApplied")]
    public static partial void TableApplied(ILogger logger, long version, int streams);

    [LoggerMessage(301, LogLevel.Warning, "Dropping records on stream {Stream}: no deployed operator reads it ({Total} dropped so far; logged at most once a minute)", EventName = "DroppedNoReader")]
    public static partial void DroppedNoReader(ILogger logger, string stream, long total);

    [LoggerMessage(303, LogLevel.Error, "Rejected a record of {Bytes} bytes (key + value) produced to stream {Stream}: the limit is {LimitBytes} bytes (ProtocolLimits.RecordBytesMax); put large payloads in a blob store and send a reference. The stream goes on; {Total} rejected so far (logged at most once a minute per stream)", EventName = "RecordTooLarge")]
    public static partial void RecordTooLarge(ILogger logger, string stream, long bytes, int limitBytes, long total);

    [LoggerMessage(302, LogLevel.Error, "Routing table refused, keeping the previous one: {Problem}", EventName = "TableRefused")]
    public static partial void TableRefused(ILogger logger, string problem);
}
