using System.Net;
using System.Net.Sockets;

namespace Concord.Testing.ZooKeeper;

/// <summary>
/// A loopback TCP proxy to one server that a test can cut (every connection reset, new ones
/// closed at once: the client sees a dead network and keeps reconnecting) and restore. Put
/// between a ZooKeeper client and its server to make the client CONNECTING for as long as
/// wanted, and its session expire.
/// </summary>
public sealed class TcpProxy : IAsyncDisposable
{
    private const int CopyBufferBytes = 16 * 1024;

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
    private readonly List<(TcpClient Client, TcpClient Server)> _connections = [];
    private readonly Task _accepting;
    private bool _cut;

    public TcpProxy(string targetHost, int targetPort)
    {
        _target = new IPEndPoint(IPAddress.Parse(targetHost), targetPort);
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>HOST:PORT clients connect to.</summary>
    public string Address => $"127.0.0.1:{Port}";

    /// <summary>Resets every connection and refuses new ones until <see cref="Restore"/>.</summary>
    public void Cut()
    {
        List<(TcpClient, TcpClient)> open;
        lock (_lock)
        {
            _cut = true;
            open = [.. _connections];
            _connections.Clear();
        }
        foreach (var (client, server) in open)
        {
            Close(client);
            Close(server);
        }
    }

    public void Restore()
    {
        lock (_lock)
        {
            _cut = false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        Cut();
        try
        {
            await _accepting.ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false);
            bool cut;
            lock (_lock)
            {
                cut = _cut;
            }
            if (cut)
            {
                Close(client);
                continue;
            }
            _ = PipeAsync(client);
        }
    }

    private async Task PipeAsync(TcpClient client)
    {
        var server = new TcpClient();
        try
        {
            await server.ConnectAsync(_target, _stop.Token).ConfigureAwait(false);
            lock (_lock)
            {
                if (_cut)
                {
                    throw new IOException("cut while connecting");
                }
                _connections.Add((client, server));
            }
            await Task.WhenAny(CopyAsync(client, server), CopyAsync(server, client)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
        finally
        {
            lock (_lock)
            {
                _connections.Remove((client, server));
            }
            Close(client);
            Close(server);
        }
    }

    private async Task CopyAsync(TcpClient from, TcpClient to)
    {
        try
        {
            var buffer = new byte[CopyBufferBytes];
            var source = from.GetStream();
            var sink = to.GetStream();
            int read;
            while ((read = await source.ReadAsync(buffer, _stop.Token).ConfigureAwait(false)) > 0)
            {
                await sink.WriteAsync(buffer.AsMemory(0, read), _stop.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    private static void Close(TcpClient connection)
    {
        try
        {
            // Linger 0: a reset, as a dead peer's kernel would answer, not a polite close.
            connection.Client.LingerState = new LingerOption(true, 0);
            connection.Dispose();
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }
}
