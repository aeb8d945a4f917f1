using System.Globalization;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Runtime.Containment;

namespace Concord.Scheduler.Runtime.Agents.Internal;

/// <summary>What one instance asks for: the spec's cpus and mem with their documented defaults.</summary>
internal readonly record struct InstanceNeed(double Cpus, int MemMb)
{
    public static InstanceNeed Of(OperatorSpec spec)
    {
        var resources = InstanceResources.For(spec);
        return new InstanceNeed(resources.Cpus, (int)(resources.MemoryBytes / (1024 * 1024)));
    }

    public override string ToString() => $"{Number(Cpus)} cpus and {MemMb} MiB";

    public static string Number(double value) => value.ToString("0.###", CultureInfo.InvariantCulture);
}

/// <summary>Free capacity of one agent in a placement computation.</summary>
internal sealed record AgentCapacity(string Id, double FreeCpus, long FreeMemMb)
{
    /// <summary>A little slack for sums of fractional cpus (0.1 × 10 is not exactly 1).</summary>
    private const double CpuEpsilon = 1e-9;

    public bool Fits(InstanceNeed need) => FreeCpus + CpuEpsilon >= need.Cpus && FreeMemMb >= need.MemMb;

    public override string ToString() => $"{Id} {InstanceNeed.Number(Math.Max(0, FreeCpus))} cpus {Math.Max(0, FreeMemMb)} MiB";
}

/// <summary>
/// Placement by cpus and mem, spread: each instance goes to the agent with the most free cpus,
/// then the most free memory, then the smallest id (deterministic). Pure functions, so the
/// rule is tested without agents.
/// </summary>
internal static class Placement
{
    /// <summary>The agent for one instance; null when none has room.</summary>
    public static string? Choose(IEnumerable<AgentCapacity> agents, InstanceNeed need) =>
        agents.Where(a => a.Fits(need))
            .OrderByDescending(a => a.FreeCpus)
            .ThenByDescending(a => a.FreeMemMb)
            .ThenBy(a => a.Id, StringComparer.Ordinal)
            .FirstOrDefault()?.Id;

    /// <summary>
    /// Whether every instance of <paramref name="desired"/> can be placed on agents of these total
    /// sizes at once (largest first onto the spread choice). Returns the instances that do not
    /// fit (empty when all do) and the free capacity left by the rest.
    /// </summary>
    public static (IReadOnlyList<(string Operator, InstanceNeed Need)> Unplaced, IReadOnlyList<AgentCapacity> Left) Pack(
        IReadOnlyList<OperatorSpec> desired, IReadOnlyList<AgentCapacity> agents)
    {
        var free = agents.ToDictionary(a => a.Id, StringComparer.Ordinal);
        var unplaced = new List<(string, InstanceNeed)>();
        var instances = desired
            .SelectMany(spec => Enumerable.Repeat((spec.Name, InstanceNeed.Of(spec)), Math.Max(0, spec.Instances)))
            .OrderByDescending(i => i.Item2.Cpus).ThenByDescending(i => i.Item2.MemMb).ThenBy(i => i.Name, StringComparer.Ordinal);
        foreach (var (name, need) in instances)
        {
            if (Choose(free.Values, need) is { } id)
            {
                var agent = free[id];
                free[id] = agent with { FreeCpus = agent.FreeCpus - need.Cpus, FreeMemMb = agent.FreeMemMb - need.MemMb };
            }
            else
            {
                unplaced.Add((name, need));
            }
        }
        return (unplaced, free.Values.OrderBy(a => a.Id, StringComparer.Ordinal).ToList());
    }
}
