using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Concord.Cli.Internal;

/// <summary>
/// Signals and liveness of processes that the CLI did not necessarily start (the scheduler
/// recorded in scheduler.json). .NET has no managed way to send SIGTERM, hence libc kill(2).
/// </summary>
internal static class ProcessControl
{
    public const int SigKill = 9;
    public const int SigTerm = 15;

    private const int EPERM = 1;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SysKill(int pid, int signal);

    /// <summary>Sends <paramref name="signal"/>; false when the process no longer exists.</summary>
    public static bool Signal(int pid, int signal) => pid > 0 && SysKill(pid, signal) == 0;

    /// <summary>True when a process with this pid exists (signal 0 probes without sending).</summary>
    public static bool IsAlive(int pid)
    {
        if (pid <= 0)
        {
            return false;
        }
        if (SysKill(pid, 0) == 0)
        {
            return !IsZombie(pid);
        }
        // EPERM: it exists but belongs to someone else.
        return Marshal.GetLastPInvokeError() == EPERM;
    }

    /// <summary>
    /// Whether <paramref name="pid"/> looks like a Concord scheduler, so a stale scheduler.json
    /// whose pid was reused by an unrelated process is never signalled. True when it cannot be
    /// told (no /proc).
    /// </summary>
    public static bool LooksLikeScheduler(int pid)
    {
        var cmdline = $"/proc/{pid}/cmdline";
        if (!File.Exists(cmdline))
        {
            return !Directory.Exists("/proc/self");
        }
        try
        {
            return File.ReadAllText(cmdline).Contains("Concord.Scheduler", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Polls until <paramref name="pid"/> is gone or the timeout passes; true when gone.</summary>
    public static async Task<bool> WaitForExitAsync(int pid, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        // Not our child, so there is no exit event to await: poll with a deadline.
        var started = time.GetTimestamp();
        while (IsAlive(pid))
        {
            if (time.GetElapsedTime(started) >= timeout)
            {
                return false;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(CliLimits.StopPollIntervalMs), time, cancellationToken);
        }
        return true;
    }

    /// <summary>The `dotnet` host running this CLI, so the scheduler runs on the same runtime.</summary>
    public static string DotnetHost()
    {
        var self = Environment.ProcessPath;
        if (self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            return self;
        }
        return Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
    }

    private static bool IsZombie(int pid)
    {
        // An exited child not yet reaped still answers kill(pid, 0); /proc says "Z".
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var close = stat.LastIndexOf(')');
            return close > 0 && close + 2 < stat.Length && stat[close + 2] == 'Z';
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>SIGTERM, bounded wait, then SIGKILL, for a child we started.</summary>
    public static async Task<bool> StopChildAsync(Process process, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (process.HasExited)
        {
            return true;
        }
        Signal(process.Id, SigTerm);
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(bounded.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: false);
            return false;
        }
    }
}
