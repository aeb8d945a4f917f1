namespace Concord.Bench.Internal;

/// <summary>Resident memory and CPU time of a process, read from /proc as `top` would.</summary>
internal readonly record struct ProcSample(long RssBytes, double CpuSeconds, bool Alive)
{
    /// <summary>Clock ticks per second of /proc/&lt;pid&gt;/stat times (USER_HZ, 100 on Linux).</summary>
    private const double TicksPerSecond = 100.0;

    public static ProcSample Read(int pid)
    {
        try
        {
            long rss = 0;
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    rss = long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0]) * 1024;
                    break;
                }
            }
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // Fields after the parenthesised command name start at field 3; utime and stime are fields 14 and 15.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var ticks = long.Parse(fields[11]) + long.Parse(fields[12]);
            return new ProcSample(rss, ticks / TicksPerSecond, true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return new ProcSample(0, 0, false);
        }
    }
}

/// <summary>The machine, as RESULTS.md records it.</summary>
internal static class Machine
{
    /// <summary>The 1, 5 and 15 minute load averages from /proc/loadavg: how much else ran meanwhile.</summary>
    public static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";

    public static string Describe()
    {
        var model = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim()
            : null;
        var memKb = File.Exists("/proc/meminfo")
            ? File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal))?.Split(':', 2)[1].Trim()
            : null;
        var mem = memKb is not null && long.TryParse(memKb.Split(' ')[0], out var kb) ? $"{kb / 1024.0 / 1024.0:0.0} GiB" : "unknown";
        return $"{Environment.ProcessorCount} CPUs (nproc), {model ?? "unknown CPU"}, {mem} RAM, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}";
    }
}
