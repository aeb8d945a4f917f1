using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Reconcile.Internal;
using Concord.Scheduler.Store;
using static Concord.Scheduler.Reconcile.ReconcileLog;

namespace Concord.Scheduler.Reconcile.Core;

/// <summary>
/// Replace of an operator with a delivery guarantee, keeping its state (docs/live-changes.md):
/// after a fresh checkpoint the new version is stored and every participant restarts from that
/// checkpoint, the replaced operator as the new version restoring its keyed state, timers and
/// operator snapshot. The executor refuses a restore of state names the new version does not
/// declare; any failure of a new instance before all run (or the running timeout) rolls back:
/// the old version is stored again and every participant restarts from the same checkpoint.
/// </summary>
internal sealed partial class ReconcileCore
{
    /// <summary>
    /// Whether a replace without drop-state of <paramref name="next"/> (from <see cref="PrepareReplace"/>)
    /// keeps the operator's state through a checkpoint: the running version takes part in
    /// checkpoints and so does the new one. (A running version without a guarantee has no
    /// checkpointed state: giving it one restarts as with drop-state.)
    /// </summary>
    public bool ReplaceKeepsState(OperatorSpec next) =>
        Participates(Find(next.Name)) && OperatorSpecValidator.HasGuarantee(next.Delivery);

    /// <summary>The store write of a replace that keeps state, and the entry it replaces (stored again on roll back).</summary>
    public (StoreWrite Write, OperatorEntry Previous) PlanReplaceKeepingState(OperatorSpec next)
    {
        var op = Find(next.Name);
        return (new StoreWrite(op.Name, op.Entry.Version, next, op.Entry.Metadata), op.Entry);
    }

    /// <summary>
    /// The new version is stored and applied after <paramref name="checkpoint"/> completed: every
    /// participant restarts from it (or a newer one completed meanwhile, of the old version too;
    /// null: the last completed one, as a recovery would), <paramref name="name"/> as the new
    /// version (next release) restoring its state. The task completes once every new instance
    /// runs, or fails with a <see cref="ReconcileException"/> once the replace is rolled back.
    /// Call after applying the store.
    /// </summary>
    public Task<ReplaceSwitched> ReplacedKeepingState(string name, OperatorEntry previous, CheckpointRecord? checkpoint, TimeSpan runningTimeout,
        long startedTimestamp)
    {
        var op = Find(name);
        if (checkpoint is not null)
        {
            CheckpointCompleted(checkpoint);
        }
        op.Release++;
        var from = _latestCheckpoint?.Id ?? 0;
        var restart = new ReplaceRestart(previous, op.Release, from, startedTimestamp);
        op.Restarting = restart;
        LogReplacingKeepingState(_logger, name, op.Release, from);
        RestartParticipants($"'{name}' is replaced by release {op.Release}, keeping its state (checkpoint {from})", replaced: name);
        LaunchPending();
        Emit(new ArmTimer(new ReplaceRestartTimeout(op, restart, runningTimeout), runningTimeout));
        return restart.Done.Task;
    }

    /// <summary>An instance of <paramref name="op"/> runs: the replace that keeps state is done once every new instance does.</summary>
    private void CompleteRestartIfRunning(OperatorSlot op)
    {
        if (op.Restarting is not { RollingBack: false } restart
            || !op.Instances.All(s => s.Release == restart.Release && s.State == InstanceState.Running))
        {
            return;
        }
        op.Restarting = null;
        CancelTimerOf(restart);
        var elapsedMs = (long)_time.GetElapsedTime(restart.StartedTimestamp).TotalMilliseconds;
        LogReplacedKeepingState(_logger, op.Name, restart.Release, restart.CheckpointId, elapsedMs);
        restart.Done.TrySetResult(new ReplaceSwitched(op.ToStatus(), elapsedMs, Task.CompletedTask));
    }

    /// <summary>
    /// Whether <paramref name="slot"/> is a new instance of a replace that keeps state: its
    /// failure rolls the replace back (it is not restarted with back-off).
    /// </summary>
    private bool FailsRestartReplace(OperatorSlot op, InstanceSlot slot, string error)
    {
        if (op.Restarting is not { } restart || slot.Release != restart.Release || !op.Instances.Contains(slot))
        {
            return false;
        }
        slot.LastError = Truncate(error);
        slot.MoveTo(InstanceState.Failed, _time.GetUtcNow());
        RollBack(op, restart, $"new instance {op.Name}/{slot.Index} failed before every new instance ran: {error}");
        return true;
    }

    private void OnReplaceRestartTimeout(OperatorSlot op, ReplaceRestart restart, TimeSpan runningTimeout)
    {
        if (op.Restarting == restart && _operators.TryGetValue(op.Name, out var current) && current == op)
        {
            RollBack(op, restart,
                $"the new instances did not all reach running within {(long)runningTimeout.TotalMilliseconds} ms " +
                $"({op.Instances.Count(s => s.State == InstanceState.Running)} of {op.Instances.Count} running); see their executor.log");
        }
    }

    private void RollBack(OperatorSlot op, ReplaceRestart restart, string reason)
    {
        if (restart.RollingBack)
        {
            return;
        }
        restart.RollingBack = true;
        CancelTimerOf(restart);
        Emit(new RollBackReplace(op, restart, reason));
    }

    /// <summary>The write that stores the old version again; null when the replace is no longer this operator's (killed meanwhile).</summary>
    public StoreWrite? PlanRollBack(RollBackReplace rollBack)
    {
        var (op, restart) = (rollBack.Operator, rollBack.Restart);
        if (op.Restarting != restart || !_operators.TryGetValue(op.Name, out var current) || current != op)
        {
            return null;
        }
        var spec = restart.Previous.Spec.Clone();
        spec.Instances = op.Entry.Spec.Instances;
        return new StoreWrite(op.Name, op.Entry.Version, spec, op.Entry.Metadata ?? restart.Previous.Metadata);
    }

    /// <summary>
    /// The old version is stored again and applied: every participant restarts from the last
    /// completed checkpoint — the one the replace restarted from, since no checkpoint completes
    /// while a new instance does not run — the operator as the old version (next release) with
    /// its state; the replace fails naming the reason.
    /// </summary>
    public void RolledBack(RollBackReplace rollBack)
    {
        var (op, restart) = (rollBack.Operator, rollBack.Restart);
        op.Restarting = null;
        op.Release++;
        var from = _latestCheckpoint?.Id ?? 0;
        RestartParticipants($"the replace of '{op.Name}' is rolled back: {rollBack.Reason}", replaced: op.Name);
        LaunchPending();
        var message = $"replace of '{op.Name}' failed and was rolled back: the old version is stored again and every operator with a delivery guarantee " +
                      $"restarts from checkpoint {from}, '{op.Name}' with its state, so nothing is lost. {rollBack.Reason}";
        op.LastError = Truncate(message);
        LogReplaceFailed(_logger, op.Name, restart.Release, rollBack.Reason);
        restart.Done.TrySetException(new ReconcileException(ReconcileErrorKind.FailedPrecondition, message));
    }

    /// <summary>
    /// The old version could not be stored again (<paramref name="error"/>): the new version
    /// stays, and recovers as after any failure (every participant restarts from the last
    /// checkpoint; its failed instances after their back-off). The replace fails saying so.
    /// </summary>
    public void RollBackFailed(RollBackReplace rollBack, string error)
    {
        var (op, restart) = (rollBack.Operator, rollBack.Restart);
        if (op.Restarting != restart)
        {
            return;
        }
        op.Restarting = null;
        foreach (var slot in op.Instances.Where(s => s.State == InstanceState.Failed))
        {
            Emit(new ArmTimer(new BackoffElapsed(slot, ++slot.Generation), TimeSpan.FromMilliseconds(SchedulerLimits.RestartBackoffInitialMs)));
        }
        RestartParticipants($"the replace of '{op.Name}' failed and could not be rolled back: {error}");
        LaunchPending();
        var message = $"replace of '{op.Name}' failed ({rollBack.Reason}) and could not be rolled back: {error}. The new version stays stored and " +
                      $"restarts with back-off: replace it again with a version that declares the checkpoint's state names, or with --drop-state, or kill it";
        op.LastError = Truncate(message);
        LogReplaceFailed(_logger, op.Name, restart.Release, message);
        restart.Done.TrySetException(new ReconcileException(ReconcileErrorKind.FailedPrecondition, message));
    }

    /// <summary>A replace that keeps state ends without a result (the operator was killed, the scheduler stops).</summary>
    private static void AbandonRestart(OperatorSlot op, string reason)
    {
        if (op.Restarting is { } restart)
        {
            op.Restarting = null;
            restart.Done.TrySetException(new ReconcileException(ReconcileErrorKind.FailedPrecondition, $"replace of '{op.Name}' did not finish: {reason}"));
        }
    }

    /// <summary>
    /// Without drop-state, a running version with a guarantee keeps its state only in a new
    /// version that also takes part in checkpoints.
    /// </summary>
    private static void RefuseStatelessSuccessor(OperatorSlot op, OperatorSpec spec)
    {
        if (Participates(op) && !OperatorSpecValidator.HasGuarantee(spec.Delivery))
        {
            throw new ReconcileException(ReconcileErrorKind.FailedPrecondition,
                $"'{op.Name}' has delivery {OperatorSpecValidator.DeliveryName(op.Entry.Spec.Delivery)} and the new version {OperatorSpecValidator.DeliveryName(spec.Delivery)}, " +
                "which keeps no checkpointed state, so its state would be lost; to replace it anyway give --drop-state " +
                "(`concord replace --drop-state FILE`; RPC field drop_state): every operator with a guarantee restarts from the last checkpoint, this one as " +
                "the new version with empty state. Take a savepoint first if you want to keep a copy (`concord savepoint`). Or give the new version " +
                $"\"delivery\": \"{OperatorSpecValidator.DeliveryName(op.Entry.Spec.Delivery)}\" to keep its state, or `concord kill` it and `concord deploy` " +
                "the new version (docs/live-changes.md)");
        }
    }
}
