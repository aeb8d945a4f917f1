namespace Concord.Executor.Builtins.Internal;

/// <summary>
/// A built-in source's read rate (option <c>rate</c>, records/s per instance; 0 = as fast as
/// credit allows), for the generator, the file-source and the kafka-source alike: a token
/// bucket refilled by the time between the source's timer turns and holding at most
/// <see cref="ExecutorLimits.SourceRateBurstMs"/> of the rate, so a source released after a
/// stall (backpressure, a restore) catches up smoothly instead of flooding. Used on the
/// source's pump thread only.
/// </summary>
internal sealed class RateBudget
{
    private readonly double _perSecond;
    // The most the bucket holds: SourceRateBurstMs of the rate, at least one record.
    private readonly double _burst;
    private double _allowance;
    private long _lastTurnMs;

    /// <param name="perSecond">Records per second; 0: unbounded.</param>
    public RateBudget(double perSecond)
    {
        _perSecond = perSecond;
        _burst = Math.Max(1, perSecond * ExecutorLimits.SourceRateBurstMs / 1000.0);
    }

    /// <summary>Whether the source runs as fast as credit allows.</summary>
    public bool Unbounded => _perSecond == 0;

    /// <summary>Starts the clock: the first turn's allowance is what accrued since <paramref name="nowMs"/>.</summary>
    public void Start(long nowMs) => _lastTurnMs = nowMs;

    /// <summary>Refills up to <paramref name="nowMs"/>; how many records this turn may emit, at most <paramref name="max"/>.</summary>
    public long Allow(long nowMs, long max)
    {
        var elapsedMs = nowMs - _lastTurnMs;
        _lastTurnMs = nowMs;
        if (Unbounded)
        {
            return max;
        }
        _allowance = Math.Min(_allowance + (_perSecond * Math.Max(0, elapsedMs) / 1000.0), _burst);
        return Math.Min((long)_allowance, max);
    }

    /// <summary>The records this turn emitted.</summary>
    public void Spend(long records)
    {
        if (!Unbounded)
        {
            _allowance -= records;
        }
    }

    /// <summary>When the source's next turn is due: now while a record is allowed, else one tick later.</summary>
    public long NextTurnMs(long nowMs) => Unbounded || _allowance >= 1 ? nowMs : nowMs + ExecutorLimits.SourceRateTickMs;
}
