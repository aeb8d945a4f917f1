using Concord.Scheduler.Runtime.Containment.Internal;

namespace Concord.Scheduler.Tests.Containment;

/// <summary>
/// A test double of a cgroup filesystem: a temporary directory laid out like cgroupfs. mkdir
/// fills a group with control files as the kernel would; rmdir refuses a group with processes
/// or child groups (EBUSY) and otherwise removes it with its control files; writing
/// cgroup.subtree_control adds "+controller"s; writing "1" to cgroup.kill empties cgroup.procs.
/// Every write is recorded.
/// </summary>
internal sealed class CgroupFsDouble : ICgroupFs, IDisposable
{
    private static readonly Dictionary<string, string> ControlFiles = new()
    {
        ["cgroup.procs"] = "",
        ["cgroup.controllers"] = "cpuset cpu io memory pids\n",
        ["cgroup.subtree_control"] = "",
        ["cgroup.kill"] = "",
        ["memory.max"] = "max\n",
        ["memory.swap.max"] = "max\n",
        ["memory.events"] = "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
        ["pids.max"] = "max\n",
        ["cpu.max"] = "max 100000\n",
    };

    public CgroupFsDouble()
    {
        Root = Directory.CreateTempSubdirectory("cc-cgroupfs-").FullName;
    }

    /// <summary>Where the double's cgroup2 is "mounted".</summary>
    public string Root { get; }

    public List<(string Path, string Text)> Writes { get; } = [];

    /// <summary>Control files whose writes fail with EBUSY.</summary>
    public HashSet<string> Refused { get; } = [];

    /// <summary>Makes <paramref name="path"/> a group (with control files), as the kernel shows an existing one.</summary>
    public void MakeGroup(string path)
    {
        Directory.CreateDirectory(path);
        foreach (var (name, text) in ControlFiles)
        {
            var file = Path.Combine(path, name);
            if (!File.Exists(file))
            {
                File.WriteAllText(file, text);
            }
        }
    }

    public bool DirectoryExists(string path) => Directory.Exists(path);

    public void CreateDirectory(string path)
    {
        if (!Directory.Exists(Path.GetDirectoryName(path)))
        {
            throw new DirectoryNotFoundException($"no parent group for {path}");
        }
        MakeGroup(path);
    }

    public void RemoveDirectory(string path)
    {
        if (File.ReadAllText(Path.Combine(path, "cgroup.procs")).Trim().Length > 0 || Directory.EnumerateDirectories(path).Any())
        {
            throw new IOException($"Device or resource busy: {path}");
        }
        Directory.Delete(path, recursive: true);
    }

    public string? ReadText(string path) => File.Exists(path) ? File.ReadAllText(path) : null;

    public void WriteText(string path, string text)
    {
        if (Refused.Contains(path))
        {
            throw new IOException($"Device or resource busy: {path}");
        }
        Writes.Add((path, text));
        switch (Path.GetFileName(path))
        {
            case "cgroup.subtree_control":
                var enabled = File.ReadAllText(path).Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
                foreach (var change in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                {
                    enabled.Add(change.TrimStart('+'));
                }
                File.WriteAllText(path, string.Join(' ', enabled.Order()));
                break;
            case "cgroup.kill" when text == "1":
                File.WriteAllText(Path.Combine(Path.GetDirectoryName(path)!, "cgroup.procs"), "");
                break;
            default:
                if (!File.Exists(path))
                {
                    throw new UnauthorizedAccessException($"no such control file {path}");
                }
                File.WriteAllText(path, text);
                break;
        }
    }

    public IEnumerable<string> ListDirectories(string path) => Directory.Exists(path) ? Directory.EnumerateDirectories(path) : [];

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: /tmp is cleaned by the OS.
        }
    }
}
