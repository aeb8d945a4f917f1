using System.Text.Json.Nodes;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Store;

namespace Concord.Scheduler.Tests;

/// <summary>
/// What only the file store does: its file format and how it fails. What every store does is in
/// <see cref="TopologyStoreContract"/> (run against this store by <see cref="FileTopologyStoreContractTests"/>).
/// </summary>
public sealed class FileTopologyStoreTests : IDisposable
{
    /// <summary>A pid no process has: Linux pids stop at pid_max, at most 2^22.</summary>
    private const int DeadPid = int.MaxValue;

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string TopologyPath => _dir.Combine("topology.json");

    private static OperatorSpec Spec(string name, int instances = 1) => new() { Name = name, Executable = "/bin/true", Instances = instances };

    private async Task<string> WriteTopologyAsync(params (string Name, int Instances)[] operators)
    {
        await using var store = FileTopologyStore.Open(TopologyPath);
        foreach (var (name, instances) in operators)
        {
            await store.CompareAndSetAsync(name, TopologyStoreVersions.Absent, Spec(name, instances), null, default).WaitAsync(Timeout);
        }
        return await File.ReadAllTextAsync(TopologyPath);
    }

    [Fact]
    public async Task The_file_holds_the_format_the_revision_and_each_spec_as_protobuf_json()
    {
        var text = await WriteTopologyAsync(("counter", 4));

        var root = JsonNode.Parse(text)!.AsObject();
        Assert.Equal(FileTopologyStore.FormatVersion, root["format"]!.GetValue<int>());
        Assert.Equal(1, root["revision"]!.GetValue<long>());
        var entry = Assert.Single(root["operators"]!.AsArray())!;
        Assert.Equal("counter", entry["name"]!.GetValue<string>());
        // The same JSON the executor reads from CONCORD_SPEC_FILE.
        Assert.Equal(4, entry["spec"]!["instances"]!.GetValue<int>());
        Assert.Null(entry["metadata"]);
    }

    [Fact]
    public async Task Writes_replace_the_file_whole_and_leave_no_temp_files()
    {
        await using var store = FileTopologyStore.Open(TopologyPath);
        long version = TopologyStoreVersions.Absent;
        for (var i = 1; i <= 20; i++)
        {
            version = (await store.CompareAndSetAsync("a", version, Spec("a", i), null, default))!.Version;
            // Every intermediate file is a complete topology another process could read.
            await using var reader = FileTopologyStore.Open(TopologyPath);
            Assert.Equal(i, (await reader.GetAsync("a", default))!.Spec.Instances);
        }

        Assert.Equal(["topology.json"], Directory.GetFiles(_dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public async Task A_torn_temp_file_left_by_a_crashed_writer_is_ignored_and_removed()
    {
        var text = await WriteTopologyAsync(("a", 2));
        var torn = $"{TopologyPath}.{DeadPid}.{Guid.NewGuid():N}.tmp";
        await File.WriteAllTextAsync(torn, text[..(text.Length / 2)]);
        // A temp file of a writer still running (this process) is not the store's to delete.
        var live = $"{TopologyPath}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        await File.WriteAllTextAsync(live, "");
        var other = _dir.Combine($"scheduler.json.{DeadPid}.{Guid.NewGuid():N}.tmp");
        await File.WriteAllTextAsync(other, "");

        await using var store = FileTopologyStore.Open(TopologyPath);

        Assert.Equal(2, (await store.GetAsync("a", default))!.Spec.Instances);
        Assert.False(File.Exists(torn));
        Assert.True(File.Exists(live));
        Assert.True(File.Exists(other), "only the topology's own temp files are touched");
    }

    [Theory]
    [InlineData("")]
    [InlineData("{ not json")]
    [InlineData("[1, 2]")]
    [InlineData("""{"format": 1, "revision": 3, "operators": [{"name": "a", "version": 3}]}""")]
    [InlineData("""{"format": 1, "revision": 3, "operators": [{"name": "a", "version": "three", "spec": {"name": "a"}}]}""")]
    [InlineData("""{"format": 1, "revision": 3, "operators": [{"name": "a", "version": 3, "spec": {"name": "a", "instances": "many"}}]}""")]
    public async Task An_unreadable_file_is_reported_with_its_path_and_the_fix(string contents)
    {
        await File.WriteAllTextAsync(TopologyPath, contents);

        var error = Assert.Throws<InvalidDataException>(() => FileTopologyStore.Open(TopologyPath));

        Assert.Contains(TopologyPath, error.Message);
        Assert.Contains("move it away", error.Message);
    }

    [Fact]
    public async Task A_file_cut_short_is_reported_not_read_as_a_smaller_topology()
    {
        var text = await WriteTopologyAsync(("a", 1), ("b", 2), ("c", 3));
        await File.WriteAllTextAsync(TopologyPath, text[..(text.Length * 2 / 3)]);

        Assert.Throws<InvalidDataException>(() => FileTopologyStore.Open(TopologyPath));
    }

    [Fact]
    public async Task A_file_of_a_newer_format_is_refused_with_the_fix()
    {
        await File.WriteAllTextAsync(TopologyPath, $$"""{"format": {{FileTopologyStore.FormatVersion + 1}}, "revision": 0, "operators": []}""");

        var error = Assert.Throws<InvalidDataException>(() => FileTopologyStore.Open(TopologyPath));

        Assert.Contains("use a newer scheduler", error.Message);
    }

    [Fact]
    public async Task A_missing_file_is_an_empty_topology_and_its_directory_is_created()
    {
        var path = _dir.Combine("new", "home", "topology.json");

        await using var store = FileTopologyStore.Open(path);

        Assert.Empty((await store.ReadAsync(default)).Operators);
        Assert.True(Directory.Exists(Path.GetDirectoryName(path)));
        Assert.False(File.Exists(path), "nothing is written until the first change");
    }

    [Fact]
    public async Task A_write_that_fails_on_disk_changes_nothing_and_notifies_no_one()
    {
        var home = _dir.Combine("home");
        var path = Path.Combine(home, "topology.json");
        await using var store = FileTopologyStore.Open(path);
        var created = (await store.CompareAndSetAsync("a", TopologyStoreVersions.Absent, Spec("a"), null, default))!;
        using var cancel = new CancellationTokenSource(Timeout);
        await using var watch = store.WatchAsync(cancel.Token).GetAsyncEnumerator(cancel.Token);
        Assert.True(await watch.MoveNextAsync().AsTask().WaitAsync(Timeout));
        var next = watch.MoveNextAsync().AsTask();
        // The home disappears under the store: the temp file cannot be created.
        Directory.Delete(home, recursive: true);

        await Assert.ThrowsAnyAsync<IOException>(() => store.CompareAndSetAsync("a", created.Version, Spec("a", 5), null, default));

        Assert.Equal(created, await store.GetAsync("a", default));
        Assert.False(next.IsCompleted, "a failed write is not a change");
        // Once the disk is back, the entry still has its old version and writes go on.
        Directory.CreateDirectory(home);
        var updated = (await store.CompareAndSetAsync("a", created.Version, Spec("a", 5), null, default))!;
        Assert.True(await next.WaitAsync(Timeout));
        Assert.Equal(updated.Version, watch.Current);
        await using var reopened = FileTopologyStore.Open(path);
        Assert.Equal(updated, await reopened.GetAsync("a", default));
    }

    [Fact]
    public void Syncing_a_directory_that_is_gone_fails_naming_it()
    {
        var gone = _dir.Combine("gone");

        Concord.Hosting.DirectorySync.Sync(_dir.Path);
        var error = Assert.Throws<IOException>(() => Concord.Hosting.DirectorySync.Sync(gone));

        Assert.Contains($"'{gone}'", error.Message);
    }
}
