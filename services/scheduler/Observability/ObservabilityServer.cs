using System.Text.Json;
using Concord.Contracts.Scheduler.V1;
using Concord.Hosting;
using Concord.Scheduler.Reconcile;
using Grpc.AspNetCore.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace Concord.Scheduler.Observability;

/// <summary>
/// The scheduler's HTTP/1.1 endpoint (the gRPC port is HTTP/2-only, which Prometheus does not
/// speak): <c>GET /metrics</c> (<see cref="SchedulerMetrics"/>) and
/// <c>GET /prometheus/targets</c>, Prometheus HTTP service discovery listing this scheduler
/// and every running executor's metrics endpoint with labels operator and instance. Started
/// before the scheduler publishes scheduler.json, which records its address as "metricsAddress".
/// </summary>
public sealed partial class ObservabilityServer(
    SchedulerOptions options,
    SchedulerTls tls,
    SchedulerMetrics metrics,
    Reconciler reconciler,
    Security.SchedulerSecrets secrets,
    ILogger<ObservabilityServer> logger) : IHostedService, IAsyncDisposable
{
    private LoopbackHost? _host;

    /// <summary>The advertised "host:port" once started (what service discovery hands out); empty before.</summary>
    public string Address { get; private set; } = "";

    private const string Endpoint = "metrics";

    /// <summary>The port to listen on: --metrics-port, else the gRPC port + 1, else (gRPC port 0) a free one.</summary>
    public static int PortFor(SchedulerOptions options) =>
        options.MetricsPort ?? (options.Port == 0 ? 0 : options.Port + ObservabilityLimits.MetricsPortOffset);

    /// <summary>
    /// The host Prometheus is told to scrape: the scheduler's advertised host when metrics listen
    /// where gRPC does (or on every address), else the metrics listen address itself.
    /// </summary>
    public static string AdvertisedHost(SchedulerOptions options) =>
        options.MetricsListenAddress is not { } metrics || metrics.Equals(options.ListenAddress)
            || metrics.Equals(System.Net.IPAddress.Any) || metrics.Equals(System.Net.IPAddress.IPv6Any)
            ? options.AdvertisedHost
            : metrics.ToString();

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var port = PortFor(options);
        var listenAddress = options.MetricsListenAddress ?? options.ListenAddress;
        var host = new LoopbackHost(null, new LoopbackEndpoint(Endpoint, HttpProtocols.Http1, port)
        {
            Address = listenAddress,
            Tls = tls.Credentials,
            TlsOptionsHint = SchedulerTls.OptionsHint,
        });
        var app = host.Build();
        app.MapMetrics("/metrics", metrics.Registry);
        app.MapGet("/prometheus/targets", async (HttpContext http) =>
        {
            // Discovery lists the topology, so it wants the operator token like the gRPC API
            // (Prometheus: http_sd_configs.authorization.credentials_file; docs/security.md).
            // /metrics stays open: counters only, no spec, no environment.
            var header = http.Request.Headers.Authorization.ToString();
            var token = header.StartsWith(Contracts.Credentials.BearerPrefix, StringComparison.OrdinalIgnoreCase)
                ? header[Contracts.Credentials.BearerPrefix.Length..].Trim()
                : null;
            if (!secrets.IsToken(token))
            {
                http.Response.Headers.WWWAuthenticate = "Bearer";
                return Results.Text(
                    $"service discovery needs the operator token: send `Authorization: Bearer <token>` with the token in {secrets.TokenFile} " +
                    "(Prometheus: http_sd_configs with authorization.credentials_file; see docs/prometheus.yml)\n",
                    "text/plain", statusCode: StatusCodes.Status401Unauthorized);
            }
            var groups = await TargetsAsync(http.RequestAborted).ConfigureAwait(false);
            return Results.Text(JsonSerializer.Serialize(groups), "application/json");
        });
        try
        {
            await host.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException e) when (e.InnerException is System.Net.Sockets.SocketException or AddressInUseException)
        {
            await host.DisposeAsync().ConfigureAwait(false);
            throw new IOException($"the metrics port {NetworkAddress.Format(listenAddress.ToString(), port)} is taken ({e.Message}); pass --metrics-port (or --metrics-listen) with a free port, or 0", e);
        }
        _host = host;
        Address = NetworkAddress.Format(AdvertisedHost(options), host.PortOf(Endpoint));
        LogServing(tls.Scheme, Address);
    }

    /// <summary>The service-discovery document: one target group per running executor, plus the scheduler.</summary>
    public async Task<List<TargetGroup>> TargetsAsync(CancellationToken cancellationToken)
    {
        var groups = new List<TargetGroup>
        {
            new([Address], new Dictionary<string, string> { ["component"] = "scheduler" }),
        };
        foreach (var op in await reconciler.ListAsync(cancellationToken).ConfigureAwait(false))
        {
            foreach (var instance in op.Instances)
            {
                if (instance.State == InstanceState.Running && instance.MetricsAddress.Length > 0)
                {
                    groups.Add(new([instance.MetricsAddress], new Dictionary<string, string>
                    {
                        ["component"] = "executor",
                        ["operator"] = op.Spec.Name,
                        ["instance"] = instance.Index.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    }));
                }
            }
        }
        return groups;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_host is { } host)
        {
            await host.StopAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _host, null) is { } host)
        {
            await host.DisposeAsync().ConfigureAwait(false);
        }
    }

    [LoggerMessage(EventId = 600, Level = LogLevel.Information, Message = "Metrics and Prometheus service discovery on {Scheme}://{Address}/metrics and /prometheus/targets")]
    private partial void LogServing(string scheme, string address);
}

/// <summary>One entry of Prometheus HTTP SD: targets ("host:port") and the labels they get.</summary>
public sealed record TargetGroup(
    [property: System.Text.Json.Serialization.JsonPropertyName("targets")] IReadOnlyList<string> Targets,
    [property: System.Text.Json.Serialization.JsonPropertyName("labels")] IReadOnlyDictionary<string, string> Labels);

/// <summary>Registers the scheduler's metrics, its HTTP endpoint and the observability RPCs' backend.</summary>
public static class ObservabilityServiceCollectionExtensions
{
    public static IServiceCollection AddSchedulerObservability(this IServiceCollection services)
    {
        services.AddSingleton<SchedulerMetrics>();
        services.AddSingleton<TopologyCallCounter>();
        services.AddSingleton<ObservabilityServer>();
        services.AddHostedService(s => s.GetRequiredService<ObservabilityServer>());
        services.AddSingleton<ObservabilityQueries>();
        services.Configure<GrpcServiceOptions>(grpc => grpc.Interceptors.Add<TopologyCallCounter>());
        return services;
    }
}
