using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Reconcile.Internal;
using Concord.Scheduler.Runtime;
using Concord.Scheduler.Store;

namespace Concord.Scheduler.Reconcile.Core;

/// <summary>Applying: the store's content → the desired instances, and their launches.</summary>
internal sealed partial class ReconcileCore
{
    /// <summary>Whether <see cref="Apply"/> acts: not while shutting down, nor when this scheduler may not act.</summary>
    public bool CanApply => !ShuttingDown && CanAct;

    /// <summary>
    /// Makes the instances match <paramref name="snapshot"/>, exactly as for a change made
    /// elsewhere: operators gone are stopped, new ones and added indexes are launched (or take
    /// over an adopted process), removed indexes drain after routing moves away.
    /// </summary>
    public void Apply(TopologySnapshot snapshot)
    {
        if (!CanApply)
        {
            return;
        }
        AppliedRevision = snapshot.Revision;
        var wanted = snapshot.Operators.ToDictionary(e => e.Name, StringComparer.Ordinal);

        foreach (var name in _operators.Keys.Where(n => !wanted.ContainsKey(n)).ToList())
        {
            if (_operators[name].Replace is { } replace)
            {
                AbortReplace(_operators[name], replace, "the operator was killed during the replace");
            }
            AbandonRestart(_operators[name], "the operator was killed during the replace");
            var killed = _operators[name].Instances;
            _operators.Remove(name); // First, so that the last instance forgotten takes the operator's directory with it.
            foreach (var slot in killed)
            {
                StopSlot(slot, forget: true);
            }
            ForgetOperatorIfGone(name);
        }
        foreach (var entry in snapshot.Operators)
        {
            if (!_operators.TryGetValue(entry.Name, out var op))
            {
                _operators[entry.Name] = op = new OperatorSlot(entry)
                {
                    // Deployed while this scheduler runs: not in any checkpoint taken so far.
                    CheckpointFloor = Loaded ? (_latestCheckpoint?.Id ?? 0) + 1 : 0,
                };
            }
            op.Entry = entry;
            ApplyInstanceCount(op, entry.Spec.Instances);
        }
        foreach (var unclaimed in _adopted.Values)
        {
            // Adopted for an operator or index the store no longer has (it cannot normally
            // happen: adoption checks the same store): stop it rather than leave it running.
            Emit(new StopInstance(unclaimed.Handle));
        }
        _adopted.Clear();
        Loaded = true;
        LaunchPending();
        Emit(new PublishRouting());
    }

    /// <summary>
    /// Launches every pending instance, except one whose previous process (same operator and
    /// index, e.g. before a kill and redeploy) is still draining: it waits for that exit, so an
    /// instance never runs twice.
    /// </summary>
    private void LaunchPending()
    {
        foreach (var op in _operators.Values)
        {
            var heldForRestore = WaitsForOldParticipants(op);
            foreach (var slot in op.Instances.Where(s => s.State == InstanceState.Pending ||
                (s.LaunchAfterOldParticipants && s.State is InstanceState.Failed or InstanceState.CrashLooping)).ToList())
            {
                if (!heldForRestore && !_draining.Any(d => SameDirectory(d, slot)))
                {
                    Launch(op, slot);
                }
            }
        }
    }

    /// <summary>pending|failed|crash-looping → starting with a new incarnation, and a launch for the runtime.</summary>
    private void Launch(OperatorSlot op, InstanceSlot slot, OperatorSpec? spec = null)
    {
        if (slot.Incarnation.Length > 0)
        {
            slot.Restarts++;
        }
        CancelTimerOf(slot);
        slot.LaunchAfterOldParticipants = false;
        slot.Generation++;
        slot.Incarnation = Guid.NewGuid().ToString("N");
        slot.PendingError = null;
        slot.Handle = null;
        slot.MoveTo(InstanceState.Starting, _time.GetUtcNow());
        var launch = new InstanceLaunch(op.Name, slot.Index, slot.Incarnation, spec ?? op.Entry.Spec, SchedulerAddress, slot.Release)
        {
            // A new version of a rolling replace never restores: only operators without a guarantee
            // are replaced so (the others restart with the new spec stored: spec is null then).
            RestoreCheckpoint = spec is null ? RestoreFor(op)?.Directory : null,
        };
        Emit(new LaunchInstance(op, slot, slot.Generation, launch));
    }

    /// <summary>The runtime started <paramref name="launch"/>: watch its exit, and give it the starting timeout to register.</summary>
    public void Launched(LaunchInstance launch, IInstanceHandle handle)
    {
        if (!IsCurrent(launch))
        {
            // The slot moved on while the launch ran: the process is not wanted.
            Emit(new StopInstance(handle));
            return;
        }
        var slot = launch.Slot;
        slot.Handle = handle;
        Emit(new ArmTimer(new StartingTimeout(slot, slot.Generation), TimeSpan.FromMilliseconds(SchedulerLimits.StartingTimeoutMs)));
        Emit(new WatchExit(slot, handle));
    }

    /// <summary>The runtime could not start <paramref name="launch"/> at all: the instance failed.</summary>
    public void LaunchFailed(LaunchInstance launch, string message)
    {
        if (IsCurrent(launch))
        {
            Fail(launch.Operator, launch.Slot, $"could not launch: {message}");
        }
    }
}
