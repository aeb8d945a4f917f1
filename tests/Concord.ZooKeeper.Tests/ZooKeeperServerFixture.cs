using Concord.Testing.ZooKeeper;

namespace Concord.ZooKeeper.Tests;

/// <summary>One standalone server shared by a test class; every test works under its own root path.</summary>
public sealed class ZooKeeperServerFixture : IAsyncLifetime
{
    public ZooKeeperEnsemble Ensemble { get; private set; } = null!;

    public async Task InitializeAsync() => Ensemble = await ZooKeeperEnsemble.StartAsync();

    public async Task DisposeAsync() => await Ensemble.DisposeAsync();
}
