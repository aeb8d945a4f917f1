using System.Net;
using Concord.Contracts.Scheduler.V1;
using Concord.Executor.Tracing;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace Concord.Executor.Metrics;

/// <summary>
/// The executor's observability endpoint: HTTP/1.1 (what Prometheus speaks; the data plane is
/// HTTP/2-only) on 127.0.0.1 and a free port. Serves <c>GET /metrics</c> (Prometheus text) and
/// <c>GET /traces[?trace_id=HEX]</c> (the span store as a GetTraceResponse in protobuf JSON,
/// which the scheduler reads for ListTraces/GetTrace).
/// </summary>
public sealed class MetricsServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private MetricsServer(WebApplication app, string address)
    {
        _app = app;
        Address = address;
    }

    /// <summary>"127.0.0.1:port".</summary>
    public string Address { get; }

    public static async Task<MetricsServer> StartAsync(ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggerFactory);
        builder.Services.AddSingleton<IHostLifetime, ManualLifetime>();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http1));
        var app = builder.Build();
        app.MapMetrics("/metrics", ExecutorMetrics.Registry);
        app.MapGet("/traces", (HttpContext http) =>
        {
            var traceId = http.Request.Query["trace_id"].FirstOrDefault();
            var response = new GetTraceResponse();
            response.Spans.AddRange(ExecutorTracing.Current.Store.Snapshot(string.IsNullOrEmpty(traceId) ? null : traceId));
            return Results.Text(JsonFormatter.Default.Format(response), "application/json");
        });
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new MetricsServer(app, new Uri(bound).Authority);
    }

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromMilliseconds(ObservabilityLimits.MetricsServerStopTimeoutMs));
        await _app.StopAsync(stop.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>No signal handling: the executor's shutdown sequence stops the server.</summary>
    private sealed class ManualLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
