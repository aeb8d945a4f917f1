using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Reconcile.Internal;
using static Concord.Scheduler.Reconcile.ReconcileLog;

namespace Concord.Scheduler.Reconcile.Core;

/// <summary>What the effects layer must do to finish a registration.</summary>
internal abstract record RegisterOutcome
{
    /// <summary>Nothing more: the instance runs (or already ran: a retried call).</summary>
    public static readonly RegisterOutcome Done = new RegisterDone();
}

internal sealed record RegisterDone : RegisterOutcome;

/// <summary>The operator's first registration: write its metadata, apply the store, then register again.</summary>
internal sealed record RecordMetadata(StoreWrite Write, int Inputs, int Outputs) : RegisterOutcome;

/// <summary>Every new instance of a replace runs: write the new spec, then <see cref="ReconcileCore.Switch"/>.</summary>
internal sealed record SwitchReplace(OperatorSlot Operator, ReplaceSlot Replace, StoreWrite Write) : RegisterOutcome;

/// <summary>Registering: an executor's session is open (starting → running), or it reports why it will exit.</summary>
internal sealed partial class ReconcileCore
{
    /// <summary>
    /// Records the metadata (first instance) or checks it against what was recorded (later
    /// ones), and marks the instance running.
    /// </summary>
    public RegisterOutcome Register(RegisterExecutorRequest request)
    {
        if (!Loaded || ShuttingDown)
        {
            // Unavailable, which executors retry: one re-registering while the scheduler stops
            // gets its SIGTERM and drains, rather than failing on "not deployed".
            throw new ReconcileException(ReconcileErrorKind.Unavailable,
                ShuttingDown ? "the scheduler is shutting down" : "the scheduler is starting; retry in a moment");
        }
        var op = Find(request.OperatorName);
        if (op.Replace is { } replace
            && replace.Instances.Find(s => s.Index == request.InstanceIndex && s.Incarnation == request.Incarnation) is { } incoming)
        {
            return RegisterReplacement(op, replace, incoming, request);
        }
        var slot = CurrentSlot(op, request.InstanceIndex, request.Incarnation);
        if (slot.State == InstanceState.Running)
        {
            RequireSameCaller(op.Name, slot, request);
            return RegisterOutcome.Done; // A retried call after a lost response: nothing changes.
        }
        if (slot.State != InstanceState.Starting)
        {
            throw new ReconcileException(ReconcileErrorKind.FailedPrecondition,
                $"instance {op.Name}/{slot.Index} is {Describe(slot.State)}, not starting; the executor should exit");
        }
        var reported = OperatorSlot.Canonical(request.Metadata ?? new OperatorMetadata { Name = op.Name });
        if (op.Entry.Metadata is null)
        {
            // The first registration records the streams for routing and for every later instance;
            // a user operator's streams are known only now, so this is where its loop shows.
            if ((CycleMessage(op.Entry.Spec, reported, "operator") ?? GuaranteeMessage(op.Entry.Spec, reported, "operator")) is { } refused)
            {
                slot.PendingError = refused;
                throw new ReconcileException(ReconcileErrorKind.FailedPrecondition, refused);
            }
            return new RecordMetadata(new StoreWrite(op.Name, op.Entry.Version, op.Entry.Spec, reported), reported.Inputs.Count, reported.Outputs.Count);
        }
        if (!reported.Equals(op.Entry.Metadata))
        {
            var message = $"instance {op.Name}/{slot.Index} reported metadata {reported} but the operator's " +
                          $"instances registered with {op.Entry.Metadata}; every instance must report the same streams: " +
                          "make metadata() deterministic, or kill the operator and deploy it again";
            slot.PendingError = message;
            throw new ReconcileException(ReconcileErrorKind.FailedPrecondition, message);
        }
        MarkRunning(slot, request);
        LogRunning(_logger, op.Name, slot.Index, slot.Incarnation, request.DataAddress);
        CompleteRestartIfRunning(op);
        Emit(new PublishRouting());
        return RegisterOutcome.Done;
    }

    /// <summary>
    /// A launch registers once: a repeat (a retry, a reconnect) must come from the same
    /// executor, i.e. name the same data-plane and metrics addresses and operator pid. Any
    /// other caller with that launch's secret is refused rather than allowed to take over its
    /// routing (docs/security.md).
    /// </summary>
    private static void RequireSameCaller(string operatorName, InstanceSlot slot, RegisterExecutorRequest request)
    {
        if (slot.DataAddress != request.DataAddress || slot.MetricsAddress != request.MetricsAddress || slot.OperatorPid != request.OperatorPid)
        {
            throw new ReconcileException(ReconcileErrorKind.PermissionDenied,
                $"instance {operatorName}/{slot.Index} is already registered by another executor of this launch; a launch registers once, so this caller should exit");
        }
    }

    /// <summary>The metadata write of <paramref name="recorded"/> succeeded (and the store was applied).</summary>
    public void MetadataRecorded(RecordMetadata recorded) =>
        LogMetadataRecorded(_logger, recorded.Write.Name, recorded.Inputs, recorded.Outputs);

    /// <summary>Remembers why an executor is about to exit, so `list` shows it.</summary>
    public void ReportFailure(ReportFailureRequest request)
    {
        var slot = _operators.TryGetValue(request.OperatorName, out var op)
            ? op.Instances.Concat(op.Replace?.Instances ?? [])
                .FirstOrDefault(s => s.Index == request.InstanceIndex && s.Incarnation == request.Incarnation)
            : null;
        if (slot is not null)
        {
            var message = Truncate(request.Message);
            slot.PendingError = message;
            slot.PendingErrorFromOutside = request.OperatorSignal != 0;
            LogFailureReported(_logger, op!.Name, request.InstanceIndex, message);
            if (Participates(op) && op.Instances.Contains(slot))
            {
                // The exit that follows restores; the checkpoint it takes part in can end now.
                Emit(new CheckpointParticipantFailed(op.Name, slot.Index, message));
            }
        }
        else
        {
            LogStaleFailureReport(_logger, request.OperatorName, request.InstanceIndex, request.Incarnation);
        }
    }
}
