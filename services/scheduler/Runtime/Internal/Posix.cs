using System.Runtime.InteropServices;

namespace Concord.Scheduler.Runtime.Internal;

/// <summary>The few POSIX calls .NET has no API for (sending SIGTERM, probing a pid).</summary>
internal static partial class Posix
{
    public const int SigTerm = 15;
    public const int SigKill = 9;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    /// <summary>Sends <paramref name="signal"/>; false when the process does not exist (any more).</summary>
    public static bool TrySignal(int pid, int signal) => pid > 0 && Kill(pid, signal) == 0;

    /// <summary>Whether a process with this pid exists (signal 0 probes without sending).</summary>
    public static bool IsAlive(int pid)
    {
        if (pid <= 0)
        {
            return false;
        }
        if (Kill(pid, 0) == 0)
        {
            // A zombie still answers kill(0) but is dead for our purposes.
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                var afterName = stat.LastIndexOf(')');
                return afterName < 0 || afterName + 2 >= stat.Length || stat[afterName + 2] != 'Z';
            }
            catch (IOException)
            {
                return false;
            }
        }
        // EPERM: it exists but belongs to someone else.
        return Marshal.GetLastPInvokeError() == 1;
    }

    /// <summary>
    /// The environment of a process from <c>/proc/pid/environ</c>; null when it cannot be read
    /// now (gone, not ours, or in the middle of an exec).
    /// </summary>
    public static Dictionary<string, string>? ReadEnvironment(int pid)
    {
        byte[] environ;
        try
        {
            environ = File.ReadAllBytes($"/proc/{pid}/environ");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        if (environ.Length == 0)
        {
            return null;
        }
        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var range in ((ReadOnlySpan<byte>)environ).Split((byte)0))
        {
            var entry = System.Text.Encoding.UTF8.GetString(environ.AsSpan(range));
            var equals = entry.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0)
            {
                variables[entry[..equals]] = entry[(equals + 1)..];
            }
        }
        return variables;
    }

    /// <summary>
    /// Whether <c>/proc/pid/environ</c> holds exactly <paramref name="variable"/>=<paramref name="value"/>;
    /// null when it cannot be read now (the process is gone, or in the middle of an exec,
    /// when the kernel shows an empty environment).
    /// </summary>
    public static bool? HasEnvironment(int pid, string variable, string value)
    {
        byte[] environ;
        try
        {
            environ = File.ReadAllBytes($"/proc/{pid}/environ");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        if (environ.Length == 0)
        {
            return null;
        }
        var wanted = System.Text.Encoding.UTF8.GetBytes($"{variable}={value}");
        foreach (var range in ((ReadOnlySpan<byte>)environ).Split((byte)0))
        {
            if (environ.AsSpan(range).SequenceEqual(wanted))
            {
                return true;
            }
        }
        return false;
    }
}
