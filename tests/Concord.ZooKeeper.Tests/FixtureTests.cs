using System.Net;
using System.Net.Sockets;
using Concord.Testing.ZooKeeper;

namespace Concord.ZooKeeper.Tests;

/// <summary>The test kit's hooks for simulated hosts: a server under a command prefix, on an address of its own.</summary>
public sealed class FixtureTests
{
    private static readonly TimeSpan Timeout = TestTimeouts.Step;

    [Fact]
    public async Task A_server_runs_under_a_command_prefix_and_listens_only_on_the_address_given()
    {
        // `env` execs its command as `ip netns exec` does; 127.0.0.2 is a loopback address apart from 127.0.0.1.
        await using var ensemble = await ZooKeeperEnsemble.StartAsync(1, _ => new ZooKeeperServerOptions
        {
            Address = "127.0.0.2",
            CommandPrefix = ["env", "CONCORD_ZK_TEST=1"],
        });
        var server = Assert.Single(ensemble.Servers);

        await using var client = await ZooKeeperClient.ConnectAsync(new ZooKeeperClientOptions { ConnectString = ensemble.ConnectString }, default).WaitAsync(Timeout);
        using var other = new TcpClient();
        var refused = await Assert.ThrowsAsync<SocketException>(() => other.ConnectAsync(IPAddress.Loopback, server.ClientPort).WaitAsync(Timeout));

        Assert.Equal($"127.0.0.2:{server.ClientPort}", ensemble.ConnectString);
        Assert.Equal("standalone", server.Mode);
        Assert.NotNull(await client.ExistsAsync("/", default).WaitAsync(Timeout));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
    }

    [Fact]
    public async Task A_stopped_server_is_stopped_and_a_restart_serves_the_same_data()
    {
        await using var ensemble = await ZooKeeperEnsemble.StartAsync();
        var server = ensemble.Servers[0];
        await using (var client = await ZooKeeperClient.ConnectAsync(new ZooKeeperClientOptions { ConnectString = ensemble.ConnectString }, default).WaitAsync(Timeout))
        {
            await client.CreateAsync("/kept", [1, 2, 3], CreateMode.Persistent, default).WaitAsync(Timeout);
        }

        await server.StopAsync();
        Assert.False(server.IsRunning);
        await ensemble.RestartAsync(server);

        await using var again = await ZooKeeperClient.ConnectAsync(new ZooKeeperClientOptions { ConnectString = ensemble.ConnectString }, default).WaitAsync(Timeout);
        Assert.Equal([1, 2, 3], (await again.GetAsync("/kept", default).WaitAsync(Timeout))!.Data);
    }
}
