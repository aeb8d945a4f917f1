using System.Net;
using Concord.Contracts;
using Concord.Hosting;
using Concord.Scheduler.Api;
using Concord.Scheduler.Backends;
using Concord.Scheduler.Checkpoints;
using Concord.Scheduler.Dashboard;
using Concord.Scheduler.Internal;
using Concord.Scheduler.Observability;
using Concord.Scheduler.Reconcile;
using Concord.Scheduler.Runtime;
using Concord.Scheduler.Runtime.Containment;
using Concord.Scheduler.Security;
using Concord.Scheduler.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Serilog;

namespace Concord.Scheduler;

/// <summary>
/// Builds the scheduler's web application: Kestrel on 127.0.0.1 or the --listen address (HTTP/2 for gRPC and HTTP/1.1 for
/// the dashboard on one port; HTTPS with mutual TLS when the options give TLS files), the Scheduler gRPC service, the store and the runtime named in the options (see
/// <see cref="SchedulerBackends"/>) and the reconcile loop. Program uses it as is; in-process
/// tests replace the runtime and the clock.
/// </summary>
public static class SchedulerApp
{
    /// <summary>
    /// Time the host waits for shutdown work, in ms: all instances stopping
    /// (<see cref="SchedulerLimits.ShutdownTimeoutMs"/>) plus 5 s for Kestrel and the rest.
    /// </summary>
    public const int HostShutdownTimeoutMs = SchedulerLimits.ShutdownTimeoutMs + 5_000;

    /// <param name="configureServices">Runs last, so it can replace any service (tests).</param>
    /// <exception cref="UsageException">The options name a store or runtime that does not exist, or a token that is too short.</exception>
    public static WebApplication Create(SchedulerOptions options, SchedulerHome home, Action<IServiceCollection>? configureServices = null)
    {
        // Resolved now, not when the services are first asked for: an unknown name fails here.
        var createStore = SchedulerBackends.Store(options.Store);
        var createRuntime = SchedulerBackends.Runtime(options.Runtime);
        var tls = SchedulerTls.Load(options);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        // The one place the listen addresses are checked, before anything binds: beyond loopback only with TLS.
        var listenAddress = options.ListenAddress;
        try
        {
            ListenPolicy.Check(listenAddress, tls.Credentials is not null, "the scheduler's gRPC endpoint (--listen)", SchedulerTls.OptionsHint);
            ListenPolicy.Check(options.MetricsListenAddress ?? listenAddress, tls.Credentials is not null, "the scheduler's metrics endpoint (--metrics-listen)", SchedulerTls.OptionsHint);
        }
        catch (TlsConfigurationException e)
        {
            tls.Dispose();
            throw new UsageException(e.Message);
        }
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(listenAddress, PreviousAddress.PortFor(options.Port, home.Directory, listenAddress), listen =>
            {
                // HTTP/2 for gRPC and HTTP/1.1 for browsers on the dashboard (docs/dashboard.md):
                // with TLS, ALPN picks; in cleartext, the HTTP/2 preface does.
                listen.Protocols = HttpProtocols.Http1AndHttp2;
                if (tls.Credentials is { } credentials)
                {
                    listen.UseHttps(credentials.ServerOptions());
                }
                else
                {
                    listen.Use(Dashboard.Internal.CleartextHttp2Detection.Middleware);
                }
            });
            // In cleartext, HTTP/2 connections are marked as ALPN-negotiated to be picked at all
            // (CleartextHttp2Detection), which makes Kestrel expect :scheme https; the client's
            // own :scheme (http) is then taken as it is.
            kestrel.AllowAlternateSchemes = tls.Credentials is null;
            // Above gRPC's limit, so an oversized request meets RequestSizeGate (a clean
            // RESOURCE_EXHAUSTED), never Kestrel's cut-off (which gRPC reports as UNKNOWN).
            kestrel.Limits.MaxRequestBodySize = SchedulerLimits.RequestBytesMax + SchedulerLimits.GrpcFrameHeaderBytes;
        });
        builder.Services.AddSerilog(logger => logger.ConfigureConcord(new ConcordLogSettings { Json = options.LogFormat == LogFormat.Json }));
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromMilliseconds(HostShutdownTimeoutMs));

        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(home);
        builder.Services.AddSingleton(tls);
        builder.Services.AddSingleton(SchedulerSecrets.Load(home.Directory, options.Token));
        // Made only where agents may connect; without the file every agent session is refused.
        builder.Services.AddSingleton(Runtime.Agents.AgentSecret.Load(home.Directory, create: options.Runtime == Runtime.Agents.AgentClusterRuntime.RuntimeName));
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<Internal.SchedulerTerm>();
        // Before the store: the ZooKeeper store shares the gate's session and is fenced by its term.
        builder.Services.AddSingleton<Leadership.ILeaderGate>(services => options.Store == Store.ZooKeeper.ZooKeeperStoreBackend.Name
            ? Store.ZooKeeper.ZooKeeperStoreBackend.OpenGate(options, services)
            : Leadership.AlwaysLeader.Instance);
        builder.Services.AddSingleton<ITopologyStore>(services => createStore(new BackendContext(options, home, services)));
        builder.Services.AddSingleton<IClusterRuntime>(services => createRuntime(new BackendContext(options, home, services)));
        builder.Services.AddSingleton<RoutingHub>();
        builder.Services.AddSingleton<Reconciler>();
        builder.Services.AddSingleton(services =>
        {
            var reconciler = services.GetRequiredService<Reconciler>();
            var coordinator = new CheckpointCoordinator(reconciler, services.GetRequiredService<ITopologyStore>(),
                new CheckpointSettings(options.CheckpointDirectory ?? Path.Combine(home.Directory, SchedulerHome.CheckpointsDirectoryName),
                    options.CheckpointIntervalMs, options.CheckpointsRetained),
                services.GetRequiredService<TimeProvider>(), services.GetRequiredService<Microsoft.Extensions.Logging.ILogger<CheckpointCoordinator>>());
            reconciler.AttachCheckpoints(coordinator);
            return coordinator;
        });
        builder.Services.AddHostedService<SchedulerHostedService>();
        builder.Services.AddSchedulerObservability();
        builder.Services.AddDashboard();
        builder.Services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = SchedulerLimits.RequestBytesMax;
            grpc.MaxSendMessageSize = ProtocolLimits.GrpcMessageBytesMax;
            grpc.Interceptors.Add<AuthInterceptor>();
        }).AddServiceOptions<AgentsService>(grpc =>
        {
            grpc.MaxReceiveMessageSize = SchedulerLimits.AgentMessageBytesMax;
            grpc.MaxSendMessageSize = SchedulerLimits.AgentMessageBytesMax;
        });
        configureServices?.Invoke(builder.Services);

        var app = builder.Build();
        app.Use(Runtime.Agents.Internal.AgentSessionBody.InvokeAsync);
        app.Use(RequestSizeGate.InvokeAsync);
        app.MapGrpcService<SchedulerService>();
        app.MapGrpcService<AgentsService>();
        app.MapDashboard();
        return app;
    }
}
