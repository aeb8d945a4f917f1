using System.Text;

namespace Concord.Scheduler.Store;

/// <summary>
/// Replaces a file so that readers and crashes see the old content or the new, never a torn
/// mix: write a temp file beside it, fsync it, rename it over the target (atomic on POSIX).
/// </summary>
public static class AtomicFile
{
    public static async Task WriteAllTextAsync(string path, string contents, CancellationToken cancellationToken)
    {
        // Unique temp name: two writers of different files in one directory never collide, and
        // a temp file left by a crash is recognizable (and harmless) next to the real one.
        var temp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 4096, FileOptions.Asynchronous);
            await using (stream.ConfigureAwait(false))
            {
                await stream.WriteAsync(Encoding.UTF8.GetBytes(contents), cancellationToken).ConfigureAwait(false);
                // fsync before rename: otherwise a crash can leave the renamed file empty.
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }
}
