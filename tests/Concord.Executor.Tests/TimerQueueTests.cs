using Concord.Contracts.Operator.V1;
using Concord.Executor.Timers;

namespace Concord.Executor.Tests;

public class TimerQueueTests
{
    [Fact]
    public void Due_timers_fire_in_time_order_then_key_order()
    {
        var timers = new TimerQueue();
        timers.Set("c", 30);
        timers.Set("b", 10);
        timers.Set("a", 10);
        timers.Set("d", 20);
        var fired = new List<TimerFired>();
        timers.TakeDue(30, fired);
        Assert.Equal(["a", "b", "d", "c"], fired.Select(f => f.Key));
        Assert.Equal([10L, 10, 20, 30], fired.Select(f => f.TimeUnixMs));
        Assert.Equal(0, timers.Count);
    }

    [Fact]
    public void Timers_not_yet_due_stay_pending()
    {
        var timers = new TimerQueue();
        timers.Set("early", 5);
        timers.Set("late", 50);
        var fired = new List<TimerFired>();
        Assert.Equal(1, timers.TakeDue(10, fired));
        Assert.Equal("early", Assert.Single(fired).Key);
        Assert.Equal(50, timers.NextDueMs);
        Assert.False(timers.HasDue(49));
        Assert.True(timers.HasDue(50));
    }

    [Fact]
    public void Setting_a_key_again_replaces_its_time_and_it_fires_once()
    {
        var timers = new TimerQueue();
        timers.Set("k", 10);
        timers.Set("k", 100);
        var fired = new List<TimerFired>();
        Assert.Equal(0, timers.TakeDue(50, fired));
        Assert.Equal(100, timers.NextDueMs);
        timers.TakeDue(100, fired);
        var f = Assert.Single(fired);
        Assert.Equal(100, f.TimeUnixMs);
        Assert.Null(timers.NextDueMs);
    }

    [Fact]
    public void Replacing_with_an_earlier_time_fires_at_the_earlier_time()
    {
        var timers = new TimerQueue();
        timers.Set("k", 100);
        timers.Set("k", 10);
        var fired = new List<TimerFired>();
        timers.TakeDue(10, fired);
        Assert.Equal(10, Assert.Single(fired).TimeUnixMs);
        Assert.Equal(0, timers.TakeDue(1_000, fired));
    }

    [Fact]
    public void Many_replacements_keep_one_timer_per_key()
    {
        var timers = new TimerQueue();
        for (var i = 0; i < 10_000; i++)
        {
            timers.Set($"k{i % 10}", i);
        }
        Assert.Equal(10, timers.Count);
        var fired = new List<TimerFired>();
        timers.TakeDue(long.MaxValue, fired);
        Assert.Equal(10, fired.Count);
        Assert.Equal(9_990, fired[0].TimeUnixMs);
    }

    [Fact]
    public void Too_many_pending_timers_is_an_operator_error_naming_the_limit()
    {
        var timers = new TimerQueue(pendingMax: 3);
        timers.Set("a", 1);
        timers.Set("b", 1);
        timers.Set("c", 1);
        timers.Set("a", 2); // replacing is fine
        var e = Assert.Throws<OperatorProtocolException>(() => timers.Set("d", 1));
        Assert.Contains("TimersPendingMax", e.Message);
    }
}
