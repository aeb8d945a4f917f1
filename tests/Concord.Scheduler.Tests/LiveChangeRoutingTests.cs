using Concord.Contracts.Scheduler.V1;
using Concord.Scheduler.Lifecycle;
using Concord.Scheduler.Reconcile;
using Microsoft.Extensions.Time.Testing;

namespace Concord.Scheduler.Tests;

/// <summary>
/// The pieces live changes rest on: the routing hub knowing which table each watcher has
/// taken (scale down and replace stop instances only after that), and the lifecycle paths of
/// replace and adoption being in the one transition table.
/// </summary>
public sealed class LiveChangeRoutingTests
{
    private static readonly TimeSpan TestTimeout = TestTimeouts.Step;

    private static RoutingTable Table(long version) => new() { Version = version, KeyGroupCount = 128 };

    [Fact]
    public async Task A_table_counts_as_delivered_only_once_every_watcher_has_taken_it()
    {
        var hub = new RoutingHub();
        hub.Publish(Table(10));
        using var cancel = new CancellationTokenSource(TestTimeout);
        await using var watcher = hub.WatchAsync(cancel.Token).GetAsyncEnumerator(cancel.Token);
        Assert.True(await watcher.MoveNextAsync().AsTask().WaitAsync(TestTimeout));
        Assert.Equal(10, watcher.Current.Version);

        hub.Publish(Table(11));
        var delivered = hub.WaitDeliveredAsync(11, TestTimeout, TimeProvider.System, cancel.Token);
        Assert.False(delivered.IsCompleted, "the watcher has not taken table 11 yet");
        Assert.True(await watcher.MoveNextAsync().AsTask().WaitAsync(TestTimeout));
        Assert.Equal(11, watcher.Current.Version);
        Assert.False(delivered.IsCompleted, "taken off the queue but not yet written: the watcher has not come back");
        // Coming back for the next table means table 11 was written to the stream.
        var next = watcher.MoveNextAsync().AsTask();

        Assert.True(await delivered.WaitAsync(TestTimeout));
        hub.Publish(Table(12));
        Assert.True(await next.WaitAsync(TestTimeout));
    }

    [Fact]
    public async Task Waiting_for_delivery_is_immediate_without_watchers_and_bounded_with_a_stuck_one()
    {
        var hub = new RoutingHub();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        hub.Publish(Table(5));
        Assert.True(await hub.WaitDeliveredAsync(5, TimeSpan.FromSeconds(2), time, CancellationToken.None).WaitAsync(TestTimeout));

        using var cancel = new CancellationTokenSource(TestTimeout);
        await using var stuck = hub.WatchAsync(cancel.Token).GetAsyncEnumerator(cancel.Token);
        Assert.True(await stuck.MoveNextAsync().AsTask().WaitAsync(TestTimeout));
        hub.Publish(Table(6));
        var delivered = hub.WaitDeliveredAsync(6, TimeSpan.FromSeconds(2), time, CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(2));

        Assert.False(await delivered.WaitAsync(TestTimeout));
    }

    [Fact]
    public async Task A_watcher_gets_no_table_before_the_first_one_is_published()
    {
        var hub = new RoutingHub();
        using var cancel = new CancellationTokenSource(TestTimeout);
        await using var watcher = hub.WatchAsync(cancel.Token).GetAsyncEnumerator(cancel.Token);
        var first = watcher.MoveNextAsync().AsTask();
        Assert.False(first.IsCompleted);

        hub.Publish(Table(42));

        Assert.True(await first.WaitAsync(TestTimeout));
        Assert.Equal(42, watcher.Current.Version);
    }

    public static TheoryData<string, InstanceState[]> LiveChangePaths => new()
    {
        { "new instance of a replace", [InstanceState.Pending, InstanceState.Starting, InstanceState.Running] },
        { "old instance after the switch", [InstanceState.Running, InstanceState.Draining, InstanceState.Stopped] },
        { "new instance that crashed: rollback", [InstanceState.Starting, InstanceState.Failed, InstanceState.Stopped] },
        { "new instance too slow: rollback", [InstanceState.Starting, InstanceState.Draining, InstanceState.Stopped] },
        { "running new instance of a rolled-back replace", [InstanceState.Running, InstanceState.Draining, InstanceState.Stopped] },
        { "scaled-away instance", [InstanceState.Running, InstanceState.Draining, InstanceState.Stopped] },
        { "adopted instance registering again", [InstanceState.Pending, InstanceState.Starting, InstanceState.Running] },
        { "adopted instance that never registers again", [InstanceState.Pending, InstanceState.Starting, InstanceState.Failed, InstanceState.Starting] },
        { "crash loop of a running instance", [InstanceState.Running, InstanceState.Failed, InstanceState.CrashLooping, InstanceState.Starting] },
    };

    [Theory]
    [MemberData(nameof(LiveChangePaths))]
    public void Every_live_change_path_is_in_the_transition_table(string path, InstanceState[] states)
    {
        for (var i = 1; i < states.Length; i++)
        {
            Assert.True(InstanceLifecycle.IsAllowed(states[i - 1], states[i]),
                $"{path}: {InstanceLifecycle.Describe(states[i - 1])} → {InstanceLifecycle.Describe(states[i])} is not in the table");
        }
    }

    [Fact]
    public void A_draining_instance_cannot_come_back_to_running_and_a_stopped_one_nowhere()
    {
        Assert.False(InstanceLifecycle.IsAllowed(InstanceState.Draining, InstanceState.Running));
        Assert.False(InstanceLifecycle.IsAllowed(InstanceState.Draining, InstanceState.Failed));
        Assert.Empty(InstanceLifecycle.Allowed[InstanceState.Stopped]);
        var error = Assert.Throws<InvalidOperationException>(() => InstanceLifecycle.Transition(InstanceState.Draining, InstanceState.Running));
        Assert.Equal("instance state transition draining → running is not allowed; allowed from draining: stopped", error.Message);
    }
}
