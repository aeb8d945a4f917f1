using System.Net;
using System.Net.Sockets;

namespace Concord.Testing.ZooKeeper;

/// <summary>
/// Real ZooKeeper servers for a test: one (standalone) or several (a quorum ensemble), each
/// with a temp data directory and free ports, all stopped and removed at dispose, also when
/// the start fails half-way.
/// </summary>
public sealed class ZooKeeperEnsemble : IAsyncDisposable
{
    /// <summary>Bound of a start until every server serves, in s: a JVM start is 0.3–1.3 s alone, an ensemble also elects.</summary>
    public const int StartTimeoutSeconds = 60;

    private ZooKeeperEnsemble(IReadOnlyList<ZooKeeperServer> servers) => Servers = servers;

    public IReadOnlyList<ZooKeeperServer> Servers { get; }

    /// <summary>Every server's client address, comma-separated, for a client.</summary>
    public string ConnectString => string.Join(',', Servers.Select(s => s.ClientAddress));

    /// <summary>
    /// Starts <paramref name="count"/> servers and waits until each serves.
    /// <paramref name="options"/> gives server i (from 1) its address and command prefix.
    /// </summary>
    public static async Task<ZooKeeperEnsemble> StartAsync(int count = 1, Func<int, ZooKeeperServerOptions>? options = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var servers = new List<ZooKeeperServer>();
        var ensemble = new ZooKeeperEnsemble(servers);
        try
        {
            for (var id = 1; id <= count; id++)
            {
                var serverOptions = options?.Invoke(id) ?? new ZooKeeperServerOptions();
                var address = IPAddress.Parse(serverOptions.Address);
                servers.Add(serverOptions.BasePort is { } port
                    ? new ZooKeeperServer(id, serverOptions, port, port + 1, port + 2, new TempDirectory("cc-zk-"))
                    : new ZooKeeperServer(id, serverOptions, FreePort(address), FreePort(address), FreePort(address), new TempDirectory("cc-zk-")));
            }
            foreach (var server in servers)
            {
                server.WriteConfig(servers);
                server.Start(ensemble: count > 1);
            }
            // All started before any is awaited: a member serves only once a quorum is up.
            await Task.WhenAll(servers.Select(s => s.WaitServingAsync(TimeSpan.FromSeconds(StartTimeoutSeconds)))).ConfigureAwait(false);
            return ensemble;
        }
        catch
        {
            await ensemble.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Restarts a stopped server with its data and waits until it serves again.</summary>
    public async Task RestartAsync(ZooKeeperServer server)
    {
        server.Start(ensemble: Servers.Count > 1);
        await server.WaitServingAsync(TimeSpan.FromSeconds(StartTimeoutSeconds)).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        var errors = new List<Exception>();
        foreach (var server in Servers)
        {
            try
            {
                await server.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                errors.Add(e);
            }
        }
        if (errors.Count > 0)
        {
            throw new AggregateException("stopping the ZooKeeper test servers failed", errors);
        }
    }

    /// <summary>A port free now on <paramref name="address"/> (the OS picks it; nobody else is told to use it).</summary>
    public static int FreePort(IPAddress address)
    {
        using var listener = new TcpListener(address, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
