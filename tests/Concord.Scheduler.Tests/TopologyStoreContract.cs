using Concord.Contracts.Types.V1;
using Concord.Scheduler.Store;

namespace Concord.Scheduler.Tests;

/// <summary>
/// What every <see cref="ITopologyStore"/> must do, whatever holds the topology (a file, ZooKeeper,
/// etcd): versioned compare-and-set, watches, durability across a restart. A new store passes
/// this suite by deriving a class that says how to open it (see
/// <see cref="FileTopologyStoreContractTests"/>); tests of one store's own format and failure
/// modes go in a class of their own.
/// </summary>
/// <remarks>xunit makes a new instance per test, so every test starts with an empty store.</remarks>
public abstract class TopologyStoreContract : IAsyncLifetime
{
    /// <summary>Bound of every await, in s: generous for a loaded CI machine, short next to a hang.</summary>
    protected const int AwaitTimeoutSeconds = 10;

    /// <summary>Writers racing for one entry, and entries in the many-keys cases.</summary>
    private const int ConcurrentWritersCount = 16;

    private const int ManyKeysCount = 300;

    protected static readonly TimeSpan Timeout = TimeSpan.FromSeconds(AwaitTimeoutSeconds);

    private readonly List<ITopologyStore> _opened = [];

    /// <summary>
    /// Opens a client of this test's store. The first call sees an empty topology; a call after
    /// the previous client was disposed sees everything written before (a scheduler restart).
    /// </summary>
    protected abstract Task<ITopologyStore> OpenStoreAsync();

    /// <summary>
    /// A client that changes the same topology from elsewhere: another connection for a store
    /// shared over the network. The caller does not dispose it.
    /// </summary>
    protected abstract Task<ITopologyStore> OpenPeerAsync(ITopologyStore store);

    public virtual Task InitializeAsync() => Task.CompletedTask;

    public virtual async Task DisposeAsync()
    {
        foreach (var store in _opened)
        {
            await store.DisposeAsync();
        }
    }

    protected static OperatorSpec Spec(string name, int instances = 1) => new() { Name = name, Executable = "/bin/true", Instances = instances };

    private async Task<ITopologyStore> OpenAsync()
    {
        var store = await OpenStoreAsync().WaitAsync(Timeout);
        _opened.Add(store);
        return store;
    }

    private async Task<ITopologyStore> PeerAsync(ITopologyStore store)
    {
        var peer = await OpenPeerAsync(store).WaitAsync(Timeout);
        if (!ReferenceEquals(peer, store))
        {
            _opened.Add(peer);
        }
        return peer;
    }

    private static async Task<OperatorEntry> CreateAsync(ITopologyStore store, string name, int instances = 1) =>
        (await store.CompareAndSetAsync(name, TopologyStoreVersions.Absent, Spec(name, instances), null, default).WaitAsync(Timeout))!;

    // ---- compare-and-set ----

    [Fact]
    public async Task A_new_store_is_empty()
    {
        var store = await OpenAsync();

        var snapshot = await store.ReadAsync(default).WaitAsync(Timeout);

        Assert.Empty(snapshot.Operators);
        Assert.Null(await store.GetAsync("a", default).WaitAsync(Timeout));
    }

    [Fact]
    public async Task A_create_returns_the_entry_as_stored_and_every_read_sees_it_at_once()
    {
        var store = await OpenAsync();
        var peer = await PeerAsync(store);

        var created = await CreateAsync(store, "a", 3);

        Assert.Equal(("a", 3, (OperatorMetadata?)null), (created.Name, created.Spec.Instances, created.Metadata));
        Assert.True(created.Version > TopologyStoreVersions.Absent);
        Assert.Equal(created, await store.GetAsync("a", default).WaitAsync(Timeout));
        Assert.Equal(created, await peer.GetAsync("a", default).WaitAsync(Timeout));
        var snapshot = await peer.ReadAsync(default).WaitAsync(Timeout);
        Assert.Equal(created, Assert.Single(snapshot.Operators));
        Assert.True(snapshot.Revision >= created.Version);
    }

    [Fact]
    public async Task Creating_an_existing_entry_conflicts_with_its_version_and_changes_nothing()
    {
        var store = await OpenAsync();
        var created = await CreateAsync(store, "a");

        var error = await Assert.ThrowsAsync<TopologyConflictException>(
            () => store.CompareAndSetAsync("a", TopologyStoreVersions.Absent, Spec("a", 7), null, default).WaitAsync(Timeout));

        Assert.Equal(("a", TopologyStoreVersions.Absent, created.Version), (error.Name, error.ExpectedVersion, error.ActualVersion));
        Assert.Contains("already exists", error.Message);
        Assert.Equal(created, await store.GetAsync("a", default).WaitAsync(Timeout));
    }

    [Fact]
    public async Task An_update_with_a_stale_version_conflicts_and_changes_nothing()
    {
        var store = await OpenAsync();
        var v1 = await CreateAsync(store, "a");
        var v2 = (await store.CompareAndSetAsync("a", v1.Version, Spec("a", 3), null, default).WaitAsync(Timeout))!;

        var error = await Assert.ThrowsAsync<TopologyConflictException>(
            () => store.CompareAndSetAsync("a", v1.Version, Spec("a", 5), null, default).WaitAsync(Timeout));

        Assert.True(v2.Version > v1.Version);
        Assert.Equal((v1.Version, v2.Version), (error.ExpectedVersion, error.ActualVersion));
        Assert.Contains("re-read and retry", error.Message);
        Assert.Equal(v2, await store.GetAsync("a", default).WaitAsync(Timeout));
    }

    [Fact]
    public async Task An_update_of_an_absent_entry_conflicts_and_creates_nothing()
    {
        var store = await OpenAsync();
        var other = await CreateAsync(store, "other");

        var error = await Assert.ThrowsAsync<TopologyConflictException>(
            () => store.CompareAndSetAsync("a", other.Version, Spec("a"), null, default).WaitAsync(Timeout));

        Assert.Equal(TopologyStoreVersions.Absent, error.ActualVersion);
        Assert.Contains("does not exist", error.Message);
        Assert.Null(await store.GetAsync("a", default).WaitAsync(Timeout));
    }

    [Fact]
    public async Task A_delete_with_the_current_version_removes_the_entry_and_only_it()
    {
        var store = await OpenAsync();
        var a = await CreateAsync(store, "a");
        var b = await CreateAsync(store, "b");

        Assert.Null(await store.CompareAndSetAsync("a", a.Version, null, null, default).WaitAsync(Timeout));

        Assert.Null(await store.GetAsync("a", default).WaitAsync(Timeout));
        Assert.Equal([b], (await store.ReadAsync(default).WaitAsync(Timeout)).Operators);
    }

    [Fact]
    public async Task A_delete_with_a_stale_version_or_expecting_absence_conflicts_and_keeps_the_entry()
    {
        var store = await OpenAsync();
        var v1 = await CreateAsync(store, "a");
        var v2 = (await store.CompareAndSetAsync("a", v1.Version, Spec("a", 2), null, default).WaitAsync(Timeout))!;

        var stale = await Assert.ThrowsAsync<TopologyConflictException>(
            () => store.CompareAndSetAsync("a", v1.Version, null, null, default).WaitAsync(Timeout));
        var absent = await Assert.ThrowsAsync<TopologyConflictException>(
            () => store.CompareAndSetAsync("a", TopologyStoreVersions.Absent, null, null, default).WaitAsync(Timeout));

        Assert.Equal(v2.Version, stale.ActualVersion);
        Assert.Equal(v2.Version, absent.ActualVersion);
        Assert.Equal(v2, await store.GetAsync("a", default).WaitAsync(Timeout));
    }

    [Fact]
    public async Task Deleting_an_absent_entry_expecting_absence_is_a_no_op_and_with_a_version_a_conflict()
    {
        var store = await OpenAsync();
        var other = await CreateAsync(store, "other");
        var before = await store.ReadAsync(default).WaitAsync(Timeout);

        Assert.Null(await store.CompareAndSetAsync("a", TopologyStoreVersions.Absent, null, null, default).WaitAsync(Timeout));
        var error = await Assert.ThrowsAsync<TopologyConflictException>(
            () => store.CompareAndSetAsync("a", other.Version, null, null, default).WaitAsync(Timeout));

        Assert.Equal(TopologyStoreVersions.Absent, error.ActualVersion);
        Assert.Equal(before, await store.ReadAsync(default).WaitAsync(Timeout), SnapshotComparer.Instance);
    }

    [Fact]
    public async Task A_recreate_after_a_delete_gets_a_version_never_used_before()
    {
        var store = await OpenAsync();
        var first = await CreateAsync(store, "a");
        await store.CompareAndSetAsync("a", first.Version, null, null, default).WaitAsync(Timeout);

        var second = await CreateAsync(store, "a");

        Assert.True(second.Version > first.Version);
        // The old version no longer fits: a writer that read before the delete cannot win.
        await Assert.ThrowsAsync<TopologyConflictException>(
            () => store.CompareAndSetAsync("a", first.Version, Spec("a", 9), null, default).WaitAsync(Timeout));
    }

    [Fact]
    public async Task The_revision_increases_with_every_change_to_any_entry_deletes_included()
    {
        var store = await OpenAsync();
        var revisions = new List<long> { (await store.ReadAsync(default).WaitAsync(Timeout)).Revision };
        var versions = new List<long>();

        var a = await CreateAsync(store, "a");
        versions.Add(a.Version);
        revisions.Add((await store.ReadAsync(default).WaitAsync(Timeout)).Revision);
        var b = await CreateAsync(store, "b");
        versions.Add(b.Version);
        revisions.Add((await store.ReadAsync(default).WaitAsync(Timeout)).Revision);
        var a2 = (await store.CompareAndSetAsync("a", a.Version, Spec("a", 2), null, default).WaitAsync(Timeout))!;
        versions.Add(a2.Version);
        revisions.Add((await store.ReadAsync(default).WaitAsync(Timeout)).Revision);
        await store.CompareAndSetAsync("b", b.Version, null, null, default).WaitAsync(Timeout);
        revisions.Add((await store.ReadAsync(default).WaitAsync(Timeout)).Revision);

        AssertStrictlyIncreasing(versions);
        AssertStrictlyIncreasing(revisions);
        // Each snapshot's revision covers every version in it.
        Assert.True(revisions[3] >= a2.Version);
    }

    [Fact]
    public async Task Spec_and_metadata_come_back_exactly_as_written_and_metadata_is_replaced_not_merged()
    {
        var store = await OpenAsync();
        var spec = new OperatorSpec
        {
            Name = "counter",
            Executable = "/usr/bin/python3",
            Args = { "counter.py", "--verbose", "" },
            Instances = 4,
            Cpus = 0.5,
            MemMb = 256,
            Environment = { ["LANG"] = "C.UTF-8", ["EMPTY"] = "", ["QUOTE"] = "\"x\" ∑ \n" },
            Files = { "/etc/hosts" },
            ExpectedInputs = { new InputStream { Name = "words", Grouping = Grouping.GroupBy } },
            ExpectedOutputs = { "counts" },
            SourceDirectory = "/src/counter",
        };
        var metadata = new OperatorMetadata { Name = "counter", Inputs = { new InputStream { Name = "words", Grouping = Grouping.GroupBy } }, Outputs = { "counts" } };
        var created = await CreateAsync(store, "other");
        var written = (await store.CompareAndSetAsync("counter", TopologyStoreVersions.Absent, spec, metadata, default).WaitAsync(Timeout))!;

        var read = (await store.GetAsync("counter", default).WaitAsync(Timeout))!;
        var cleared = (await store.CompareAndSetAsync("counter", read.Version, spec, null, default).WaitAsync(Timeout))!;

        Assert.Equal(spec, read.Spec);
        Assert.Equal(metadata, read.Metadata);
        Assert.Equal(written, read);
        Assert.Null(cleared.Metadata);
        Assert.Null((await store.GetAsync("counter", default).WaitAsync(Timeout))!.Metadata);
        Assert.Null(created.Metadata);
    }

    [Fact]
    public async Task The_store_keeps_its_own_copy_of_what_was_written()
    {
        var store = await OpenAsync();
        var spec = Spec("a", 2);
        var metadata = new OperatorMetadata { Name = "a", Outputs = { "out" } };
        await store.CompareAndSetAsync("a", TopologyStoreVersions.Absent, spec, metadata, default).WaitAsync(Timeout);

        spec.Instances = 99;
        metadata.Outputs.Add("sneaked-in");

        var stored = (await store.GetAsync("a", default).WaitAsync(Timeout))!;
        Assert.Equal(2, stored.Spec.Instances);
        Assert.Equal(["out"], stored.Metadata!.Outputs);
    }

    [Theory]
    [InlineData("", "a")]
    [InlineData("a", "b")]
    public async Task A_name_that_is_empty_or_differs_from_the_spec_is_refused_and_nothing_is_written(string name, string specName)
    {
        var store = await OpenAsync();

        await Assert.ThrowsAnyAsync<ArgumentException>(
            () => store.CompareAndSetAsync(name, TopologyStoreVersions.Absent, Spec(specName), null, default).WaitAsync(Timeout));

        Assert.Empty((await store.ReadAsync(default).WaitAsync(Timeout)).Operators);
    }

    [Fact]
    public async Task A_write_cancelled_before_it_starts_changes_nothing()
    {
        var store = await OpenAsync();
        var created = await CreateAsync(store, "a");
        var before = await store.ReadAsync(default).WaitAsync(Timeout);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => store.CompareAndSetAsync("a", created.Version, Spec("a", 5), null, cancelled.Token).WaitAsync(Timeout));

        Assert.Equal(created, await store.GetAsync("a", default).WaitAsync(Timeout));
        Assert.Equal(before, await store.ReadAsync(default).WaitAsync(Timeout), SnapshotComparer.Instance);
    }

    // ---- many keys and concurrency ----

    [Fact]
    public async Task Many_entries_written_at_once_are_all_kept_with_distinct_versions_and_read_in_name_order()
    {
        var store = await OpenAsync();
        var peer = await PeerAsync(store);
        // Mixed case, digits and dashes: the order is ordinal, as in ZooKeeper and etcd.
        var names = Enumerable.Range(0, ManyKeysCount).Select(i => (i % 3) switch { 0 => $"op-{i}", 1 => $"Op{i}", _ => $"o{i}" }).ToList();

        var created = await Task.WhenAll(names.Select((name, i) => Task.Run(() => CreateAsync(i % 2 == 0 ? store : peer, name, i + 1))));

        var snapshot = await store.ReadAsync(default).WaitAsync(Timeout);
        Assert.Equal(names.Order(StringComparer.Ordinal), snapshot.Operators.Select(o => o.Name));
        Assert.Equal(ManyKeysCount, created.Select(c => c.Version).Distinct().Count());
        Assert.True(snapshot.Revision >= created.Max(c => c.Version));
        Assert.All(snapshot.Operators, entry => Assert.Equal(created.Single(c => c.Name == entry.Name), entry));
        Assert.All(names.Select((name, i) => (name, i)), item => Assert.Equal(item.i + 1, snapshot.Operators.Single(o => o.Name == item.name).Spec.Instances));
    }

    [Fact]
    public async Task Of_writers_racing_from_one_version_exactly_one_wins()
    {
        var store = await OpenAsync();
        var peer = await PeerAsync(store);
        var v1 = await CreateAsync(store, "a");

        var attempts = await Task.WhenAll(Enumerable.Range(1, ConcurrentWritersCount).Select(i => Task.Run(async () =>
        {
            try
            {
                return (Entry: await (i % 2 == 0 ? store : peer).CompareAndSetAsync("a", v1.Version, Spec("a", i), null, default).WaitAsync(Timeout), Conflict: (TopologyConflictException?)null);
            }
            catch (TopologyConflictException e)
            {
                return (Entry: null, Conflict: e);
            }
        })));

        var winner = Assert.Single(attempts, a => a.Entry is not null).Entry!;
        Assert.All(attempts.Where(a => a.Conflict is not null), a => Assert.Equal(winner.Version, a.Conflict!.ActualVersion));
        Assert.Equal(ConcurrentWritersCount - 1, attempts.Count(a => a.Conflict is not null));
        Assert.Equal(winner, await peer.GetAsync("a", default).WaitAsync(Timeout));
    }

    [Fact]
    public async Task Of_writers_racing_to_create_one_name_exactly_one_wins()
    {
        var store = await OpenAsync();
        var peer = await PeerAsync(store);

        var attempts = await Task.WhenAll(Enumerable.Range(1, ConcurrentWritersCount).Select(i => Task.Run(async () =>
        {
            try
            {
                return await CreateAsync(i % 2 == 0 ? store : peer, "a", i);
            }
            catch (TopologyConflictException)
            {
                return null;
            }
        })));

        var winner = Assert.Single(attempts, a => a is not null)!;
        Assert.Equal(winner, await store.GetAsync("a", default).WaitAsync(Timeout));
    }

    // ---- watches ----

    [Fact]
    public async Task A_watch_starts_with_the_current_revision()
    {
        var store = await OpenAsync();
        await CreateAsync(store, "a");
        var current = (await store.ReadAsync(default).WaitAsync(Timeout)).Revision;
        using var cancel = new CancellationTokenSource(Timeout);

        await using var watch = new WatchReader(store, cancel.Token);

        Assert.Equal(current, await watch.NextAsync());
    }

    [Fact]
    public async Task A_watch_reports_changes_made_by_another_client_in_order()
    {
        var store = await OpenAsync();
        var peer = await PeerAsync(store);
        using var cancel = new CancellationTokenSource(Timeout);
        await using var watch = new WatchReader(store, cancel.Token);
        var start = await watch.NextAsync();

        var created = await CreateAsync(peer, "a");
        var afterCreate = await watch.UntilAsync(created.Version);
        var updated = (await peer.CompareAndSetAsync("a", created.Version, Spec("a", 2), null, default).WaitAsync(Timeout))!;
        var afterUpdate = await watch.UntilAsync(updated.Version);
        await peer.CompareAndSetAsync("a", updated.Version, null, null, default).WaitAsync(Timeout);
        var deleted = (await peer.ReadAsync(default).WaitAsync(Timeout)).Revision;
        var afterDelete = await watch.UntilAsync(deleted);

        AssertStrictlyIncreasing([start, .. afterCreate, .. afterUpdate, .. afterDelete]);
        Assert.Equal(created.Version, afterCreate[^1]);
        Assert.Equal(updated.Version, afterUpdate[^1]);
        Assert.Equal(deleted, afterDelete[^1]);
    }

    [Fact]
    public async Task A_slow_watcher_sees_revisions_in_order_ending_with_the_newest()
    {
        var store = await OpenAsync();
        using var cancel = new CancellationTokenSource(Timeout);
        await using var watch = new WatchReader(store, cancel.Token);
        var start = await watch.NextAsync();

        // Many writes, one after another and then at once, while nobody reads the watch.
        var version = TopologyStoreVersions.Absent;
        for (var i = 1; i <= ManyKeysCount / 10; i++)
        {
            version = (await store.CompareAndSetAsync("a", version, Spec("a", i), null, default).WaitAsync(Timeout))!.Version;
        }
        await Task.WhenAll(Enumerable.Range(0, ConcurrentWritersCount).Select(i => Task.Run(() => CreateAsync(store, $"b{i}"))));
        var newest = (await store.ReadAsync(default).WaitAsync(Timeout)).Revision;

        var seen = await watch.UntilAsync(newest);

        AssertStrictlyIncreasing([start, .. seen]);
        Assert.Equal(newest, seen[^1]);
    }

    [Fact]
    public async Task Watches_opened_while_writes_go_on_never_repeat_or_go_back_a_revision()
    {
        var store = await OpenAsync();
        var peer = await PeerAsync(store);
        using var cancel = new CancellationTokenSource(Timeout);
        var watches = new List<(WatchReader Watch, long First)>();
        var writer = Task.Run(async () =>
        {
            var version = TopologyStoreVersions.Absent;
            for (var i = 1; i <= ManyKeysCount; i++)
            {
                version = (await peer.CompareAndSetAsync("a", version, Spec("a", i), null, default).WaitAsync(Timeout))!.Version;
            }
        });
        try
        {
            // Each watch starts at some point of the writes: the race between "current revision"
            // and "the change just made" is what this exercises.
            while (!writer.IsCompleted && watches.Count < ManyKeysCount)
            {
                var watch = new WatchReader(store, cancel.Token);
                watches.Add((watch, await watch.NextAsync()));
            }
            await writer.WaitAsync(Timeout);
            var newest = (await store.ReadAsync(default).WaitAsync(Timeout)).Revision;

            foreach (var (watch, first) in watches)
            {
                var seen = first < newest ? await watch.UntilAsync(newest) : [];
                AssertStrictlyIncreasing([first, .. seen]);
            }
            Assert.NotEmpty(watches);
        }
        finally
        {
            foreach (var (watch, _) in watches)
            {
                await watch.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Every_watcher_sees_the_change()
    {
        var store = await OpenAsync();
        var peer = await PeerAsync(store);
        using var cancel = new CancellationTokenSource(Timeout);
        await using var first = new WatchReader(store, cancel.Token);
        await using var second = new WatchReader(peer, cancel.Token);
        await first.NextAsync();
        await second.NextAsync();

        var created = await CreateAsync(store, "a");

        Assert.Equal(created.Version, (await first.UntilAsync(created.Version))[^1]);
        Assert.Equal(created.Version, (await second.UntilAsync(created.Version))[^1]);
    }

    [Fact]
    public async Task Cancelling_a_watch_ends_it()
    {
        var store = await OpenAsync();
        using var cancel = new CancellationTokenSource();
        await using var watch = new WatchReader(store, cancel.Token);
        await watch.NextAsync();
        var pending = watch.MoveNextAsync();

        await cancel.CancelAsync();

        // Either ending form is fine: the enumeration stops and never hangs.
        try
        {
            Assert.False(await pending.WaitAsync(Timeout));
        }
        catch (OperationCanceledException)
        {
        }
    }

    // ---- checkpoints ----

    private static CheckpointRecord Checkpoint(ulong id, bool savepoint = false) =>
        new(id, savepoint, 1_000 + (long)id, 12, 3, 4_096, 1_024, $"/checkpoints/{(savepoint ? "sp" : "chk")}-{id}", 2,
            [new CheckpointedOperator("counter", 2, 7)]);

    [Fact]
    public async Task Checkpoints_are_recorded_in_id_order_and_forgotten_in_the_same_write_without_changing_the_revision()
    {
        var store = await OpenAsync();
        await CreateAsync(store, "counter");
        var revision = (await store.ReadAsync(default).WaitAsync(Timeout)).Revision;

        await store.RecordCheckpointAsync(Checkpoint(2), [], default).WaitAsync(Timeout);
        await store.RecordCheckpointAsync(Checkpoint(1, savepoint: true), [], default).WaitAsync(Timeout);
        await store.RecordCheckpointAsync(Checkpoint(3), [2], default).WaitAsync(Timeout);

        Assert.Equal([Checkpoint(1, savepoint: true), Checkpoint(3)], await store.ReadCheckpointsAsync(default).WaitAsync(Timeout));
        Assert.Equal(revision, (await store.ReadAsync(default).WaitAsync(Timeout)).Revision);
        await Assert.ThrowsAsync<ArgumentException>(() => store.RecordCheckpointAsync(Checkpoint(3), [], default).WaitAsync(Timeout));
    }

    [Fact]
    public async Task Recorded_checkpoints_survive_a_restart_and_topology_writes()
    {
        var store = await OpenAsync();
        var counter = await CreateAsync(store, "counter");
        await store.RecordCheckpointAsync(Checkpoint(5), [], default).WaitAsync(Timeout);
        await store.CompareAndSetAsync("counter", counter.Version, Spec("counter", 3), null, default).WaitAsync(Timeout);
        await store.DisposeAsync();

        var restarted = await OpenAsync();

        Assert.Equal([Checkpoint(5)], await restarted.ReadCheckpointsAsync(default).WaitAsync(Timeout));
        Assert.Equal(3, (await restarted.GetAsync("counter", default).WaitAsync(Timeout))!.Spec.Instances);
    }

    [Fact]
    public async Task A_write_that_starts_the_state_anew_records_its_version_as_state_since_and_later_writes_and_a_restart_keep_it()
    {
        var store = await OpenAsync();
        var counter = await CreateAsync(store, "counter");
        Assert.Equal(0, counter.StateSince);
        var kept = (await store.CompareAndSetAsync("counter", counter.Version, Spec("counter", 2), null, default).WaitAsync(Timeout))!;
        Assert.Equal(0, kept.StateSince); // A write that keeps the state (a scale, a replace keeping state) sets none.

        var dropped = (await store.CompareAndSetAsync("counter", kept.Version, Spec("counter", 2), null, newState: true, default).WaitAsync(Timeout))!;
        var later = (await store.CompareAndSetAsync("counter", dropped.Version, Spec("counter", 3), null, default).WaitAsync(Timeout))!;
        await store.DisposeAsync();
        var restarted = await OpenAsync();

        Assert.Equal(dropped.Version, dropped.StateSince);
        Assert.Equal(dropped.Version, later.StateSince);
        Assert.Equal(later, await restarted.GetAsync("counter", default).WaitAsync(Timeout));
        Assert.Equal(dropped.Version, (await restarted.GetAsync("counter", default).WaitAsync(Timeout))!.StateSince);
        var recreated = await restarted.CompareAndSetAsync("counter", later.Version, null, null, default).WaitAsync(Timeout);
        Assert.Null(recreated);
        Assert.Equal(0, (await CreateAsync(restarted, "counter")).StateSince); // A deploy after a kill starts from nothing recorded.
    }

    // ---- durability ----

    [Fact]
    public async Task Everything_written_survives_a_restart_and_versions_continue_after_it()
    {
        var store = await OpenAsync();
        var metadata = new OperatorMetadata { Name = "counter", Outputs = { "counts" } };
        var counter = await CreateAsync(store, "counter", 4);
        counter = (await store.CompareAndSetAsync("counter", counter.Version, counter.Spec, metadata, default).WaitAsync(Timeout))!;
        await CreateAsync(store, "other");
        var gone = await CreateAsync(store, "gone");
        await store.CompareAndSetAsync("gone", gone.Version, null, null, default).WaitAsync(Timeout);
        var before = await store.ReadAsync(default).WaitAsync(Timeout);
        await store.DisposeAsync();

        var restarted = await OpenAsync();

        var after = await restarted.ReadAsync(default).WaitAsync(Timeout);
        Assert.Equal(before, after, SnapshotComparer.Instance);
        Assert.Equal(metadata, (await restarted.GetAsync("counter", default).WaitAsync(Timeout))!.Metadata);
        // Old versions still fit, and new ones are never reused, not even the deleted entry's.
        var updated = (await restarted.CompareAndSetAsync("counter", counter.Version, Spec("counter", 5), null, default).WaitAsync(Timeout))!;
        var recreated = await CreateAsync(restarted, "gone");
        Assert.True(updated.Version > before.Revision);
        Assert.True(recreated.Version > updated.Version);
    }

    [Fact]
    public async Task A_store_emptied_by_deletes_restarts_empty_without_reusing_versions()
    {
        var store = await OpenAsync();
        var a = await CreateAsync(store, "a");
        await store.CompareAndSetAsync("a", a.Version, null, null, default).WaitAsync(Timeout);
        var revision = (await store.ReadAsync(default).WaitAsync(Timeout)).Revision;
        await store.DisposeAsync();

        var restarted = await OpenAsync();

        var snapshot = await restarted.ReadAsync(default).WaitAsync(Timeout);
        Assert.Empty(snapshot.Operators);
        Assert.Equal(revision, snapshot.Revision);
        Assert.True((await CreateAsync(restarted, "a")).Version > revision);
    }

    protected static void AssertStrictlyIncreasing(IReadOnlyList<long> values)
    {
        for (var i = 1; i < values.Count; i++)
        {
            Assert.True(values[i] > values[i - 1], $"not strictly increasing at {i}: {string.Join(", ", values)}");
        }
    }

    /// <summary>Snapshots compare by value (the operator list is a fresh list on every read).</summary>
    private sealed class SnapshotComparer : IEqualityComparer<TopologySnapshot>
    {
        public static readonly SnapshotComparer Instance = new();

        public bool Equals(TopologySnapshot? x, TopologySnapshot? y) =>
            x is not null && y is not null && x.Revision == y.Revision && x.Operators.SequenceEqual(y.Operators);

        public int GetHashCode(TopologySnapshot obj) => obj.Revision.GetHashCode();
    }

    /// <summary>One watch, read with a bound on every wait.</summary>
    protected sealed class WatchReader(ITopologyStore store, CancellationToken cancellationToken) : IAsyncDisposable
    {
        private readonly IAsyncEnumerator<long> _watch = store.WatchAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);

        public Task<bool> MoveNextAsync() => _watch.MoveNextAsync().AsTask();

        public async Task<long> NextAsync()
        {
            Assert.True(await _watch.MoveNextAsync().AsTask().WaitAsync(Timeout), "the watch ended");
            return _watch.Current;
        }

        /// <summary>Reads until a revision of at least <paramref name="revision"/>; returns every one read.</summary>
        public async Task<List<long>> UntilAsync(long revision)
        {
            var seen = new List<long>();
            do
            {
                seen.Add(await NextAsync());
            }
            while (seen[^1] < revision);
            return seen;
        }

        public ValueTask DisposeAsync() => _watch.DisposeAsync();
    }
}
