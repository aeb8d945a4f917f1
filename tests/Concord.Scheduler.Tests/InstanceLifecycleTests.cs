using Concord.Contracts.Scheduler.V1;
using Concord.Scheduler.Lifecycle;

namespace Concord.Scheduler.Tests;

public sealed class InstanceLifecycleTests
{
    // The transitions docs/architecture.md and docs/operations.md promise, written out again
    // here so that a change to the table in code has to be a change to this list too.
    private static readonly HashSet<(InstanceState From, InstanceState To)> Expected =
    [
        (InstanceState.Pending, InstanceState.Starting),
        (InstanceState.Pending, InstanceState.Stopped),
        (InstanceState.Starting, InstanceState.Running),
        (InstanceState.Starting, InstanceState.Failed),
        (InstanceState.Starting, InstanceState.Draining),
        (InstanceState.Starting, InstanceState.Stopped),
        (InstanceState.Running, InstanceState.Failed),
        (InstanceState.Running, InstanceState.Draining),
        (InstanceState.Running, InstanceState.Stopped),
        (InstanceState.Draining, InstanceState.Stopped),
        (InstanceState.Failed, InstanceState.Starting),
        (InstanceState.Failed, InstanceState.CrashLooping),
        (InstanceState.Failed, InstanceState.Stopped),
        (InstanceState.CrashLooping, InstanceState.Starting),
        (InstanceState.CrashLooping, InstanceState.Stopped),
    ];

    public static TheoryData<InstanceState, InstanceState> EveryPair()
    {
        var data = new TheoryData<InstanceState, InstanceState>();
        foreach (var from in Enum.GetValues<InstanceState>())
        {
            foreach (var to in Enum.GetValues<InstanceState>())
            {
                data.Add(from, to);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(EveryPair))]
    public void Transition_is_allowed_exactly_when_the_table_lists_it(InstanceState from, InstanceState to)
    {
        var expected = Expected.Contains((from, to));

        Assert.Equal(expected, InstanceLifecycle.IsAllowed(from, to));
        if (expected)
        {
            Assert.Equal(to, InstanceLifecycle.Transition(from, to));
        }
        else
        {
            var error = Assert.Throws<InvalidOperationException>(() => InstanceLifecycle.Transition(from, to));
            Assert.Contains("is not allowed", error.Message);
        }
    }

    [Fact]
    public void Every_state_but_stopped_can_be_stopped_on_kill()
    {
        foreach (var state in InstanceLifecycle.States.Where(s => s != InstanceState.Stopped))
        {
            Assert.True(InstanceLifecycle.IsAllowed(state, InstanceState.Stopped), $"{state} → stopped must be allowed");
        }
        Assert.Empty(InstanceLifecycle.Allowed[InstanceState.Stopped]);
    }

    [Fact]
    public void Every_state_is_reachable_from_pending()
    {
        var seen = new HashSet<InstanceState> { InstanceState.Pending };
        var queue = new Queue<InstanceState>(seen);
        while (queue.TryDequeue(out var state))
        {
            foreach (var next in InstanceLifecycle.Allowed[state].Where(seen.Add))
            {
                queue.Enqueue(next);
            }
        }
        Assert.Equal(InstanceLifecycle.States.ToHashSet(), seen);
    }

    [Fact]
    public void Disallowed_transition_message_lists_the_allowed_ones()
    {
        var error = Assert.Throws<InvalidOperationException>(() => InstanceLifecycle.Transition(InstanceState.Draining, InstanceState.Running));

        Assert.Equal("instance state transition draining → running is not allowed; allowed from draining: stopped", error.Message);
    }
}
