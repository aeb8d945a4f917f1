using System.Globalization;
using Concord.Scheduler.Runtime.Internal;

namespace Concord.Scheduler.Runtime.Containment.Internal;

/// <summary>
/// One instance's group, as directories in one (v2) or several (v1: memory, pids, cpu)
/// hierarchies. Killing works the same in both: forks are stopped (pids.max 0 in v1,
/// cgroup.kill in v2), then every pid listed is SIGKILLed until none is left, then rmdir.
/// </summary>
internal sealed class CgroupGroup(ICgroupFs fs, string name, IReadOnlyList<string> directories, string? pidsDirectory, string? memoryDirectory, bool v2)
    : IContainmentGroup
{
    public string Name => name;

    /// <summary>The group's directory in each hierarchy.</summary>
    public IReadOnlyList<string> Directories => directories;

    public IReadOnlyList<string> ProcsFiles => [.. directories.Select(d => Path.Combine(d, "cgroup.procs"))];

    public IReadOnlyList<int> Pids()
    {
        var pids = new SortedSet<int>();
        foreach (var directory in directories)
        {
            foreach (var line in (fs.ReadText(Path.Combine(directory, "cgroup.procs")) ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                if (int.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid > 0)
                {
                    pids.Add(pid);
                }
            }
        }
        return [.. pids];
    }

    public long OomKills()
    {
        if (memoryDirectory is null)
        {
            return 0;
        }
        // v1: memory.oom_control has "oom_kill N" (kernel 4.13+); v2: memory.events has it.
        var text = fs.ReadText(Path.Combine(memoryDirectory, v2 ? "memory.events" : "memory.oom_control")) ?? "";
        foreach (var line in text.Split('\n'))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts is ["oom_kill", var count] && long.TryParse(count, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            {
                return n;
            }
        }
        return 0;
    }

    public void Signal()
    {
        StopForks();
        foreach (var pid in Pids())
        {
            Posix.TrySignal(pid, Posix.SigKill);
        }
    }

    public async Task<bool> KillAndRemoveAsync(TimeProvider time, CancellationToken cancellationToken)
    {
        if (!directories.Any(fs.DirectoryExists))
        {
            return true;
        }
        var deadline = time.GetUtcNow().AddMilliseconds(ContainmentLimits.GroupKillTimeoutMs);
        while (true)
        {
            Signal();
            if (Pids().Count == 0)
            {
                break;
            }
            if (time.GetUtcNow() >= deadline)
            {
                return false;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(ContainmentLimits.GroupKillPollMs), time, cancellationToken).ConfigureAwait(false);
        }
        // A killed process leaves the group when it is reaped; rmdir fails (EBUSY) until then,
        // so it is retried within the same bound.
        while (true)
        {
            var left = false;
            foreach (var directory in directories.Where(fs.DirectoryExists))
            {
                try
                {
                    fs.RemoveDirectory(directory);
                }
                catch (IOException)
                {
                    left = true;
                }
            }
            if (!left)
            {
                return true;
            }
            if (time.GetUtcNow() >= deadline)
            {
                return false;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(ContainmentLimits.GroupKillPollMs), time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Without this a forking process could add members faster than they are killed.</summary>
    private void StopForks()
    {
        try
        {
            if (v2)
            {
                var kill = Path.Combine(directories[0], "cgroup.kill");
                if (fs.ReadText(kill) is not null)
                {
                    fs.WriteText(kill, "1");
                    return;
                }
            }
            if (pidsDirectory is not null && fs.DirectoryExists(pidsDirectory))
            {
                fs.WriteText(Path.Combine(pidsDirectory, "pids.max"), "0");
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Gone meanwhile, or the file is missing: the kill loop still empties the group.
        }
    }
}
