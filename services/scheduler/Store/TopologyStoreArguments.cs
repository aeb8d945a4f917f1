using Concord.Contracts.Types.V1;

namespace Concord.Scheduler.Store;

/// <summary>The argument checks every <see cref="ITopologyStore"/> makes before a write, in one place.</summary>
internal static class TopologyStoreArguments
{
    /// <summary>An entry needs a name, and a spec written under it must carry the same name.</summary>
    public static void ThrowIfInvalid(string name, OperatorSpec? spec)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (spec is not null && spec.Name != name)
        {
            throw new ArgumentException($"spec name '{spec.Name}' differs from entry name '{name}'", nameof(spec));
        }
    }
}
