using Concord.Contracts.Types.V1;
using Concord.Scheduler.Backends;
using Concord.Scheduler.Leadership;
using Concord.Scheduler.Store;
using Concord.Scheduler.Store.ZooKeeper;
using Microsoft.Extensions.DependencyInjection;

namespace Concord.Scheduler.Tests.ZooKeeper;

/// <summary>
/// <c>--store zookeeper</c> as the scheduler builds it (gate, then the store on the gate's
/// session): a scheduler's store refuses writes until it leads; a second scheduler is a standby
/// naming the first as the leader, leads once the first steps down (with a higher epoch), and
/// the first's store is fenced.
/// </summary>
/// <remarks>The backend uses the default root (/concord), so this class has a server of its own.</remarks>
public sealed class ZooKeeperStoreBackendTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TestTimeouts.Step;
    private static readonly OperatorSpec Spec = new() { Name = "a", Executable = "/bin/true", Instances = 1 };

    private readonly ZooKeeperServerFixture _server = new();
    private readonly TempDirectory _dir = new();

    public Task InitializeAsync() => _server.InitializeAsync();

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _dir.Dispose();
    }

    /// <summary>A scheduler's services as SchedulerApp registers them (gate first, the store on it).</summary>
    private ServiceProvider Open(string home)
    {
        Directory.CreateDirectory(home);
        var options = new SchedulerOptions { Home = home, Store = "zookeeper", ZooKeeper = _server.Ensemble.ConnectString };
        var services = new ServiceCollection();
        services.AddSingleton<ILeaderGate>(provider => ZooKeeperStoreBackend.OpenGate(options, provider));
        services.AddSingleton(provider => SchedulerBackends.Store("zookeeper")(new BackendContext(options, null!, provider)));
        return services.BuildServiceProvider();
    }

    [Fact]
    public async Task A_standby_refuses_writes_naming_the_leader_and_leads_once_the_first_steps_down_and_the_first_cannot_write()
    {
        await using var firstServices = Open(_dir.Combine("a"));
        var firstGate = (ZooKeeperLeaderGate)firstServices.GetRequiredService<ILeaderGate>();
        var first = (ZooKeeperTopologyStore)firstServices.GetRequiredService<ITopologyStore>();
        // Not standing yet: a standby, and its store sends no write.
        Assert.False(firstGate.IsLeader);
        await Assert.ThrowsAsync<NotLeaderException>(() => first.CompareAndSetAsync("a", TopologyStoreVersions.Absent, Spec, null, default).WaitAsync(Timeout));

        var firstTerm = await firstGate.LeadAsync("http://127.0.0.1:7401", default).WaitAsync(Timeout);
        Assert.True(firstGate.IsLeader);
        var created = (await first.CompareAndSetAsync("a", TopologyStoreVersions.Absent, Spec, null, default).WaitAsync(Timeout))!;

        await using var secondServices = Open(_dir.Combine("b"));
        var secondGate = (ZooKeeperLeaderGate)secondServices.GetRequiredService<ILeaderGate>();
        var second = (ZooKeeperTopologyStore)secondServices.GetRequiredService<ITopologyStore>();
        var secondLeading = secondGate.LeadAsync("http://127.0.0.1:7402", default);
        await Eventually.UntilAsync(() => Task.FromResult(secondGate.StandbyMessage.Contains(ILeaderGate.LeaderMarker + "http://127.0.0.1:7401", StringComparison.Ordinal)),
            Timeout, () => "the standby naming the leader: " + secondGate.StandbyMessage);
        Assert.False(secondLeading.IsCompleted);
        Assert.Equal(created, await second.GetAsync("a", default).WaitAsync(Timeout));
        await Assert.ThrowsAsync<NotLeaderException>(() => second.CompareAndSetAsync("a", created.Version, null, null, default).WaitAsync(Timeout));
        // A peer writing with the first's epoch stands for a deposed leader whose gate did not close yet.
        await using var firstPeer = await ZooKeeperTopologyStore.OpenAsync(await _server.ConnectAsync(), ZooKeeperLayout.Default, firstTerm.Epoch, ownsClient: true, default);

        await firstGate.DisposeAsync();
        var secondTerm = await secondLeading.WaitAsync(Timeout);

        Assert.True(secondTerm.Epoch > firstTerm.Epoch);
        Assert.True(firstTerm.Lost.IsCancellationRequested);
        Assert.Equal(ZooKeeperTopologyStore.NotInOffice, first.Epoch);
        await Assert.ThrowsAsync<NotLeaderException>(() => firstPeer.CompareAndSetAsync("a", created.Version, null, null, default).WaitAsync(Timeout));
        Assert.Equal(created, await second.GetAsync("a", default).WaitAsync(Timeout));
        Assert.Null(await second.CompareAndSetAsync("a", created.Version, null, null, default).WaitAsync(Timeout));
    }
}
