using System.Globalization;

namespace Concord.Executor.Metrics;

/// <summary>CPU time and resident memory of one process, read from /proc (Linux).</summary>
/// <param name="CpuSeconds">User + system CPU seconds since the process started.</param>
/// <param name="ResidentBytes">Resident set size in bytes.</param>
public readonly record struct ProcStat(double CpuSeconds, long ResidentBytes)
{
    /// <summary>The figures of <paramref name="pid"/>; null when the process is gone or /proc is unreadable.</summary>
    public static ProcStat? Read(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // The command name (field 2) is in parentheses and may contain spaces: split after it.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
            var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            var statm = File.ReadAllText($"/proc/{pid}/statm").Split(' ');
            var residentPages = long.Parse(statm[1], CultureInfo.InvariantCulture);
            return new ProcStat(ticks / ObservabilityLimits.ProcClockTicksPerSecond, residentPages * Environment.SystemPageSize);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }
}
