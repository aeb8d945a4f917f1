using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;

namespace Concord.Executor.Routing.Internal;

/// <summary>Picks the instance slot(s) of one reader for a record key.</summary>
internal abstract class Partitioner
{
    /// <summary>Slot of the one instance to send to, or -1 to send to every instance (broadcast).</summary>
    public abstract int Select(ReadOnlySpan<byte> key);
}

/// <summary>
/// group_by: key → key group (FNV-1a mod count, <see cref="KeyGroups.Of"/>) → the instance
/// whose [key_group_start, key_group_end) holds it, through a lookup table built once.
/// </summary>
internal sealed class GroupByPartitioner : Partitioner
{
    private readonly int[] _slotOfGroup;
    private readonly int _keyGroupCount;

    public GroupByPartitioner(IReadOnlyList<ReaderInstance> instances, int keyGroupCount, string description)
    {
        _keyGroupCount = keyGroupCount;
        _slotOfGroup = new int[keyGroupCount];
        Array.Fill(_slotOfGroup, -1);
        for (var slot = 0; slot < instances.Count; slot++)
        {
            var instance = instances[slot];
            if (instance.KeyGroupStart < 0 || instance.KeyGroupEnd > keyGroupCount || instance.KeyGroupStart > instance.KeyGroupEnd)
            {
                throw new RoutingTableException(
                    $"{description}: instance {instance.Index} has key groups [{instance.KeyGroupStart}, {instance.KeyGroupEnd}) outside [0, {keyGroupCount})");
            }
            for (var group = instance.KeyGroupStart; group < instance.KeyGroupEnd; group++)
            {
                if (_slotOfGroup[group] != -1)
                {
                    throw new RoutingTableException($"{description}: key group {group} is owned by two instances");
                }
                _slotOfGroup[group] = slot;
            }
        }
        var orphan = Array.IndexOf(_slotOfGroup, -1);
        if (orphan >= 0)
        {
            throw new RoutingTableException($"{description}: key group {orphan} has no instance; every group must be owned exactly once");
        }
    }

    public override int Select(ReadOnlySpan<byte> key) => _slotOfGroup[KeyGroups.Of(key, _keyGroupCount)];
}

/// <summary>shuffle: round-robin over the reader's instances, per sender.</summary>
internal sealed class ShufflePartitioner(int instances) : Partitioner
{
    private int _next = -1;

    public override int Select(ReadOnlySpan<byte> key)
    {
        // The router is single-threaded; Interlocked keeps it right if that ever changes.
        var n = Interlocked.Increment(ref _next);
        return (int)((uint)n % (uint)instances);
    }
}

/// <summary>broadcast: every instance.</summary>
internal sealed class BroadcastPartitioner : Partitioner
{
    public static readonly BroadcastPartitioner Instance = new();

    public override int Select(ReadOnlySpan<byte> key) => -1;
}
