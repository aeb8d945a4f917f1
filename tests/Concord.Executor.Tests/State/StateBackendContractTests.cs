using System.Text;
using Concord.Contracts;
using Concord.Executor.State;
using Concord.Hosting.Checkpoints;

namespace Concord.Executor.Tests.State;

/// <summary>
/// The contract every <see cref="IKeyedStateBackend"/> keeps (docs/guarantees.md): one suite, run
/// once per backend by the subclasses at the end of this file.
/// </summary>
public abstract class StateBackendContractTests : IDisposable
{
    protected const int Groups = ProtocolLimits.KeyGroupCount;

    private readonly List<IDisposable> _owned = [];

    protected TempDirectory Temp { get; } = new("cc-state-");

    /// <summary>A new backend of the kind under test (disposed with the test).</summary>
    protected abstract IKeyedStateBackend NewBackend(int keyGroupCount, (int Start, int End) range, long bytesMax);

    protected IKeyedStateBackend Backend((int Start, int End)? range = null, long bytesMax = ExecutorLimits.StateMemoryBytesMax)
    {
        var backend = NewBackend(Groups, range ?? (0, Groups), bytesMax);
        _owned.Add(backend);
        return backend;
    }

    protected static byte[] B(string text) => Encoding.UTF8.GetBytes(text);

    protected static string? Get(IKeyedStateBackend backend, string key, string name = "count") =>
        backend.TryGet(B(key), name, out var value) ? Encoding.UTF8.GetString(value.Span) : null;

    [Fact]
    public void Set_then_get_returns_the_value_and_names_are_separate()
    {
        var backend = Backend();
        backend.Set(B("k1"), "count", B("1"));
        backend.Set(B("k1"), "sum", B("10"));
        backend.Set(B("k2"), "count", B("2"));

        Assert.Equal("1", Get(backend, "k1"));
        Assert.Equal("10", Get(backend, "k1", "sum"));
        Assert.Equal("2", Get(backend, "k2"));
        Assert.Null(Get(backend, "k3"));
        Assert.Null(Get(backend, "k2", "sum"));
    }

    [Fact]
    public void Set_overwrites_and_clear_removes_only_that_name()
    {
        var backend = Backend();
        backend.Set(B("k"), "count", B("1"));
        backend.Set(B("k"), "count", B("2"));
        backend.Set(B("k"), "sum", B("5"));
        backend.Clear(B("k"), "count");
        backend.Clear(B("absent"), "count");

        Assert.Null(Get(backend, "k"));
        Assert.Equal("5", Get(backend, "k", "sum"));
    }

    [Fact]
    public void Empty_key_and_empty_value_are_state_like_any_other()
    {
        var backend = Backend();
        backend.Set([], "count", []);

        Assert.True(backend.TryGet([], "count", out var value));
        Assert.Equal(0, value.Length);
    }

    [Fact]
    public void Entries_lists_every_key_of_one_name_only()
    {
        var backend = Backend();
        for (var i = 0; i < 50; i++)
        {
            backend.Set(B($"k{i}"), "count", B($"{i}"));
            backend.Set(B($"k{i}"), IKeyedStateBackend.TimersNamespace, B($"t{i}"));
        }

        var timers = backend.Entries(IKeyedStateBackend.TimersNamespace)
            .Select(e => (Encoding.UTF8.GetString(e.Key), Encoding.UTF8.GetString(e.Value)))
            .OrderBy(e => e.Item1, StringComparer.Ordinal)
            .ToList();

        Assert.Equal(Enumerable.Range(0, 50).Select(i => ($"k{i}", $"t{i}")).OrderBy(e => e.Item1, StringComparer.Ordinal), timers);
    }

    [Fact]
    public void Keys_outside_the_range_are_accepted()
    {
        var backend = Backend(range: (0, 1));
        var key = Enumerable.Range(0, 1000).Select(i => $"k{i}").First(k => KeyGroups.Of(B(k), Groups) != 0);

        backend.Set(B(key), "count", B("7"));

        Assert.Equal("7", Get(backend, key));
    }

    [Fact]
    public void StateBytes_grows_with_set_and_returns_to_zero_after_clear()
    {
        var backend = Backend();
        backend.Set(B("key"), "count", new byte[1000]);
        var held = backend.StateBytes;
        backend.Set(B("key"), "count", new byte[10]);

        Assert.True(held >= 1000, $"StateBytes {held} counts the value");
        Assert.True(backend.StateBytes < held);
        backend.Clear(B("key"), "count");
        Assert.Equal(0, backend.StateBytes);
    }

    [Fact]
    public void A_value_over_the_value_bound_is_refused_naming_the_bound()
    {
        var backend = Backend();

        var error = Assert.Throws<StateLimitException>(() => backend.Set(B("k"), "count", new byte[ExecutorLimits.StateValueBytesMax + 1]));

        Assert.Contains(nameof(ExecutorLimits.StateValueBytesMax), error.Message);
        Assert.Null(Get(backend, "k"));
    }

    // ---- snapshots and restore -----------------------------------------------------------

    protected const string Op = "counter";

    protected string Root => Temp.Path;

    protected string Chk(ulong id) => CheckpointLayout.CheckpointDirectory(Root, id);

    /// <summary>Takes and writes checkpoint <paramref name="id"/> of one instance, as the executor does.</summary>
    protected static async Task<SnapshotResult> CheckpointAsync(IKeyedStateBackend backend, string directory, ulong id, int index = 0)
    {
        using var snapshot = backend.Snapshot(id);
        return await snapshot.WriteAsync(directory, Op, index, CancellationToken.None).WaitAsync(TestSupport.Bound);
    }

    protected static List<string> Keys(int count) => Enumerable.Range(0, count).Select(i => $"key-{i}").ToList();

    [Fact]
    public async Task A_snapshot_holds_the_state_as_of_Snapshot_and_not_later_writes()
    {
        var backend = Backend();
        backend.Set(B("a"), "count", B("1"));
        backend.Set(B("b"), "count", B("1"));
        using var snapshot = backend.Snapshot(1);
        backend.Set(B("a"), "count", B("2"));
        backend.Clear(B("b"), "count");
        backend.Set(B("c"), "count", B("1"));

        await snapshot.WriteAsync(Chk(1), Op, 0, CancellationToken.None).WaitAsync(TestSupport.Bound);
        var restored = Backend();
        restored.Restore(Chk(1), Op);

        Assert.Equal("1", Get(restored, "a"));
        Assert.Equal("1", Get(restored, "b"));
        Assert.Null(Get(restored, "c"));
        Assert.Equal("2", Get(backend, "a"));
    }

    [Fact]
    public async Task A_restore_reports_the_state_names_it_found_entries_for_timers_included()
    {
        var backend = Backend();
        foreach (var key in Keys(200))
        {
            backend.Set(B(key), "count", B("1"));
        }
        backend.Set(B("a"), "total", B("9"));
        backend.Set(B("b"), IKeyedStateBackend.TimersNamespace, B("t"));
        backend.Set(B("c"), "gone", B("1"));
        backend.Clear(B("c"), "gone"); // No entry left: not a name the checkpoint holds.
        await CheckpointAsync(backend, Chk(1), 1);
        var restored = Backend();
        Assert.Empty(restored.RestoredStateNames);

        restored.Restore(Chk(1), Op);

        Assert.Equal(["concord.timers", "count", "total"], restored.RestoredStateNames);
    }

    [Fact]
    public async Task A_snapshot_taken_before_the_backend_is_disposed_can_still_be_written()
    {
        var backend = NewBackend(Groups, (0, Groups), ExecutorLimits.StateMemoryBytesMax);
        backend.Set(B("a"), "count", B("1"));
        using var snapshot = backend.Snapshot(1);
        backend.Dispose();

        await snapshot.WriteAsync(Chk(1), Op, 0, CancellationToken.None).WaitAsync(TestSupport.Bound);

        var restored = Backend();
        restored.Restore(Chk(1), Op);
        Assert.Equal("1", Get(restored, "a"));
    }

    [Fact]
    public async Task The_second_checkpoint_writes_only_changed_key_groups_and_refers_to_the_earlier_files()
    {
        var backend = Backend();
        foreach (var key in Keys(500))
        {
            backend.Set(B(key), "count", B("v1"));
        }
        var first = await CheckpointAsync(backend, Chk(1), 1);
        backend.Set(B("key-7"), "count", B("v2"));
        var second = await CheckpointAsync(backend, Chk(2), 2);

        var changed = KeyGroups.Of(B("key-7"), Groups);
        var manifest = CheckpointLayout.ReadManifests(Chk(2), Op).Single();
        var written = manifest.KeyGroups.Where(g => g.File.EndsWith("-2.state", StringComparison.Ordinal)).Select(g => g.Group).ToList();
        Assert.Equal([changed], written);
        Assert.Equal(CheckpointLayout.ReadManifests(Chk(1), Op).Single().KeyGroups.Count, manifest.KeyGroups.Count);
        Assert.All(manifest.KeyGroups.Where(g => g.Group != changed), g => Assert.EndsWith("-1.state", g.File, StringComparison.Ordinal));
        // Written: the manifest and the one changed group's file, nothing else.
        var manifestBytes = new FileInfo(CheckpointLayout.ManifestPath(Chk(2), Op, 0)).Length;
        Assert.Equal(manifestBytes + manifest.KeyGroups.Single(g => g.Group == changed).Bytes, second.WrittenBytes);
        Assert.Equal(new FileInfo(CheckpointLayout.ManifestPath(Chk(1), Op, 0)).Length + manifest.StateBytes, first.WrittenBytes);
        Assert.Equal(first.StateBytes, second.StateBytes);

        var restored = Backend();
        restored.Restore(Chk(2), Op);
        Assert.Equal("v2", Get(restored, "key-7"));
        Assert.Equal("v1", Get(restored, "key-8"));
    }

    [Fact]
    public async Task A_key_group_whose_write_failed_is_written_again_by_the_next_checkpoint()
    {
        var backend = Backend();
        backend.Set(B("a"), "count", B("1"));
        using (var snapshot = backend.Snapshot(1))
        {
            using var cancelled = new CancellationTokenSource();
            await cancelled.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => snapshot.WriteAsync(Chk(1), Op, 0, cancelled.Token).WaitAsync(TestSupport.Bound));
        }

        await CheckpointAsync(backend, Chk(2), 2);

        var group = KeyGroups.Of(B("a"), Groups);
        Assert.Equal(CheckpointLayout.StateFile(Op, group, 2), CheckpointLayout.ReadManifests(Chk(2), Op).Single().KeyGroups.Single().File);
        var restored = Backend();
        restored.Restore(Chk(2), Op);
        Assert.Equal("1", Get(restored, "a"));
    }

    [Fact]
    public async Task A_key_group_emptied_since_the_last_checkpoint_leaves_the_manifest()
    {
        var backend = Backend();
        backend.Set(B("a"), "count", B("1"));
        await CheckpointAsync(backend, Chk(1), 1);
        backend.Clear(B("a"), "count");

        await CheckpointAsync(backend, Chk(2), 2);

        Assert.Empty(CheckpointLayout.ReadManifests(Chk(2), Op).Single().KeyGroups);
        var restored = Backend();
        restored.Restore(Chk(2), Op);
        Assert.Null(Get(restored, "a"));
        Assert.Equal(0, restored.StateBytes);
    }

    [Theory]
    [InlineData(1, 3)]
    [InlineData(3, 2)]
    [InlineData(2, 5)]
    public async Task After_a_rescale_every_key_is_restored_by_its_new_owner_and_by_no_other(int before, int after)
    {
        var keys = Keys(2000);
        for (var index = 0; index < before; index++)
        {
            var range = KeyGroups.RangeOf(index, before, Groups);
            var backend = Backend(range);
            foreach (var key in keys.Where(k => InRange(k, range)))
            {
                backend.Set(B(key), "count", B("v-" + key));
                backend.Set(B(key), IKeyedStateBackend.TimersNamespace, B("t-" + key));
            }
            await CheckpointAsync(backend, Chk(4), 4, index);
        }

        var found = new Dictionary<string, int>();
        for (var index = 0; index < after; index++)
        {
            var range = KeyGroups.RangeOf(index, after, Groups);
            var restored = Backend(range);
            restored.Restore(Chk(4), Op);
            foreach (var key in keys)
            {
                var value = Get(restored, key);
                if (value is null)
                {
                    Assert.False(InRange(key, range), $"{key} missing from its new owner {index}");
                    continue;
                }
                Assert.True(InRange(key, range), $"{key} restored by {index}, which does not own it");
                Assert.Equal("v-" + key, value);
                found[key] = found.GetValueOrDefault(key) + 1;
            }
            Assert.Equal(
                keys.Where(k => InRange(k, range)).Select(k => "t-" + k).Order(StringComparer.Ordinal),
                restored.Entries(IKeyedStateBackend.TimersNamespace).Select(e => Encoding.UTF8.GetString(e.Value)).Order(StringComparer.Ordinal));
        }
        Assert.Equal(keys.Count, found.Count);
        Assert.All(found.Values, count => Assert.Equal(1, count));
    }

    [Fact]
    public async Task Keys_held_outside_the_range_are_written_under_their_group_and_the_owner_wins()
    {
        var key = "stray";
        var group = KeyGroups.Of(B(key), Groups);
        var ownerRange = (group, group + 1);
        var otherRange = group == 0 ? (1, Groups) : (0, group);
        var owner = Backend(ownerRange);
        owner.Set(B(key), "count", B("owner"));
        owner.Set(B("only-old"), "count", B("x"));
        var other = Backend(otherRange);
        other.Set(B(key), "count", B("former"));
        var onlyFormer = Keys(5000).First(k => KeyGroups.Of(B(k), Groups) == group && k != key);
        other.Set(B(onlyFormer), "count", B("former"));
        await CheckpointAsync(owner, Chk(3), 3, 0);
        await CheckpointAsync(other, Chk(3), 3, 1);

        var strayFile = CheckpointLayout.ReadManifests(Chk(3), Op).Single(m => m.InstanceIndex == 1).KeyGroups.Single(g => g.Group == group).File;
        Assert.Equal(CheckpointLayout.StateFile(Op, group, 3, strayInstance: 1), strayFile);
        var restored = Backend(ownerRange);
        restored.Restore(Chk(3), Op);
        Assert.Equal("owner", Get(restored, key));
        Assert.Equal("former", Get(restored, onlyFormer));
    }

    [Fact]
    public async Task A_torn_temp_file_next_to_the_checkpoint_files_is_ignored()
    {
        var backend = Backend();
        backend.Set(B("a"), "count", B("1"));
        await CheckpointAsync(backend, Chk(1), 1);
        var manifest = CheckpointLayout.ManifestPath(Chk(1), Op, 0);
        var stateFile = CheckpointLayout.ResolveStateFile(Root, CheckpointLayout.ReadManifest(manifest).KeyGroups.Single().File);
        // What a crash between create and rename leaves: half-written temp files.
        File.WriteAllText(manifest + ".4242.0123456789abcdef0123456789abcdef.tmp", "{\"version\": 1, \"checkpo");
        File.WriteAllBytes(stateFile + ".4242.0123456789abcdef0123456789abcdef.tmp", [(byte)'C', (byte)'K']);
        File.WriteAllText(CheckpointLayout.ManifestPath(Chk(1), Op, 1) + ".4242.0123456789abcdef0123456789abcdef.tmp", "{");

        var restored = Backend();
        restored.Restore(Chk(1), Op);

        Assert.Equal("1", Get(restored, "a"));
    }

    [Fact]
    public async Task A_damaged_state_file_fails_the_restore_naming_it_and_leaves_no_state()
    {
        var backend = Backend();
        foreach (var key in Keys(50))
        {
            backend.Set(B(key), "count", B("value"));
        }
        await CheckpointAsync(backend, Chk(1), 1);
        var file = CheckpointLayout.ResolveStateFile(Root, CheckpointLayout.ReadManifests(Chk(1), Op).Single().KeyGroups.Last().File);
        var bytes = File.ReadAllBytes(file);
        bytes[^9] ^= 0x40;
        File.WriteAllBytes(file, bytes);

        var restored = Backend();
        restored.Set(B("before"), "count", B("x"));
        var error = Assert.Throws<InvalidDataException>(() => restored.Restore(Chk(1), Op));

        Assert.Contains(file, error.Message);
        Assert.Equal(0, restored.StateBytes);
        Assert.Null(Get(restored, "before"));
    }

    [Fact]
    public async Task A_checkpoint_restores_into_the_other_backend_kind()
    {
        var backend = Backend();
        foreach (var key in Keys(300))
        {
            backend.Set(B(key), "count", B("v-" + key));
        }
        await CheckpointAsync(backend, Chk(1), 1);

        using var memory = new MemoryStateBackend(Groups, (0, Groups), ExecutorLimits.StateMemoryBytesMax);
        using var rocks = new RocksDbStateBackend(Temp.Combine("other-db"), Groups, (0, Groups));
        memory.Restore(Chk(1), Op);
        rocks.Restore(Chk(1), Op);

        Assert.All(Keys(300), key => Assert.Equal("v-" + key, Get(memory, key)));
        Assert.All(Keys(300), key => Assert.Equal("v-" + key, Get(rocks, key)));
        Assert.Equal(memory.StateBytes > 0, rocks.StateBytes > 0);
    }

    [Fact]
    public async Task Incremental_checkpoints_continue_after_a_restore_from_the_restored_files()
    {
        var backend = Backend();
        foreach (var key in Keys(200))
        {
            backend.Set(B(key), "count", B("v1"));
        }
        await CheckpointAsync(backend, Chk(1), 1);
        var restored = Backend();
        restored.Restore(Chk(1), Op);
        restored.Set(B("key-3"), "count", B("v2"));

        await CheckpointAsync(restored, Chk(2), 2);

        var files = CheckpointLayout.ReadManifests(Chk(2), Op).Single().KeyGroups;
        Assert.Single(files, g => g.File.EndsWith("-2.state", StringComparison.Ordinal));
        var again = Backend();
        again.Restore(Chk(2), Op);
        Assert.Equal("v2", Get(again, "key-3"));
        Assert.Equal("v1", Get(again, "key-4"));
    }

    [Fact]
    public async Task Garbage_collection_keeps_files_of_retained_checkpoints_and_deletes_the_rest()
    {
        var backend = Backend();
        foreach (var key in Keys(300))
        {
            backend.Set(B(key), "count", B("v1"));
        }
        await CheckpointAsync(backend, Chk(1), 1);
        backend.Set(B("key-1"), "count", B("v2"));
        await CheckpointAsync(backend, Chk(2), 2);
        backend.Set(B("key-1"), "count", B("v3"));
        await CheckpointAsync(backend, Chk(3), 3);
        var sharedFiles = Directory.GetFiles(CheckpointLayout.SharedOperatorDirectory(Root, Op));
        var group = KeyGroups.Of(B("key-1"), Groups);
        var superseded = CheckpointLayout.ResolveStateFile(Root, CheckpointLayout.StateFile(Op, group, 2));
        var firstOfGroup = CheckpointLayout.ResolveStateFile(Root, CheckpointLayout.StateFile(Op, group, 1));
        Assert.Contains(superseded, sharedFiles);

        // chk-1 and chk-2 are no longer retained; chk-3 refers to chk-1's files of unchanged groups.
        var result = CheckpointLayout.CollectGarbage(Root, [Chk(3)]);

        Assert.Equal(2, result.FilesDeleted);
        Assert.False(File.Exists(superseded));
        Assert.False(File.Exists(firstOfGroup));
        Assert.All(CheckpointLayout.ReadManifests(Chk(3), Op).Single().KeyGroups,
            g => Assert.True(File.Exists(CheckpointLayout.ResolveStateFile(Root, g.File)), g.File));
        var restored = Backend();
        restored.Restore(Chk(3), Op);
        Assert.Equal("v3", Get(restored, "key-1"));
        Assert.Equal("v1", Get(restored, "key-2"));
    }

    private static bool InRange(string key, (int Start, int End) range) =>
        KeyGroups.Of(B(key), Groups) is var group && group >= range.Start && group < range.End;

    public void Dispose()
    {
        foreach (var owned in _owned)
        {
            owned.Dispose();
        }
        Temp.Dispose();
        GC.SuppressFinalize(this);
    }
}

public sealed class MemoryStateBackendContractTests : StateBackendContractTests
{
    protected override IKeyedStateBackend NewBackend(int keyGroupCount, (int Start, int End) range, long bytesMax) =>
        new MemoryStateBackend(keyGroupCount, range, bytesMax);
}

public sealed class RocksDbStateBackendContractTests : StateBackendContractTests
{
    private int _databases;

    protected override IKeyedStateBackend NewBackend(int keyGroupCount, (int Start, int End) range, long bytesMax) =>
        new RocksDbStateBackend(Temp.Combine($"db-{_databases++}"), keyGroupCount, range);
}
