using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Reconcile.Internal;
using Concord.Scheduler.Store;
using static Concord.Scheduler.Reconcile.ReconcileLog;

namespace Concord.Scheduler.Reconcile.Core;

/// <summary>Routing moves to the new instances once the store is applied; <paramref name="OldStopped"/> completes when the old ones have exited.</summary>
internal sealed record PendingSwitch(long SwitchMs, Task OldStopped, int OldCount);

/// <summary>
/// Replacing (rolling replace): the new release's instances start beside the old ones, routing
/// switches once all run, then the old ones drain; any failure before the switch rolls back.
/// </summary>
internal sealed partial class ReconcileCore
{
    /// <summary>
    /// Checks a replace of <paramref name="spec"/>.Name against the running operator and
    /// returns the new spec with the operator's instance count, for the runtime to validate.
    /// </summary>
    /// <param name="dropState">
    /// Replace an operator with a delivery guarantee (old or new version) by a restart in which it
    /// starts with empty state (<see cref="ReplaceRestarts"/>). Without it, such an operator is
    /// replaced by a restart that keeps its state (<see cref="ReplaceKeepsState"/>), and a new
    /// version without a guarantee of one that has one is refused. Either way a restart must keep
    /// the delivery rule with its neighbours.
    /// </param>
    public OperatorSpec PrepareReplace(OperatorSpec spec, bool dropState = false)
    {
        RequireActive();
        var op = Find(spec.Name);
        ThrowIfReplacing(op, "replace");
        if (!dropState)
        {
            RefuseStatelessSuccessor(op, spec);
        }
        CheckSameStreams(op, spec);
        var metadata = spec.ExpectedInputs.Count + spec.ExpectedOutputs.Count > 0 ? null : op.Entry.Metadata;
        RefuseCycle(spec, metadata, "the new version of");
        if (Participates(op) || OperatorSpecValidator.HasGuarantee(spec.Delivery))
        {
            RefuseWeakerUpstream(spec, metadata, "the new version of");
        }
        var next = spec.Clone();
        next.Instances = op.Entry.Spec.Instances;
        return next;
    }

    /// <summary>
    /// Whether a replace with <paramref name="next"/> (from <see cref="PrepareReplace"/>) is a
    /// restart rather than a rolling replace: the old or the new version has a delivery
    /// guarantee, so both versions may not run at once (docs/live-changes.md).
    /// </summary>
    public bool ReplaceRestarts(OperatorSpec next) =>
        Participates(Find(next.Name)) || OperatorSpecValidator.HasGuarantee(next.Delivery);

    /// <summary>
    /// The store write of a replace by restart with drop-state: the new version, same recorded
    /// metadata (its streams are the same), its state starting anew at this write
    /// (<see cref="OperatorEntry.StateSince"/>: no checkpoint of the old version restores it, even after a scheduler restart).
    /// </summary>
    public StoreWrite PlanReplaceDroppingState(OperatorSpec next)
    {
        var op = Find(next.Name);
        return new StoreWrite(op.Name, op.Entry.Version, next, op.Entry.Metadata, NewState: true);
    }

    /// <summary>
    /// The new version is stored and applied (the operator's entry is the new one): every
    /// participant restarts from the last completed checkpoint, as after a failure, and every
    /// instance of <paramref name="name"/> restarts too — a new release, with the new spec, and
    /// no state: only a checkpoint taken of this version (or later) restores it. Call after
    /// applying the store; returns the operator as now desired.
    /// </summary>
    public OperatorStatus ReplacedDroppingState(string name)
    {
        var op = Find(name);
        op.Release++;
        LogReplacedDroppingState(_logger, name, op.Release, _latestCheckpoint?.Id ?? 0);
        RestartParticipants($"'{name}' is replaced by release {op.Release} with empty state (drop-state)", replaced: name);
        LaunchPending();
        return op.ToStatus();
    }

    /// <summary>
    /// Starts the replace with <paramref name="next"/> (from <see cref="PrepareReplace"/>):
    /// launches the new instances and arms <paramref name="runningTimeout"/>. The task
    /// completes at the switch, or fails with a <see cref="ReconcileException"/> on roll back.
    /// </summary>
    /// <param name="startedTimestamp"><see cref="TimeProvider"/> timestamp of the call, for the switch time.</param>
    public Task<ReplaceSwitched> StartReplace(OperatorSpec next, TimeSpan runningTimeout, long startedTimestamp)
    {
        var op = Find(next.Name);
        var replace = new ReplaceSlot(next, op.Release + 1, startedTimestamp);
        for (var i = 0; i < next.Instances; i++)
        {
            replace.Instances.Add(NewSlot(op.Name, i, replace.Release));
        }
        if (replace.Instances.Any(incoming => _draining.Any(d => SameDirectory(d, incoming))))
        {
            throw new ReconcileException(ReconcileErrorKind.FailedPrecondition,
                $"instances of an earlier change of '{op.Name}' are still stopping; retry in {SchedulerLimits.StopTimeoutMs / 1000} s");
        }
        op.Replace = replace;
        LogReplaceStarted(_logger, op.Name, replace.Release, next.Instances, (long)runningTimeout.TotalMilliseconds);
        foreach (var slot in replace.Instances)
        {
            Launch(op, slot, next);
        }
        Emit(new ArmTimer(new ReplaceRunningTimeout(op, replace, runningTimeout), runningTimeout));
        return replace.Done.Task;
    }

    /// <summary>A new instance of a replace registered: running (not routed to yet); the switch once all are.</summary>
    private RegisterOutcome RegisterReplacement(OperatorSlot op, ReplaceSlot replace, InstanceSlot slot, RegisterExecutorRequest request)
    {
        if (slot.State == InstanceState.Running)
        {
            RequireSameCaller(op.Name, slot, request);
            return RegisterOutcome.Done;
        }
        if (slot.State != InstanceState.Starting)
        {
            throw new ReconcileException(ReconcileErrorKind.FailedPrecondition,
                $"new instance {op.Name}/{slot.Index} is {Describe(slot.State)}, not starting; the executor should exit");
        }
        var reported = OperatorSlot.Canonical(request.Metadata ?? new OperatorMetadata { Name = op.Name });
        var recorded = op.Entry.Metadata ?? replace.Metadata;
        if (recorded is null)
        {
            if (CycleMessage(replace.Spec, reported, "the new version of") is { } cycle)
            {
                slot.PendingError = cycle;
                throw new ReconcileException(ReconcileErrorKind.FailedPrecondition, cycle);
            }
            replace.Metadata = reported;
        }
        else if (!SameStreams(reported, recorded))
        {
            var message = $"the new version of '{op.Name}' reports {DescribeStreams(reported)} but the running version has {DescribeStreams(recorded)}; " +
                          "a replace must keep the streams (routing of other operators depends on them): fix the operator's metadata(), " +
                          "or kill the operator and deploy the new version";
            slot.PendingError = message;
            throw new ReconcileException(ReconcileErrorKind.FailedPrecondition, message);
        }
        MarkRunning(slot, request);
        LogReplacementRunning(_logger, op.Name, slot.Index, replace.Release, request.DataAddress);
        if (!replace.Instances.All(s => s.State == InstanceState.Running))
        {
            return RegisterOutcome.Done;
        }
        CancelTimerOf(replace);
        return new SwitchReplace(op, replace, new StoreWrite(op.Name, op.Entry.Version, replace.Spec, op.Entry.Metadata ?? replace.Metadata));
    }

    /// <summary>
    /// The new spec is stored: the new instances become the operator's, the old ones drain
    /// once routing (published when the store is applied next) has moved away from them.
    /// Finish with <see cref="CompleteSwitch"/> after applying the store.
    /// </summary>
    public PendingSwitch Switch(SwitchReplace replacing)
    {
        var (op, replace) = (replacing.Operator, replacing.Replace);
        var old = op.Instances.ToList();
        op.Instances.Clear();
        op.Instances.AddRange(replace.Instances);
        op.Release = replace.Release;
        op.Replace = null;
        var switchMs = (long)_time.GetElapsedTime(replace.StartedTimestamp).TotalMilliseconds;
        var exits = new List<Task>();
        foreach (var slot in old)
        {
            StopSlot(slot, afterRouting: true, forget: true);
            if (slot.State == InstanceState.Draining && slot.Handle is { } handle)
            {
                exits.Add(handle.Exited);
            }
        }
        return new PendingSwitch(switchMs, Task.WhenAll(exits), old.Count);
    }

    /// <summary>The store was applied after <see cref="Switch"/>: the replace call may return.</summary>
    public void CompleteSwitch(SwitchReplace replacing, PendingSwitch switched)
    {
        var (op, replace) = (replacing.Operator, replacing.Replace);
        LogReplaced(_logger, op.Name, replace.Release, switched.SwitchMs, switched.OldCount);
        replace.Done.TrySetResult(new ReplaceSwitched(op.ToStatus(), switched.SwitchMs, switched.OldStopped));
    }

    /// <summary>The switch's store write failed: roll back.</summary>
    public void SwitchFailed(SwitchReplace replacing, string reason) => AbortReplace(replacing.Operator, replacing.Replace, reason);

    private void OnReplaceRunningTimeout(OperatorSlot op, ReplaceSlot replace, TimeSpan runningTimeout) =>
        AbortReplace(op, replace,
            $"the new instances did not all reach running within {(long)runningTimeout.TotalMilliseconds} ms " +
            $"({replace.Instances.Count(s => s.State == InstanceState.Running)} of {replace.Instances.Count} running); see their executor.log");

    /// <summary>Abandons a replace: its new instances stop, the old ones were never touched.</summary>
    private void AbortReplace(OperatorSlot op, ReplaceSlot replace, string reason)
    {
        if (op.Replace != replace)
        {
            return;
        }
        op.Replace = null;
        CancelTimerOf(replace);
        foreach (var slot in replace.Instances)
        {
            StopSlot(slot, forget: !ShuttingDown);
        }
        var message = $"replace of '{op.Name}' failed and was rolled back; the old version keeps running: {reason}";
        op.LastError = Truncate(message);
        LogReplaceFailed(_logger, op.Name, replace.Release, reason);
        replace.Done.TrySetException(new ReconcileException(ReconcileErrorKind.FailedPrecondition, message));
    }

    /// <summary>A deploy file's declared streams must equal what the running operator recorded.</summary>
    private static void CheckSameStreams(OperatorSlot op, OperatorSpec spec)
    {
        if (spec.ExpectedInputs.Count == 0 && spec.ExpectedOutputs.Count == 0)
        {
            return; // Nothing declared: the new instances' metadata is checked when they register.
        }
        var declared = OperatorSlot.Canonical(new OperatorMetadata { Name = op.Name, Inputs = { spec.ExpectedInputs }, Outputs = { spec.ExpectedOutputs } });
        var recorded = op.Entry.Metadata
            ?? (op.Entry.Spec.ExpectedInputs.Count + op.Entry.Spec.ExpectedOutputs.Count > 0
                ? OperatorSlot.Canonical(new OperatorMetadata { Name = op.Name, Inputs = { op.Entry.Spec.ExpectedInputs }, Outputs = { op.Entry.Spec.ExpectedOutputs } })
                : null);
        if (recorded is not null && !SameStreams(declared, recorded))
        {
            throw new ReconcileException(ReconcileErrorKind.FailedPrecondition,
                $"the deploy file for '{op.Name}' declares {DescribeStreams(declared)} but the running operator has {DescribeStreams(recorded)}; " +
                "a replace must keep the streams: fix \"inputs\"/\"outputs\" in the deploy file, or kill the operator and deploy the new version. Nothing was changed");
        }
    }

    private static bool SameStreams(OperatorMetadata a, OperatorMetadata b) =>
        a.Inputs.Equals(b.Inputs) && a.Outputs.Equals(b.Outputs);

    private static string DescribeStreams(OperatorMetadata metadata) =>
        $"inputs [{string.Join(", ", metadata.Inputs.Select(i => $"{i.Name} ({GroupingName(i.Grouping)})"))}] and outputs [{string.Join(", ", metadata.Outputs)}]";

    private static string GroupingName(Grouping grouping) => grouping switch
    {
        Grouping.GroupBy => "group_by",
        Grouping.Broadcast => "broadcast",
        _ => "shuffle",
    };
}
