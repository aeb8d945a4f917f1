using Serilog;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace Concord.Hosting;

/// <summary>What differs between the services' logs; the rest (levels, formats) is the same for all.</summary>
public sealed record ConcordLogSettings
{
    /// <summary>One JSON object per event (CONCORD_LOG_FORMAT=json, for log shippers) instead of text lines.</summary>
    public bool Json { get; init; }

    /// <summary>Properties every event carries (the executor's operator and instance).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Properties { get; init; } = [];

    /// <summary>A property shown in every text line after the level (the executor's "instance"); null: none.</summary>
    public string? TextLineProperty { get; init; }

    /// <summary>
    /// Every event to stderr (the executor: its stdout and stderr both go to the instance's
    /// executor.log, so where an event lands is unchanged; the scheduler logs to stdout).
    /// </summary>
    public bool StandardError { get; init; }
}

/// <summary>
/// The one Serilog set-up of the Concord services: Information and up (Microsoft and Grpc
/// Warning and up), console sink, text lines "time level [property] source: message" or
/// compact JSON, properties from the log context and from <see cref="ConcordLogSettings"/>.
/// </summary>
public static class ConcordLogging
{
    /// <summary>The name of the variable that selects JSON logs; set on the scheduler, the executors inherit it.</summary>
    public const string LogFormatVariable = "CONCORD_LOG_FORMAT";

    /// <summary>True when <paramref name="value"/> (of <see cref="LogFormatVariable"/> or --log-format) asks for JSON.</summary>
    public static bool IsJson(string? value) => string.Equals(value, "json", StringComparison.OrdinalIgnoreCase);

    public static LoggerConfiguration ConfigureConcord(this LoggerConfiguration logger, ConcordLogSettings settings)
    {
        logger.MinimumLevel.Information()
            .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
            .MinimumLevel.Override("Grpc", LogEventLevel.Warning)
            .Enrich.FromLogContext();
        foreach (var (name, value) in settings.Properties)
        {
            logger.Enrich.WithProperty(name, value);
        }
        // Verbose: every level goes to stderr; null keeps stdout for all.
        LogEventLevel? standardErrorFrom = settings.StandardError ? LogEventLevel.Verbose : null;
        if (settings.Json)
        {
            return logger.WriteTo.Console(new RenderedCompactJsonFormatter(), standardErrorFromLevel: standardErrorFrom);
        }
        var prefix = settings.TextLineProperty is { } property ? $"{{{property}}} " : "";
        return logger.WriteTo.Console(
            outputTemplate: $"{{Timestamp:HH:mm:ss.fff}} {{Level:u3}} {prefix}{{SourceContext}}: {{Message:lj}}{{NewLine}}{{Exception}}",
            standardErrorFromLevel: standardErrorFrom);
    }
}
