using Concord.Executor.Builtins;
using Concord.Executor.Builtins.Internal;

namespace Concord.Executor.Tests;

/// <summary>The small pieces the built-in sources share: the read-rate token bucket and kafka-source's per-partition positions.</summary>
public sealed class SourceBookkeepingTests
{
    [Fact]
    public void A_rate_budget_allows_what_the_elapsed_time_earned_caps_a_stall_at_one_burst_and_waits_a_tick_when_spent()
    {
        var budget = new RateBudget(perSecond: 2000);
        budget.Start(nowMs: 1_000);

        Assert.Equal(0, budget.Allow(nowMs: 1_000, max: 10_000));
        Assert.Equal(1_000 + ExecutorLimits.SourceRateTickMs, budget.NextTurnMs(1_000));

        Assert.Equal(20, budget.Allow(nowMs: 1_010, max: 10_000)); // 10 ms at 2,000/s
        budget.Spend(15);
        Assert.Equal(1_010, budget.NextTurnMs(1_010)); // 5 left: come back now
        budget.Spend(5);

        // A 10 s stall earns one burst, and a turn takes at most max of it.
        Assert.Equal(7, budget.Allow(nowMs: 11_010, max: 7));
        budget.Spend(7);
        Assert.Equal((2000 * ExecutorLimits.SourceRateBurstMs / 1000) - 7, budget.Allow(nowMs: 11_010, max: 10_000));
    }

    [Fact]
    public void An_unbounded_rate_budget_allows_max_every_turn_and_never_waits()
    {
        var budget = new RateBudget(perSecond: 0);
        budget.Start(nowMs: 5);
        Assert.True(budget.Unbounded);
        Assert.Equal(512, budget.Allow(nowMs: 5, max: 512));
        budget.Spend(512);
        Assert.Equal(5, budget.NextTurnMs(5));
    }

    [Fact]
    public void Partition_positions_hand_over_the_next_offset_of_each_partition_consumed_once_growing_for_added_partitions()
    {
        var positions = new PartitionPositions();
        var added = KafkaLimits.SourcePartitionsInitial + 3; // a partition added to the topic while it runs
        positions.Consumed(2, 10);
        positions.Consumed(2, 11);
        positions.Consumed(added, 0);

        Assert.Equal([(2, 12L), (added, 1L)], Drain(positions));
        Assert.Empty(Drain(positions)); // handed over once

        positions.Consumed(0, 41);
        positions.Clear(); // the answer holding it was abandoned: read again
        Assert.Empty(Drain(positions));
    }

    private static List<(int Partition, long Next)> Drain(PartitionPositions positions)
    {
        var drained = new List<(int, long)>();
        positions.Drain(drained, static (list, partition, next) => list.Add((partition, next)));
        return drained;
    }
}
