using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;
using Concord.Executor.DataPlane;
using Concord.Executor.Metrics;
using Concord.Executor.Tracing;
using Concord.Hosting;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace Concord.Executor;

/// <summary>
/// The executor's one Kestrel host, on 127.0.0.1 (or CONCORD_LISTEN_ADDRESS, with TLS) with two free ports,
/// registered under the advertised host (CONCORD_ADVERTISED_HOST) so peers on other hosts can dial them:
/// <list type="bullet">
/// <item>the data plane (<see cref="DataPlaneService"/>): HTTP/2 (with mutual TLS when configured, else plain on loopback);</item>
/// <item>observability: HTTP/1.1 (what Prometheus speaks), <c>GET /metrics</c> (Prometheus
/// text) and <c>GET /traces[?trace_id=HEX]</c> (the span store as a GetTraceResponse in
/// protobuf JSON, which the scheduler reads for ListTraces/GetTrace) and <c>GET /tail?stream=S&amp;n=N</c>
/// (the last records produced on an output stream as a TailStreamResponse, for TailStream).</item>
/// </list>
/// The executor drives its lifetime (drain on SIGTERM): the host stops only when disposed.
/// </summary>
public sealed class ExecutorServer : IAsyncDisposable
{
    private const string DataEndpoint = "data";
    private const string MetricsEndpoint = "metrics";

    private readonly LoopbackHost _host;

    private ExecutorServer(LoopbackHost host, string advertisedHost)
    {
        _host = host;
        Address = NetworkAddress.Format(advertisedHost, host.PortOf(DataEndpoint));
        MetricsAddress = NetworkAddress.Format(advertisedHost, host.PortOf(MetricsEndpoint));
    }

    /// <summary>The data plane's advertised "host:port" (RegisterExecutorRequest.data_address), e.g. "127.0.0.1:41234".</summary>
    public string Address { get; }

    /// <summary>The observability endpoint's advertised "host:port" (RegisterExecutorRequest.metrics_address).</summary>
    public string MetricsAddress { get; }

    /// <param name="listenAddress">Where both endpoints bind; null: 127.0.0.1. Beyond loopback only with <paramref name="tls"/>.</param>
    /// <param name="advertisedHost">The host in <see cref="Address"/> and <see cref="MetricsAddress"/>; null: the listen address (127.0.0.1 for 0.0.0.0).</param>
    public static async Task<ExecutorServer> StartAsync(DataPlaneIdentity identity, InboundQueue queue, ExecutorMetrics metrics, ExecutorTracing tracing,
        ILoggerFactory loggerFactory, CancellationToken cancellationToken, TlsCredentials? tls = null,
        System.Net.IPAddress? listenAddress = null, string? advertisedHost = null)
    {
        var listen = listenAddress ?? System.Net.IPAddress.Loopback;
        const string hint = $"{TlsOptions.CertVariable}, {TlsOptions.KeyVariable} and {TlsOptions.CaVariable}";
        // With TLS both endpoints require a client certificate from the cluster's CA (the scheduler scrapes /metrics with its own).
        var host = new LoopbackHost(loggerFactory,
            new LoopbackEndpoint(DataEndpoint, HttpProtocols.Http2) { Address = listen, Tls = tls, TlsOptionsHint = hint },
            new LoopbackEndpoint(MetricsEndpoint, HttpProtocols.Http1) { Address = listen, Tls = tls, TlsOptionsHint = hint });
        try
        {
            host.Builder.Services.AddSingleton(identity);
            host.Builder.Services.AddSingleton(queue);
            host.Builder.Services.AddSingleton(metrics);
            host.Builder.Services.AddSingleton(tracing);
            // Bounds checked before a byte of a message is held (docs/data-plane.md, "Bounds of
            // what a peer can make the executor hold"): a data-plane message is refused by its
            // length prefix when it exceeds one credit window, and streams, connections and
            // their windows are capped.
            host.Builder.Services.AddGrpc(o =>
            {
                o.MaxReceiveMessageSize = ExecutorLimits.DataFrameBytesMax;
                o.MaxSendMessageSize = ProtocolLimits.GrpcMessageBytesMax;
            });
            host.Builder.WebHost.ConfigureKestrel(kestrel =>
            {
                kestrel.Limits.MaxConcurrentConnections = ExecutorLimits.ServerConnectionsMax;
                kestrel.Limits.Http2.MaxStreamsPerConnection = ExecutorLimits.InboundStreamsPerConnectionMax;
                kestrel.Limits.Http2.InitialConnectionWindowSize = ExecutorLimits.ServerConnectionWindowBytes;
            });
            var app = host.Build();
            app.MapGrpcService<DataPlaneService>();
            app.MapMetrics("/metrics", metrics.Registry);
            app.MapGet("/traces", (HttpContext http) =>
            {
                var traceId = http.Request.Query["trace_id"].FirstOrDefault();
                var response = new GetTraceResponse();
                response.Spans.AddRange(tracing.Store.Snapshot(string.IsNullOrEmpty(traceId) ? null : traceId));
                return Results.Text(JsonFormatter.Default.Format(response), "application/json");
            });
            app.MapGet("/tail", async (HttpContext http) =>
            {
                var stream = http.Request.Query["stream"].FirstOrDefault() ?? "";
                var count = int.TryParse(http.Request.Query["n"].FirstOrDefault(), System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : ExecutorLimits.TailRecordsMax;
                var records = await metrics.Tail.TakeAsync(stream, count, ExecutorLimits.TailWaitMs, http.RequestAborted).ConfigureAwait(false);
                var response = new TailStreamResponse();
                response.Records.AddRange(records.Select(r => new TailRecord
                {
                    OperatorName = tracing.OperatorName,
                    InstanceIndex = tracing.InstanceIndex,
                    Stream = r.Stream,
                    Key = ByteString.CopyFrom(r.Key),
                    Value = ByteString.CopyFrom(r.Value),
                    ValueTruncated = r.ValueTruncated,
                    Seq = r.Seq,
                }));
                return Results.Text(JsonFormatter.Default.Format(response), "application/json");
            });
            await host.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await host.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        var server = new ExecutorServer(host, advertisedHost ?? NetworkAddress.DefaultAdvertisedHost(listen));
        DataPlaneLog.DataPlaneServing(loggerFactory.CreateLogger<ExecutorServer>(), server.Address);
        return server;
    }

    public ValueTask DisposeAsync() => _host.DisposeAsync();
}
