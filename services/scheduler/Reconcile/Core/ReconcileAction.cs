using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Reconcile.Internal;
using Concord.Scheduler.Runtime;

namespace Concord.Scheduler.Reconcile.Core;

/// <summary>
/// What the core decided the outside world must do. The effects layer (<see cref="Reconciler"/>)
/// carries them out in order against the runtime, the timers and the routing hub, and reports
/// the outcome back to the core (launched, launch failed, exited, timer elapsed).
/// </summary>
internal abstract record ReconcileAction;

/// <summary>Start one instance; answer with <see cref="ReconcileCore.Launched"/> or <see cref="ReconcileCore.LaunchFailed"/>.</summary>
/// <param name="Generation">The slot's generation when the launch was decided; a launch the core no longer wants is skipped.</param>
internal sealed record LaunchInstance(OperatorSlot Operator, InstanceSlot Slot, long Generation, InstanceLaunch Launch) : ReconcileAction;

/// <summary>Ask an instance to drain and exit now (SIGTERM, SIGKILL after the stop timeout).</summary>
/// <param name="Discard">
/// Its work is discarded (a restore replaces the run it belongs to): killed at once instead of
/// drained, so a restore does not wait for an old source to stop producing or to flush towards a
/// dead reader (SchedulerLimits.DiscardedStopGraceMs).
/// </param>
internal sealed record StopInstance(IInstanceHandle Handle, bool Discard = false) : ReconcileAction;

/// <summary>
/// Remove the working state of a stopped instance the topology no longer wants; with
/// <paramref name="KeepLog"/> its log is kept as the operator's last failed one.
/// </summary>
internal sealed record ForgetInstance(string OperatorName, int Index, int Release, bool KeepLog) : ReconcileAction;

/// <summary>Remove what is left of a killed operator whose instances have all been forgotten (keeps the last failed log).</summary>
internal sealed record ForgetOperator(string OperatorName) : ReconcileAction;

/// <summary>Report the exit of <paramref name="Handle"/> with <see cref="ReconcileCore.OnExited"/>.</summary>
internal sealed record WatchExit(InstanceSlot Slot, IInstanceHandle Handle) : ReconcileAction;

/// <summary>
/// Report <paramref name="Event"/> with <see cref="ReconcileCore.OnTimer"/> after
/// <paramref name="Delay"/>; replaces any timer of the same owner.
/// </summary>
internal sealed record ArmTimer(TimerEvent Event, TimeSpan Delay) : ReconcileAction;

/// <summary>Forget the timer of <paramref name="Owner"/> (a slot or a replace), if any.</summary>
internal sealed record CancelTimer(object Owner) : ReconcileAction;

/// <summary>
/// Routing may have changed: ask <see cref="ReconcileCore.PlanRouting"/> for the table to
/// publish and the instances to stop once it is delivered.
/// </summary>
internal sealed record PublishRouting : ReconcileAction;

/// <summary>
/// An instance of an operator with a guarantee failed (or reported it will): the checkpoint in
/// progress cannot complete if it takes part (<see cref="Checkpoints.CheckpointCoordinator.ParticipantFailedAsync"/>).
/// </summary>
internal sealed record CheckpointParticipantFailed(string OperatorName, int Index, string Reason) : ReconcileAction;

/// <summary>A global restore was decided (for the restores counter and the log).</summary>
/// <param name="CheckpointId">The checkpoint restored from; 0 when none (they start empty).</param>
internal sealed record RestoreStarted(string Reason, ulong CheckpointId) : ReconcileAction;

/// <summary>A timer the core asked for; <see cref="Owner"/> keys it (one timer per owner).</summary>
internal abstract record TimerEvent
{
    public abstract object Owner { get; }
}

/// <summary>A launched (or adopted) instance must have registered by now.</summary>
internal sealed record StartingTimeout(InstanceSlot Slot, long Generation) : TimerEvent
{
    public override object Owner => Slot;
}

/// <summary>A failed instance's back-off is over: restart it.</summary>
internal sealed record BackoffElapsed(InstanceSlot Slot, long Generation) : TimerEvent
{
    public override object Owner => Slot;
}

/// <summary>The new instances of a replace did not all reach running in time: roll back.</summary>
internal sealed record ReplaceRunningTimeout(OperatorSlot Operator, ReplaceSlot Replace, TimeSpan Timeout) : TimerEvent
{
    public override object Owner => Replace;
}

/// <summary>The new version of a replace that keeps state did not run in time: roll back.</summary>
internal sealed record ReplaceRestartTimeout(OperatorSlot Operator, ReplaceRestart Restart, TimeSpan Timeout) : TimerEvent
{
    public override object Owner => Restart;
}

/// <summary>
/// A replace that keeps state failed: store the old version again (<see cref="ReconcileCore.PlanRollBack"/>),
/// apply the store, then <see cref="ReconcileCore.RolledBack"/> (or <see cref="ReconcileCore.RollBackFailed"/>).
/// Carried out as its own work item of the loop, after the event that decided it.
/// </summary>
internal sealed record RollBackReplace(OperatorSlot Operator, ReplaceRestart Restart, string Reason) : ReconcileAction;

/// <summary>A compare-and-set the effects layer must make on the store before the core goes on.</summary>
/// <param name="NewState">The operator's state starts anew at this write (replace with drop-state): <see cref="Store.OperatorEntry.StateSince"/>.</param>
internal sealed record StoreWrite(string Name, long ExpectedVersion, OperatorSpec? Spec, OperatorMetadata? Metadata, bool NewState = false);

/// <summary>What <see cref="ReconcileCore.PlanRouting"/> decided.</summary>
/// <param name="Table">The table to publish; null when nothing changed (or adoptions are pending).</param>
/// <param name="StopsAfterRouting">Instances routed away from, to stop once the current table is delivered.</param>
internal sealed record RoutingPlan(RoutingTable? Table, IReadOnlyList<IInstanceHandle> StopsAfterRouting);
