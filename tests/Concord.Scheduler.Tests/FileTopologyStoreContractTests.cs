using Concord.Scheduler.Store;

namespace Concord.Scheduler.Tests;

/// <summary>The store contract against <see cref="FileTopologyStore"/> (a topology.json in a temp home).</summary>
public sealed class FileTopologyStoreContractTests : TopologyStoreContract
{
    private readonly TempDirectory _dir = new();

    protected override Task<ITopologyStore> OpenStoreAsync() =>
        Task.FromResult<ITopologyStore>(FileTopologyStore.Open(_dir.Combine(SchedulerHome.TopologyFileName)));

    /// <remarks>
    /// One process per home (the home lock), so every writer of a file store goes through the
    /// one instance: "elsewhere" is another caller of it, on another thread.
    /// </remarks>
    protected override Task<ITopologyStore> OpenPeerAsync(ITopologyStore store) => Task.FromResult(store);

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        _dir.Dispose();
    }
}
