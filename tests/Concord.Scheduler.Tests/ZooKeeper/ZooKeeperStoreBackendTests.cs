using Concord.Contracts.Types.V1;
using Concord.Scheduler.Backends;
using Concord.Scheduler.Leadership;
using Concord.Scheduler.Store;
using Concord.Scheduler.Store.ZooKeeper;
using Microsoft.Extensions.DependencyInjection;

namespace Concord.Scheduler.Tests.ZooKeeper;

/// <summary>
/// <c>--store zookeeper</c> as the scheduler builds it: a second scheduler on the same ensemble
/// waits until the first steps down, then leads with a higher epoch; the first's store is fenced.
/// </summary>
/// <remarks>The backend uses the default root (/concord), so this class has a server of its own.</remarks>
public sealed class ZooKeeperStoreBackendTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TestTimeouts.Step;

    private readonly ZooKeeperServerFixture _server = new();
    private readonly TempDirectory _dir = new();

    public Task InitializeAsync() => _server.InitializeAsync();

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _dir.Dispose();
    }

    private Task<ITopologyStore> OpenAsync(string home)
    {
        Directory.CreateDirectory(home);
        var options = new SchedulerOptions { Home = home, Store = "zookeeper", ZooKeeper = _server.Ensemble.ConnectString };
        var context = new BackendContext(options, null!, new ServiceCollection().BuildServiceProvider());
        // The factory blocks until it leads: off the test's thread.
        return Task.Run(() => SchedulerBackends.Store("zookeeper")(context));
    }

    [Fact]
    public async Task A_second_scheduler_waits_for_the_first_to_step_down_then_leads_and_the_first_cannot_write()
    {
        var first = (ZooKeeperTopologyStore)await OpenAsync(_dir.Combine("a")).WaitAsync(Timeout);
        var created = (await first.CompareAndSetAsync("a", TopologyStoreVersions.Absent, new OperatorSpec { Name = "a", Executable = "/bin/true", Instances = 1 }, null, default)
            .WaitAsync(Timeout))!;
        var secondOpening = OpenAsync(_dir.Combine("b"));
        await using var client = await _server.ConnectAsync();
        await Eventually.UntilAsync(
            async () => (await client.GetChildrenAsync(ZooKeeperLayout.Default.Election, default)).Count == 2, Timeout, () => "the second scheduler's candidacy");
        Assert.False(secondOpening.IsCompleted);
        // The first's term ends (its election is disposed with the store) while its writes would still go through a peer.
        await using var firstPeer = await ZooKeeperTopologyStore.OpenAsync(await _server.ConnectAsync(), ZooKeeperLayout.Default, first.Epoch, ownsClient: true, default);

        await first.DisposeAsync();
        await using var second = (ZooKeeperTopologyStore)await secondOpening.WaitAsync(Timeout);

        Assert.True(second.Epoch > first.Epoch);
        Assert.Equal(created, await second.GetAsync("a", default).WaitAsync(Timeout));
        await Assert.ThrowsAsync<NotLeaderException>(() => firstPeer.CompareAndSetAsync("a", created.Version, null, null, default).WaitAsync(Timeout));
        Assert.Equal(created, await second.GetAsync("a", default).WaitAsync(Timeout));
    }
}
