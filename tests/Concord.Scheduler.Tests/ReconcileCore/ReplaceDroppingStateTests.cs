using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Reconcile;
using Concord.Scheduler.Reconcile.Core;
using Concord.Scheduler.Store;
using static Concord.Scheduler.Tests.ReconcileCore.ReconcileCoreDriver;

namespace Concord.Scheduler.Tests.ReconcileCore;

/// <summary>
/// Replace with drop-state (docs/live-changes.md): an operator with a delivery guarantee is
/// replaced by restarting every participant from the last completed checkpoint, the replaced
/// operator as the new version with empty state. The core's decisions only, as the Reconciler
/// drives them (PrepareReplace, store write, apply, ReplacedDroppingState).
/// </summary>
public sealed class ReplaceDroppingStateTests
{
    private const DeliveryGuarantee ExactlyOnce = DeliveryGuarantee.DeliveryExactlyOnce;

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

    private long VersionOf(string name) => _driver.Snapshot().Operators.Single(o => o.Name == name).Version;

    private CheckpointRecord Checkpoint(ulong id) =>
        new(id, false, 1_000, 10, 0, 100, 100, $"/checkpoints/chk-{id}", 3,
            [new CheckpointedOperator("source", 1, VersionOf("source")), new CheckpointedOperator("counter", 2, VersionOf("counter"))]);

    private FakeInstance Current(string name, int index) =>
        _driver.Launches.Last(l => l.OperatorName == name && l.Index == index);

    private static OperatorSpec NewCounter(DeliveryGuarantee delivery = ExactlyOnce)
    {
        var spec = Spec("counter", instances: 2, reads: "words", writes: "counts", delivery: delivery);
        spec.Args.Add("--version=2");
        return spec;
    }

    /// <summary>What Reconciler.ReplaceAsync does with drop-state; the status it answers with.</summary>
    private OperatorStatus ReplaceDroppingState(OperatorSpec spec)
    {
        var next = _driver.Core.PrepareReplace(spec, dropState: true);
        Assert.True(_driver.Core.ReplaceRestarts(next));
        var write = _driver.Core.PlanReplaceDroppingState(next);
        _driver.Write(write);
        _driver.Apply();
        var status = _driver.Core.ReplacedDroppingState(write.Name);
        _driver.Run();
        return status;
    }

    [Fact]
    public void Every_participant_restarts_from_the_last_checkpoint_and_the_replaced_operator_as_the_new_version_with_empty_state()
    {
        DeployPipeline();
        _driver.Core.CheckpointCompleted(Checkpoint(4));
        var before = new[] { Current("source", 0), Current("counter", 0), Current("counter", 1) };
        var sink = Current("sink", 0);
        var launched = _driver.Launches.Count;

        var status = ReplaceDroppingState(NewCounter());

        Assert.Equal(["--version=2"], status.Spec.Args);
        Assert.Equal(4UL, Assert.Single(_driver.Actions.OfType<RestoreStarted>()).CheckpointId);
        Assert.Equal(before, _driver.Stops.Cast<FakeInstance>().OrderBy(f => f.Pid));
        Assert.Equal(launched, _driver.Launches.Count); // The new run starts once the old one is gone.
        foreach (var old in before)
        {
            _driver.Exit(old, 0);
        }

        var relaunched = _driver.Launches.Skip(launched).ToList();
        Assert.Equal(["counter/0", "counter/1", "source/0"], relaunched.Select(l => $"{l.OperatorName}/{l.Index}").Order());
        var source = relaunched.Single(l => l.OperatorName == "source");
        Assert.Equal("/checkpoints/chk-4", source.Launch.RestoreCheckpoint);
        Assert.Equal([], source.Launch.Spec.Args);
        foreach (var counter in relaunched.Where(l => l.OperatorName == "counter"))
        {
            Assert.Null(counter.Launch.RestoreCheckpoint); // Empty state: chk-4 holds the old version's.
            Assert.Equal(["--version=2"], counter.Launch.Spec.Args);
            Assert.Equal(before[1].Launch.Release + 1, counter.Launch.Release); // The other working directory.
        }
        // The old version's working directories go once its instances have stopped.
        Assert.Equal(2, _driver.Actions.OfType<ForgetInstance>().Count(f => f.OperatorName == "counter" && f.Release == before[1].Launch.Release));
        Assert.DoesNotContain(_driver.Actions.OfType<ForgetInstance>(), f => f.OperatorName == "source");
        // The at-most-once reader is not restarted.
        Assert.DoesNotContain(sink, _driver.Stops);
        Assert.Equal(InstanceState.Running, _driver.Status("sink").Instances.Single().State);
    }

    [Fact]
    public void Later_the_new_version_restores_only_from_a_checkpoint_taken_of_it()
    {
        DeployPipeline();
        var oldCheckpoint = Checkpoint(4); // Of the old version; completes only after the replace (it was in flight).
        ReplaceDroppingState(NewCounter());
        foreach (var stopped in _driver.Stops.Cast<FakeInstance>().ToList())
        {
            _driver.Exit(stopped, 0);
        }
        foreach (var instance in _driver.Launches.Where(l => l.OperatorName is "source" or "counter" && !l.Exited.IsCompleted).ToList())
        {
            _driver.Register(instance);
        }
        _driver.Core.CheckpointCompleted(oldCheckpoint);
        var launched = _driver.Launches.Count;

        _driver.Exit(Current("counter", 0));
        foreach (var stopped in _driver.Stops.Cast<FakeInstance>().Where(f => !f.Exited.IsCompleted).ToList())
        {
            _driver.Exit(stopped, 0);
        }
        _driver.Advance(TimeSpan.FromMilliseconds(SchedulerLimits.RestartBackoffInitialMs));

        var afterOld = _driver.Launches.Skip(launched).ToList();
        Assert.All(afterOld.Where(l => l.OperatorName == "counter"), l => Assert.Null(l.Launch.RestoreCheckpoint));
        Assert.Equal("/checkpoints/chk-4", afterOld.Single(l => l.OperatorName == "source").Launch.RestoreCheckpoint);

        foreach (var instance in afterOld)
        {
            _driver.Register(instance);
        }
        _driver.Core.CheckpointCompleted(Checkpoint(5)); // Of the new version.
        launched = _driver.Launches.Count;
        _driver.Exit(Current("counter", 1));
        foreach (var stopped in _driver.Stops.Cast<FakeInstance>().Where(f => !f.Exited.IsCompleted).ToList())
        {
            _driver.Exit(stopped, 0);
        }
        _driver.Advance(TimeSpan.FromMilliseconds(SchedulerLimits.RestartBackoffInitialMs));

        var afterNew = _driver.Launches.Skip(launched).ToList();
        Assert.Equal(3, afterNew.Count);
        Assert.All(afterNew, l => Assert.Equal("/checkpoints/chk-5", l.Launch.RestoreCheckpoint));
    }

    [Fact]
    public void Giving_an_operator_without_a_guarantee_one_restarts_it_and_the_participants()
    {
        DeployRunning(Spec("source", writes: "words", delivery: ExactlyOnce));
        DeployRunning(Spec("counter", reads: "words"));
        var before = new[] { Current("source", 0), Current("counter", 0) };

        var next = Spec("counter", reads: "words", delivery: ExactlyOnce);
        Assert.True(_driver.Core.ReplaceRestarts(_driver.Core.PrepareReplace(next, dropState: true)));
        ReplaceDroppingState(next);

        Assert.Equal(before, _driver.Stops.Cast<FakeInstance>().OrderBy(f => f.Pid));
        Assert.Equal(ExactlyOnce, _driver.Status("counter").Spec.Delivery);
    }

    [Fact]
    public void Without_a_guarantee_on_either_version_drop_state_leaves_the_rolling_replace()
    {
        DeployRunning(Spec("source", writes: "words"));

        var next = _driver.Core.PrepareReplace(Spec("source", writes: "words"), dropState: true);

        Assert.False(_driver.Core.ReplaceRestarts(next));
    }

    [Fact]
    public void A_new_version_weaker_than_its_readers_is_refused_naming_them_and_nothing_changes()
    {
        DeployPipeline();

        var error = Assert.Throws<ReconcileException>(() => _driver.Core.PrepareReplace(Spec("source", writes: "words"), dropState: true));

        Assert.Equal(ReconcileErrorKind.FailedPrecondition, error.Kind);
        Assert.Contains("the new version of 'source' has delivery at_most_once but 'counter', which has exactly_once, reads stream 'words' from it", error.Message);
        Assert.Empty(_driver.Stops);
    }

    [Fact]
    public void Without_drop_state_a_new_version_without_a_guarantee_is_refused_naming_drop_state_as_the_way_to_replace()
    {
        DeployPipeline();

        var error = Assert.Throws<ReconcileException>(() => _driver.Core.PrepareReplace(NewCounter(DeliveryGuarantee.DeliveryAtMostOnce)));

        Assert.Equal(ReconcileErrorKind.FailedPrecondition, error.Kind);
        Assert.Contains("'counter' has delivery exactly_once", error.Message);
        Assert.Contains("`concord replace --drop-state FILE`", error.Message);
        Assert.Contains("this one as the new version with empty state", error.Message);
    }
}
