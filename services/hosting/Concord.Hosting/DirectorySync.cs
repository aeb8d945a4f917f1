using System.Runtime.InteropServices;

namespace Concord.Hosting;

/// <summary>
/// fsync(2) of a directory, which .NET has no API for. A rename is durable only once the
/// directory holding it is synced: before that, a power loss can bring the old file back. Used
/// by the scheduler's topology store, the checkpoint layout and the csv-sink's commits.
/// </summary>
public static partial class DirectorySync
{
    private const int ReadOnly = 0;

    /// <summary>EINVAL: the file system cannot sync directories (some FUSE and network mounts); nothing to do.</summary>
    private const int Einval = 22;

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);

    /// <summary>Makes the entries of <paramref name="directory"/> (a rename into it) durable.</summary>
    /// <exception cref="IOException">The sync failed: the change may not survive a power loss.</exception>
    public static void Sync(string directory)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
        {
            return;
        }
        var fd = Open(directory, ReadOnly);
        if (fd < 0)
        {
            throw new IOException($"cannot open directory '{directory}' to sync it (errno {Marshal.GetLastPInvokeError()}); check that it exists and is readable");
        }
        try
        {
            if (Fsync(fd) != 0 && Marshal.GetLastPInvokeError() is var errno && errno != Einval)
            {
                throw new IOException($"fsync of directory '{directory}' failed (errno {errno}); the disk may be failing or full");
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }
}
