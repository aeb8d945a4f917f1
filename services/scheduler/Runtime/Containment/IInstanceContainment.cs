namespace Concord.Scheduler.Runtime.Containment;

/// <summary>What one instance may use: from the spec's <c>mem</c> and <c>cpus</c>.</summary>
/// <param name="MemoryBytes">Memory of executor plus operator; past it the kernel OOM-kills.</param>
/// <param name="Cpus">CPU cores (fractions allowed), enforced as a CFS quota.</param>
/// <param name="PidsMax">Processes and threads.</param>
public sealed record InstanceResources(long MemoryBytes, double Cpus, int PidsMax)
{
    /// <summary>The resources an OperatorSpec asks for, with the documented defaults for 0.</summary>
    public static InstanceResources For(Concord.Contracts.Types.V1.OperatorSpec spec) => new(
        (spec.MemMb > 0 ? spec.MemMb : ContainmentLimits.DefaultMemMb) * 1024L * 1024L,
        spec.Cpus > 0 ? spec.Cpus : ContainmentLimits.DefaultCpus,
        ContainmentLimits.InstancePidsMax);

    /// <summary>CFS quota for <see cref="Cpus"/> per <see cref="ContainmentLimits.CpuPeriodUs"/>, in µs.</summary>
    public long CpuQuotaUs => Math.Max(ContainmentLimits.CpuQuotaUsMin, (long)Math.Round(Cpus * ContainmentLimits.CpuPeriodUs));
}

/// <summary>
/// Puts every instance (executor and everything it starts) in a group of its own that the
/// kernel limits (memory, CPU, pids) and that can be killed as a whole, so no process of an
/// instance outlives its stop, whatever the operator does (ignore SIGTERM, fork, setsid).
/// One implementation per cgroup version, one that contains nothing (explicitly chosen).
/// </summary>
public interface IInstanceContainment
{
    /// <summary>For logs and errors: "cgroup v1", "cgroup v2", "none".</summary>
    string Name { get; }

    /// <summary>
    /// Creates the group <paramref name="name"/> with the limits; a leftover group of that name
    /// is emptied and replaced. Throws <see cref="ContainmentException"/> when it cannot.
    /// </summary>
    IContainmentGroup Create(string name, InstanceResources resources);

    /// <summary>An existing group of this scheduler home; null when there is none.</summary>
    IContainmentGroup? Open(string name);

    /// <summary>Names of the groups of this scheduler home that exist now.</summary>
    IReadOnlyList<string> List();

    /// <summary>
    /// Removes the home's parent group once no instance group is left in it, so stopped
    /// clusters leave nothing behind in the cgroup tree. Safe beside <see cref="Create"/>.
    /// </summary>
    void RemoveParentIfEmpty();
}

/// <summary>One instance's group.</summary>
public interface IContainmentGroup
{
    string Name { get; }

    /// <summary>
    /// Files a process writes its own pid to, to enter the group (one per cgroup v1
    /// hierarchy). The launch shell writes its pid there before it execs the executor, so the
    /// executor and the operator are inside from their first instruction.
    /// </summary>
    IReadOnlyList<string> ProcsFiles { get; }

    /// <summary>Processes in the group now.</summary>
    IReadOnlyList<int> Pids();

    /// <summary>
    /// How many times the kernel OOM-killed a process of this group; 0 when unknown.
    /// </summary>
    long OomKills();

    /// <summary>SIGKILL to every process in the group, once (no waiting, nothing removed).</summary>
    void Signal();

    /// <summary>
    /// Kills every process in the group (forks included) until it is empty, then removes it.
    /// Returns false when processes were still there after
    /// <see cref="ContainmentLimits.GroupKillTimeoutMs"/> (the group is then left in place).
    /// </summary>
    Task<bool> KillAndRemoveAsync(TimeProvider time, CancellationToken cancellationToken);
}

/// <summary>Containment is needed and cannot be done; the message names the cause and the fix.</summary>
public sealed class ContainmentException(string message, Exception? inner = null) : Exception(message, inner);
