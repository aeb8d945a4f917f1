namespace Concord.Executor.State.Internal;

/// <summary>Argument checks and bound errors both backends share, so their messages agree.</summary>
internal static class StateBackendChecks
{
    public static void Validate(int keyGroupCount, (int Start, int End) range, long bytesMax)
    {
        if (keyGroupCount < 1 || keyGroupCount > ExecutorLimits.StateKeyGroupsMax)
        {
            throw new ArgumentOutOfRangeException(nameof(keyGroupCount), keyGroupCount, $"key group count must be 1..{ExecutorLimits.StateKeyGroupsMax}");
        }
        if (range.Start < 0 || range.End > keyGroupCount || range.Start > range.End)
        {
            throw new ArgumentOutOfRangeException(nameof(range), range, $"key group range must lie in [0, {keyGroupCount})");
        }
        if (bytesMax < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(bytesMax), bytesMax, "the state bound must be positive");
        }
    }

    public static void CheckValue(int valueLength)
    {
        if (valueLength > ExecutorLimits.StateValueBytesMax)
        {
            throw new StateLimitException(
                $"state value of {valueLength} bytes exceeds ExecutorLimits.StateValueBytesMax ({ExecutorLimits.StateValueBytesMax} bytes); store smaller values (split them over several keys or names)");
        }
    }

    public static StateLimitException MemoryBoundReached(long wouldBe, long bytesMax) => new(
        $"keyed state would hold {wouldBe} bytes, over the memory backend's bound of {bytesMax} bytes (--state-memory-mb {Mib(bytesMax)}); "
        + "raise --state-memory-mb, or use the rocksdb state backend for state larger than memory");

    private static long Mib(long bytes) => bytes / (1024 * 1024);
}
