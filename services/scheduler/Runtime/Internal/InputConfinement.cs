using System.Runtime.InteropServices;

namespace Concord.Scheduler.Runtime.Internal;

/// <summary>
/// Real paths and "is it under one of these directories", for the inputs a deploy names
/// (files to copy, the executable). Symbolic links are resolved on both sides, so a link in
/// an allowed directory that points out of it is outside.
/// </summary>
internal static partial class InputConfinement
{
    [LibraryImport("libc", EntryPoint = "realpath", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial IntPtr RealPathNative(string path, IntPtr resolved);

    [LibraryImport("libc", EntryPoint = "free")]
    private static partial void Free(IntPtr pointer);

    /// <summary>The canonical path (every link resolved) of an existing file or directory; null when it cannot be resolved.</summary>
    public static string? RealPath(string path)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
        {
            return Path.GetFullPath(path);
        }
        var resolved = RealPathNative(path, IntPtr.Zero);
        if (resolved == IntPtr.Zero)
        {
            return null;
        }
        try
        {
            return Marshal.PtrToStringUTF8(resolved);
        }
        finally
        {
            Free(resolved);
        }
    }

    /// <summary>Whether the real path <paramref name="realPath"/> is <paramref name="root"/> (a real path) or inside it.</summary>
    public static bool IsUnder(string realPath, string root)
    {
        var prefix = root.EndsWith('/') ? root : root + "/";
        return realPath == root || realPath.StartsWith(prefix, StringComparison.Ordinal);
    }

    /// <summary>The real paths of the directories in <paramref name="roots"/> that exist.</summary>
    public static IReadOnlyList<string> RealRoots(IEnumerable<string> roots) =>
        roots.Select(RealPath).OfType<string>().Distinct(StringComparer.Ordinal).ToList();

    /// <summary>
    /// Null when <paramref name="executable"/> (a resolved absolute path) is allowed by
    /// <paramref name="executableRoots"/> (empty: every executable is allowed), else the error.
    /// </summary>
    public static string? CheckExecutable(string executable, IReadOnlyList<string> executableRoots)
    {
        if (executableRoots.Count == 0)
        {
            return null;
        }
        var real = RealPath(executable);
        var roots = RealRoots(executableRoots);
        if (real is not null && roots.Any(root => IsUnder(real, root)))
        {
            return null;
        }
        return $"executable '{executable}'{(real is not null && real != executable ? $" (really '{real}')" : "")} is not in a directory this scheduler may run programs from " +
               $"({string.Join(", ", executableRoots)}); install the program there, or ask the cluster operator to add its directory with --executables-root";
    }
}
