using System.Diagnostics;
using OpenTelemetry;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Span = Concord.Contracts.Scheduler.V1.Span;

namespace Concord.Executor.Tracing;

/// <summary>
/// Exports the executor's spans over OTLP with OpenTelemetry .NET when
/// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (the exporter also reads the other standard
/// OTEL_EXPORTER_OTLP_* variables: protocol, headers, timeout). Spans become Activities of the
/// source <see cref="SourceName"/> with their real start and end times, the trace id carried
/// by the record, and the parent span of the previous hop, so a tracing backend shows the same
/// tree as <c>concord trace</c>. Batching and its bounds are the SDK's (2,048 spans queued).
/// </summary>
public sealed class OtlpExport : IDisposable
{
    public const string SourceName = "Concord.Executor";
    public const string EndpointVariable = "OTEL_EXPORTER_OTLP_ENDPOINT";

    private readonly ActivitySource _source = new(SourceName);
    private readonly TracerProvider _provider;

    /// <param name="configure">Exporter options on top of the OTEL_EXPORTER_OTLP_* variables (tests point it at a fake collector).</param>
    internal OtlpExport(string operatorName, int instanceIndex, Action<OpenTelemetry.Exporter.OtlpExporterOptions>? configure = null)
    {
        _provider = Sdk.CreateTracerProviderBuilder()
            .SetResourceBuilder(ResourceBuilder.CreateDefault().AddService("concord-executor",
                serviceInstanceId: $"{operatorName}/{instanceIndex}"))
            .AddSource(SourceName)
            // Sampling is Concord's (one in N at sources): every span that exists is exported.
            .SetSampler(new AlwaysOnSampler())
            .AddOtlpExporter(options => configure?.Invoke(options))
            .Build()!;
    }

    /// <summary>An exporter when <see cref="ExecutorOptions.OtlpEndpoint"/> is set; null otherwise.</summary>
    public static OtlpExport? For(ExecutorOptions options) =>
        options.OtlpEndpoint is null ? null : new OtlpExport(options.OperatorName, options.InstanceIndex);

    /// <summary>Starts the Activity of a span; null if nothing listens (then the caller makes its own id).</summary>
    public Activity? Start(string kind, string traceIdHex, string parentSpanIdHex, long startUnixUs)
    {
        var parent = new ActivityContext(
            ActivityTraceId.CreateFromString(traceIdHex),
            parentSpanIdHex.Length == 16 ? ActivitySpanId.CreateFromString(parentSpanIdHex) : default,
            ActivityTraceFlags.Recorded);
        var previous = Activity.Current;
        var activity = _source.StartActivity($"concord.{kind}", ActivityKind.Internal, parent,
            startTime: DateTimeOffset.UnixEpoch.AddTicks(startUnixUs * 10));
        // These spans are bookkeeping, not the thread's ambient context: leave Current as it was.
        Activity.Current = previous;
        return activity;
    }

    /// <summary>Ends the Activity of <paramref name="span"/>: tags, end time, hand-off to the exporter.</summary>
    public void End(Activity activity, Span span)
    {
        activity.SetTag("concord.operator", span.OperatorName);
        activity.SetTag("concord.instance", span.InstanceIndex);
        if (span.Stream.Length > 0)
        {
            activity.SetTag("concord.stream", span.Stream);
        }
        activity.SetEndTime(DateTimeOffset.UnixEpoch.AddTicks((span.StartUnixUs + span.DurationUs) * 10).UtcDateTime);
        activity.Stop();
    }

    /// <summary>Flushes what is queued (bounded by the SDK's export timeout) and stops exporting.</summary>
    public void Dispose()
    {
        _provider.Dispose();
        _source.Dispose();
    }
}
