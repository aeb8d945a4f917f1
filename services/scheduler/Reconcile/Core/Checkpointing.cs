using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Checkpoints;
using Concord.Scheduler.Lifecycle;
using Concord.Scheduler.Reconcile.Internal;
using Concord.Scheduler.Store;
using static Concord.Scheduler.Reconcile.ReconcileLog;

namespace Concord.Scheduler.Reconcile.Core;

/// <summary>
/// Checkpointing (docs/guarantees.md): which instances take part in checkpoints, the channels
/// each must see a barrier on, the delivery rule between an operator and its upstreams, and
/// recovery — a failure of an instance of an operator with a guarantee restarts every
/// instance of every such operator (new incarnations) from the last completed checkpoint.
/// </summary>
internal sealed partial class ReconcileCore
{
    /// <summary>The newest completed checkpoint the coordinator (or, at start, the store) reported; null when none.</summary>
    private CheckpointRecord? _latestCheckpoint;

    /// <summary>Global restores decided since the scheduler started (metrics).</summary>
    public long Restores { get; private set; }

    /// <summary>The newest completed checkpoint known; launches of participants restore from it.</summary>
    public CheckpointRecord? LatestCheckpoint => _latestCheckpoint;

    /// <summary>A checkpoint completed (or was read from the store at start).</summary>
    public void CheckpointCompleted(CheckpointRecord record)
    {
        if (_latestCheckpoint is null || record.Id > _latestCheckpoint.Id)
        {
            _latestCheckpoint = record;
        }
    }

    /// <summary>Whether the operator takes part in checkpoints (delivery at_least_once or exactly_once).</summary>
    private static bool Participates(OperatorSlot op) => OperatorSpecValidator.HasGuarantee(op.Entry.Spec.Delivery);

    /// <summary>
    /// Whether a launch of <paramref name="op"/> must wait: it takes part in checkpoints and a
    /// process of the previous run of the participants is still draining. A restore starts a new
    /// run only once the old one is gone entirely; otherwise an old source, still draining, would
    /// find the new sink in the routing table and hand it records the new run replays as well
    /// (duplicates under exactly-once).
    /// </summary>
    private bool WaitsForOldParticipants(OperatorSlot op) =>
        Participates(op) && _draining.Any(d => _operators.TryGetValue(d.OperatorName, out var other) && Participates(other));

    /// <summary>
    /// The participants now: every running instance of every operator with a guarantee, with the
    /// (stream, "operator/index") channels that write to it — every instance of every operator
    /// producing a stream it reads — and the instances that are not running (a checkpoint waits).
    /// </summary>
    public CheckpointTopology CheckpointTopology()
    {
        var participants = new List<CheckpointParticipant>();
        var notRunning = new List<string>();
        var operators = new List<CheckpointedOperator>();
        var producers = _operators.Values
            .SelectMany(o => RoutingOperator.StreamsOf(o.Entry.Spec, o.Entry.Metadata).Outputs.Distinct(StringComparer.Ordinal).Select(s => (Stream: s, Operator: o)))
            .ToLookup(p => p.Stream, p => p.Operator, StringComparer.Ordinal);
        foreach (var op in _operators.Values.Where(Participates))
        {
            operators.Add(new CheckpointedOperator(op.Name, op.Instances.Count, op.Entry.Version));
            if (op.Replace is not null)
            {
                notRunning.Add($"{op.Name} (a replace is in progress)");
            }
            var inputs = RoutingOperator.StreamsOf(op.Entry.Spec, op.Entry.Metadata).Inputs
                .Select(i => i.Name).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)
                .SelectMany(stream => producers[stream].SelectMany(producer => Enumerable.Range(0, producer.Instances.Count)
                    .Select(index => new BarrierChannel { Stream = stream, Sender = $"{producer.Name}/{index}" })))
                .ToList();
            foreach (var slot in op.Instances)
            {
                if (slot.State == InstanceState.Running && _adoptionsPending == 0)
                {
                    participants.Add(new CheckpointParticipant(op.Name, slot.Index, slot.Incarnation, inputs));
                }
                else
                {
                    notRunning.Add($"{op.Name}/{slot.Index} ({Describe(slot.State)})");
                }
            }
        }
        return new CheckpointTopology(CanAct && !ShuttingDown && Loaded, participants, notRunning, operators);
    }

    /// <summary>
    /// The checkpoint a launch of an instance of <paramref name="op"/> restores from: the newest
    /// completed one, if the operator takes part, the checkpoint has it, and it is not older
    /// than the operator's deploy (a killed and redeployed operator starts empty) nor of a
    /// version before a replace that dropped its state (<see cref="OperatorEntry.StateSince"/>, kept in the store).
    /// </summary>
    private CheckpointRecord? RestoreFor(OperatorSlot op) =>
        Participates(op) && _latestCheckpoint is { } checkpoint && checkpoint.Id >= op.CheckpointFloor
        && checkpoint.Operators.Any(o => o.Name == op.Name && o.Version >= op.Entry.StateSince)
            ? checkpoint
            : null;

    /// <summary>
    /// Recovery: every instance of every operator with a guarantee that runs (or is starting)
    /// is stopped and replaced by a new one (new incarnation), launched once the old one has
    /// exited, restoring from the last completed checkpoint (none: empty, sources from the
    /// beginning). Nothing from the old run can then reach the new one. A failed instance
    /// (<paramref name="failed"/>, or any waiting for its back-off) keeps its slot and
    /// restarts after its back-off, restoring the same way. With <paramref name="resize"/>,
    /// that operator comes back with the new instance count (rescale with state). With
    /// <paramref name="replaced"/>, that operator restarts too, guarantee or not, every instance
    /// (failed ones included) as its current release (a replace by restart, or its roll back; its
    /// old instances' directories are forgotten).
    /// </summary>
    /// <remarks>Launches nothing itself: the caller launches the pending instances (now, or after applying the store).</remarks>
    private void RestartParticipants(string reason, (string Name, int Instances)? resize = null, string? replaced = null)
    {
        Restores++;
        var now = _time.GetUtcNow();
        LogRestoring(_logger, reason, _latestCheckpoint?.Id ?? 0);
        Emit(new RestoreStarted(reason, _latestCheckpoint?.Id ?? 0));
        foreach (var op in _operators.Values.Where(o => (Participates(o) || o.Name == replaced) && o.Replace is null))
        {
            var newRelease = op.Name == replaced;
            var count = resize is { } r && r.Name == op.Name ? r.Instances : op.Instances.Count;
            var old = op.Instances.ToList();
            op.Instances.Clear();
            for (var index = 0; index < count; index++)
            {
                if (index >= old.Count)
                {
                    op.Instances.Add(NewSlot(op.Name, index, op.Release));
                    continue;
                }
                var slot = old[index];
                if (!newRelease && slot.State is InstanceState.Failed or InstanceState.CrashLooping or InstanceState.Pending)
                {
                    op.Instances.Add(slot); // Its back-off (or the pending launch) starts it, restoring as every launch does.
                    continue;
                }
                if (InstanceLifecycle.HasProcess(slot.State))
                {
                    StopSlot(slot, forget: newRelease, discard: true);
                }
                else if (newRelease)
                {
                    StopSlot(slot, forget: true); // Failed or pending: no process, but its directory and timer go.
                }
                op.Instances.Add(new InstanceSlot(op.Name, index, now, slot.Backoff)
                {
                    Release = newRelease ? op.Release : slot.Release,
                    Restarts = slot.Restarts + 1,
                    LastError = slot.LastError,
                });
            }
            foreach (var gone in old.Skip(count))
            {
                StopSlot(gone, forget: true);
            }
            // Every instance is new: routing covers all of them, as at deploy.
            op.RoutedCount = null;
        }
        Emit(new PublishRouting());
    }

    /// <summary>An instance of an operator with a guarantee failed: abort the checkpoint it takes part in, and restore.</summary>
    private void RecoverFrom(OperatorSlot op, InstanceSlot slot, string error)
    {
        if (!Participates(op) || ShuttingDown)
        {
            return;
        }
        RestartParticipants($"{op.Name}/{slot.Index} failed: {error}");
        LaunchPending();
    }

    /// <summary>
    /// At start, after the store is applied: instances that were adopted kept their state in
    /// memory, ones launched anew restore from the checkpoint; a mix would join two points in
    /// time, so then every participant restarts from the checkpoint.
    /// </summary>
    public void RestoreAfterStart()
    {
        var slots = _operators.Values.Where(Participates).SelectMany(o => o.Instances).ToList();
        if (slots.Any(s => s.Adopted) && slots.Any(s => !s.Adopted))
        {
            RestartParticipants("the scheduler restarted and not every instance of the operators with a guarantee could be adopted");
            LaunchPending();
        }
    }

    /// <summary>
    /// Refuses a launch that is not the current one of its instance (nor a new instance of a
    /// replace in progress), as a registration is refused: a replaced executor gets no
    /// checkpoint commands.
    /// </summary>
    public void RequireCurrentLaunch(string operatorName, int index, string incarnation)
    {
        if (!Loaded || ShuttingDown)
        {
            throw new ReconcileException(ReconcileErrorKind.Unavailable,
                ShuttingDown ? "the scheduler is shutting down" : "the scheduler is starting; retry in a moment");
        }
        var op = Find(operatorName);
        if (op.Replace?.Instances.Exists(s => s.Index == index && s.Incarnation == incarnation) == true)
        {
            return;
        }
        CurrentSlot(op, index, incarnation);
    }

    /// <summary>Whether a scale of <paramref name="name"/> to <paramref name="instances"/> must take a checkpoint first (it keeps state).</summary>
    public bool ScaleNeedsCheckpoint(string name, int instances)
    {
        RequireActive();
        var op = Find(name);
        return Participates(op) && op.Entry.Spec.Instances != instances;
    }

    /// <summary>
    /// The scale write of an operator with a guarantee succeeded after checkpoint
    /// <paramref name="checkpoint"/> completed: every participant restarts from it, the scaled
    /// operator with its new count (each new instance restores its key groups from every old
    /// instance's manifest). Call before applying the store.
    /// </summary>
    public void ScaledWithState(StoreWrite write, CheckpointRecord checkpoint)
    {
        CheckpointCompleted(checkpoint);
        RestartParticipants($"'{write.Name}' is scaled to {write.Spec!.Instances} instances with its state (checkpoint {checkpoint.Id})",
            (write.Name, write.Spec.Instances));
    }

    /// <summary>
    /// Refuses (as <see cref="RefuseCycle"/> does) an operator with a stronger guarantee than an
    /// operator it reads from, or weaker than one that reads from it: a source that cannot
    /// rewind cannot give its readers more than it has.
    /// </summary>
    private void RefuseWeakerUpstream(OperatorSpec spec, OperatorMetadata? metadata, string when)
    {
        if (GuaranteeMessage(spec, metadata, when) is { } message)
        {
            throw new ReconcileException(ReconcileErrorKind.FailedPrecondition, message);
        }
    }

    private string? GuaranteeMessage(OperatorSpec spec, OperatorMetadata? metadata, string when)
    {
        var (inputs, outputs) = RoutingOperator.StreamsOf(spec, metadata);
        var reads = inputs.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var mine = Strength(spec.Delivery);
        foreach (var other in _operators.Values.Where(o => o.Name != spec.Name))
        {
            var (otherInputs, otherOutputs) = RoutingOperator.StreamsOf(other.Entry.Spec, other.Entry.Metadata);
            var theirs = Strength(other.Entry.Spec.Delivery);
            if (mine > theirs && otherOutputs.FirstOrDefault(reads.Contains) is { } stream)
            {
                return $"{when} '{spec.Name}' has delivery {Name(spec.Delivery)} but reads stream '{stream}' from '{other.Name}', which has " +
                       $"{Name(other.Entry.Spec.Delivery)}: an operator cannot give its readers a stronger guarantee than it has (docs/guarantees.md). " +
                       $"Deploy '{other.Name}' with \"delivery\": \"{Name(spec.Delivery)}\" (kill it and deploy it again), or give '{spec.Name}' \"delivery\": \"{Name(other.Entry.Spec.Delivery)}\"";
            }
            if (theirs > mine && otherInputs.Select(i => i.Name).FirstOrDefault(outputs.Contains) is { } written)
            {
                return $"{when} '{spec.Name}' has delivery {Name(spec.Delivery)} but '{other.Name}', which has {Name(other.Entry.Spec.Delivery)}, " +
                       $"reads stream '{written}' from it: an operator cannot give its readers a stronger guarantee than it has (docs/guarantees.md). " +
                       $"Give '{spec.Name}' \"delivery\": \"{Name(other.Entry.Spec.Delivery)}\", or kill '{other.Name}' and deploy it with a weaker one";
            }
        }
        return null;

        static int Strength(DeliveryGuarantee delivery) => delivery switch
        {
            DeliveryGuarantee.DeliveryExactlyOnce => 2,
            DeliveryGuarantee.DeliveryAtLeastOnce => 1,
            _ => 0,
        };

        static string Name(DeliveryGuarantee delivery) => OperatorSpecValidator.DeliveryName(delivery);
    }
}
