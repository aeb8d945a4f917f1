using Concord.Contracts.Types.V1;
using Concord.Scheduler.Leadership;
using Concord.Scheduler.Runtime.Kubernetes;
using Concord.Scheduler.Store;
using Concord.Scheduler.Store.Kubernetes;

namespace Concord.Scheduler.Tests.Kubernetes;

/// <summary>
/// What the ConfigMap store does beyond the contract: the objects it leaves in Kubernetes,
/// its size bound, and its fence; against <see cref="KubernetesApiServerDouble"/>, a TEST
/// DOUBLE of the API server (not a cluster).
/// </summary>
public sealed class KubernetesTopologyStoreTests : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TestTimeouts.Step;
    private static readonly KubernetesStoreLayout Layout = new("streams", "store");
    private KubernetesApiServerDouble _api = null!;

    public async Task InitializeAsync() => _api = await KubernetesApiServerDouble.StartAsync();

    public async Task DisposeAsync()
    {
        Assert.Empty(_api.Violations);
        await _api.DisposeAsync();
    }

    private async Task<KubernetesTopologyStore> LeadingStoreAsync(long term)
    {
        var store = KubernetesTopologyStore.Open(_api.Client(), Layout, term, ownsClient: true);
        await store.ClaimAsync(term, default).WaitAsync(Bound);
        return store;
    }

    [Fact]
    public async Task The_topology_round_trips_through_its_ConfigMap_and_another_scheduler_reads_it()
    {
        await using var store = await LeadingStoreAsync(1);
        var spec = new OperatorSpec { Name = "counter", Executable = "/usr/bin/counter", Instances = 3 };
        spec.Args.Add("--fast");
        spec.Environment["OPERATOR_IMAGE"] = "registry.example.com/team/counter:1.0";
        var metadata = new OperatorMetadata { Name = "counter" };
        metadata.Outputs.Add("counts");

        var written = (await store.CompareAndSetAsync("counter", TopologyStoreVersions.Absent, spec, metadata, newState: true, default).WaitAsync(Bound))!;
        await using var reader = KubernetesTopologyStore.Open(_api.Client(), Layout, KubernetesTopologyStore.NotInOffice, ownsClient: true);
        var snapshot = await reader.ReadAsync(default).WaitAsync(Bound);

        Assert.Equal(written, Assert.Single(snapshot.Operators));
        Assert.Equal(spec, snapshot.Operators[0].Spec);
        Assert.Equal(metadata, snapshot.Operators[0].Metadata);
        Assert.Equal(written.Version, snapshot.Operators[0].StateSince);
        Assert.Equal(written.Version, snapshot.Revision);
        var map = _api.ConfigMap(Layout.TopologyName)!;
        Assert.Contains("counter", map.Data.Keys);
        Assert.Equal("1", map.Metadata.Annotations[KubernetesStoreLayout.TermAnnotation]);
        Assert.Equal(written.Version.ToString(System.Globalization.CultureInfo.InvariantCulture), map.Metadata.Annotations[KubernetesStoreLayout.RevisionAnnotation]);
        Assert.Equal("concord", map.Metadata.Labels["app.kubernetes.io/managed-by"]);
    }

    [Fact]
    public async Task A_write_that_would_outgrow_the_ConfigMap_is_refused_naming_the_limit_and_changes_nothing()
    {
        await using var store = await LeadingStoreAsync(1);
        var small = (await store.CompareAndSetAsync("small", TopologyStoreVersions.Absent, new OperatorSpec { Name = "small", Executable = "/bin/true" }, null, default).WaitAsync(Bound))!;
        var before = _api.ConfigMap(Layout.TopologyName)!.Metadata.ResourceVersion;
        var large = new OperatorSpec { Name = "large", Executable = "/bin/true" };
        large.Environment["PAYLOAD"] = new string('x', KubernetesLimits.ConfigMapBytesMax);

        var refused = await Assert.ThrowsAsync<TopologyTooLargeException>(
            () => store.CompareAndSetAsync("large", TopologyStoreVersions.Absent, large, null, default).WaitAsync(Bound));

        Assert.Contains($"ConfigMap {Layout.TopologyName}", refused.Message);
        Assert.Contains("KubernetesLimits.ConfigMapBytesMax", refused.Message);
        Assert.Contains("1 MiB", refused.Message);
        Assert.Equal(KubernetesLimits.ConfigMapBytesMax, refused.BytesMax);
        Assert.True(KubernetesLimits.ConfigMapBytesMax < KubernetesApiServerDouble.ConfigMapDataBytesMax);
        Assert.Equal(before, _api.ConfigMap(Layout.TopologyName)!.Metadata.ResourceVersion);
        Assert.Equal([small], (await store.ReadAsync(default).WaitAsync(Bound)).Operators);
    }

    [Fact]
    public async Task A_standby_store_sends_no_write_and_reads_an_unclaimed_store_as_empty()
    {
        await using var standby = KubernetesTopologyStore.Open(_api.Client(), Layout, KubernetesTopologyStore.NotInOffice, ownsClient: true);

        Assert.Empty((await standby.ReadAsync(default).WaitAsync(Bound)).Operators);
        Assert.Empty(await standby.ReadCheckpointsAsync(default).WaitAsync(Bound));
        await Assert.ThrowsAsync<NotLeaderException>(
            () => standby.CompareAndSetAsync("a", TopologyStoreVersions.Absent, new OperatorSpec { Name = "a", Executable = "/bin/true" }, null, default).WaitAsync(Bound));
        Assert.DoesNotContain(_api.Requests, r => !r.StartsWith("GET ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_claim_or_write_with_an_older_term_than_the_stores_is_refused_as_not_leader()
    {
        await using var newer = await LeadingStoreAsync(5);
        await using var older = KubernetesTopologyStore.Open(_api.Client(), Layout, 4, ownsClient: true);

        var claim = await Assert.ThrowsAsync<NotLeaderException>(() => older.ClaimAsync(4, default).WaitAsync(Bound));
        var write = await Assert.ThrowsAsync<NotLeaderException>(
            () => older.CompareAndSetAsync("a", TopologyStoreVersions.Absent, new OperatorSpec { Name = "a", Executable = "/bin/true" }, null, default).WaitAsync(Bound));

        Assert.Equal((4, 5), (claim.Epoch, claim.CurrentEpoch));
        Assert.Equal((4, 5), (write.Epoch, write.CurrentEpoch));
        Assert.Equal(5, await newer.HighestTermAsync(default).WaitAsync(Bound));
    }

    [Fact]
    public async Task A_watch_pauses_while_the_API_server_is_away_and_reports_changes_again_once_it_is_back()
    {
        await using var store = await LeadingStoreAsync(1);
        await using var watcher = KubernetesTopologyStore.Open(_api.Client(), Layout, KubernetesTopologyStore.NotInOffice, ownsClient: true, pollMs: 100);
        using var cancel = new CancellationTokenSource(Bound);
        await using var watch = watcher.WatchAsync(cancel.Token).GetAsyncEnumerator(cancel.Token);
        Assert.True(await watch.MoveNextAsync());
        var start = watch.Current;

        // Away (an API server restarting): the watcher's polls fail; the watch neither ends nor throws.
        _api.Unavailable = true;
        var before = _api.Requests.Count;
        var next = watch.MoveNextAsync().AsTask();
        await Eventually.UntilAsync(() => _api.Requests.Count >= before + 3, Bound, () => "the watcher to poll the API server while it is away");
        Assert.False(next.IsCompleted);
        _api.Unavailable = false;
        var written = (await store.CompareAndSetAsync("a", TopologyStoreVersions.Absent, new OperatorSpec { Name = "a", Executable = "/bin/true" }, null, default).WaitAsync(Bound))!;

        Assert.True(await next.WaitAsync(Bound));
        Assert.True(watch.Current > start);
        Assert.Equal(written.Version, watch.Current);
    }

    [Theory]
    [InlineData("has/slash")]
    [InlineData("..")]
    public async Task A_name_that_cannot_be_a_ConfigMap_key_is_refused(string name)
    {
        await using var store = await LeadingStoreAsync(1);

        var error = await Assert.ThrowsAsync<ArgumentException>(
            () => store.CompareAndSetAsync(name, TopologyStoreVersions.Absent, new OperatorSpec { Name = name, Executable = "/bin/true" }, null, default).WaitAsync(Bound));

        Assert.Contains("cannot be a ConfigMap key", error.Message);
    }
}
