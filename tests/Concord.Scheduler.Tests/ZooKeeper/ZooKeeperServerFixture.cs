using Concord.Scheduler.Leadership;
using Concord.Scheduler.Store.ZooKeeper;
using Concord.Testing.ZooKeeper;
using Concord.ZooKeeper;

namespace Concord.Scheduler.Tests.ZooKeeper;

/// <summary>One standalone ZooKeeper server shared by a test class; each test takes its own root.</summary>
public sealed class ZooKeeperServerFixture : IAsyncLifetime
{
    /// <summary>Session timeout of test clients, in ms: short so losing a session is quick, above the server's minimum.</summary>
    public const int SessionTimeoutMs = 2_000;

    public ZooKeeperEnsemble Ensemble { get; private set; } = null!;

    public async Task InitializeAsync() => Ensemble = await ZooKeeperEnsemble.StartAsync();

    public async Task DisposeAsync() => await Ensemble.DisposeAsync();

    public Task<ZooKeeperClient> ConnectAsync(string? connectString = null) =>
        ZooKeeperClient.ConnectAsync(
            new ZooKeeperClientOptions { ConnectString = connectString ?? Ensemble.ConnectString, SessionTimeoutMs = SessionTimeoutMs },
            default).WaitAsync(TestTimeouts.Step);

    /// <summary>A fresh layout for one test, so tests sharing the server never see each other's nodes.</summary>
    public static ZooKeeperLayout NewLayout() => new($"/t-{Guid.NewGuid():N}");

    /// <summary>Takes office as the only candidate: the epoch a store writes with.</summary>
    public static async Task<(ZooKeeperLeaderElection Election, LeaderTerm Term)> LeadAsync(ZooKeeperClient client, ZooKeeperLayout layout, string id)
    {
        var election = new ZooKeeperLeaderElection(client, layout, new LeaderCandidate(id, $"{id}:7400"));
        return (election, await election.CampaignAsync(default).WaitAsync(TestTimeouts.Step));
    }
}
