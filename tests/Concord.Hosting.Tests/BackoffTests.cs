using Microsoft.Extensions.Time.Testing;

namespace Concord.Hosting.Tests;

public sealed class BackoffTests
{
    private static readonly TimeSpan Initial = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan Max = TimeSpan.FromMilliseconds(5_000);

    [Fact]
    public void Without_jitter_the_delay_doubles_from_the_initial_delay_up_to_the_max()
    {
        var backoff = new Backoff(Initial, Max, BackoffJitter.None);

        var delays = Enumerable.Range(0, 8).Select(_ => backoff.Next().TotalMilliseconds);

        Assert.Equal([100.0, 200, 400, 800, 1_600, 3_200, 5_000, 5_000], delays);
        Assert.Equal(8, backoff.Attempts);
    }

    [Fact]
    public void Reset_starts_again_at_the_initial_delay()
    {
        var backoff = new Backoff(Initial, Max, BackoffJitter.None);
        backoff.Next();
        backoff.Next();

        backoff.Reset();

        Assert.Equal(0, backoff.Attempts);
        Assert.Equal(Initial, backoff.Next());
    }

    [Theory]
    [InlineData(BackoffJitter.Full)]
    [InlineData(BackoffJitter.Decorrelated)]
    public void Jittered_delays_stay_between_the_initial_delay_and_the_max(BackoffJitter jitter)
    {
        var backoff = new Backoff(Initial, Max, jitter, new Random(7));

        var delays = Enumerable.Range(0, 1_000).Select(_ => backoff.Next()).ToList();

        Assert.All(delays, d => Assert.InRange(d, Initial, Max));
        // Jitter spreads them: not all the same, and not stuck at a bound.
        Assert.True(delays.Distinct().Count() > 100, $"only {delays.Distinct().Count()} distinct delays");
    }

    [Fact]
    public void Full_jitter_stays_under_the_exponential_ceiling_of_each_attempt()
    {
        var backoff = new Backoff(Initial, Max, BackoffJitter.Full, new Random(11));

        for (var attempt = 1; attempt <= 10; attempt++)
        {
            Assert.InRange(backoff.Next(), Initial, Backoff.Ceiling(attempt, Initial, Max));
        }
    }

    [Fact]
    public void Decorrelated_jitter_grows_at_most_threefold_per_attempt()
    {
        var backoff = new Backoff(Initial, Max, BackoffJitter.Decorrelated, new Random(3));
        var previous = Initial;

        for (var attempt = 1; attempt <= 50; attempt++)
        {
            var delay = backoff.Next();
            Assert.InRange(delay, Initial, previous * 3);
            previous = delay;
        }
    }

    [Theory]
    [InlineData(BackoffJitter.Full)]
    [InlineData(BackoffJitter.Decorrelated)]
    public void A_seeded_random_gives_the_same_sequence(BackoffJitter jitter)
    {
        var first = new Backoff(Initial, Max, jitter, new Random(42));
        var second = new Backoff(Initial, Max, jitter, new Random(42));

        Assert.Equal(Enumerable.Range(0, 20).Select(_ => first.Next()), Enumerable.Range(0, 20).Select(_ => second.Next()));
    }

    [Theory]
    [InlineData(1, 2_000)]
    [InlineData(2, 4_000)]
    [InlineData(5, 32_000)]
    [InlineData(6, 60_000)]
    [InlineData(1_000, 60_000)]
    [InlineData(int.MaxValue, 60_000)]
    public void The_ceiling_of_the_nth_attempt_is_initial_times_two_to_the_n_minus_one_capped(int attempt, int expectedMs)
    {
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), Backoff.Ceiling(attempt, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(60)));
    }

    [Fact]
    public void The_ceiling_expresses_the_schedulers_restart_policy_of_250_ms_doubling_to_10_s()
    {
        // SchedulerLimits.RestartBackoffInitialMs / RestartBackoffMsMax and RestartBackoff.DelayFor's sequence.
        var delays = Enumerable.Range(1, 8).Select(n => Backoff.Ceiling(n, TimeSpan.FromMilliseconds(250), TimeSpan.FromMilliseconds(10_000)).TotalMilliseconds);

        Assert.Equal([250.0, 500, 1_000, 2_000, 4_000, 8_000, 10_000, 10_000], delays);
        Assert.Throws<ArgumentOutOfRangeException>(() => Backoff.Ceiling(0, TimeSpan.FromMilliseconds(250), TimeSpan.FromMilliseconds(10_000)));
    }

    [Fact]
    public void A_large_initial_delay_does_not_overflow_the_ceiling()
    {
        var hour = TimeSpan.FromMilliseconds(HostingLimits.BackoffDelayMaxMs);

        Assert.Equal(hour, Backoff.Ceiling(40, hour, hour));
    }

    [Fact]
    public async Task DelayAsync_waits_on_the_given_clock()
    {
        var time = new FakeTimeProvider();
        var backoff = new Backoff(Initial, Max, BackoffJitter.None);

        var wait = backoff.DelayAsync(time, CancellationToken.None);
        time.Advance(Initial - TimeSpan.FromMilliseconds(1));
        Assert.False(wait.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(1));

        Assert.Equal(Initial, await wait.WaitAsync(TimeSpan.FromSeconds(20)));
    }

    [Theory]
    [InlineData(0, 100)]
    [InlineData(200, 100)]
    [InlineData(100, 3_600_001)]
    public void Limits_out_of_range_are_refused_naming_the_bounds(int initialMs, int maxMs)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Backoff.FromMs(initialMs, maxMs, BackoffJitter.Full));

        Assert.Contains("HostingLimits", e.Message);
    }
}
