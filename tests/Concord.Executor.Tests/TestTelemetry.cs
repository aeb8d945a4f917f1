using Concord.Executor.DataPlane;
using Concord.Executor.Metrics;
using Concord.Executor.Tracing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Concord.Executor.Tests;

/// <summary>
/// Telemetry for components under test: each call makes its own metrics (an unlabelled registry
/// of its own), so tests never share counters; the tracer samples nothing.
/// </summary>
internal static class TestTelemetry
{
    public static ExecutorMetrics Metrics() => new();

    public static ExecutorTracing Tracing(ExecutorMetrics? metrics = null) =>
        new("test", 0, sampleEvery: 0, isSource: false, metrics ?? Metrics());

    /// <summary>The executor's server (data plane and metrics) for <paramref name="identity"/>, with telemetry of its own.</summary>
    public static Task<ExecutorServer> StartServerAsync(DataPlaneIdentity identity, InboundQueue queue)
    {
        var metrics = Metrics();
        return ExecutorServer.StartAsync(identity, queue, metrics, Tracing(metrics), NullLoggerFactory.Instance, CancellationToken.None);
    }
}
