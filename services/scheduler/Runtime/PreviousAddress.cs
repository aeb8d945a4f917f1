using System.Net;
using System.Net.Sockets;

namespace Concord.Scheduler.Runtime;

/// <summary>
/// Which port to serve on. Executors call back on the address they were launched with, so a
/// scheduler restarted with <c>--port 0</c> ("any free port") takes the port of the previous run
/// (from the stale scheduler.json) when it is free: its executors find it again and are adopted
/// instead of restarted. A fixed --port is always used as given.
/// </summary>
public static class PreviousAddress
{
    /// <summary>The port to listen on: <paramref name="requestedPort"/>, or for 0 the previous run's port if free.</summary>
    /// <param name="listenAddress">Where the scheduler listens: the probe binds there.</param>
    public static int PortFor(int requestedPort, string homeDirectory, IPAddress? listenAddress = null)
    {
        if (requestedPort != 0 || SchedulerHome.ReadInfo(homeDirectory) is not { } previous)
        {
            return requestedPort;
        }
        // The bound port, not the advertised one: with --advertise they may differ.
        var port = previous.ListenPort
            ?? (Uri.TryCreate(previous.Address, UriKind.Absolute, out var address) ? address.Port : 0);
        if (port <= 0)
        {
            return requestedPort;
        }
        try
        {
            // Probe: a port another process took meanwhile falls back to a free one. (It can
            // still be taken between this probe and Kestrel's bind; then the start fails with
            // "port in use" and the next start picks another.)
            using var probe = new TcpListener(listenAddress ?? IPAddress.Loopback, port);
            probe.Start();
            probe.Stop();
            return port;
        }
        catch (SocketException)
        {
            return 0;
        }
    }
}
