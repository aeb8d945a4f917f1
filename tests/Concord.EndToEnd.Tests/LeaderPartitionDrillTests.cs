using Concord.Testing.MultiHost;
using Concord.Testing.ZooKeeper;

namespace Concord.EndToEnd.Tests;

/// <summary>
/// The first step of the leader partition drill (issue 14): a ZooKeeper ensemble with one server
/// on each of three simulated hosts, which the schedulers of the drill will share. The rest (two
/// schedulers on two hosts, cut the leader's host off, fencing proof, heal) is described in
/// the drills' notes as what comes next.
/// </summary>
public sealed class LeaderPartitionDrillTests
{
    /// <summary>ZooKeeper's ports inside each host's namespace (client, peer, election from here): each namespace has its own port space.</summary>
    private const int ZooKeeperBasePort = 2181;

    [Fact]
    public async Task A_zookeeper_ensemble_with_a_server_on_each_of_three_hosts_elects_one_leader_and_serves()
    {
        using var network = SimulatedNetwork.Create(3);
        await using var ensemble = await StartEnsembleAsync(network);

        Assert.Equal(3, ensemble.Servers.Count);
        Assert.Single(ensemble.Servers, s => s.Mode == "leader");
        Assert.Equal(2, ensemble.Servers.Count(s => s.Mode == "follower"));
        Assert.Equal(network.Hosts.Select(h => $"{h.Address}:{ZooKeeperBasePort}"), ensemble.ConnectString.Split(','));
    }

    /// <summary>Server i on host hi, on that host's address, started and probed inside its namespace.</summary>
    internal static Task<ZooKeeperEnsemble> StartEnsembleAsync(SimulatedNetwork network) =>
        ZooKeeperEnsemble.StartAsync(network.Hosts.Count, id =>
        {
            var host = network.Host(id);
            return new ZooKeeperServerOptions
            {
                Address = host.Address.ToString(),
                BasePort = ZooKeeperBasePort,
                CommandPrefix = ["nsenter", "--net=/run/netns/" + host.Namespace, "--"],
                Connect = host.ConnectAsync,
            };
        });
}
