using Concord.Contracts.Types.V1;
using Concord.Scheduler.Runtime.Agents.Internal;

namespace Concord.Scheduler.Tests.Agents;

/// <summary>The placement rule on its own: spread by free cpus then memory, and the packing check of a whole topology.</summary>
public sealed class PlacementTests
{
    private static OperatorSpec Spec(string name, int instances, double cpus = 0, int memMb = 0) =>
        new() { Name = name, Executable = "/bin/true", Instances = instances, Cpus = cpus, MemMb = memMb };

    [Fact]
    public void An_instance_goes_to_the_agent_with_the_most_free_cpus_then_memory_then_the_smallest_id()
    {
        var need = new InstanceNeed(1, 512);

        Assert.Equal("b", Placement.Choose([new("a", 1, 4096), new("b", 2, 1024)], need));
        Assert.Equal("a", Placement.Choose([new("a", 2, 4096), new("b", 2, 1024)], need));
        Assert.Equal("a", Placement.Choose([new("b", 2, 1024), new("a", 2, 1024)], need));
        // Room in cpus but not in memory does not count.
        Assert.Equal("a", Placement.Choose([new("a", 1, 512), new("b", 8, 511)], need));
        Assert.Null(Placement.Choose([new("a", 0.5, 4096)], need));
    }

    [Fact]
    public void The_defaults_of_an_empty_cpus_and_mem_are_what_an_instance_needs()
    {
        Assert.Equal(new InstanceNeed(1, 512), InstanceNeed.Of(Spec("x", 1)));
        Assert.Equal(new InstanceNeed(0.25, 100), InstanceNeed.Of(Spec("x", 1, 0.25, 100)));
    }

    [Fact]
    public void Fractional_cpus_that_add_up_to_an_agent_exactly_fit()
    {
        var (unplaced, left) = Placement.Pack([Spec("tiny", 10, cpus: 0.1, memMb: 10)], [new AgentCapacity("a", 1, 100)]);

        Assert.Empty(unplaced);
        Assert.Equal(0, left.Single().FreeMemMb);
    }

    [Fact]
    public void Packing_places_the_largest_first_so_a_topology_that_fits_is_found_to_fit()
    {
        // Smallest-first onto the spread choice would split the 1-cpu instances and leave no room for the 2-cpu one.
        var desired = new[] { Spec("small", 2, cpus: 1), Spec("large", 1, cpus: 2) };

        var (unplaced, _) = Placement.Pack(desired, [new AgentCapacity("a", 2, 4096), new AgentCapacity("b", 2, 4096)]);

        Assert.Empty(unplaced);
    }

    [Fact]
    public void What_does_not_fit_is_named_with_the_capacity_left()
    {
        var (unplaced, left) = Placement.Pack([Spec("work", 3, cpus: 1)], [new AgentCapacity("a", 1, 4096), new AgentCapacity("b", 1, 4096)]);

        Assert.Equal([("work", new InstanceNeed(1, 512))], unplaced);
        Assert.Equal("a 0 cpus 3584 MiB, b 0 cpus 3584 MiB", string.Join(", ", left));
    }
}
