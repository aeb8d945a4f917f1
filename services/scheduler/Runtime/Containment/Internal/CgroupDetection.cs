using System.Security.Cryptography;
using System.Text;

namespace Concord.Scheduler.Runtime.Containment.Internal;

/// <summary>
/// Which cgroup version can contain instances here, from /proc/self/mountinfo (where each
/// hierarchy is mounted) and /proc/self/cgroup (the scheduler's own group in each).
/// </summary>
internal static class CgroupDetection
{
    /// <summary>Controllers an instance group needs.</summary>
    public static readonly string[] V2Controllers = ["memory", "pids", "cpu"];

    /// <summary>v1 hierarchies by the controller that names them.</summary>
    public static readonly string[] V1Controllers = ["memory", "pids", "cpu"];

    /// <summary>
    /// cgroup v2 when its hierarchy offers memory, pids and cpu to the scheduler's group; else
    /// v1 when memory, pids and cpu hierarchies are mounted; else a ContainmentException
    /// naming what is missing and the fix.
    /// </summary>
    public static IInstanceContainment Detect(string mountinfo, string selfCgroup, ICgroupFs fs, string home)
    {
        var mounts = ParseMounts(mountinfo);
        var groups = ParseSelfCgroup(selfCgroup);
        var parentName = ParentGroupName(home);

        var v2Mount = mounts.FirstOrDefault(m => m.FsType == "cgroup2");
        if (v2Mount is not null && groups.TryGetValue("", out var v2Path))
        {
            var own = Under(v2Mount, v2Path);
            var controllers = (fs.ReadText(Path.Combine(own, "cgroup.controllers")) ?? "").Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
            if (V2Controllers.All(controllers.Contains))
            {
                return new CgroupContainment(fs, v2: true, new Dictionary<string, string> { ["unified"] = Path.Combine(own, parentName) });
            }
        }

        var parents = new Dictionary<string, string>(StringComparer.Ordinal);
        var missing = new List<string>();
        foreach (var controller in V1Controllers)
        {
            var mount = mounts.FirstOrDefault(m => m.FsType == "cgroup" && m.Options.Contains(controller));
            var path = groups.FirstOrDefault(g => g.Key.Split(',').Contains(controller)).Value;
            if (mount is null || path is null)
            {
                missing.Add(controller);
                continue;
            }
            parents[controller] = Path.Combine(Under(mount, path), parentName);
        }
        if (missing.Count == 0)
        {
            return new CgroupContainment(fs, v2: false, parents);
        }
        throw new ContainmentException(
            "cannot contain instances: " +
            (v2Mount is null ? "no cgroup v2 is mounted" : $"cgroup v2 at {v2Mount.MountPoint} does not offer the {string.Join(", ", V2Controllers)} controllers to this process's group") +
            $", and cgroup v1 lacks the {string.Join(", ", missing)} hierarchies; mount them (or run on a host with cgroups), " +
            "or start the scheduler with --no-containment to run instances without memory/CPU limits and without killing their leftover processes");
    }

    /// <summary><c>concord-&lt;first 8 hex of SHA-256 of the home path&gt;</c>.</summary>
    public static string ParentGroupName(string home) =>
        ContainmentLimits.ParentGroupPrefix + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Path.GetFullPath(home))))[..8];

    /// <summary>The directory of group <paramref name="path"/> in the mounted hierarchy.</summary>
    private static string Under(Mount mount, string path)
    {
        // A mount may show a subtree (containers): its root is stripped from the group path.
        var relative = mount.Root != "/" && path.StartsWith(mount.Root, StringComparison.Ordinal) ? path[mount.Root.Length..] : path;
        return Path.Join(mount.MountPoint, relative.TrimStart('/'));
    }

    private sealed record Mount(string Root, string MountPoint, string FsType, string[] Options);

    private static List<Mount> ParseMounts(string mountinfo)
    {
        var mounts = new List<Mount>();
        foreach (var line in mountinfo.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            // "36 25 0:31 / /sys/fs/cgroup/memory rw,relatime shared:14 - cgroup cgroup rw,memory"
            var fields = line.Split(' ');
            var dash = Array.IndexOf(fields, "-");
            if (dash < 5 || fields.Length < dash + 3)
            {
                continue;
            }
            var superOptions = fields.Length > dash + 3 ? fields[dash + 3].Split(',') : [];
            mounts.Add(new Mount(Unescape(fields[3]), Unescape(fields[4]), fields[dash + 1], superOptions));
        }
        return mounts;
    }

    /// <summary>Controllers ("" for v2, "cpu,cpuacct" for a shared v1 hierarchy) → group path.</summary>
    private static Dictionary<string, string> ParseSelfCgroup(string selfCgroup)
    {
        var groups = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in selfCgroup.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split(':', 3);
            if (parts.Length == 3)
            {
                groups[parts[1]] = parts[2];
            }
        }
        return groups;
    }

    /// <summary>mountinfo escapes space, tab, newline and backslash as octal.</summary>
    private static string Unescape(string field) =>
        field.Replace("\\040", " ", StringComparison.Ordinal).Replace("\\011", "\t", StringComparison.Ordinal)
            .Replace("\\012", "\n", StringComparison.Ordinal).Replace("\\134", "\\", StringComparison.Ordinal);
}
