using System.Diagnostics;
using System.Globalization;
using Concord.EndToEnd.Tests.Harness;
using Concord.Testing.MultiHost;
using Concord.Testing.ZooKeeper;
using Xunit.Abstractions;

namespace Concord.EndToEnd.Tests;

/// <summary>
/// The leader partition drill (issue 14): a ZooKeeper ensemble with one server on each
/// of three simulated hosts, two schedulers with TLS on h1 and h2 sharing it; the leader's host is
/// cut off and the other scheduler leads within the session timeout + 5 s; a deploy sent to the
/// old leader while cut off never lands, before or after the heal, and the new leader's does;
/// healed, the old leader rejoins as a standby by itself and names the new leader.
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
        var made = await CliRunner.RunAsync(dir.Combine("cli-home"), ["certs", "--out", certs, .. network.Hosts.SelectMany(h => new[] { "--host", $"{h.Name},{h.Address}" }), "--client", "operator"]);
        Assert.True(made.ExitCode == 0, $"concord certs failed: {made.Err}{made.Out}");
        var homes = new[] { dir.Combine("h1-home"), dir.Combine("h2-home") };
        HostProcess Start(int number) => network.Host(number).Start("dotnet",
        [
            Repo.SchedulerDll, "--home", homes[number - 1], "--listen", $"{network.Host(number).Address}:{SchedulerPort}",
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
            foreach (var file in new[] { "token", "cluster.key", "agent.secret" }.Where(f => File.Exists(Path.Combine(homes[0], f))))
            {
                File.Copy(Path.Combine(homes[0], file), Path.Combine(homes[1], file));
            }
            _token = File.ReadAllText(Path.Combine(homes[0], "token")).Trim();
            _certs = certs;
            using var second = Start(2);
            await Eventually.UntilAsync(() => second.Output.Contains("Standing for election", StringComparison.Ordinal), TimeSpan.FromSeconds(Cluster.StartTimeoutSeconds),
                () => "the scheduler on h2 to stand by\n" + Cluster.Tail(second.Output, 40));
            Assert.DoesNotContain("Leading with epoch", second.Output, StringComparison.Ordinal);

            network.Host(1).CutOff();
            var cut = Stopwatch.StartNew();
            // Sent on h1 itself (loopback-free but inside h1): the old leader still believes it leads.
            var oldLeaderWrite = CliAsync(network.Host(1), $"https://{network.Host(1).Address}:{SchedulerPort}", "deploy", WriteSink(dir, "while-cut-off"));
            await Eventually.UntilAsync(() => second.Output.Contains("Leading with epoch", StringComparison.Ordinal), TimeSpan.FromMilliseconds(FailoverBoundMs),
                () => $"the scheduler on h2 to lead within {FailoverBoundMs} ms of the cut\nh2:\n{Cluster.Tail(second.Output, 40)}\nh1:\n{Cluster.Tail(first.Output, 20)}");
            var ledMs = cut.ElapsedMilliseconds;
            // Cut off, the old leader cannot reach a quorum: it gives up office on its own.
            await Eventually.UntilAsync(() => first.Output.Contains("No longer the leader", StringComparison.Ordinal), TimeSpan.FromMilliseconds(FailoverBoundMs),
                () => "the scheduler on h1 to give up office\n" + Cluster.Tail(first.Output, 40));
            log.WriteLine($"leader partition: h2 led {ledMs} ms after h1 was cut off (session timeout {SessionTimeoutMs} ms)");

            // Fencing: a deploy sent to the old leader while it was cut off never lands, even
            // once the network heals; the new leader's deploy does.
            var stale = await oldLeaderWrite;
            Assert.True(stale.ExitCode != 0, $"the cut-off old leader accepted a deploy:\n{stale.Output}");
            network.Host(1).Heal();
            var fresh = await CliAsync(network.Host(3), $"https://{network.Host(2).Address}:{SchedulerPort}", "deploy", WriteSink(dir, "after-heal"));
            Assert.True(fresh.ExitCode == 0, $"deploy to the new leader failed:\n{fresh.Output}\nh2:\n{Cluster.Tail(second.Output, 40)}");
            var list = await CliAsync(network.Host(3), $"https://{network.Host(2).Address}:{SchedulerPort}", "list", "--format", "json");
            Assert.True(list.ExitCode == 0, $"list from the new leader failed:\n{list.Output}");
            Assert.Contains("after-heal", list.Output, StringComparison.Ordinal);
            Assert.DoesNotContain("while-cut-off", list.Output, StringComparison.Ordinal);

            // Healed, the old leader rejoins by itself as a standby on its own address: `concord
            // list` sent to it names the new leader and shows the new leader's answer.
            await Eventually.UntilAsync(() => first.Output.Contains("starting again as a standby", StringComparison.Ordinal), TimeSpan.FromMilliseconds(FailoverBoundMs),
                () => "the old leader to start again as a standby\n" + Cluster.Tail(first.Output, 40));
            var healed = Stopwatch.StartNew();
            var viaOld = await Eventually.UntilAsync(async () =>
            {
                var shown = await CliAsync(network.Host(3), $"https://{network.Host(1).Address}:{SchedulerPort}", "list");
                return shown.ExitCode == 0 && shown.Output.Contains($"leader: https://{network.Host(2).Address}:{SchedulerPort}", StringComparison.Ordinal) ? shown.Output : null;
            }, TimeSpan.FromSeconds(Cluster.StartTimeoutSeconds), () => "the old leader to serve as a standby naming h2 as leader\nh1:\n" + Cluster.Tail(first.Output, 40));
            Assert.Contains("after-heal", viaOld, StringComparison.Ordinal);
            Assert.DoesNotContain("while-cut-off", viaOld, StringComparison.Ordinal);
            log.WriteLine($"leader partition: after the heal the old leader served as a standby naming the new leader within {healed.ElapsedMilliseconds} ms");
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

    /// <summary>The CLI on <paramref name="host"/> with the operator's certificate and the cluster's token.</summary>
    private Task<(int ExitCode, string Output)> CliAsync(SimulatedHost host, string scheduler, params string[] args) => CliAsync(host, scheduler, _token!, _certs!, args);

    private string? _token;
    private string? _certs;

    private static async Task<(int ExitCode, string Output)> CliAsync(SimulatedHost host, string scheduler, string token, string certs, string[] args)
    {
        using var cli = host.Start("dotnet",
        [
            Repo.CliDll, "--scheduler", scheduler,
            "--tls-cert", Path.Combine(certs, "operator.crt"), "--tls-key", Path.Combine(certs, "operator.key"), "--tls-ca", Path.Combine(certs, "ca.crt"),
            .. args,
        ], new Dictionary<string, string?> { ["CONCORD_HOME"] = Path.Combine(certs, "cli-home"), ["CONCORD_TOKEN"] = token, ["CONCORD_SCHEDULER"] = null });
        var exitCode = await cli.WaitForExitAsync(TimeSpan.FromSeconds(CliRunner.CommandTimeoutSeconds));
        return (exitCode, cli.Output);
    }

    /// <summary>A one-instance word-count sink deploy file named <paramref name="name"/> (a distinct name per write, to tell them apart in the store).</summary>
    private static string WriteSink(TempDirectory dir, string name)
    {
        var file = dir.Combine(name + ".json");
        File.WriteAllText(file, new System.Text.Json.Nodes.JsonObject
        {
            ["name"] = name,
            ["executable"] = Repo.WordCountExe,
            ["args"] = new System.Text.Json.Nodes.JsonArray("sink"),
            ["instances"] = 1,
            ["environment"] = new System.Text.Json.Nodes.JsonObject { ["WORDCOUNT_OUTPUT"] = dir.Combine(name + ".csv") },
            ["files"] = new System.Text.Json.Nodes.JsonArray(),
            ["inputs"] = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonObject { ["stream"] = "counts", ["grouping"] = "shuffle" }),
            ["outputs"] = new System.Text.Json.Nodes.JsonArray(),
        }.ToJsonString());
        return file;
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
