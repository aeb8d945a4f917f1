using System.Text;

namespace Concord.Scheduler.Store;

/// <summary>
/// Replaces a file so that readers and crashes see the old content or the new, never a torn
/// mix: write a temp file beside it, fsync it, rename it over the target (atomic on POSIX),
/// fsync the directory (so the rename itself survives a power loss).
/// </summary>
public static class AtomicFile
{
    /// <summary>Suffix of temp files: <c>&lt;target&gt;.&lt;pid&gt;.&lt;guid&gt;.tmp</c>.</summary>
    public const string TempSuffix = ".tmp";

    public static async Task WriteAllTextAsync(string path, string contents, CancellationToken cancellationToken)
    {
        // Unique temp name: two writers of different files in one directory never collide, and
        // a temp file left by a crash is recognizable (and harmless) next to the real one.
        var temp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}{TempSuffix}";
        try
        {
            var create = new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                Share = FileShare.None,
                Options = FileOptions.Asynchronous,
            };
            if (!OperatingSystem.IsWindows())
            {
                // Owner-only from creation, whatever the umask: specs carry the operators' environment.
                create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }
            var stream = new FileStream(temp, create);
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
        // Failing here, the new content is in place but may not survive a power loss; the
        // caller treats the write as failed, and its next write replaces the file whole.
        Concord.Hosting.DirectorySync.Sync(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    /// <summary>
    /// Deletes the temp files of <paramref name="path"/> that a writer which has died left behind
    /// (a crash between creating and renaming one). A live writer's temp file is left alone.
    /// </summary>
    /// <returns>How many were deleted.</returns>
    public static int DeleteLeftoverTempFiles(string path)
    {
        var full = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(full)!;
        var prefix = Path.GetFileName(full) + ".";
        var deleted = 0;
        foreach (var temp in Directory.EnumerateFiles(directory, prefix + "*" + TempSuffix))
        {
            var pidText = Path.GetFileName(temp)[prefix.Length..].Split('.')[0];
            if (int.TryParse(pidText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var pid)
                && pid != Environment.ProcessId && !Runtime.Internal.Posix.IsAlive(pid))
            {
                File.Delete(temp);
                deleted++;
            }
        }
        return deleted;
    }
}
