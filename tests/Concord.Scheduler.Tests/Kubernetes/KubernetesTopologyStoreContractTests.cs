using Concord.Scheduler.Store;
using Concord.Scheduler.Store.Kubernetes;

namespace Concord.Scheduler.Tests.Kubernetes;

/// <summary>
/// The store contract against <see cref="KubernetesTopologyStore"/> on
/// <see cref="KubernetesApiServerDouble"/>, a TEST DOUBLE of the API server: every open is a new
/// scheduler term (a new client claiming the store with a higher term), and a peer is another
/// client writing with the same term.
/// </summary>
public sealed class KubernetesTopologyStoreContractTests : TopologyStoreContract
{
    /// <summary>Poll of another client's changes, in ms: shorter than the scheduler's, to keep the watch cases quick.</summary>
    private const int PollMs = 100;

    private static readonly KubernetesStoreLayout Layout = new("streams", "contract");
    private KubernetesApiServerDouble _api = null!;
    private long _term;

    public override async Task InitializeAsync() => _api = await KubernetesApiServerDouble.StartAsync();

    protected override async Task<ITopologyStore> OpenStoreAsync()
    {
        var term = ++_term;
        var store = KubernetesTopologyStore.Open(_api.Client(), Layout, term, ownsClient: true, PollMs);
        await store.ClaimAsync(term, default);
        return store;
    }

    protected override Task<ITopologyStore> OpenPeerAsync(ITopologyStore store) =>
        Task.FromResult<ITopologyStore>(KubernetesTopologyStore.Open(_api.Client(), Layout, ((KubernetesTopologyStore)store).Term, ownsClient: true, PollMs));

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Assert.Empty(_api.Violations);
        await _api.DisposeAsync();
    }
}
