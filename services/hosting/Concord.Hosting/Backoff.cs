namespace Concord.Hosting;

/// <summary>How a <see cref="Backoff"/> spreads its delays so that many retrying clients do not retry in lockstep.</summary>
public enum BackoffJitter
{
    /// <summary>Exactly the exponential ceiling: initial × 2^(n-1), capped at max. Deterministic.</summary>
    None,

    /// <summary>Uniform between the initial delay and the exponential ceiling ("full jitter", never below the initial delay).</summary>
    Full,

    /// <summary>Uniform between the initial delay and 3 × the previous delay, capped at max ("decorrelated jitter").</summary>
    Decorrelated,
}

/// <summary>
/// Exponential back-off for retry loops: <see cref="Next"/> gives the delay before the next
/// attempt, <see cref="Reset"/> starts over after a success, <see cref="DelayAsync"/> waits on
/// a <see cref="TimeProvider"/> (so tests drive it with a fake clock). Not thread-safe: one
/// retry loop owns an instance. A seeded <see cref="Random"/> makes the jittered sequence
/// repeatable in tests.
/// </summary>
public sealed class Backoff
{
    private readonly Random _random;
    private TimeSpan _previous;

    public Backoff(TimeSpan initial, TimeSpan max, BackoffJitter jitter, Random? random = null)
    {
        if (initial < TimeSpan.FromMilliseconds(HostingLimits.BackoffDelayMinMs) || max > TimeSpan.FromMilliseconds(HostingLimits.BackoffDelayMaxMs) || max < initial)
        {
            throw new ArgumentOutOfRangeException(nameof(initial),
                $"a back-off needs {HostingLimits.BackoffDelayMinMs} ms <= initial ({initial.TotalMilliseconds} ms) <= max ({max.TotalMilliseconds} ms) <= {HostingLimits.BackoffDelayMaxMs} ms (HostingLimits); check the limits the caller passes and their units");
        }
        Initial = initial;
        Max = max;
        Jitter = jitter;
        _random = random ?? Random.Shared;
    }

    /// <summary>A back-off from limits given in ms, the unit of every *BackoffInitialMs / *BackoffMsMax constant.</summary>
    public static Backoff FromMs(int initialMs, int maxMs, BackoffJitter jitter, Random? random = null) =>
        new(TimeSpan.FromMilliseconds(initialMs), TimeSpan.FromMilliseconds(maxMs), jitter, random);

    public TimeSpan Initial { get; }

    public TimeSpan Max { get; }

    public BackoffJitter Jitter { get; }

    /// <summary>Delays handed out since the last <see cref="Reset"/> (failed attempts in a row).</summary>
    public int Attempts { get; private set; }

    /// <summary>The delay before the next attempt; counts one more failed attempt.</summary>
    public TimeSpan Next()
    {
        Attempts++;
        var ceiling = Ceiling(Attempts, Initial, Max);
        var delay = Jitter switch
        {
            BackoffJitter.None => ceiling,
            BackoffJitter.Full => Between(Initial, ceiling),
            BackoffJitter.Decorrelated => Between(Initial, Min(Max, (_previous == TimeSpan.Zero ? Initial : _previous) * 3)),
            _ => throw new InvalidOperationException($"unknown jitter {Jitter}"),
        };
        _previous = delay;
        return delay;
    }

    /// <summary>Waits <see cref="Next"/> on <paramref name="time"/>; returns the delay waited.</summary>
    public async Task<TimeSpan> DelayAsync(TimeProvider time, CancellationToken cancellationToken)
    {
        var delay = Next();
        await Task.Delay(delay, time, cancellationToken).ConfigureAwait(false);
        return delay;
    }

    /// <summary>After a success: the next failure waits the initial delay again.</summary>
    public void Reset()
    {
        Attempts = 0;
        _previous = TimeSpan.Zero;
    }

    /// <summary>
    /// The exponential ceiling after the <paramref name="attempt"/>-th failure (1-based):
    /// <paramref name="initial"/> × 2^(attempt-1), at most <paramref name="max"/>. What
    /// <see cref="BackoffJitter.None"/> waits; usable alone by a policy that counts failures
    /// itself (the scheduler's restart back-off counts them in a time window).
    /// </summary>
    public static TimeSpan Ceiling(int attempt, TimeSpan initial, TimeSpan max)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);
        var doublings = Math.Min(attempt - 1, HostingLimits.BackoffDoublingsMax);
        // Compared before shifting, so the shift cannot overflow.
        return initial.Ticks > max.Ticks >> doublings ? max : TimeSpan.FromTicks(initial.Ticks << doublings);
    }

    private TimeSpan Between(TimeSpan low, TimeSpan high) =>
        high <= low ? low : TimeSpan.FromTicks(low.Ticks + (long)(_random.NextDouble() * (high.Ticks - low.Ticks)));

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
