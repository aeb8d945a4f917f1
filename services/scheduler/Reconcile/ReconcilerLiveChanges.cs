using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Lifecycle;
using Concord.Scheduler.Reconcile.Internal;
using Concord.Scheduler.Runtime;
using Concord.Scheduler.Store;
using Grpc.Core;
using Google.Protobuf;

namespace Concord.Scheduler.Reconcile;

/// <summary>What a rolling replace did, with its timings (docs/live-changes.md).</summary>
/// <param name="SwitchMs">From the call to routing moved to the new instances.</param>
/// <param name="TotalMs">From the call to every old instance stopped.</param>
public sealed record ReplaceResult(OperatorStatus Status, long SwitchMs, long TotalMs);

/// <summary>
/// Live changes of a running topology beyond deploy/kill/scale: rolling replace, and adoption
/// of executors that outlived a previous scheduler run. Same single-threaded loop as the rest
/// of the reconciler; nothing here blocks it (waits happen in the caller's task).
/// </summary>
public sealed partial class Reconciler
{
    /// <summary>
    /// Rolling replace of <paramref name="spec"/>.Name: launches the new version's instances
    /// (new release, new incarnations) beside the old ones, waits until all run (bounded by
    /// <paramref name="runningTimeout"/>), moves routing to them, then drains and stops the old
    /// ones. Any failure before the switch stops the new instances and leaves the old ones
    /// untouched. Spec already validated (except what depends on the running operator).
    /// </summary>
    public async Task<ReplaceResult> ReplaceAsync(OperatorSpec spec, TimeSpan runningTimeout, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        var switched = await AskAsync(async () =>
        {
            ThrowIfShuttingDown();
            var op = Find(spec.Name);
            ThrowIfReplacing(op, "replace");
            CheckSameStreams(op, spec);
            var next = spec.Clone();
            next.Instances = op.Entry.Spec.Instances;
            if (_runtime.Validate(next) is { } problem)
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"invalid operator '{spec.Name}':\n  {problem}"));
            }
            var replace = new ReplaceSlot(next, op.Release + 1, started);
            var now = _time.GetUtcNow();
            for (var i = 0; i < next.Instances; i++)
            {
                replace.Instances.Add(new InstanceSlot(op.Name, i, now) { Release = replace.Release });
            }
            if (replace.Instances.Any(incoming => _draining.Any(d => SameDirectory(d, incoming))))
            {
                throw new RpcException(new Status(StatusCode.FailedPrecondition,
                    $"instances of an earlier change of '{op.Name}' are still stopping; retry in {SchedulerLimits.StopTimeoutMs / 1000} s"));
            }
            op.Replace = replace;
            LogReplaceStarted(op.Name, replace.Release, next.Instances, (long)runningTimeout.TotalMilliseconds);
            foreach (var slot in replace.Instances)
            {
                if (op.Replace != replace)
                {
                    break; // A launch failed and abandoned the replace.
                }
                await LaunchAsync(op, slot, next).ConfigureAwait(false);
            }
            if (op.Replace == replace)
            {
                replace.Timer = _time.CreateTimer(_ => Post(() =>
                {
                    AbortReplace(op, replace,
                        $"the new instances did not all reach running within {(long)runningTimeout.TotalMilliseconds} ms " +
                        $"({replace.Instances.Count(s => s.State == InstanceState.Running)} of {replace.Instances.Count} running); see their executor.log");
                    return Task.CompletedTask;
                }), null, runningTimeout, Timeout.InfiniteTimeSpan);
            }
            return replace.Done.Task;
        }, cancellationToken).ConfigureAwait(false);

        // Bounded: the loop completes it when the new instances run, fail, or time out.
        var result = await switched.WaitAsync(runningTimeout + TimeSpan.FromMilliseconds(SchedulerLimits.CommandTimeoutMs), _time, cancellationToken)
            .ConfigureAwait(false);
        try
        {
            await result.OldStopped.WaitAsync(
                TimeSpan.FromMilliseconds(SchedulerLimits.RoutingSwitchDeliveryTimeoutMs + SchedulerLimits.StopTimeoutMs + SchedulerLimits.LeftoverStopTimeoutMs),
                _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // SIGKILL follows the stop timeout; the switch itself is done, which is what matters.
        }
        return new ReplaceResult(result.Status, result.SwitchMs, (long)_time.GetElapsedTime(started).TotalMilliseconds);
    }

    /// <summary>A new instance of a replace registered: running (not routed to yet); the switch once all are.</summary>
    private async Task RegisterReplacementAsync(OperatorSlot op, ReplaceSlot replace, InstanceSlot slot, RegisterExecutorRequest request)
    {
        if (slot.State == InstanceState.Running)
        {
            return;
        }
        if (slot.State != InstanceState.Starting)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition,
                $"new instance {op.Name}/{slot.Index} is {InstanceLifecycle.Describe(slot.State)}, not starting; the executor should exit"));
        }
        var reported = OperatorSlot.Canonical(request.Metadata ?? new OperatorMetadata { Name = op.Name });
        var recorded = op.Entry.Metadata ?? replace.Metadata;
        if (recorded is null)
        {
            replace.Metadata = reported;
        }
        else if (!SameStreams(reported, recorded))
        {
            var message = $"the new version of '{op.Name}' reports {DescribeStreams(reported)} but the running version has {DescribeStreams(recorded)}; " +
                          "a replace must keep the streams (routing of other operators depends on them): fix the operator's metadata(), " +
                          "or kill the operator and deploy the new version";
            slot.PendingError = message;
            throw new RpcException(new Status(StatusCode.FailedPrecondition, message));
        }
        MarkRunning(slot, request);
        LogReplacementRunning(op.Name, slot.Index, replace.Release, request.DataAddress);
        if (replace.Instances.All(s => s.State == InstanceState.Running))
        {
            await SwitchAsync(op, replace).ConfigureAwait(false);
        }
    }

    /// <summary>Every new instance runs: store the new spec, route to the new instances, stop the old ones.</summary>
    private async Task SwitchAsync(OperatorSlot op, ReplaceSlot replace)
    {
        replace.Timer?.Dispose();
        try
        {
            await WriteAsync(op.Name, op.Entry.Version, replace.Spec, op.Entry.Metadata ?? replace.Metadata).ConfigureAwait(false);
        }
        catch (RpcException e)
        {
            if (op.Replace == replace)
            {
                AbortReplace(op, replace, e.Status.Detail);
            }
            return;
        }
        var old = op.Instances.ToList();
        op.Instances.Clear();
        op.Instances.AddRange(replace.Instances);
        op.Release = replace.Release;
        op.Replace = null;
        var switchMs = (long)_time.GetElapsedTime(replace.StartedTimestamp).TotalMilliseconds;
        var exits = new List<Task>();
        foreach (var slot in old)
        {
            StopSlot(slot, afterRouting: true);
            if (slot.State == InstanceState.Draining && slot.Handle is { } handle)
            {
                exits.Add(handle.Exited);
            }
        }
        // Reads the new entry back and publishes routing to the new instances, which also
        // starts the old ones' stops once that table is delivered.
        await ApplyStoreAsync().ConfigureAwait(false);
        LogReplaced(op.Name, replace.Release, switchMs, old.Count);
        replace.Done.TrySetResult(new ReplaceSwitched(op.ToStatus(), switchMs, Task.WhenAll(exits)));
    }

    /// <summary>Abandons a replace: its new instances stop, the old ones were never touched.</summary>
    private void AbortReplace(OperatorSlot op, ReplaceSlot replace, string reason)
    {
        if (op.Replace != replace)
        {
            return;
        }
        op.Replace = null;
        replace.Timer?.Dispose();
        foreach (var slot in replace.Instances)
        {
            StopSlot(slot);
        }
        var message = $"replace of '{op.Name}' failed and was rolled back; the old version keeps running: {reason}";
        op.LastError = Truncate(message);
        LogReplaceFailed(op.Name, replace.Release, reason);
        replace.Done.TrySetException(new RpcException(new Status(StatusCode.FailedPrecondition, message)));
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
            throw new RpcException(new Status(StatusCode.FailedPrecondition,
                $"the deploy file for '{op.Name}' declares {DescribeStreams(declared)} but the running operator has {DescribeStreams(recorded)}; " +
                "a replace must keep the streams: fix \"inputs\"/\"outputs\" in the deploy file, or kill the operator and deploy the new version. Nothing was changed"));
        }
    }

    private static bool SameStreams(OperatorMetadata a, OperatorMetadata b) =>
        a.Inputs.Equals(b.Inputs) && a.Outputs.Equals(b.Outputs);

    private static string DescribeStreams(OperatorMetadata metadata) =>
        $"inputs [{string.Join(", ", metadata.Inputs.Select(i => $"{i.Name} ({GroupingName(i.Grouping)})"))}] and outputs [{string.Join(", ", metadata.Outputs)}]";

    private static string GroupingName(Grouping grouping) => grouping switch
    {
        Contracts.Types.V1.Grouping.GroupBy => "group_by",
        Contracts.Types.V1.Grouping.Broadcast => "broadcast",
        _ => "shuffle",
    };

    // ================================ adoption ================================

    /// <summary>
    /// Whether a leftover executor may be taken over: it runs an instance the store still
    /// wants, with the same spec (instance count aside), calls back on this scheduler's
    /// address, and no other leftover has claimed that instance.
    /// </summary>
    private bool ShouldAdopt(TopologySnapshot snapshot, LeftoverInstance leftover, HashSet<(string, int)> claimed)
    {
        var entry = snapshot.Operators.FirstOrDefault(e => e.Name == leftover.OperatorName);
        string? refusal = null;
        if (entry is null)
        {
            refusal = "its operator is no longer deployed";
        }
        else if (leftover.Index < 0 || leftover.Index >= entry.Spec.Instances)
        {
            refusal = $"the operator now has {entry.Spec.Instances} instance(s)";
        }
        else if (leftover.SchedulerAddress != _schedulerAddress)
        {
            refusal = $"it calls back on {leftover.SchedulerAddress}, this scheduler serves {_schedulerAddress}";
        }
        else if (leftover.Spec is null || !SameSpecIgnoringInstances(leftover.Spec, entry.Spec))
        {
            refusal = "it runs another version of the spec than the stored one (a replace was cut short?)";
        }
        else if (!claimed.Add((leftover.OperatorName, leftover.Index)))
        {
            refusal = "another leftover already runs that instance";
        }
        if (refusal is not null)
        {
            LogNotAdopted(leftover.OperatorName, leftover.Index, leftover.Pid, refusal);
            return false;
        }
        return true;
    }

    private static bool SameSpecIgnoringInstances(OperatorSpec a, OperatorSpec b)
    {
        var x = a.Clone();
        var y = b.Clone();
        x.Instances = y.Instances = 0;
        return x.Equals(y);
    }

    /// <summary>pending → starting with the adopted process; running once it registers again.</summary>
    private void Adopt(OperatorSlot op, InstanceSlot slot, AdoptedInstance adopted)
    {
        slot.Release = adopted.Release;
        op.Release = Math.Max(op.Release, adopted.Release);
        slot.Incarnation = adopted.Handle.Incarnation;
        slot.Handle = adopted.Handle;
        slot.Adopted = true;
        slot.MoveTo(InstanceState.Starting, _time.GetUtcNow());
        _adoptionsPending++;
        var generation = ++slot.Generation;
        slot.Timer = _time.CreateTimer(_ => Post(() => OnStartingTimeout(slot, generation)), null,
            TimeSpan.FromMilliseconds(SchedulerLimits.AdoptRegisterTimeoutMs), Timeout.InfiniteTimeSpan);
        _ = WatchExitAsync(slot, adopted.Handle);
    }

    /// <summary>An adopted instance left starting (registered, failed or stopped): routing may go on once all have.</summary>
    private void EndAdoption(InstanceSlot slot)
    {
        if (slot.Adopted)
        {
            slot.Adopted = false;
            _adoptionsPending--;
        }
    }
}
