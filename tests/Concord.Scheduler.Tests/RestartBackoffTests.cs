using Concord.Scheduler.Reconcile;
using Microsoft.Extensions.Time.Testing;

namespace Concord.Scheduler.Tests;

public sealed class RestartBackoffTests
{
    [Fact]
    public void Back_off_doubles_from_250_ms_and_the_fifth_failure_is_a_crash_loop_at_10_s()
    {
        var time = new FakeTimeProvider();
        var backoff = new RestartBackoff();
        var delays = new List<(long Ms, bool CrashLooping)>();
        for (var i = 0; i < 7; i++)
        {
            var decision = backoff.RecordFailure(time.GetUtcNow());
            delays.Add(((long)decision.Delay.TotalMilliseconds, decision.CrashLooping));
            time.Advance(decision.Delay);
        }

        Assert.Equal(
            [(250, false), (500, false), (1000, false), (2000, false), (10_000, true), (10_000, true), (10_000, true)],
            delays);
    }

    [Fact]
    public void Failures_older_than_the_window_are_forgotten()
    {
        var time = new FakeTimeProvider();
        var backoff = new RestartBackoff();
        for (var i = 0; i < SchedulerLimits.CrashLoopFailuresMin; i++)
        {
            backoff.RecordFailure(time.GetUtcNow());
        }
        Assert.Equal(SchedulerLimits.CrashLoopFailuresMin, backoff.FailuresInWindow);

        time.Advance(TimeSpan.FromMilliseconds(SchedulerLimits.CrashLoopWindowMs + 1));
        var decision = backoff.RecordFailure(time.GetUtcNow());

        Assert.False(decision.CrashLooping);
        Assert.Equal(1, decision.FailuresInWindow);
        Assert.Equal(TimeSpan.FromMilliseconds(SchedulerLimits.RestartBackoffInitialMs), decision.Delay);
    }

    [Fact]
    public void Back_off_never_exceeds_the_maximum_however_many_failures()
    {
        Assert.Equal(TimeSpan.FromMilliseconds(SchedulerLimits.RestartBackoffMsMax), RestartBackoff.DelayFor(1_000));
        Assert.Equal(TimeSpan.FromMilliseconds(SchedulerLimits.RestartBackoffMsMax), RestartBackoff.DelayFor(7));
        Assert.Equal(TimeSpan.FromMilliseconds(8_000), RestartBackoff.DelayFor(6));
    }

    [Fact]
    public void Failure_history_is_bounded()
    {
        var time = new FakeTimeProvider();
        var backoff = new RestartBackoff();
        for (var i = 0; i < RestartBackoff.FailureHistoryEntriesMax * 3; i++)
        {
            backoff.RecordFailure(time.GetUtcNow());
            time.Advance(TimeSpan.FromMilliseconds(1));
        }
        Assert.Equal(RestartBackoff.FailureHistoryEntriesMax, backoff.FailuresInWindow);
    }
}
