using Concord.Contracts.Types.V1;
using Concord.Scheduler.Store;

namespace Concord.Scheduler.Tests;

public sealed class FileTopologyStoreTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static OperatorSpec Spec(string name, int instances = 1) => new() { Name = name, Executable = "/bin/true", Instances = instances };

    [Fact]
    public async Task Create_then_create_again_conflicts_with_the_existing_version()
    {
        await using var store = FileTopologyStore.Open(_dir.Combine("topology.json"));
        var created = await store.CompareAndSetAsync("a", TopologyStoreVersions.Absent, Spec("a"), null, default);

        var error = await Assert.ThrowsAsync<TopologyConflictException>(
            () => store.CompareAndSetAsync("a", TopologyStoreVersions.Absent, Spec("a"), null, default));

        Assert.NotNull(created);
        Assert.True(created.Version > 0);
        Assert.Equal(created.Version, error.ActualVersion);
        Assert.Contains("already exists", error.Message);
    }

    [Fact]
    public async Task Update_with_a_stale_version_is_refused_and_changes_nothing()
    {
        await using var store = FileTopologyStore.Open(_dir.Combine("topology.json"));
        var v1 = (await store.CompareAndSetAsync("a", TopologyStoreVersions.Absent, Spec("a"), null, default))!;
        var v2 = (await store.CompareAndSetAsync("a", v1.Version, Spec("a", 3), null, default))!;

        await Assert.ThrowsAsync<TopologyConflictException>(() => store.CompareAndSetAsync("a", v1.Version, Spec("a", 5), null, default));

        Assert.True(v2.Version > v1.Version);
        Assert.Equal(3, (await store.GetAsync("a", default))!.Spec.Instances);
    }

    [Fact]
    public async Task Delete_then_recreate_gets_a_higher_version_than_before()
    {
        await using var store = FileTopologyStore.Open(_dir.Combine("topology.json"));
        var first = (await store.CompareAndSetAsync("a", TopologyStoreVersions.Absent, Spec("a"), null, default))!;
        Assert.Null(await store.CompareAndSetAsync("a", first.Version, null, null, default));
        Assert.Null(await store.GetAsync("a", default));

        var second = (await store.CompareAndSetAsync("a", TopologyStoreVersions.Absent, Spec("a"), null, default))!;

        Assert.True(second.Version > first.Version);
    }

    [Fact]
    public async Task Topology_survives_reopening_the_file_with_spec_metadata_and_versions()
    {
        var path = _dir.Combine("topology.json");
        var metadata = new OperatorMetadata { Name = "counter", Inputs = { new InputStream { Name = "words", Grouping = Grouping.GroupBy } }, Outputs = { "counts" } };
        OperatorEntry written;
        await using (var store = FileTopologyStore.Open(path))
        {
            var spec = Spec("counter", 4);
            spec.Args.Add("--verbose");
            spec.Environment["LANG"] = "C";
            await store.CompareAndSetAsync("other", TopologyStoreVersions.Absent, Spec("other"), null, default);
            var created = (await store.CompareAndSetAsync("counter", TopologyStoreVersions.Absent, spec, null, default))!;
            written = (await store.CompareAndSetAsync("counter", created.Version, spec, metadata, default))!;
        }

        await using var reopened = FileTopologyStore.Open(path);
        var snapshot = await reopened.ReadAsync(default);

        Assert.Equal(["counter", "other"], snapshot.Operators.Select(o => o.Name));
        var counter = snapshot.Operators[0];
        Assert.Equal(written.Version, counter.Version);
        Assert.Equal(written.Spec, counter.Spec);
        Assert.Equal(metadata, counter.Metadata);
        Assert.Null(snapshot.Operators[1].Metadata);
        Assert.Equal(written.Version, snapshot.Revision);
        // A write after reopening continues the version sequence.
        var next = (await reopened.CompareAndSetAsync("new", TopologyStoreVersions.Absent, Spec("new"), null, default))!;
        Assert.True(next.Version > written.Version);
    }

    [Fact]
    public async Task Writes_replace_the_file_whole_and_leave_no_temp_files()
    {
        var path = _dir.Combine("topology.json");
        await using var store = FileTopologyStore.Open(path);
        long version = TopologyStoreVersions.Absent;
        for (var i = 1; i <= 20; i++)
        {
            version = (await store.CompareAndSetAsync("a", version, Spec("a", i), null, default))!.Version;
            // Every intermediate file is a complete topology another process could read.
            await using var reader = FileTopologyStore.Open(path);
            Assert.Equal(i, (await reader.GetAsync("a", default))!.Spec.Instances);
        }

        Assert.Equal(["topology.json"], Directory.GetFiles(_dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public async Task Unreadable_file_is_reported_with_its_path_and_the_fix()
    {
        var path = _dir.Combine("topology.json");
        await File.WriteAllTextAsync(path, "{ not json");

        var error = Assert.Throws<InvalidDataException>(() => FileTopologyStore.Open(path));

        Assert.Contains(path, error.Message);
        Assert.Contains("move it away", error.Message);
    }

    [Fact]
    public async Task Watch_reports_the_current_revision_then_each_change()
    {
        await using var store = FileTopologyStore.Open(_dir.Combine("topology.json"));
        using var cancel = new CancellationTokenSource(Timeout);
        await using var watch = store.WatchAsync(cancel.Token).GetAsyncEnumerator(cancel.Token);

        Assert.True(await watch.MoveNextAsync().AsTask().WaitAsync(Timeout));
        Assert.Equal(0, watch.Current);
        var created = (await store.CompareAndSetAsync("a", TopologyStoreVersions.Absent, Spec("a"), null, default))!;
        Assert.True(await watch.MoveNextAsync().AsTask().WaitAsync(Timeout));
        Assert.Equal(created.Version, watch.Current);
    }
}
