using System.Net;
using System.Net.Sockets;
using Concord.Testing.MultiHost;

namespace Concord.EndToEnd.Tests;

/// <summary>The multi-host test kit itself: hosts that reach each other over the bridge only, partitions that cut and heal, and nothing left behind.</summary>
public sealed class SimulatedNetworkTests
{
    /// <summary>
    /// How long a connect to a cut-off host is given before it counts as unreachable, in ms: on
    /// a bridge a reachable host answers in well under a millisecond, so 3 s is only slack for a
    /// loaded machine.
    /// </summary>
    private const int UnreachableProbeMs = 3_000;

    [Fact]
    public async Task Two_hosts_reach_each_other_over_tcp_on_their_private_addresses()
    {
        using var network = SimulatedNetwork.Create(2);
        var (h1, h2) = (network.Host(1), network.Host(2));

        Assert.Equal(10, h1.Address.GetAddressBytes()[0]);
        Assert.NotEqual(h1.Address, h2.Address);
        await AssertReachesAsync(h2, h1);
        await AssertReachesAsync(h1, h2);
    }

    [Fact]
    public async Task Processes_run_on_their_host_which_routes_only_its_own_subnet()
    {
        using var network = SimulatedNetwork.Create(1);
        var h1 = network.Host(1);

        using var addresses = h1.Start("ip", ["-o", "-4", "addr", "show"]);
        using var routes = h1.Start("ip", ["-4", "route", "show"]);
        Assert.Equal(0, await addresses.WaitForExitAsync(TestTimeouts.Process));
        Assert.Equal(0, await routes.WaitForExitAsync(TestTimeouts.Process));

        Assert.Contains($"inet {h1.Address}/24", addresses.Output);
        Assert.Contains("inet 127.0.0.1/8", addresses.Output);
        var routeLines = routes.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // No default route, nothing but the bridge's subnet: traffic cannot leave the simulated network.
        Assert.All(routeLines, line => Assert.StartsWith($"10.203.{network.Subnet}.0/24 dev eth0", line));
        Assert.Single(routeLines);
    }

    [Fact]
    public async Task A_cut_off_host_is_unreachable_until_healed()
    {
        using var network = SimulatedNetwork.Create(2);
        var (h1, h2) = (network.Host(1), network.Host(2));
        using var listener = h1.Listen(h1.Address, 0);
        var endpoint = (IPEndPoint)listener.LocalEndpoint;
        await AssertReachesAsync(h2, h1);

        h1.CutOff();

        Assert.True(h1.IsCutOff);
        using (var probe = new CancellationTokenSource(UnreachableProbeMs))
        {
            var error = await Record.ExceptionAsync(async () => (await h2.ConnectAsync(endpoint, probe.Token)).Dispose());
            Assert.True(error is SocketException or OperationCanceledException, $"a connect to the cut-off host should fail; it ended with {error?.ToString() ?? "a connection"}");
        }

        h1.Heal();

        Assert.False(h1.IsCutOff);
        await AssertReachesAsync(h2, h1);
    }

    [Fact]
    public async Task Disposing_removes_every_namespace_and_link_and_kills_what_runs_on_the_hosts()
    {
        string prefix;
        HostProcess sleeper;
        using (var network = SimulatedNetwork.Create(2))
        {
            prefix = network.Prefix;
            sleeper = network.Host(2).Start("sleep", ["600"]);
            Assert.NotEmpty(Names(prefix));
        }

        Assert.Empty(Names(prefix));
        // Killed by the network's disposal (SIGKILL: 128 + 9), not left running on a host that is gone.
        Assert.Equal(137, await sleeper.WaitForExitAsync(TestTimeouts.Process));
        sleeper.Dispose();
    }

    [Fact]
    public async Task The_sweep_removes_what_a_dead_run_left_and_keeps_live_runs()
    {
        using var live = SimulatedNetwork.Create(1);
        // A pid that was alive a moment ago and is not now: a run killed before it could dispose.
        using var gone = System.Diagnostics.Process.Start("true")!;
        await gone.WaitForExitAsync().WaitAsync(TestTimeouts.Process);
        var stale = SimulatedNetwork.PrefixFor(gone.Id, 1);
        RunIp("netns", "add", $"{stale}-h1");
        RunIp("link", "add", $"{stale}-br", "type", "bridge");
        RunIp("link", "add", $"{stale}-h1", "type", "veth", "peer", "name", "eth0", "netns", $"{stale}-h1");
        Assert.Equal(3, Names(stale).Count);

        var removed = SimulatedNetwork.SweepStale();

        Assert.True(removed >= 2, $"the sweep removed {removed} names; expected the stale namespace and bridge at least");
        Assert.Empty(Names(stale));
        Assert.NotEmpty(Names(live.Prefix));
    }

    private static async Task AssertReachesAsync(SimulatedHost from, SimulatedHost to)
    {
        using var listener = to.Listen(to.Address, 0);
        var endpoint = (IPEndPoint)listener.LocalEndpoint;
        using var timeout = new CancellationTokenSource(TestTimeouts.Step);
        var accept = listener.AcceptSocketAsync(timeout.Token).AsTask();
        using var client = await from.ConnectAsync(endpoint, timeout.Token);
        using var server = await accept;

        await client.SendAsync(new byte[] { 42 }, timeout.Token);
        var received = new byte[1];
        Assert.Equal(1, await server.ReceiveAsync(received, timeout.Token));
        Assert.Equal(42, received[0]);
        // The peer the server sees is the other host's private address: the bytes crossed the bridge.
        Assert.Equal(from.Address, ((IPEndPoint)server.RemoteEndPoint!).Address.MapToIPv4());
    }

    /// <summary>Namespaces and links whose name starts with <paramref name="prefix"/>.</summary>
    private static List<string> Names(string prefix)
    {
        var namespaces = RunIp("netns", "list").Split('\n').Select(l => l.Split(' ')[0]);
        var links = RunIp("-o", "link", "show").Split('\n').Select(l => l.Split(": ") is { Length: > 1 } f ? f[1].Split('@')[0] : "");
        return namespaces.Concat(links).Where(n => n.StartsWith(prefix + "-", StringComparison.Ordinal)).ToList();
    }

    private static string RunIp(params string[] arguments)
    {
        using var ip = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("ip", arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var output = ip.StandardOutput.ReadToEnd();
        var error = ip.StandardError.ReadToEnd();
        Assert.True(ip.WaitForExit(TestTimeouts.Process), $"ip {string.Join(' ', arguments)} did not finish");
        Assert.True(ip.ExitCode == 0, $"ip {string.Join(' ', arguments)} failed: {error}");
        return output;
    }
}
