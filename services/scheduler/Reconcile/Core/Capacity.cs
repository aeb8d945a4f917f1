using Concord.Contracts.Types.V1;

namespace Concord.Scheduler.Reconcile.Core;

/// <summary>Capacity: what the topology would be after a change, for the runtime's resource check.</summary>
internal sealed partial class ReconcileCore
{
    /// <summary>The stored specs with <paramref name="changed"/> in place of its operator's (or added), ordered by name.</summary>
    public IReadOnlyList<OperatorSpec> DesiredWith(OperatorSpec changed) =>
        _operators.Values.Select(o => o.Entry.Spec).Where(s => s.Name != changed.Name).Append(changed)
            .OrderBy(s => s.Name, StringComparer.Ordinal).ToList();

    /// <summary>Whether <paramref name="changed"/> asks for more instances than are stored (a scale down always fits).</summary>
    public bool Grows(OperatorSpec changed) =>
        !_operators.TryGetValue(changed.Name, out var op) || changed.Instances > op.Entry.Spec.Instances;
}
