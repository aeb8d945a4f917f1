using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Reconcile;
using Concord.Scheduler.Reconcile.Core;
using Concord.Scheduler.Reconcile.Internal;
using Concord.Scheduler.Store;
using static Concord.Scheduler.Tests.ReconcileCore.ReconcileCoreDriver;

namespace Concord.Scheduler.Tests.ReconcileCore;

/// <summary>
/// Replace of an operator with a delivery guarantee keeping its state (docs/live-changes.md):
/// after a fresh checkpoint the new version is stored and every participant restarts from it,
/// the replaced operator as the new version restoring its state; a new instance that fails
/// before all run (the executor refuses a checkpoint with state names the new version does not
/// declare), or the running timeout, rolls back to the old version from the same checkpoint.
/// The core's decisions only, as the Reconciler drives them.
/// </summary>
public sealed class ReplaceKeepingStateTests
{
    private const DeliveryGuarantee ExactlyOnce = DeliveryGuarantee.DeliveryExactlyOnce;

    private static readonly TimeSpan RunningTimeout = TimeSpan.FromSeconds(60);

    private const string Incompatible =
        "checkpoint 4 holds state 'count' of 'counter' that this version does not declare (it declares 'total'); declare it in metadata() states " +
        "(a new version may add state names, not drop or rename one), or replace with --drop-state to start it with empty state (docs/live-changes.md)";

    private readonly ReconcileCoreDriver _driver = new();

    /// <summary>source (1) → words → counter (2) → counts → sink (1, at most once).</summary>
    private void DeployPipeline()
    {
        DeployRunning(Spec("source", writes: "words", delivery: ExactlyOnce));
        DeployRunning(Spec("counter", instances: 2, reads: "words", writes: "counts", delivery: ExactlyOnce));
        DeployRunning(Spec("sink", reads: "counts"));
    }

    private void DeployRunning(OperatorSpec spec)
    {
        _driver.Deploy(spec);
        foreach (var instance in _driver.Launches.Where(l => l.OperatorName == spec.Name).ToList())
        {
            _driver.Register(instance);
        }
    }

    private OperatorEntry EntryOf(string name) => _driver.Snapshot().Operators.Single(o => o.Name == name);

    private CheckpointRecord Checkpoint(ulong id) =>
        new(id, false, 1_000, 10, 0, 100, 100, $"/checkpoints/chk-{id}", 3,
            [new CheckpointedOperator("source", 1, EntryOf("source").Version), new CheckpointedOperator("counter", 2, EntryOf("counter").Version)]);

    private FakeInstance Current(string name, int index) =>
        _driver.Launches.Last(l => l.OperatorName == name && l.Index == index);

    private static OperatorSpec NewCounter(DeliveryGuarantee delivery = ExactlyOnce)
    {
        var spec = Spec("counter", instances: 2, reads: "words", writes: "counts", delivery: delivery);
        spec.Args.Add("--version=2");
        return spec;
    }

    /// <summary>What Reconciler.ReplaceAsync does without drop-state once <paramref name="checkpoint"/> completed.</summary>
    private Task<ReplaceSwitched> ReplaceKeepingState(OperatorSpec spec, CheckpointRecord checkpoint)
    {
        var next = _driver.Core.PrepareReplace(spec);
        Assert.True(_driver.Core.ReplaceKeepsState(next));
        var (write, previous) = _driver.Core.PlanReplaceKeepingState(next);
        _driver.Write(write);
        _driver.Apply();
        var done = _driver.Core.ReplacedKeepingState(write.Name, previous, checkpoint, RunningTimeout, _driver.Time.GetTimestamp());
        _driver.Run();
        return done;
    }

    /// <summary>What Reconciler.RollBackAsync does with the roll back the core decided.</summary>
    private void CarryOutRollBack()
    {
        var rollBack = Assert.Single(_driver.Actions.OfType<RollBackReplace>());
        var write = _driver.Core.PlanRollBack(rollBack);
        Assert.NotNull(write);
        _driver.Write(write);
        _driver.Apply();
        _driver.Core.RolledBack(rollBack);
        _driver.Run();
    }

    /// <summary>Every stopped process exits, as the runtime reports; returns the launches that follow.</summary>
    private List<FakeInstance> ExitStoppedAndTakeLaunches()
    {
        var launched = _driver.Launches.Count;
        foreach (var stopped in _driver.Stops.Cast<FakeInstance>().Where(f => !f.Exited.IsCompleted).ToList())
        {
            _driver.Exit(stopped, 0);
        }
        return _driver.Launches.Skip(launched).ToList();
    }

    [Fact]
    public async Task Every_participant_restarts_from_the_checkpoint_and_the_replaced_operator_as_the_new_version_restoring_its_state()
    {
        DeployPipeline();
        var before = new[] { Current("source", 0), Current("counter", 0), Current("counter", 1) };
        var sink = Current("sink", 0);

        var done = ReplaceKeepingState(NewCounter(), Checkpoint(4));

        Assert.Equal(4UL, Assert.Single(_driver.Actions.OfType<RestoreStarted>()).CheckpointId);
        Assert.Equal(before, _driver.Stops.Cast<FakeInstance>().OrderBy(f => f.Pid));
        Assert.Equal(["--version=2"], EntryOf("counter").Spec.Args);
        Assert.Equal(0, EntryOf("counter").StateSince); // Its state goes on: every checkpoint of it counts.
        var relaunched = ExitStoppedAndTakeLaunches();
        Assert.Equal(["counter/0", "counter/1", "source/0"], relaunched.Select(l => $"{l.OperatorName}/{l.Index}").Order());
        Assert.All(relaunched, l => Assert.Equal("/checkpoints/chk-4", l.Launch.RestoreCheckpoint));
        foreach (var counter in relaunched.Where(l => l.OperatorName == "counter"))
        {
            Assert.Equal(["--version=2"], counter.Launch.Spec.Args);
            Assert.Equal(before[1].Launch.Release + 1, counter.Launch.Release); // The other working directory.
        }
        Assert.DoesNotContain(sink, _driver.Stops); // Without a guarantee: not restarted.
        Assert.Empty(_driver.Actions.OfType<CheckpointParticipantFailed>());

        _driver.Register(relaunched.Single(l => l.OperatorName == "source"));
        _driver.Register(relaunched.First(l => l.OperatorName == "counter"), restoredCheckpointId: 4);
        Assert.False(done.IsCompleted); // Until every new instance runs.
        Assert.Throws<ReconcileException>(() => _driver.Core.PrepareReplace(NewCounter())); // One replace at a time.
        _driver.Register(relaunched.Last(l => l.OperatorName == "counter"), restoredCheckpointId: 4);

        Assert.True(done.IsCompletedSuccessfully);
        var switched = await done;
        Assert.Equal(["--version=2"], switched.Status.Spec.Args);
        Assert.All(switched.Status.Instances, i => Assert.Equal((InstanceState.Running, 4UL), (i.State, i.RestoredCheckpointId)));
        Assert.Empty(_driver.Actions.OfType<RollBackReplace>());
    }

    [Fact]
    public void A_new_instance_that_refuses_the_checkpoints_state_rolls_back_to_the_old_version_restoring_the_same_checkpoint()
    {
        DeployPipeline();
        var oldEntry = EntryOf("counter");
        var done = ReplaceKeepingState(NewCounter(), Checkpoint(4));
        var relaunched = ExitStoppedAndTakeLaunches();
        var newSource = relaunched.Single(l => l.OperatorName == "source");
        _driver.Register(newSource);
        var failing = relaunched.First(l => l.OperatorName == "counter");

        // The executor fails the restore and reports why before it exits (RestoreAtStart).
        _driver.Core.ReportFailure(new ReportFailureRequest
        {
            OperatorName = "counter",
            InstanceIndex = failing.Index,
            Incarnation = failing.Incarnation,
            Message = Incompatible,
        });
        _driver.Run();
        _driver.Exit(failing, 1);

        Assert.False(done.IsCompleted); // The old version is stored again first.
        CarryOutRollBack();

        var stored = EntryOf("counter");
        Assert.Equal(oldEntry.Spec, stored.Spec);
        Assert.Equal(oldEntry.StateSince, stored.StateSince);
        var error = Assert.IsType<ReconcileException>(done.Exception!.InnerException);
        Assert.Equal(ReconcileErrorKind.FailedPrecondition, error.Kind);
        Assert.StartsWith("replace of 'counter' failed and was rolled back: the old version is stored again and every operator with a delivery guarantee " +
                          "restarts from checkpoint 4, 'counter' with its state, so nothing is lost.", error.Message);
        Assert.Contains(Incompatible, error.Message);
        Assert.Contains("rolled back", _driver.Status("counter").LastError);
        // Every participant of the replace's run stops (the source that ran, the other new counter) and all restart from chk-4 again.
        Assert.Contains(newSource, _driver.Stops);
        Assert.Equal([4UL, 4UL], _driver.Actions.OfType<RestoreStarted>().Select(r => r.CheckpointId));
        var back = ExitStoppedAndTakeLaunches();
        Assert.Equal(["counter/0", "counter/1", "source/0"], back.Select(l => $"{l.OperatorName}/{l.Index}").Order());
        Assert.All(back, l => Assert.Equal("/checkpoints/chk-4", l.Launch.RestoreCheckpoint));
        Assert.All(back.Where(l => l.OperatorName == "counter"), l => Assert.Equal([], l.Launch.Spec.Args));
        // The failed new instance is not restarted with back-off as the new version.
        var launched = _driver.Launches.Count;
        _driver.Advance(TimeSpan.FromMilliseconds(SchedulerLimits.RestartBackoffMsMax));
        Assert.DoesNotContain(_driver.Launches.Skip(launched), l => l.Launch.Spec.Args.Contains("--version=2"));
    }

    [Fact]
    public void New_instances_that_do_not_all_run_within_the_timeout_roll_back()
    {
        DeployPipeline();
        var done = ReplaceKeepingState(NewCounter(), Checkpoint(4));
        var relaunched = ExitStoppedAndTakeLaunches();
        _driver.Register(relaunched.Single(l => l.OperatorName == "source"));
        _driver.Register(relaunched.First(l => l.OperatorName == "counter"));

        _driver.Advance(RunningTimeout);

        var rollBack = Assert.Single(_driver.Actions.OfType<RollBackReplace>());
        Assert.Equal("the new instances did not all reach running within 60000 ms (1 of 2 running); see their executor.log", rollBack.Reason);
        CarryOutRollBack();
        Assert.Contains("the new instances did not all reach running", Assert.IsType<ReconcileException>(done.Exception!.InnerException).Message);
        Assert.Equal([], EntryOf("counter").Spec.Args);
    }

    [Fact]
    public void A_roll_back_that_cannot_store_the_old_version_keeps_the_new_one_and_recovers_it_as_after_a_failure()
    {
        DeployPipeline();
        var done = ReplaceKeepingState(NewCounter(), Checkpoint(4));
        var relaunched = ExitStoppedAndTakeLaunches();
        var failing = relaunched.First(l => l.OperatorName == "counter");
        _driver.Exit(failing, 1);
        var rollBack = Assert.Single(_driver.Actions.OfType<RollBackReplace>());

        _driver.Core.RollBackFailed(rollBack, "the topology store could not be written (disk full)");
        _driver.Run();
        ExitStoppedAndTakeLaunches();
        _driver.Advance(TimeSpan.FromMilliseconds(SchedulerLimits.RestartBackoffInitialMs));

        var error = Assert.IsType<ReconcileException>(done.Exception!.InnerException);
        Assert.Contains("could not be rolled back: the topology store could not be written (disk full)", error.Message);
        Assert.Contains("--drop-state", error.Message);
        Assert.Equal(["--version=2"], EntryOf("counter").Spec.Args);
        var again = Current("counter", failing.Index);
        Assert.NotSame(failing, again); // Restarted after its back-off, from the checkpoint.
        Assert.Equal("/checkpoints/chk-4", again.Launch.RestoreCheckpoint);
    }

    [Fact]
    public void A_kill_during_the_replace_ends_it()
    {
        DeployPipeline();
        var done = ReplaceKeepingState(NewCounter(), Checkpoint(4));

        _driver.Kill("counter");

        Assert.Contains("killed during the replace", Assert.IsType<ReconcileException>(done.Exception!.InnerException).Message);
    }

    [Fact]
    public void Without_drop_state_state_is_kept_into_a_version_with_a_guarantee_and_an_operator_without_one_has_none_to_keep()
    {
        DeployPipeline();
        DeployRunning(Spec("audit", reads: "counts"));

        Assert.True(_driver.Core.ReplaceKeepsState(_driver.Core.PrepareReplace(NewCounter(DeliveryGuarantee.DeliveryAtLeastOnce))));
        var giveGuarantee = _driver.Core.PrepareReplace(Spec("audit", reads: "counts", delivery: DeliveryGuarantee.DeliveryAtLeastOnce));
        Assert.False(_driver.Core.ReplaceKeepsState(giveGuarantee));
        Assert.True(_driver.Core.ReplaceRestarts(giveGuarantee)); // A restart, as with drop-state: it has no checkpointed state.
        var refused = Assert.Throws<ReconcileException>(() => _driver.Core.PrepareReplace(NewCounter(DeliveryGuarantee.DeliveryAtMostOnce)));
        Assert.Contains("which keeps no checkpointed state, so its state would be lost", refused.Message);
    }

    [Fact]
    public void After_drop_state_the_floor_is_in_the_store_so_a_new_core_on_it_never_restores_the_new_version_from_an_old_checkpoint()
    {
        DeployPipeline();
        var old = Checkpoint(4);
        var next = _driver.Core.PrepareReplace(NewCounter(), dropState: true);
        var write = _driver.Core.PlanReplaceDroppingState(next);
        _driver.Write(write);
        var stored = EntryOf("counter");
        Assert.Equal(stored.Version, stored.StateSince);

        // A scheduler started on this store (nothing adopted) with chk-4 the newest checkpoint it recorded.
        var restarted = new ReconcileCoreDriver();
        restarted.Core.CheckpointCompleted(old);
        restarted.Core.Apply(_driver.Snapshot());
        restarted.Run();

        Assert.Null(restarted.Launches.Single(l => l.OperatorName == "counter" && l.Index == 0).Launch.RestoreCheckpoint);
        Assert.Equal("/checkpoints/chk-4", restarted.Launches.Single(l => l.OperatorName == "source").Launch.RestoreCheckpoint);
    }
}
