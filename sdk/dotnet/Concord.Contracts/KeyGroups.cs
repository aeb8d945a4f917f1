namespace Concord.Contracts;

/// <summary>
/// Maps keys to key groups and key groups to instances. The hash is part of the contract:
/// changing it moves every key, so it is fixed here and tested against known values.
/// </summary>
public static class KeyGroups
{
    /// <summary>Key group of a key: FNV-1a (32-bit) of the key bytes, modulo the group count.</summary>
    public static int Of(ReadOnlySpan<byte> key, int keyGroupCount = ProtocolLimits.KeyGroupCount)
    {
        const uint offsetBasis = 2166136261;
        const uint prime = 16777619;
        var hash = offsetBasis;
        foreach (var b in key)
        {
            hash ^= b;
            hash *= prime;
        }
        return (int)(hash % (uint)keyGroupCount);
    }

    /// <summary>
    /// The contiguous key-group range [start, end) that instance <paramref name="index"/> of
    /// <paramref name="instances"/> owns. Ranges differ in size by at most one and cover every
    /// group exactly once.
    /// </summary>
    public static (int Start, int End) RangeOf(int index, int instances, int keyGroupCount = ProtocolLimits.KeyGroupCount)
    {
        if (instances < 1 || instances > keyGroupCount)
        {
            throw new ArgumentOutOfRangeException(nameof(instances), instances, $"instances must be 1..{keyGroupCount}");
        }
        if (index < 0 || index >= instances)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"index must be 0..{instances - 1}");
        }
        var start = (int)((long)index * keyGroupCount / instances);
        var end = (int)((long)(index + 1) * keyGroupCount / instances);
        return (start, end);
    }
}
