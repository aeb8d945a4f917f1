using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Reconcile;
using Concord.Scheduler.Reconcile.Core;
using Concord.Scheduler.Store;
using static Concord.Scheduler.Tests.ReconcileCore.ReconcileCoreDriver;

namespace Concord.Scheduler.Tests.ReconcileCore;

/// <summary>
/// The core's checkpoint decisions (docs/guarantees.md): who takes part, the channels each must
/// see a barrier on, recovery from the last checkpoint, rescale with state, and the delivery
/// rule between an operator and its upstreams. No process, clock or file (see <see cref="ReconcileCoreDriver"/>).
/// </summary>
public sealed class CheckpointingTests
{
    private const DeliveryGuarantee ExactlyOnce = DeliveryGuarantee.DeliveryExactlyOnce;
    private const DeliveryGuarantee AtLeastOnce = DeliveryGuarantee.DeliveryAtLeastOnce;

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

    private static CheckpointRecord Checkpoint(ulong id, params (string Name, int Instances)[] operators) =>
        new(id, false, 1_000, 10, 0, 100, 100, $"/checkpoints/chk-{id}", operators.Sum(o => o.Instances),
            operators.Select(o => new CheckpointedOperator(o.Name, o.Instances, 1)).ToList());

    private FakeInstance Current(string name, int index) =>
        _driver.Launches.Last(l => l.OperatorName == name && l.Index == index);

    [Fact]
    public void Participants_are_the_running_instances_with_a_guarantee_and_each_learns_every_sender_of_its_inputs()
    {
        DeployPipeline();

        var topology = _driver.Core.CheckpointTopology();

        Assert.True(topology.Ready);
        Assert.Equal(["counter/0", "counter/1", "source/0"], topology.Participants.Select(p => p.Name).Order());
        Assert.Empty(topology.Participants.Single(p => p.Name == "source/0").Inputs);
        var counterInputs = topology.Participants.Single(p => p.Name == "counter/1").Inputs;
        Assert.Equal([("words", "source/0")], counterInputs.Select(i => (i.Stream, i.Sender)));
        Assert.Equal(Current("counter", 1).Incarnation, topology.Participants.Single(p => p.Name == "counter/1").Incarnation);
        Assert.Equal([("counter", 2), ("source", 1)], topology.Operators.Select(o => (o.Name, o.Instances)).Order());
    }

    [Fact]
    public void A_participant_that_is_not_running_holds_checkpoints_back_and_is_named()
    {
        DeployRunning(Spec("source", writes: "words", delivery: ExactlyOnce));
        _driver.Deploy(Spec("counter", reads: "words", delivery: AtLeastOnce));

        var topology = _driver.Core.CheckpointTopology();

        Assert.False(topology.Ready);
        Assert.Equal(["counter/0 (starting)"], topology.NotRunning);
    }

    [Fact]
    public void Without_a_guarantee_nothing_takes_part()
    {
        DeployRunning(Spec("source", writes: "words"));

        var topology = _driver.Core.CheckpointTopology();

        Assert.Empty(topology.Participants);
        Assert.False(topology.Ready);
    }

    [Fact]
    public void A_failed_participant_restarts_every_participant_from_the_last_checkpoint_with_new_incarnations()
    {
        DeployPipeline();
        _driver.Core.CheckpointCompleted(Checkpoint(4, ("source", 1), ("counter", 2)));
        var before = new[] { Current("source", 0), Current("counter", 0), Current("counter", 1), Current("sink", 0) };
        var launched = _driver.Launches.Count;

        _driver.Exit(Current("counter", 1));

        var failed = Assert.Single(_driver.Actions.OfType<CheckpointParticipantFailed>());
        Assert.Equal(("counter", 1), (failed.OperatorName, failed.Index));
        Assert.Equal(4UL, Assert.Single(_driver.Actions.OfType<RestoreStarted>()).CheckpointId);
        Assert.Equal(1, _driver.Core.Restores);
        // The other participants are stopped; the at-most-once sink keeps running.
        Assert.Equal([before[0], before[1]], _driver.Stops.Cast<FakeInstance>().OrderBy(f => f.Pid));
        Assert.Equal(launched, _driver.Launches.Count); // Each waits for its old process to exit.

        _driver.Exit(before[0], 0);
        _driver.Exit(before[1], 0);
        _driver.Advance(TimeSpan.FromMilliseconds(SchedulerLimits.RestartBackoffInitialMs));

        var relaunched = _driver.Launches.Skip(launched).ToList();
        Assert.Equal(["counter/0", "counter/1", "source/0"], relaunched.Select(l => $"{l.OperatorName}/{l.Index}").Order());
        Assert.All(relaunched, l => Assert.Equal("/checkpoints/chk-4", l.Launch.RestoreCheckpoint));
        Assert.All(relaunched, l => Assert.DoesNotContain(before, b => b.Incarnation == l.Incarnation));
        Assert.Equal(InstanceState.Running, _driver.Status("sink").Instances.Single().State);
        Assert.DoesNotContain(before[3], _driver.Stops);
    }

    [Fact]
    public void A_restore_kills_the_old_run_at_once_and_launches_nothing_of_the_new_run_while_any_of_it_is_alive()
    {
        DeployPipeline();
        _driver.Core.CheckpointCompleted(Checkpoint(4, ("source", 1), ("counter", 2)));
        var oldSource = Current("source", 0);
        var oldCounter = Current("counter", 0);
        var launched = _driver.Launches.Count;

        _driver.Exit(Current("counter", 1));

        // The old run's work is discarded: no drain (an old source would keep feeding whoever is routed to).
        var stops = _driver.Actions.OfType<StopInstance>().Where(s => s.Handle == oldSource || s.Handle == oldCounter).ToList();
        Assert.Equal(2, stops.Count);
        Assert.All(stops, stop => Assert.True(stop.Discard, $"{stop.Handle.OperatorName}/{stop.Handle.Index} is drained instead of killed"));
        // The failed instance's back-off ends while the old source and counter/0 still run:
        // nothing of the new run starts, or the old source could reach it.
        _driver.Advance(TimeSpan.FromMilliseconds(SchedulerLimits.RestartBackoffInitialMs * 4));
        Assert.Equal(launched, _driver.Launches.Count);
        _driver.Exit(oldCounter, 0);
        Assert.Equal(launched, _driver.Launches.Count);

        _driver.Exit(oldSource, 0);

        var relaunched = _driver.Launches.Skip(launched).ToList();
        Assert.Equal(["counter/0", "counter/1", "source/0"], relaunched.Select(l => $"{l.OperatorName}/{l.Index}").Order());
        Assert.All(relaunched, l => Assert.Equal("/checkpoints/chk-4", l.Launch.RestoreCheckpoint));
    }

    [Fact]
    public void Without_a_completed_checkpoint_the_participants_restart_empty()
    {
        DeployPipeline();
        var launched = _driver.Launches.Count;

        _driver.Exit(Current("source", 0));
        _driver.Exit(Current("counter", 0), 0);
        _driver.Exit(Current("counter", 1), 0);
        _driver.Advance(TimeSpan.FromMilliseconds(SchedulerLimits.RestartBackoffInitialMs));

        var relaunched = _driver.Launches.Skip(launched).ToList();
        Assert.Equal(3, relaunched.Count);
        Assert.All(relaunched, l => Assert.Null(l.Launch.RestoreCheckpoint));
        Assert.Equal(0UL, Assert.Single(_driver.Actions.OfType<RestoreStarted>()).CheckpointId);
    }

    [Fact]
    public void A_failure_of_an_operator_without_a_guarantee_restarts_only_that_instance()
    {
        DeployPipeline();
        _driver.Core.CheckpointCompleted(Checkpoint(4, ("source", 1), ("counter", 2)));
        var launched = _driver.Launches.Count;

        _driver.Exit(Current("sink", 0));
        _driver.Advance(TimeSpan.FromMilliseconds(SchedulerLimits.RestartBackoffInitialMs));

        Assert.Empty(_driver.Stops);
        Assert.Empty(_driver.Actions.OfType<RestoreStarted>());
        Assert.Empty(_driver.Actions.OfType<CheckpointParticipantFailed>());
        var relaunched = Assert.Single(_driver.Launches.Skip(launched));
        Assert.Equal("sink", relaunched.OperatorName);
        Assert.Null(relaunched.Launch.RestoreCheckpoint);
    }

    [Fact]
    public void A_reported_failure_of_a_participant_aborts_its_checkpoint_at_once()
    {
        DeployPipeline();
        var counter = Current("counter", 0);

        _driver.Core.ReportFailure(new ReportFailureRequest { OperatorName = "counter", InstanceIndex = 0, Incarnation = counter.Incarnation, Message = "snapshot failed" });
        _driver.Run();

        var failed = Assert.Single(_driver.Actions.OfType<CheckpointParticipantFailed>());
        Assert.Equal(("counter", 0, "snapshot failed"), (failed.OperatorName, failed.Index, failed.Reason));
        Assert.Empty(_driver.Actions.OfType<RestoreStarted>()); // The exit that follows restores.
    }

    [Fact]
    public void The_checkpoint_an_instance_restored_from_shows_in_its_status()
    {
        DeployRunning(Spec("source", writes: "words", delivery: ExactlyOnce));
        _driver.Core.CheckpointCompleted(Checkpoint(7, ("source", 1)));
        _driver.Exit(Current("source", 0));
        _driver.Advance(TimeSpan.FromMilliseconds(SchedulerLimits.RestartBackoffInitialMs));

        _driver.Register(Current("source", 0), restoredCheckpointId: 7);

        Assert.Equal(7UL, _driver.Status("source").Instances.Single().RestoredCheckpointId);
        Assert.Equal("/checkpoints/chk-7", Current("source", 0).Launch.RestoreCheckpoint);
    }

    [Fact]
    public void An_operator_deployed_after_the_last_checkpoint_starts_empty_even_if_an_older_one_had_its_name()
    {
        _driver.Core.CheckpointCompleted(Checkpoint(3, ("source", 1)));
        _driver.Apply(); // The scheduler has started (an empty store), as it has before any deploy.

        _driver.Deploy(Spec("source", writes: "words", delivery: ExactlyOnce));

        Assert.Null(Current("source", 0).Launch.RestoreCheckpoint);
    }

    [Fact]
    public void Scale_with_state_restarts_every_participant_from_the_checkpoint_with_the_new_count()
    {
        DeployPipeline();
        var before = _driver.Launches.Where(l => l.OperatorName is "source" or "counter").ToList();
        var launched = _driver.Launches.Count;
        Assert.True(_driver.Core.ScaleNeedsCheckpoint("counter", 3));
        Assert.False(_driver.Core.ScaleNeedsCheckpoint("counter", 2));
        Assert.False(_driver.Core.ScaleNeedsCheckpoint("sink", 4));

        var write = _driver.Core.PlanScale("counter", 3)!;
        _driver.Write(write);
        _driver.Core.Scaled(write);
        _driver.Core.ScaledWithState(write, Checkpoint(9, ("source", 1), ("counter", 2)));
        _driver.Apply();

        Assert.Equal(before, _driver.Stops.Cast<FakeInstance>().OrderBy(f => f.Pid));
        foreach (var old in before)
        {
            _driver.Exit(old, 0);
        }
        var relaunched = _driver.Launches.Skip(launched).ToList();
        Assert.Equal(["counter/0", "counter/1", "counter/2", "source/0"], relaunched.Select(l => $"{l.OperatorName}/{l.Index}").Order());
        Assert.All(relaunched, l => Assert.Equal("/checkpoints/chk-9", l.Launch.RestoreCheckpoint));
        Assert.All(relaunched.Where(l => l.OperatorName == "counter"), l => Assert.Equal(3, l.Launch.Spec.Instances));
        Assert.Equal(3, _driver.Status("counter").Instances.Count);
    }

    [Fact]
    public void Scale_down_with_state_forgets_the_removed_instances_and_restores_the_rest()
    {
        DeployPipeline();
        var launched = _driver.Launches.Count;

        var write = _driver.Core.PlanScale("counter", 1)!;
        _driver.Write(write);
        _driver.Core.Scaled(write);
        _driver.Core.ScaledWithState(write, Checkpoint(9, ("source", 1), ("counter", 2)));
        _driver.Apply();
        foreach (var stopped in _driver.Stops.ToList())
        {
            _driver.Exit(stopped, 0);
        }

        Assert.Contains(_driver.Actions.OfType<ForgetInstance>(), f => f.OperatorName == "counter" && f.Index == 1);
        var relaunched = _driver.Launches.Skip(launched).ToList();
        Assert.Equal(["counter/0", "source/0"], relaunched.Select(l => $"{l.OperatorName}/{l.Index}").Order());
        Assert.Single(_driver.Status("counter").Instances);
    }

    [Fact]
    public void An_operator_stronger_than_an_upstream_is_refused_naming_the_upstream_and_the_fix()
    {
        DeployRunning(Spec("source", writes: "words", delivery: AtLeastOnce));

        var error = Assert.Throws<ReconcileException>(() => _driver.Core.PlanDeploy(Spec("counter", reads: "words", delivery: ExactlyOnce)));

        Assert.Equal(ReconcileErrorKind.FailedPrecondition, error.Kind);
        Assert.Contains("'counter' has delivery exactly_once but reads stream 'words' from 'source', which has at_least_once", error.Message);
        Assert.Contains("Deploy 'source' with \"delivery\": \"exactly_once\"", error.Message);
    }

    [Fact]
    public void An_upstream_weaker_than_its_readers_is_refused_too_and_weaker_readers_are_fine()
    {
        _driver.Deploy(Spec("counter", reads: "words", delivery: ExactlyOnce));

        var error = Assert.Throws<ReconcileException>(() => _driver.Core.PlanDeploy(Spec("source", writes: "words")));
        _driver.Core.PlanDeploy(Spec("sink", reads: "words")); // at most once may read from exactly once

        Assert.Contains("'source' has delivery at_most_once but 'counter', which has exactly_once, reads stream 'words' from it", error.Message);
    }

    [Fact]
    public void A_user_operator_whose_registered_streams_read_a_weaker_upstream_is_refused_at_its_first_registration()
    {
        DeployRunning(Spec("source", writes: "words"));
        _driver.Deploy(Spec("counter", delivery: ExactlyOnce)); // streams known only from metadata

        var error = Assert.Throws<ReconcileException>(() => _driver.Register(Current("counter", 0),
            new OperatorMetadata { Name = "counter", Inputs = { new InputStream { Name = "words" } } }));

        Assert.Contains("reads stream 'words' from 'source'", error.Message);
    }

    [Fact]
    public void Replace_of_an_operator_with_a_guarantee_by_one_without_is_refused_with_the_way_to_change_it()
    {
        DeployRunning(Spec("source", writes: "words", delivery: ExactlyOnce));

        var error = Assert.Throws<ReconcileException>(() => _driver.Core.PrepareReplace(Spec("source", writes: "words")));

        Assert.Equal(ReconcileErrorKind.FailedPrecondition, error.Kind);
        Assert.Contains("concord savepoint", error.Message);
        Assert.Contains("concord kill", error.Message);
    }

    [Fact]
    public void After_a_start_without_adoptions_nothing_is_restarted_again()
    {
        // Every participant was launched anew (and restores): there are no two points in time to join.
        DeployPipeline();
        var launched = _driver.Launches.Count;

        _driver.Core.RestoreAfterStart();
        _driver.Run();

        Assert.Equal(launched, _driver.Launches.Count);
        Assert.Empty(_driver.Actions.OfType<RestoreStarted>());
    }
}
