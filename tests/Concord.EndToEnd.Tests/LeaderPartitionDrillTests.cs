using System.Diagnostics;
using System.Globalization;
using Concord.EndToEnd.Tests.Harness;
using Concord.Testing.MultiHost;
using Concord.Testing.ZooKeeper;
using Xunit.Abstractions;

namespace Concord.EndToEnd.Tests;

/// <summary>
/// The leader partition drill (issue 14), so far: a ZooKeeper ensemble with one server on each
/// of three simulated hosts, two schedulers with TLS on h1 and h2 sharing it; the leader's host is
/// cut off and the other scheduler leads within the session timeout + 5 s. The fencing proof and
/// the heal are what comes next (docs in the drills' notes).
/// </summary>
public sealed class LeaderPartitionDrillTests(ITestOutputHelper log)
{
    /// <summary>ZooKeeper's ports inside each host's namespace (client, peer, election from here): each namespace has its own port space.</summary>
    private const int ZooKeeperBasePort = 2181;

    /// <summary>The schedulers' gRPC port inside their hosts' namespaces.</summary>
    private const int SchedulerPort = 7400;

    /// <summary>The schedulers' ZooKeeper session timeout, in ms: as in SchedulerFailoverTests, short enough for a quick drill, long enough for a loaded machine.</summary>
    private const int SessionTimeoutMs = 4_000;

    /// <summary>How long the other scheduler may take to lead after the leader's host is cut off, in ms: the session timeout + 5 s (issue 14).</summary>
    private const int FailoverBoundMs = SessionTimeoutMs + 5_000;

    [Fact]
    public async Task Cutting_off_the_leading_schedulers_host_makes_the_other_lead_within_the_session_timeout_and_5_s()
    {
        using var network = SimulatedNetwork.Create(3);
        using var dir = new TempDirectory();
        await using var ensemble = await StartEnsembleAsync(network);
        var certs = dir.Combine("certs");
        var made = await CliRunner.RunAsync(dir.Combine("cli-home"), ["certs", "--out", certs, .. network.Hosts.SelectMany(h => new[] { "--host", $"{h.Name},{h.Address}" })]);
        Assert.True(made.ExitCode == 0, $"concord certs failed: {made.Err}{made.Out}");
        var homes = new[] { dir.Combine("h1-home"), dir.Combine("h2-home") };
        HostProcess Start(int number) => network.Host(number).Start("dotnet",
        [
            Repo.SchedulerDll, "--home", homes[number - 1], "--listen", $"{network.Host(number).Address}:{SchedulerPort}", "--runtime", "agents",
            "--store", "zookeeper", "--zookeeper", ensemble.ConnectString, "--zookeeper-session-timeout-ms", SessionTimeoutMs.ToString(CultureInfo.InvariantCulture),
            "--tls-cert", Path.Combine(certs, $"h{number}.crt"), "--tls-key", Path.Combine(certs, $"h{number}.key"), "--tls-ca", Path.Combine(certs, "ca.crt"),
        ], new Dictionary<string, string?> { ["CONCORD_EXECUTOR_DLL"] = Repo.ExecutorDll, ["CONCORD_HOME"] = null });

        using var first = Start(1);
        try
        {
            await Eventually.UntilAsync(() => first.Output.Contains("Took office", StringComparison.Ordinal), TimeSpan.FromSeconds(Cluster.StartTimeoutSeconds),
                () => "the scheduler on h1 to lead\n" + Cluster.Tail(first.Output, 40));
            // The schedulers of one cluster share its secrets (docs/cluster.md, "High availability").
            Directory.CreateDirectory(homes[1]);
            foreach (var file in new[] { "token", "cluster.key", "agent.secret" })
            {
                File.Copy(Path.Combine(homes[0], file), Path.Combine(homes[1], file));
            }
            using var second = Start(2);
            await Eventually.UntilAsync(() => second.Output.Contains("Standing for election", StringComparison.Ordinal), TimeSpan.FromSeconds(Cluster.StartTimeoutSeconds),
                () => "the scheduler on h2 to stand by\n" + Cluster.Tail(second.Output, 40));
            Assert.DoesNotContain("Leading with epoch", second.Output, StringComparison.Ordinal);

            network.Host(1).CutOff();
            var cut = Stopwatch.StartNew();
            await Eventually.UntilAsync(() => second.Output.Contains("Leading with epoch", StringComparison.Ordinal), TimeSpan.FromMilliseconds(FailoverBoundMs),
                () => $"the scheduler on h2 to lead within {FailoverBoundMs} ms of the cut\nh2:\n{Cluster.Tail(second.Output, 40)}\nh1:\n{Cluster.Tail(first.Output, 20)}");
            var ledMs = cut.ElapsedMilliseconds;
            // Cut off, the old leader cannot reach a quorum: it gives up office on its own.
            await Eventually.UntilAsync(() => first.Output.Contains("No longer the leader", StringComparison.Ordinal), TimeSpan.FromMilliseconds(FailoverBoundMs),
                () => "the scheduler on h1 to give up office\n" + Cluster.Tail(first.Output, 40));
            log.WriteLine($"leader partition: h2 led {ledMs} ms after h1 was cut off (session timeout {SessionTimeoutMs} ms)");
        }
        finally
        {
            foreach (var home in homes)
            {
                foreach (var pid in Processes.WithEnvironment(home))
                {
                    Processes.Kill(pid, hard: true);
                }
            }
        }
    }

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
