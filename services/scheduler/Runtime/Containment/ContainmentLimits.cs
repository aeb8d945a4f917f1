namespace Concord.Scheduler.Runtime.Containment;

/// <summary>Bounds of instance containment (cgroups), beside <see cref="SchedulerLimits"/>.</summary>
public static class ContainmentLimits
{
    /// <summary>
    /// Memory of an instance whose spec says <c>mem: 0</c> (unset), in MiB: 512, the default
    /// the OperatorSpec documents. The limit covers the executor and the operator together.
    /// </summary>
    public const int DefaultMemMb = 512;

    /// <summary>CPU cores of an instance whose spec says <c>cpus: 0</c> (unset): 1, as the OperatorSpec documents.</summary>
    public const double DefaultCpus = 1.0;

    /// <summary>
    /// Processes and threads per instance (pids.max), counting the executor's: 4,096. A .NET
    /// executor and a .NET operator use ~60 threads together; this only stops a fork bomb
    /// from taking the machine's pid space.
    /// </summary>
    public const int InstancePidsMax = 4_096;

    /// <summary>
    /// CFS period the CPU quota is expressed in, in µs: 100 ms, the kernel's default; the
    /// quota is <c>cpus</c> × this.
    /// </summary>
    public const int CpuPeriodUs = 100_000;

    /// <summary>
    /// Smallest CPU quota the kernel accepts, in µs: 1 ms (cpu.cfs_quota_us and cpu.max reject less).
    /// </summary>
    public const int CpuQuotaUsMin = 1_000;

    /// <summary>
    /// Time to empty a group after SIGKILL to all its processes, in ms: 5 s. SIGKILL cannot be
    /// ignored; this only bounds a process stuck in the kernel (D state), after which the
    /// group is left for the next scheduler start to remove, with a warning.
    /// </summary>
    public const int GroupKillTimeoutMs = 5_000;

    /// <summary>
    /// Poll interval while a group empties, in ms: 20. The kernel sends no event a process
    /// outside the group can wait for (v1), so this polls cgroup.procs, bounded by
    /// <see cref="GroupKillTimeoutMs"/>.
    /// </summary>
    public const int GroupKillPollMs = 20;

    /// <summary>
    /// Name prefix of the per-home parent group: <c>concord-&lt;hash of the home&gt;</c>. Two
    /// schedulers with different homes never touch each other's groups.
    /// </summary>
    public const string ParentGroupPrefix = "concord-";
}
