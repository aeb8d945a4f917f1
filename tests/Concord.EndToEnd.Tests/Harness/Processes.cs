using System.Diagnostics;

namespace Concord.EndToEnd.Tests.Harness;

/// <summary>Process facts read from /proc, the way an operator would check by hand.</summary>
public static class Processes
{
    /// <summary>True when the process exists and is not a zombie.</summary>
    public static bool IsAlive(int pid)
    {
        if (pid <= 0)
        {
            return false;
        }
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // Field 3 (after the parenthesised command name) is the state; Z = zombie, X = dead.
            var state = stat[(stat.LastIndexOf(')') + 2)..][0];
            return state is not ('Z' or 'X');
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return true;
        }
    }

    /// <summary>Pids of live processes whose environment contains <paramref name="marker"/>.</summary>
    public static IReadOnlyList<int> WithEnvironment(string marker)
    {
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId)
            {
                continue;
            }
            try
            {
                var environ = File.ReadAllText(Path.Combine(dir, "environ"));
                if (environ.Contains(marker, StringComparison.Ordinal) && IsAlive(pid))
                {
                    found.Add(pid);
                }
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
        return found;
    }

    /// <summary>Freezes (SIGSTOP) or wakes (SIGCONT) <paramref name="pid"/>: a process that is alive but does nothing, as in a long GC pause or a stalled VM.</summary>
    public static void Freeze(int pid, bool frozen)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", [frozen ? "-STOP" : "-CONT", pid.ToString()])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        })!;
        kill.WaitForExit(5_000);
    }

    public static void Kill(int pid, bool hard)
    {
        if (!IsAlive(pid))
        {
            return;
        }
        using var kill = Process.Start(new ProcessStartInfo("kill", [hard ? "-KILL" : "-TERM", pid.ToString()])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        })!;
        kill.WaitForExit(5_000);
    }
}
