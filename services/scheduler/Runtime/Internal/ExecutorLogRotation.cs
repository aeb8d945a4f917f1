namespace Concord.Scheduler.Runtime.Internal;

/// <summary>
/// Keeps an instance's executor.log bounded. The executor appends to the file itself (the launch
/// shell's <c>&gt;&gt;</c>, O_APPEND: no pipe through the scheduler, see LocalProcessRuntime), so
/// the file cannot be renamed under it — the executor would keep writing to the renamed file.
/// Instead it is copied and truncated ("copytruncate"): <c>executor.log.N-1</c> … become
/// <c>.N</c>, the current file is copied to <c>executor.log.1</c> and truncated to 0; O_APPEND
/// makes the executor's next write land at the new end. Lines written between the copy and the
/// truncation are lost, which a bound on a log may accept.
/// </summary>
internal sealed class ExecutorLogRotation(string logFile, long bytesMax, int filesKept)
{
    private readonly Lock _lock = new();

    /// <summary>The name of the i-th rolled file (1 = the newest).</summary>
    public static string Rolled(string logFile, int i) => $"{logFile}.{i.ToString(System.Globalization.CultureInfo.InvariantCulture)}";

    /// <summary>Rolls the file when it has more than its cap; one roll at a time (the watch and the exit).</summary>
    public bool RotateIfOver()
    {
        lock (_lock)
        {
            return RotateIfOver(logFile, bytesMax, filesKept);
        }
    }

    /// <summary>Rolls the file when it has more than <paramref name="bytesMax"/> bytes; true when it did.</summary>
    public static bool RotateIfOver(string logFile, long bytesMax, int filesKept)
    {
        try
        {
            var info = new FileInfo(logFile);
            if (!info.Exists || info.Length <= bytesMax)
            {
                return false;
            }
            if (filesKept > 0)
            {
                File.Delete(Rolled(logFile, filesKept));
                for (var i = filesKept - 1; i >= 1; i--)
                {
                    if (File.Exists(Rolled(logFile, i)))
                    {
                        File.Move(Rolled(logFile, i), Rolled(logFile, i + 1), overwrite: true);
                    }
                }
                File.Copy(logFile, Rolled(logFile, 1), overwrite: true);
            }
            using var stream = new FileStream(logFile, FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
            stream.SetLength(0);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort (the directory may be going away); the next check tries again.
            return false;
        }
    }

    /// <summary>
    /// Checks the file every <paramref name="interval"/> until <paramref name="exited"/> completes
    /// (the instance checks once more itself before it reports the exit).
    /// </summary>
    public async Task WatchAsync(TimeSpan interval, Task exited, TimeProvider time)
    {
        while (!exited.IsCompleted)
        {
            RotateIfOver();
            using var wake = new CancellationTokenSource();
            await Task.WhenAny(exited, Task.Delay(interval, time, wake.Token)).ConfigureAwait(false);
            await wake.CancelAsync().ConfigureAwait(false);
        }
    }
}
