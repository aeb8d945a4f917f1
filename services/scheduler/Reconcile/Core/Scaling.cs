using Concord.Scheduler.Reconcile.Internal;
using static Concord.Scheduler.Reconcile.ReconcileLog;

namespace Concord.Scheduler.Reconcile.Core;

/// <summary>
/// Scaling: the store write of a new instance count, and the instances that follow it. Scale
/// up is make-before-break (routing keeps the old count until the added instances run, see
/// <see cref="OperatorSlot.AdvanceRouting"/>); scale down moves routing away, then drains.
/// </summary>
internal sealed partial class ReconcileCore
{
    /// <summary>The write of a new instance count; null when it is already that. <paramref name="instances"/> already range-checked.</summary>
    public StoreWrite? PlanScale(string name, int instances)
    {
        RequireActive();
        var op = Find(name);
        ThrowIfReplacing(op, "scale");
        if (op.Entry.Spec.Instances == instances)
        {
            return null;
        }
        var spec = op.Entry.Spec.Clone();
        spec.Instances = instances;
        return new StoreWrite(name, op.Entry.Version, spec, op.Entry.Metadata);
    }

    /// <summary>The write of <paramref name="write"/> succeeded; call before applying it (the old count is still known).</summary>
    public void Scaled(StoreWrite write) =>
        LogScaled(_logger, write.Name, _operators.TryGetValue(write.Name, out var op) ? op.Entry.Spec.Instances : 0, write.Spec!.Instances);

    /// <summary>Adds (pending, or adopted) or removes (drained after routing) instances to reach <paramref name="desired"/>.</summary>
    private void ApplyInstanceCount(OperatorSlot op, int desired)
    {
        if (op.Instances.Count > 0 && desired > op.Instances.Count && op.RoutedCount is null)
        {
            // Scale up of a running operator: keep routing by the current instances until the new ones run.
            op.RoutedCount = op.Instances.Count;
        }
        while (op.Instances.Count < desired)
        {
            var slot = NewSlot(op.Name, op.Instances.Count, op.Release);
            op.Instances.Add(slot);
            if (_adopted.Remove((op.Name, slot.Index), out var adopted))
            {
                Adopt(op, slot, adopted);
            }
        }
        while (op.Instances.Count > desired)
        {
            // Scale down: routing moves away first, then the instance drains and stops.
            StopSlot(op.Instances[^1], afterRouting: true, forget: true);
            op.Instances.RemoveAt(op.Instances.Count - 1);
        }
    }
}
