using Concord.Contracts.Scheduler.V1;
using Concord.Scheduler.Lifecycle;
using Concord.Scheduler.Reconcile.Internal;
using Concord.Scheduler.Runtime;
using static Concord.Scheduler.Reconcile.ReconcileLog;

namespace Concord.Scheduler.Reconcile.Core;

/// <summary>Stopping: any state → draining (live process) → stopped, and the scheduler's own shutdown.</summary>
internal sealed partial class ReconcileCore
{
    /// <summary>Instances routed away from (scale down, replace) to stop once the next table is delivered.</summary>
    private readonly List<IInstanceHandle> _stopsAfterRouting = [];

    /// <summary>
    /// Stops every instance (SIGTERM, then SIGKILL after the stop timeout) and keeps the
    /// topology, for scheduler shutdown. Returns the exits to wait for.
    /// </summary>
    public IReadOnlyList<Task<InstanceExit>> StopAll()
    {
        ShuttingDown = true;
        foreach (var op in _operators.Values)
        {
            if (op.Replace is { } replace)
            {
                AbortReplace(op, replace, "the scheduler is shutting down; start it again and retry the replace");
            }
            AbandonRestart(op, "the scheduler is shutting down; `concord list` shows which version is stored once it runs again");
            foreach (var slot in op.Instances)
            {
                StopSlot(slot);
            }
            op.Instances.Clear();
        }
        _operators.Clear();
        Emit(new PublishRouting());
        return _draining.Select(s => s.Handle!.Exited).ToList();
    }

    /// <summary>
    /// Any state → draining (live process) or stopped (none). With
    /// <paramref name="afterRouting"/>, SIGTERM waits until the next routing table (which no
    /// longer routes to the instance) has reached every watcher, bounded by
    /// <see cref="SchedulerLimits.RoutingSwitchDeliveryTimeoutMs"/>: senders stop picking it
    /// before it stops taking records.
    /// </summary>
    /// <remarks>
    /// With <paramref name="forget"/> (the topology no longer wants the instance) its working
    /// state is removed once it has stopped; the log is kept when it was failing.
    /// </remarks>
    private void StopSlot(InstanceSlot slot, bool afterRouting = false, bool forget = false, bool discard = false)
    {
        // A launch still on its way will write into the directory: left in place rather than raced.
        if (forget && !slot.ForgetWhenStopped && !(slot.State == InstanceState.Starting && slot.Handle is null))
        {
            slot.ForgetWhenStopped = true;
            slot.KeepLogWhenForgotten = WasFailing(slot);
        }
        CancelTimerOf(slot);
        slot.Generation++;
        EndAdoption(slot);
        if (slot.Handle is { } handle && InstanceLifecycle.HasProcess(slot.State))
        {
            if (slot.State != InstanceState.Draining)
            {
                slot.MoveTo(InstanceState.Draining, _time.GetUtcNow());
                _draining.Add(slot);
            }
            if (afterRouting && !ShuttingDown)
            {
                _stopsAfterRouting.Add(handle);
            }
            else
            {
                Emit(new StopInstance(handle, discard));
            }
        }
        else
        {
            if (slot.State != InstanceState.Stopped)
            {
                slot.MoveTo(InstanceState.Stopped, _time.GetUtcNow());
            }
            ForgetIfUnwanted(slot, operatorToo: false);
        }
    }

    /// <summary>Failed, crash-looping, or restarting after a failure: its log says why.</summary>
    private static bool WasFailing(InstanceSlot slot) =>
        slot.State is InstanceState.Failed or InstanceState.CrashLooping ||
        (slot.State == InstanceState.Starting && slot.Restarts > 0);

    /// <summary>
    /// A stopped instance the topology no longer wants: its working state goes (before any
    /// launch into the same directory, which the effects carry out after it, in order). With
    /// <paramref name="operatorToo"/>, the last one of a killed operator takes the operator's
    /// directory with it.
    /// </summary>
    private void ForgetIfUnwanted(InstanceSlot slot, bool operatorToo)
    {
        if (!slot.ForgetWhenStopped || ShuttingDown)
        {
            return;
        }
        slot.ForgetWhenStopped = false;
        // Another instance draining in the same directory still uses it: its own forget takes it.
        if (!_draining.Any(d => d != slot && SameDirectory(d, slot)))
        {
            Emit(new ForgetInstance(slot.OperatorName, slot.Index, slot.Release, slot.KeepLogWhenForgotten));
        }
        if (operatorToo)
        {
            ForgetOperatorIfGone(slot.OperatorName);
        }
    }

    /// <summary>A killed operator none of whose instances still drains: what is left of its directory goes.</summary>
    private void ForgetOperatorIfGone(string name)
    {
        if (!ShuttingDown && !_operators.ContainsKey(name) && !_draining.Any(s => s.OperatorName == name))
        {
            Emit(new ForgetOperator(name));
        }
    }

    /// <summary>draining → stopped; an instance of the same directory that waited for this exit is launched now.</summary>
    private void Drained(InstanceSlot slot, InstanceExit exit)
    {
        slot.MoveTo(InstanceState.Stopped, _time.GetUtcNow());
        _draining.Remove(slot);
        LogStopped(_logger, slot.OperatorName, slot.Index, exit.Description);
        if (!ShuttingDown)
        {
            ForgetIfUnwanted(slot, operatorToo: true);
            LaunchPending();
            Emit(new PublishRouting());
        }
    }
}
