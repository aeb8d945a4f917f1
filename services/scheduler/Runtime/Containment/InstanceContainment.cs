using Concord.Scheduler.Runtime.Containment.Internal;

namespace Concord.Scheduler.Runtime.Containment;

/// <summary>Chooses how instances are contained on this host.</summary>
public static class InstanceContainment
{
    /// <summary>
    /// cgroup v2 where it is usable, else cgroup v1; throws <see cref="ContainmentException"/>
    /// when neither is mounted or the scheduler may not create groups there (the message names
    /// --no-containment as the explicit way out).
    /// </summary>
    public static IInstanceContainment Detect(string home)
    {
        var containment = CgroupDetection.Detect(File.ReadAllText("/proc/self/mountinfo"), File.ReadAllText("/proc/self/cgroup"), SystemCgroupFs.Instance, home);
        (containment as CgroupContainment)?.CheckWritable();
        return containment;
    }

    /// <summary>
    /// No containment: instances get no limits and only the executor is killed on stop (it
    /// kills its operator's process group). Only when asked for (--no-containment).
    /// </summary>
    public static IInstanceContainment None { get; } = new NoContainment();

    private sealed class NoContainment : IInstanceContainment
    {
        public string Name => "none";

        public IContainmentGroup Create(string name, InstanceResources resources) => new NoGroup(name);

        public IContainmentGroup? Open(string name) => null;

        public IReadOnlyList<string> List() => [];

        public void RemoveParentIfEmpty()
        {
        }
    }

    private sealed class NoGroup(string name) : IContainmentGroup
    {
        public string Name => name;

        public IReadOnlyList<string> ProcsFiles => [];

        public IReadOnlyList<int> Pids() => [];

        public long OomKills() => 0;

        public void Signal()
        {
        }

        public Task<bool> KillAndRemoveAsync(TimeProvider time, CancellationToken cancellationToken) => Task.FromResult(true);
    }
}
