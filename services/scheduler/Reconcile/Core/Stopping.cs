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
    private void StopSlot(InstanceSlot slot, bool afterRouting = false)
    {
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
                Emit(new StopInstance(handle));
            }
        }
        else if (slot.State != InstanceState.Stopped)
        {
            slot.MoveTo(InstanceState.Stopped, _time.GetUtcNow());
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
            LaunchPending();
            Emit(new PublishRouting());
        }
    }
}
