using System.Net;
using Concord.Contracts;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Concord.Executor.DataPlane;

/// <summary>
/// Kestrel serving <see cref="DataPlaneService"/> over HTTP/2 without TLS on 127.0.0.1 and a
/// free port. The executor drives its own lifetime (drain on SIGTERM), so the host's console
/// lifetime is replaced and the server stops only when told.
/// </summary>
public sealed class DataPlaneServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private DataPlaneServer(WebApplication app)
    {
        _app = app;
    }

    /// <summary>"127.0.0.1:port" once started.</summary>
    public string Address { get; private set; } = "";

    public static async Task<DataPlaneServer> StartAsync(DataPlaneIdentity identity, InboundQueue queue, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggerFactory);
        builder.Services.AddSingleton<IHostLifetime, ManualLifetime>();
        builder.Services.AddSingleton(identity);
        builder.Services.AddSingleton(queue);
        builder.Services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = ProtocolLimits.GrpcMessageBytesMax;
            o.MaxSendMessageSize = ProtocolLimits.GrpcMessageBytesMax;
        });
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http2);
        });
        var app = builder.Build();
        app.MapGrpcService<DataPlaneService>();
        await app.StartAsync(cancellationToken).ConfigureAwait(false);

        var server = new DataPlaneServer(app);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.Address = new Uri(address).Authority;
        DataPlaneLog.DataPlaneServing(loggerFactory.CreateLogger<DataPlaneServer>(), server.Address);
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        await _app.StopAsync(stop.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>No SIGTERM/Ctrl-C handling: the executor's shutdown sequence stops the server.</summary>
    private sealed class ManualLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
