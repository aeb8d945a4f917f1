using Concord.Scheduler.Store;
using Concord.Scheduler.Store.ZooKeeper;

namespace Concord.Scheduler.Tests.ZooKeeper;

/// <summary>
/// The store contract against <see cref="ZooKeeperTopologyStore"/> on a real server: every open
/// is a new scheduler term (a new client taking office, so a new epoch), and a peer is another
/// connection writing with the same term.
/// </summary>
public sealed class ZooKeeperTopologyStoreContractTests(ZooKeeperServerFixture server) : TopologyStoreContract, IClassFixture<ZooKeeperServerFixture>
{
    private readonly ZooKeeperLayout _layout = ZooKeeperServerFixture.NewLayout();
    private readonly List<IAsyncDisposable> _elections = [];

    protected override async Task<ITopologyStore> OpenStoreAsync()
    {
        var client = await server.ConnectAsync();
        var (election, term) = await ZooKeeperServerFixture.LeadAsync(client, _layout, $"scheduler-{_elections.Count}");
        _elections.Add(election);
        return await ZooKeeperTopologyStore.OpenAsync(client, _layout, term.Epoch, ownsClient: true, default);
    }

    protected override async Task<ITopologyStore> OpenPeerAsync(ITopologyStore store) =>
        await ZooKeeperTopologyStore.OpenAsync(await server.ConnectAsync(), _layout, ((ZooKeeperTopologyStore)store).Epoch, ownsClient: true, default);

    public override async Task DisposeAsync()
    {
        foreach (var election in _elections)
        {
            await election.DisposeAsync();
        }
        await base.DisposeAsync();
    }
}
