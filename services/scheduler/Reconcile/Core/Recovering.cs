using Concord.Contracts.Scheduler.V1;
using Concord.Scheduler.Reconcile.Internal;
using Concord.Scheduler.Runtime;
using static Concord.Scheduler.Reconcile.ReconcileLog;

namespace Concord.Scheduler.Reconcile.Core;

/// <summary>
/// Recovering: an instance that exits or does not register fails, waits its back-off
/// (<see cref="IRestartBackoff"/>), and is launched again; too many failures make it crash-looping.
/// </summary>
internal sealed partial class ReconcileCore
{
    /// <summary>The process of <paramref name="handle"/> has exited, however it ended.</summary>
    public void OnExited(InstanceSlot slot, IInstanceHandle handle, InstanceExit exit)
    {
        if (!ReferenceEquals(slot.Handle, handle))
        {
            return; // An older launch of a slot that has moved on.
        }
        slot.Handle = null;
        if (slot.State == InstanceState.Draining)
        {
            Drained(slot, exit);
            return;
        }
        if (slot.State is not (InstanceState.Starting or InstanceState.Running)
            || !_operators.TryGetValue(slot.OperatorName, out var op))
        {
            return;
        }
        var fromOutside = KilledFromOutside(slot, exit);
        var note = fromOutside ? KilledFromOutsideNote : "";
        var error = slot.PendingError is { } reported ? reported + note
            : exit.HostLost ? exit.Description + note // "agent h3 lost: …": its log is on that host
            : $"executor {exit.Description}{note}; see its executor.log";
        Fail(op, slot, error, fromOutside);
        Emit(new PublishRouting());
    }

    private void OnStartingTimeout(InstanceSlot slot, long generation)
    {
        if (slot.Generation != generation || slot.State != InstanceState.Starting || slot.Handle is not { } handle)
        {
            return;
        }
        if (slot.Adopted)
        {
            slot.PendingError = $"adopted executor (pid {handle.Pid}) did not register again within {SchedulerLimits.AdoptRegisterTimeoutMs} ms " +
                                "of the scheduler's restart; it is stopped and relaunched (see its executor.log)";
            LogStartingTimeout(_logger, slot.OperatorName, slot.Index, SchedulerLimits.AdoptRegisterTimeoutMs);
        }
        else
        {
            slot.PendingError = $"executor did not register within {SchedulerLimits.StartingTimeoutMs} ms of launch; " +
                                "see its executor.log (the operator may be slow to start or failing before its session opens)";
            LogStartingTimeout(_logger, slot.OperatorName, slot.Index, SchedulerLimits.StartingTimeoutMs);
        }
        // The exit that follows turns the instance failed with the message above.
        Emit(new StopInstance(handle));
    }

    /// <summary>
    /// starting|running → failed (→ crash-looping), and a timer for the restart. A kill from
    /// outside (<paramref name="fromOutside"/>) restarts at once and does not count toward crash-looping.
    /// </summary>
    private void Fail(OperatorSlot op, InstanceSlot slot, string error, bool fromOutside = false)
    {
        var now = _time.GetUtcNow();
        CancelTimerOf(slot);
        EndAdoption(slot);
        if (op.Replace is { } replace && replace.Instances.Contains(slot))
        {
            // A new version that fails while starting is not restarted: the replace is abandoned.
            slot.LastError = Truncate(error);
            slot.MoveTo(InstanceState.Failed, now);
            AbortReplace(op, replace, $"new instance {op.Name}/{slot.Index} failed before the switch: {error}");
            return;
        }
        if (FailsRestartReplace(op, slot, error))
        {
            return; // Rolled back: the old version restarts, with every participant.
        }
        slot.LastError = op.LastError = Truncate(error);
        slot.MoveTo(InstanceState.Failed, now);
        var decision = fromOutside ? slot.Backoff.RecordKillFromOutside(now) : slot.Backoff.RecordFailure(now);
        if (decision.CrashLooping)
        {
            slot.MoveTo(InstanceState.CrashLooping, now);
        }
        LogFailed(_logger, op.Name, slot.Index, decision.FailuresInWindow, (long)decision.Delay.TotalMilliseconds, error);
        if (ShuttingDown)
        {
            return;
        }
        var generation = ++slot.Generation;
        Emit(new ArmTimer(new BackoffElapsed(slot, generation), decision.Delay));
        if (Participates(op))
        {
            Emit(new CheckpointParticipantFailed(op.Name, slot.Index, Truncate(error)));
            RecoverFrom(op, slot, Truncate(error));
        }
    }

    private void OnBackoffElapsed(InstanceSlot slot, long generation)
    {
        if (ShuttingDown || slot.Generation != generation || slot.State is not (InstanceState.Failed or InstanceState.CrashLooping)
            || !_operators.TryGetValue(slot.OperatorName, out var op) || !op.Instances.Contains(slot))
        {
            return;
        }
        if (WaitsForOldParticipants(op))
        {
            slot.LaunchAfterOldParticipants = true; // Drained launches it.
            return;
        }
        Launch(op, slot);
        Emit(new PublishRouting());
    }
}
