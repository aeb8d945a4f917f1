using Concord.Contracts.Scheduler.V1;
using Concord.Hosting.Checkpoints;
using Concord.Scheduler.Checkpoints;
using Concord.Scheduler.Reconcile;
using Concord.Scheduler.Store;
using Concord.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Concord.Scheduler.Tests.Checkpoints;

/// <summary>
/// The checkpoint coordinator against a fake clock, a test double of the topology (two
/// participants: a source and its reader) and a real file store and checkpoint root in a temp
/// directory: trigger, acknowledgements, completion, the three ways to abort, retention.
/// </summary>
public sealed class CheckpointCoordinatorTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private readonly TempDirectory _dir = new();
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly FakeTopology _topology = new();
    private readonly CancellationTokenSource _end = new();
    private FileTopologyStore _store = null!;
    private CheckpointCoordinator _coordinator = null!;

    private static readonly Scheduler.Checkpoints.CheckpointParticipant Source = new("source", 0, "inc-s", []);
    private static readonly Scheduler.Checkpoints.CheckpointParticipant Counter = new("counter", 0, "inc-c", [new BarrierChannel { Stream = "words", Sender = "source/0" }]);

    private string Root => _dir.Combine("checkpoints");

    public async Task InitializeAsync()
    {
        _store = FileTopologyStore.Open(_dir.Combine("topology.json"));
        _coordinator = await OpenAsync(retained: 2);
    }

    public async Task DisposeAsync()
    {
        await _end.CancelAsync();
        await _coordinator.DisposeAsync();
        await _store.DisposeAsync();
        _end.Dispose();
        _dir.Dispose();
    }

    private async Task<CheckpointCoordinator> OpenAsync(int retained)
    {
        var coordinator = new CheckpointCoordinator(_topology, _store, new CheckpointSettings(Root, 1_000, retained), _time, NullLogger<CheckpointCoordinator>.Instance);
        await coordinator.LoadAsync(default).WaitAsync(Timeout);
        return coordinator;
    }

    private IAsyncEnumerator<CheckpointCommand> Watch(Scheduler.Checkpoints.CheckpointParticipant p) =>
        _coordinator.WatchAsync(p.Operator, p.Index, p.Incarnation, _end.Token).GetAsyncEnumerator(_end.Token);

    private static async Task<CheckpointCommand> NextAsync(IAsyncEnumerator<CheckpointCommand> watch)
    {
        Assert.True(await watch.MoveNextAsync().AsTask().WaitAsync(Timeout), "the watch ended");
        return watch.Current;
    }

    private Task AckAsync(Scheduler.Checkpoints.CheckpointParticipant p, ulong id, string error = "", long stateBytes = 100, long alignmentMs = 0) =>
        _coordinator.AcknowledgeAsync(new AcknowledgeCheckpointRequest
        {
            OperatorName = p.Operator,
            InstanceIndex = p.Index,
            Incarnation = p.Incarnation,
            CheckpointId = id,
            StateBytes = stateBytes,
            WrittenBytes = stateBytes / 2,
            AlignmentMs = alignmentMs,
            DurationMs = 5,
            Error = error,
        }, default).WaitAsync(Timeout);

    /// <summary>Triggers the next checkpoint and acknowledges it for both participants; returns its id.</summary>
    private async Task<ulong> CompleteOneAsync()
    {
        Assert.True(await _coordinator.TickAsync(default).WaitAsync(Timeout));
        var id = (await _coordinator.ListAsync(default).WaitAsync(Timeout)).Checkpoints[0].CheckpointId;
        await AckAsync(Source, id);
        await AckAsync(Counter, id);
        return id;
    }

    [Fact]
    public async Task A_checkpoint_begins_at_every_participant_and_completes_when_all_acknowledged()
    {
        await using var source = Watch(Source);
        await using var counter = Watch(Counter);
        CheckpointRecord? completed = null;
        _coordinator.Completed += record => completed = record;

        Assert.True(await _coordinator.TickAsync(default).WaitAsync(Timeout));
        var sourceBegin = (await NextAsync(source)).Begin;
        var counterBegin = (await NextAsync(counter)).Begin;
        await AckAsync(Source, 1, stateBytes: 100);
        Assert.Null(completed); // One of two.
        await AckAsync(Counter, 1, stateBytes: 300, alignmentMs: 7);

        Assert.Equal((1UL, Path.Combine(Root, "chk-1")), (sourceBegin.CheckpointId, sourceBegin.Directory));
        Assert.Empty(sourceBegin.Inputs);
        Assert.Equal([("words", "source/0")], counterBegin.Inputs.Select(i => (i.Stream, i.Sender)));
        Assert.Equal(1UL, (await NextAsync(source)).Completed.CheckpointId);
        Assert.Equal(1UL, (await NextAsync(counter)).Completed.CheckpointId);
        var metadata = CheckpointLayout.ReadMetadata(Path.Combine(Root, "chk-1"))!;
        Assert.Equal((1UL, "interval", 400L), (metadata.CheckpointId, metadata.Trigger, metadata.StateBytes));
        Assert.Equal(["counter", "source"], metadata.Participants.Select(p => p.Operator));
        var stored = Assert.Single(await _store.ReadCheckpointsAsync(default));
        Assert.Equal((1UL, 400L, 7L, 2), (stored.Id, stored.StateBytes, stored.AlignmentMsMax, stored.Participants));
        Assert.Equal(stored, completed);
        var list = await _coordinator.ListAsync(default);
        Assert.Equal(1UL, list.LatestCompletedId);
        Assert.Equal((CheckpointStatus.Completed, 2, 2), (list.Checkpoints[0].Status, list.Checkpoints[0].Acknowledged, list.Checkpoints[0].Participants));
        Assert.Equal(1L, _coordinator.CompletedTotal);
    }

    [Fact]
    public async Task At_most_one_checkpoint_is_in_progress()
    {
        Assert.True(await _coordinator.TickAsync(default).WaitAsync(Timeout));

        Assert.False(await _coordinator.TickAsync(default).WaitAsync(Timeout));

        var list = await _coordinator.ListAsync(default);
        var only = Assert.Single(list.Checkpoints);
        Assert.Equal((1UL, CheckpointStatus.InProgress, 0, 2), (only.CheckpointId, only.Status, only.Acknowledged, only.Participants));
    }

    [Fact]
    public async Task Nothing_begins_while_a_participant_is_not_running_or_this_scheduler_may_not_act()
    {
        _topology.Current = _topology.Current with { NotRunning = ["counter/1 (starting)"] };
        Assert.False(await _coordinator.TickAsync(default).WaitAsync(Timeout));
        _topology.Current = _topology.Current with { NotRunning = [], CanAct = false };
        Assert.False(await _coordinator.TickAsync(default).WaitAsync(Timeout));
        _topology.Current = CheckpointTopology.Empty;
        Assert.False(await _coordinator.TickAsync(default).WaitAsync(Timeout));

        Assert.Empty((await _coordinator.ListAsync(default)).Checkpoints);
        Assert.False(Directory.EnumerateDirectories(Root).Any());
    }

    [Fact]
    public async Task A_checkpoint_not_acknowledged_in_time_is_aborted_and_the_next_one_gets_a_new_id()
    {
        await using var source = Watch(Source);
        await _coordinator.TickAsync(default).WaitAsync(Timeout);
        await NextAsync(source);
        await AckAsync(Source, 1);

        _time.Advance(TimeSpan.FromMilliseconds(SchedulerLimits.CheckpointTimeoutMs));

        var aborted = (await NextAsync(source)).Aborted;
        Assert.Equal(1UL, aborted.CheckpointId);
        Assert.Contains("within 60000 ms", aborted.Reason);
        var info = Assert.Single((await _coordinator.ListAsync(default)).Checkpoints);
        Assert.Equal((CheckpointStatus.Aborted, 1), (info.Status, info.Acknowledged));
        Assert.False(File.Exists(Path.Combine(Root, "chk-1", "_metadata.json")));
        await AckAsync(Counter, 1); // Late: ignored.
        Assert.True(await _coordinator.TickAsync(default).WaitAsync(Timeout));
        Assert.Equal(2UL, (await NextAsync(source)).Begin.CheckpointId);
        Assert.Empty(await _store.ReadCheckpointsAsync(default));
        Assert.Equal(1L, _coordinator.AbortedTotal);
    }

    [Fact]
    public async Task An_acknowledgement_with_an_error_aborts_with_it()
    {
        await using var counter = Watch(Counter);
        await _coordinator.TickAsync(default).WaitAsync(Timeout);
        await NextAsync(counter);

        await AckAsync(Counter, 1, error: "disk full");

        Assert.Contains("counter/0 could not write its snapshot: disk full", (await NextAsync(counter)).Aborted.Reason);
    }

    [Fact]
    public async Task A_participant_failure_aborts_the_checkpoint_it_takes_part_in()
    {
        await using var source = Watch(Source);
        await _coordinator.TickAsync(default).WaitAsync(Timeout);
        await NextAsync(source);

        await _coordinator.ParticipantFailedAsync("sink", 0, "not a participant").WaitAsync(Timeout);
        await _coordinator.ParticipantFailedAsync("counter", 0, "exited with code 1").WaitAsync(Timeout);

        Assert.Contains("participant counter/0 failed: exited with code 1", (await NextAsync(source)).Aborted.Reason);
    }

    [Fact]
    public async Task Acknowledgements_from_outside_the_checkpoint_are_refused()
    {
        await _coordinator.TickAsync(default).WaitAsync(Timeout);

        var stale = await Assert.ThrowsAsync<ReconcileException>(() => AckAsync(Counter with { Incarnation = "old" }, 1));
        var never = await Assert.ThrowsAsync<ReconcileException>(() => AckAsync(Counter, 5));

        Assert.Equal(ReconcileErrorKind.FailedPrecondition, stale.Kind);
        Assert.Contains("does not take part in checkpoint 1", stale.Message);
        Assert.Contains("checkpoint 5 was never begun", never.Message);
    }

    [Fact]
    public async Task Only_the_retained_checkpoints_and_every_savepoint_are_kept_and_unreferenced_shared_files_go()
    {
        var first = await CompleteOneAsync();
        var savepoint = _coordinator.TakeAsync(savepoint: true, "savepoint", default);
        await AckAsync(Source, 2);
        await AckAsync(Counter, 2);
        Assert.True((await savepoint.WaitAsync(Timeout)).Savepoint);
        // Shared state files: one only the first checkpoint refers to, one the third refers to,
        // one of a checkpoint newer than every retained one (still being written).
        var old = WriteShared(keyGroup: 1, writtenFor: 1, referencedBy: 1);
        var kept = WriteShared(keyGroup: 2, writtenFor: 3, referencedBy: 3);
        var fresh = WriteShared(keyGroup: 3, writtenFor: 9, referencedBy: null);

        var third = await CompleteOneAsync();
        var fourth = await CompleteOneAsync();

        Assert.Equal((1UL, 3UL, 4UL), (first, third, fourth));
        Assert.Equal([2UL, 3UL, 4UL], (await _store.ReadCheckpointsAsync(default)).Select(c => c.Id));
        Assert.Equal(["chk-3", "chk-4", "shared", "sp-2"], Directory.EnumerateDirectories(Root).Select(Path.GetFileName).Order());
        Assert.False(File.Exists(old));
        Assert.True(File.Exists(kept));
        Assert.True(File.Exists(fresh));
        var list = await _coordinator.ListAsync(default);
        Assert.Equal([4UL, 3UL, 2UL], list.Checkpoints.Select(c => c.CheckpointId));
        Assert.True(list.Checkpoints.Single(c => c.CheckpointId == 2).Savepoint);
    }

    /// <summary>A shared state file as a state backend writes it, and the manifest of counter/0 in checkpoint <paramref name="referencedBy"/> naming it.</summary>
    private string WriteShared(int keyGroup, ulong writtenFor, ulong? referencedBy)
    {
        var relative = CheckpointLayout.StateFile("counter", keyGroup, writtenFor);
        var path = CheckpointLayout.ResolveStateFile(Root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "state");
        if (referencedBy is { } id)
        {
            CheckpointLayout.WriteManifest(CheckpointLayout.CheckpointDirectory(Root, id), new InstanceManifest(
                CheckpointLayout.ManifestVersion, id, "counter", 0, 128, 0, 128, [new KeyGroupFile(keyGroup, relative, 5, 1)]));
        }
        return path;
    }

    [Fact]
    public async Task A_savepoint_waits_for_the_checkpoint_in_progress_then_takes_its_own()
    {
        await using var source = Watch(Source);
        Assert.True(await _coordinator.TickAsync(default).WaitAsync(Timeout));
        Assert.Equal(1UL, (await NextAsync(source)).Begin.CheckpointId);

        var savepoint = _coordinator.TakeAsync(savepoint: true, "savepoint", default);
        await AckAsync(Source, 1);
        await AckAsync(Counter, 1);
        Assert.Equal(1UL, (await NextAsync(source)).Completed.CheckpointId);
        var begin = (await NextAsync(source)).Begin;
        Assert.Equal((2UL, true), (begin.CheckpointId, begin.Savepoint));
        await AckAsync(Source, 2);
        await AckAsync(Counter, 2);

        var taken = await savepoint.WaitAsync(Timeout);
        Assert.Equal((2UL, true, Path.Combine(Root, "sp-2")), (taken.Id, taken.Savepoint, taken.Directory));
        Assert.True(File.Exists(Path.Combine(Root, "sp-2", "_metadata.json")));
    }

    [Fact]
    public async Task A_savepoint_with_nothing_to_checkpoint_is_refused_naming_the_fix()
    {
        _topology.Current = CheckpointTopology.Empty;

        var error = await Assert.ThrowsAsync<ReconcileException>(() => _coordinator.TakeAsync(savepoint: true, "savepoint", default).WaitAsync(Timeout));

        Assert.Equal(ReconcileErrorKind.FailedPrecondition, error.Kind);
        Assert.Contains("\"delivery\": \"at_least_once\"", error.Message);
    }

    [Fact]
    public async Task After_a_restart_ids_continue_past_recorded_and_aborted_checkpoints()
    {
        await CompleteOneAsync();
        await _coordinator.TickAsync(default).WaitAsync(Timeout); // 2 stays in progress: a directory, no record.
        await _coordinator.DisposeAsync();

        _coordinator = await OpenAsync(retained: 2);

        Assert.Equal(1UL, _coordinator.LatestCompleted!.Id);
        Assert.True(await _coordinator.TickAsync(default).WaitAsync(Timeout));
        Assert.Equal(3UL, (await _coordinator.ListAsync(default)).Checkpoints[0].CheckpointId);
    }

    /// <summary>Test double of the reconciler's view: two running participants unless a test changes it.</summary>
    private sealed class FakeTopology : ICheckpointTopologySource
    {
        public CheckpointTopology Current { get; set; } = new(true, [Source, Counter], [],
            [new CheckpointedOperator("source", 1, 1), new CheckpointedOperator("counter", 1, 2)]);

        public Task<CheckpointTopology> ReadCheckpointTopologyAsync(CancellationToken cancellationToken) => Task.FromResult(Current);
    }
}
