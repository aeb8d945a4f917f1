using System.Globalization;

namespace Concord.Scheduler.Runtime.Containment.Internal;

/// <summary>
/// Instance groups as cgroups, under the scheduler's own group (so a scheduler in a container
/// or a delegated systemd unit only touches what it owns): in each hierarchy
/// <c>&lt;own group&gt;/concord-&lt;home hash&gt;/&lt;instance&gt;</c>. v1 has one hierarchy per
/// controller (memory, pids, cpu); v2 has one for all.
/// </summary>
internal sealed class CgroupContainment : IInstanceContainment
{
    private readonly ICgroupFs _fs;
    private readonly bool _v2;
    private readonly IReadOnlyDictionary<string, string> _parents;

    // A parent is created by Create and removed by RemoveParentIfEmpty: never both at once,
    // or a new instance's mkdir could meet a parent being removed.
    private readonly Lock _parentLock = new();

    /// <param name="parents">
    /// Controller ("memory", "pids", "cpu"; for v2 the key "unified") → the home's parent group
    /// directory in that hierarchy. In v1 several controllers may share one hierarchy.
    /// </param>
    public CgroupContainment(ICgroupFs fs, bool v2, IReadOnlyDictionary<string, string> parents)
    {
        _fs = fs;
        _v2 = v2;
        _parents = parents;
    }

    public string Name => _v2 ? "cgroup v2" : "cgroup v1";

    /// <summary>The home's parent group in each hierarchy (for tests and messages).</summary>
    public IReadOnlyCollection<string> ParentDirectories => [.. _parents.Values.Distinct(StringComparer.Ordinal)];

    public IContainmentGroup Create(string name, InstanceResources resources)
    {
        lock (_parentLock)
        {
            try
            {
                return CreateLocked(name, resources);
            }
            catch (ContainmentException)
            {
                // Nothing runs in it yet: a half-made group is removed at once, not left behind.
                foreach (var directory in GroupFor(name).Directories.Where(_fs.DirectoryExists))
                {
                    try
                    {
                        _fs.RemoveDirectory(directory);
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                    {
                        // The next scheduler start removes it with the other leftovers.
                    }
                }
                throw;
            }
        }
    }

    /// <summary>
    /// Fails now, at the scheduler's start, rather than at the first launch when the groups
    /// cannot be created (not root, read-only cgroupfs): makes and removes the home's parent.
    /// </summary>
    public void CheckWritable()
    {
        lock (_parentLock)
        {
            foreach (var parent in ParentDirectories)
            {
                try
                {
                    _fs.CreateDirectory(parent);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new ContainmentException(
                        $"cannot create {Name} groups under {Path.GetDirectoryName(parent)}: {e.Message.TrimEnd('.')}; run the scheduler as root or in a cgroup " +
                        "it may write (e.g. a systemd unit with Delegate=yes), or start it with --no-containment to run instances without limits", e);
                }
            }
        }
        RemoveParentIfEmpty();
    }

    public void RemoveParentIfEmpty()
    {
        lock (_parentLock)
        {
            foreach (var parent in ParentDirectories)
            {
                if (_fs.DirectoryExists(parent) && !_fs.ListDirectories(parent).Any())
                {
                    try
                    {
                        _fs.RemoveDirectory(parent);
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                    {
                        // Busy (a group appeared, or a process is still being reaped): kept for the next time.
                    }
                }
            }
        }
    }

    private IContainmentGroup CreateLocked(string name, InstanceResources resources)
    {
        var group = GroupFor(name);
        foreach (var directory in group.Directories)
        {
            var parent = Path.GetDirectoryName(directory)!;
            try
            {
                _fs.CreateDirectory(parent);
                if (_v2)
                {
                    // v2 limits only apply where the parent delegates the controllers to its children.
                    EnableControllers(Path.GetDirectoryName(parent)!);
                    EnableControllers(parent);
                }
                _fs.CreateDirectory(directory);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ContainmentException(
                    $"cannot create the instance's {Name} group {directory}: {e.Message.TrimEnd('.')}; run the scheduler as root or in a cgroup it may write " +
                    "(e.g. a systemd unit with Delegate=yes), or start it with --no-containment to run instances without limits", e);
            }
        }
        if (_v2)
        {
            var directory = group.Directories[0];
            Write(directory, "memory.max", resources.MemoryBytes.ToString(CultureInfo.InvariantCulture));
            // Swap would let an instance exceed its memory unnoticed; absent without swap accounting.
            TryWrite(directory, "memory.swap.max", "0");
            Write(directory, "pids.max", resources.PidsMax.ToString(CultureInfo.InvariantCulture));
            Write(directory, "cpu.max", $"{resources.CpuQuotaUs.ToString(CultureInfo.InvariantCulture)} {ContainmentLimits.CpuPeriodUs.ToString(CultureInfo.InvariantCulture)}");
        }
        else
        {
            var memory = GroupDirectory("memory", name);
            Write(memory, "memory.limit_in_bytes", resources.MemoryBytes.ToString(CultureInfo.InvariantCulture));
            TryWrite(memory, "memory.memsw.limit_in_bytes", resources.MemoryBytes.ToString(CultureInfo.InvariantCulture));
            Write(GroupDirectory("pids", name), "pids.max", resources.PidsMax.ToString(CultureInfo.InvariantCulture));
            var cpu = GroupDirectory("cpu", name);
            Write(cpu, "cpu.cfs_period_us", ContainmentLimits.CpuPeriodUs.ToString(CultureInfo.InvariantCulture));
            Write(cpu, "cpu.cfs_quota_us", resources.CpuQuotaUs.ToString(CultureInfo.InvariantCulture));
        }
        return group;
    }

    public IContainmentGroup? Open(string name)
    {
        var group = GroupFor(name);
        return group.Directories.Any(_fs.DirectoryExists) ? group : null;
    }

    public IReadOnlyList<string> List() =>
    [
        .. ParentDirectories
            .SelectMany(_fs.ListDirectories)
            .Select(Path.GetFileName)
            .OfType<string>()
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal),
    ];

    private CgroupGroup GroupFor(string name)
    {
        var directories = ParentDirectories.Select(parent => Path.Combine(parent, name)).ToList();
        return new CgroupGroup(
            _fs, name, directories,
            pidsDirectory: _v2 ? directories[0] : GroupDirectory("pids", name),
            memoryDirectory: _v2 ? directories[0] : GroupDirectory("memory", name),
            _v2);
    }

    private string GroupDirectory(string controller, string name) => Path.Combine(_parents[_v2 ? "unified" : controller], name);

    private void EnableControllers(string directory)
    {
        var file = Path.Combine(directory, "cgroup.subtree_control");
        var enabled = (_fs.ReadText(file) ?? "").Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
        var missing = CgroupDetection.V2Controllers.Where(c => !enabled.Contains(c)).ToList();
        if (missing.Count == 0)
        {
            return;
        }
        try
        {
            _fs.WriteText(file, string.Join(' ', missing.Select(c => "+" + c)));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // EBUSY: v2 delegates controllers only from a group without processes of its own.
            throw new ContainmentException(
                $"cannot enable the {string.Join(", ", missing)} controllers in {file}: {e.Message.TrimEnd('.')}; " +
                "cgroup v2 delegates controllers only from a group that holds no processes: start the scheduler in a group " +
                "of its own (e.g. `systemd-run --scope -p Delegate=yes ...`), or with --no-containment to run instances without limits", e);
        }
    }

    private void Write(string directory, string file, string value)
    {
        try
        {
            _fs.WriteText(Path.Combine(directory, file), value);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ContainmentException(
                $"cannot set {file} = {value} in {directory}: {e.Message.TrimEnd('.')}; the {Name} controller may be missing or read-only; " +
                "run the scheduler as root (or delegate the group to it), or start it with --no-containment to run instances without limits", e);
        }
    }

    private void TryWrite(string directory, string file, string value)
    {
        if (_fs.ReadText(Path.Combine(directory, file)) is null)
        {
            return;
        }
        try
        {
            _fs.WriteText(Path.Combine(directory, file), value);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Optional (swap accounting may be off): the memory limit itself is set.
        }
    }
}
