using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Concord.Hosting;

/// <summary>
/// One listening endpoint of a <see cref="LoopbackHost"/>: an address (127.0.0.1 unless set) and
/// a port (0: a free one), or a unix socket; plain, or HTTPS with mutual TLS when
/// <see cref="Tls"/> is set. A non-loopback address without TLS is refused (<see cref="ListenPolicy"/>).
/// </summary>
public sealed record LoopbackEndpoint(string Name, HttpProtocols Protocols, int Port = 0, string? UnixSocketPath = null)
{
    /// <summary>Where a TCP endpoint listens; 127.0.0.1 by default.</summary>
    public IPAddress Address { get; init; } = IPAddress.Loopback;

    /// <summary>HTTPS requiring a client certificate from the CA (<see cref="TlsCredentials.ServerOptions"/>); null: plain.</summary>
    public TlsCredentials? Tls { get; init; }

    /// <summary>How the owner's user passes TLS material, named in the refusal to listen beyond loopback without it.</summary>
    public string TlsOptionsHint { get; init; } = $"{TlsOptions.CertVariable}, {TlsOptions.KeyVariable} and {TlsOptions.CaVariable}";

    /// <summary>A unix-socket endpoint (operator sessions, tests).</summary>
    public static LoopbackEndpoint UnixSocket(string name, string path, HttpProtocols protocols) => new(name, protocols, 0, path);
}

/// <summary>
/// A Kestrel host, on loopback unless an endpoint says otherwise (<see cref="LoopbackEndpoint.Address"/>:
/// a host's own address or 0.0.0.0, and then only with TLS; the name stays from when loopback was all), with one or more endpoints (e.g. the executor's HTTP/2 data
/// plane and its HTTP/1.1 metrics in one host). The owner drives its lifetime: the host's
/// console lifetime (SIGTERM, Ctrl-C) is replaced, so a service drains in its own order and
/// stops the host when it is done. Use: <see cref="Builder"/> to add services,
/// <see cref="Build"/> to map routes, <see cref="StartAsync"/>, then <see cref="AddressOf"/>.
/// </summary>
public sealed class LoopbackHost : IAsyncDisposable
{
    private readonly Dictionary<string, ListenOptions> _listens = new(StringComparer.Ordinal);
    private readonly Dictionary<string, LoopbackEndpoint> _endpoints = new(StringComparer.Ordinal);
    private WebApplication? _app;
    private bool _started;

    /// <param name="loggerFactory">Where the host's own logs (Kestrel, gRPC, routes) go; null: nowhere.</param>
    public LoopbackHost(ILoggerFactory? loggerFactory, params IEnumerable<LoopbackEndpoint> endpoints)
    {
        Builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        Builder.Logging.ClearProviders();
        if (loggerFactory is not null)
        {
            Builder.Services.AddSingleton(loggerFactory);
        }
        Builder.Services.AddSingleton<IHostLifetime, ManualLifetime>();
        foreach (var endpoint in endpoints)
        {
            if (!_endpoints.TryAdd(endpoint.Name, endpoint))
            {
                throw new ArgumentException($"two endpoints are named '{endpoint.Name}'; give each endpoint of a host its own name", nameof(endpoints));
            }
        }
        if (_endpoints.Count == 0)
        {
            throw new ArgumentException("a loopback host needs at least one endpoint", nameof(endpoints));
        }
        foreach (var endpoint in _endpoints.Values.Where(e => e.UnixSocketPath is null))
        {
            ListenPolicy.Check(endpoint.Address, endpoint.Tls is not null, $"endpoint '{endpoint.Name}'", endpoint.TlsOptionsHint);
        }
        Builder.WebHost.ConfigureKestrel(kestrel =>
        {
            foreach (var endpoint in _endpoints.Values)
            {
                void Configure(ListenOptions listen)
                {
                    listen.Protocols = endpoint.Protocols;
                    if (endpoint.Tls is { } tls)
                    {
                        listen.UseHttps(tls.ServerOptions());
                    }
                    _listens[endpoint.Name] = listen;
                }
                if (endpoint.UnixSocketPath is { } path)
                {
                    kestrel.ListenUnixSocket(path, Configure);
                }
                else
                {
                    kestrel.Listen(endpoint.Address, endpoint.Port, Configure);
                }
            }
        });
    }

    /// <summary>Services and configuration, before <see cref="Build"/>.</summary>
    public WebApplicationBuilder Builder { get; }

    /// <summary>The application, after <see cref="Build"/>: map routes and gRPC services on it.</summary>
    public WebApplication App => _app ?? throw new InvalidOperationException("call Build() before using App");

    public WebApplication Build() => _app ??= Builder.Build();

    /// <summary>Binds every endpoint and starts serving. An endpoint's port taken throws an IOException from Kestrel.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await Build().StartAsync(cancellationToken).ConfigureAwait(false);
        _started = true;
    }

    /// <summary>"address:port" of a TCP endpoint (the bound port when it asked for 0), or a unix endpoint's socket path.</summary>
    public string AddressOf(string endpointName)
    {
        if (!_started)
        {
            throw new InvalidOperationException("the host is not started; an endpoint has an address only once StartAsync has bound it");
        }
        if (!_listens.TryGetValue(endpointName, out var listen))
        {
            throw new ArgumentException($"this host has no endpoint '{endpointName}'; its endpoints are: {string.Join(", ", _endpoints.Keys)}", nameof(endpointName));
        }
        var endpoint = _endpoints[endpointName];
        return endpoint.UnixSocketPath ?? new IPEndPoint(endpoint.Address, listen.IPEndPoint!.Port).ToString();
    }

    /// <summary>The port a TCP endpoint bound (the free one picked when it asked for 0): with an advertised host, what peers dial.</summary>
    public int PortOf(string endpointName)
    {
        _ = AddressOf(endpointName);
        return _listens[endpointName].IPEndPoint?.Port
            ?? throw new ArgumentException($"endpoint '{endpointName}' is a unix socket and has no port", nameof(endpointName));
    }

    /// <summary>Stops serving, waiting at most <see cref="HostingLimits.StopTimeoutMs"/> for requests in progress.</summary>
    public async Task StopAsync()
    {
        if (_started && _app is { } app)
        {
            _started = false;
            using var stop = new CancellationTokenSource(TimeSpan.FromMilliseconds(HostingLimits.StopTimeoutMs));
            await app.StopAsync(stop.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        if (Interlocked.Exchange(ref _app, null) is { } app)
        {
            await app.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>No SIGTERM/Ctrl-C handling: the owning service's shutdown sequence stops the host.</summary>
    private sealed class ManualLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
