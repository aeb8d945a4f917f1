using System.Runtime.InteropServices;

namespace Concord.Executor.Builtins.Internal;

/// <summary>
/// fsync(2) of a directory, which .NET has no API for. A rename (csv-sink's pre-commit and
/// commit) is durable only once the directory holding it is synced: before that, a power loss
/// can undo it.
/// </summary>
internal static class DirectorySync
{
    private const int ReadOnly = 0;

    /// <summary>EINVAL: the file system cannot sync directories (some FUSE and network mounts); nothing to do.</summary>
    private const int Einval = 22;

    // DllImport rather than LibraryImport: the executor is not compiled with unsafe code, which the generator needs.
    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static extern int Fsync(int fd);

    [DllImport("libc", EntryPoint = "close")]
    private static extern int Close(int fd);

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
