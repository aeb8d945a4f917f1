using System.Runtime.InteropServices;
using Concord.Contracts.Types.V1;
using Microsoft.Win32.SafeHandles;

namespace Concord.Scheduler.Runtime.Internal;

/// <summary>
/// The "files" of a spec, checked and copied into an instance's working directory. An entry is
/// a regular file or a directory, copied recursively under the entry's own name. A file (listed
/// or inside a listed directory) is accepted only if it is a regular file (never a device, FIFO
/// or socket: a FIFO would block the reader, /dev/zero never ends), its real path (links
/// resolved) is under an allowed directory, and it and all files together are within
/// <see cref="SchedulerLimits.FileBytesMax"/>, <see cref="SchedulerLimits.FilesBytesMax"/> and
/// <see cref="SchedulerLimits.CopiedFilesMax"/>.
/// </summary>
/// <remarks>
/// The allowed directories are the scheduler's <c>--files-root</c>s when it has any, else the
/// deploy file's directory as the client states it (<c>source_directory</c>). A listed entry may
/// be a link that stays inside them; inside a listed directory nothing is followed: every entry
/// is examined with lstat semantics and a link is refused, so the walk cannot leave the tree or
/// loop, and <see cref="SchedulerLimits.CopiedDirectoriesMax"/> bounds it even if a directory is
/// swapped for a link mid-walk. The type is checked before opening (a FIFO is never opened), and
/// again on the open descriptor, whose real path is read back from /proc: a file swapped for a
/// link or a FIFO between the check and the copy is caught. Copies go to a new temp file renamed
/// over the destination, and every directory on the way is made sure to be a real directory, so
/// a link an operator left in its working directory is replaced, never followed. Linux only
/// (statx, /proc), as the local runtime is.
/// </remarks>
internal static partial class InstanceFiles
{
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const int AtEmptyPath = 0x1000;
    private const uint StatxType = 0x1;
    private const uint StatxSize = 0x200;
    private const int StatxBufferBytes = 256;
    private const int StatxModeOffset = 28;
    private const int StatxSizeOffset = 40;
    private const int ORdOnly = 0;
    private const int ONonBlock = 0x800;
    private const int ONoFollow = 0x20000;
    private const int OCloExec = 0x80000;
    private const int SIfMt = 0xF000;
    private const int SIfReg = 0x8000;
    private const int SIfDir = 0x4000;
    private const int SIfIfo = 0x1000;
    private const int SIfChr = 0x2000;
    private const int SIfBlk = 0x6000;
    private const int SIfLnk = 0xA000;
    private const int SIfSock = 0xC000;
    private const int Enoent = 2;
    private const int Eacces = 13;
    private const int Enotdir = 20;
    private const int Eloop = 40;

    /// <summary>Bytes read per step of a copy: 1 MiB, so a cancelled or timed-out copy stops within one step.</summary>
    private const int CopyChunkBytes = 1024 * 1024;

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static unsafe partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    /// <summary>
    /// Null when every entry of <paramref name="spec"/> may be copied, else the first problem,
    /// naming the field and the fix. <paramref name="reservedNames"/> are the files the runtime
    /// itself keeps in an instance's directory.
    /// </summary>
    public static string? Check(OperatorSpec spec, IReadOnlyList<string> filesRoots, IReadOnlySet<string> reservedNames)
    {
        try
        {
            var total = new Total();
            foreach (var entry in Entries(spec, filesRoots, reservedNames))
            {
                if (entry.Source is { } source)
                {
                    OpenOne(source, total).Dispose();
                }
            }
            return null;
        }
        catch (InputRejectedException e)
        {
            return e.Message;
        }
    }

    /// <summary>
    /// Copies every entry of <paramref name="spec"/> into <paramref name="directory"/>, checking
    /// each file again, within <see cref="SchedulerLimits.FilesCopyTimeoutMs"/>.
    /// </summary>
    /// <exception cref="InputRejectedException">An entry is not acceptable (any more).</exception>
    /// <exception cref="TimeoutException">The copy took too long.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (the launch is no longer wanted).</exception>
    public static async Task CopyAsync(OperatorSpec spec, IReadOnlyList<string> filesRoots, IReadOnlySet<string> reservedNames, string directory,
        TimeProvider time, CancellationToken cancellationToken)
    {
        if (spec.Files.Count == 0)
        {
            return;
        }
        // Beside the caller from here on: the reconcile loop never waits for a copy.
        await Task.Yield();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(SchedulerLimits.FilesCopyTimeoutMs), time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        try
        {
            var total = new Total();
            foreach (var entry in Entries(spec, filesRoots, reservedNames))
            {
                linked.Token.ThrowIfCancellationRequested();
                var destination = System.IO.Path.Combine(directory, entry.Target);
                if (entry.Source is { } source)
                {
                    // One file open at a time: a tree of thousands of files never holds thousands of descriptors.
                    using var file = OpenOne(source, total);
                    await CopyOneAsync(file, destination, linked.Token).ConfigureAwait(false);
                }
                else
                {
                    EnsureRealDirectory(destination);
                }
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException(
                $"copying the \"files\" into '{directory}' took longer than {SchedulerLimits.FilesCopyTimeoutMs} ms (SchedulerLimits.FilesCopyTimeoutMs); " +
                "check the disk holding them, or list fewer or smaller files");
        }
    }

    /// <summary>
    /// A file to copy (<paramref name="Index"/> of the "files" entry it comes from, its path;
    /// <paramref name="Nested"/>: found inside a listed directory, so never followed if a link).
    /// </summary>
    private sealed record Source(int Index, string Path, bool Nested, IReadOnlyList<string> Roots, string RootsText);

    /// <summary>What to make in the instance's directory: a copy of <paramref name="Source"/>, or (null) a directory; parents come first.</summary>
    private sealed record Entry(string Target, Source? Source);

    private sealed record OpenFile(Source Source, SafeFileHandle Handle, long Bytes) : IDisposable
    {
        public void Dispose() => Handle.Dispose();
    }

    /// <summary>Bytes of the files opened so far, for <see cref="SchedulerLimits.FilesBytesMax"/>.</summary>
    private sealed class Total
    {
        public long Bytes { get; set; }
    }

    /// <summary>
    /// Every entry to make, in order, checked as far as it can be without opening a file: names,
    /// types (lstat inside directories), confinement of listed directories, the counts.
    /// </summary>
    private static IEnumerable<Entry> Entries(OperatorSpec spec, IReadOnlyList<string> filesRoots, IReadOnlySet<string> reservedNames)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new InputRejectedException("files: cannot be checked on this system (the local runtime copies files on Linux only); remove \"files\"");
        }
        var roots = Roots(spec, filesRoots, out var rootsText);
        var names = new Dictionary<string, int>(StringComparer.Ordinal);
        var files = 0;
        var directories = 0;
        for (var i = 0; i < spec.Files.Count; i++)
        {
            var path = spec.Files[i];
            var name = System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(path));
            if (name is "" or "." or "..")
            {
                throw Rejected(i, path, "has no name to copy it under; list the file or directory itself (e.g. \"data/model\")");
            }
            if (reservedNames.Contains(name))
            {
                throw Rejected(i, path, $"has the name of a file Concord keeps in the instance's directory ({string.Join(", ", reservedNames.Order(StringComparer.Ordinal))}); rename it");
            }
            if (names.TryGetValue(name, out var other))
            {
                throw Rejected(i, path, $"has the same name as files[{other}] ('{name}'); each entry is copied into the instance's directory under its own name, so rename one");
            }
            names[name] = i;
            // A listed entry may be a link (that stays inside the roots): follow it here.
            var (mode, _, statError) = Stat(AtFdCwd, path, 0);
            if (statError is { } error)
            {
                throw StatFailed(i, path, error);
            }
            if ((mode & SIfMt) != SIfDir)
            {
                CountFile(i, ref files);
                yield return new Entry(name, new Source(i, path, Nested: false, roots, rootsText));
                continue;
            }
            var real = InputConfinement.RealPath(path);
            if (real is null || !roots.Any(root => InputConfinement.IsUnder(real, root)))
            {
                throw Outside(i, path, real, rootsText);
            }
            CountDirectory(i, path, ref directories);
            yield return new Entry(name, null);
            var pending = new Stack<(string Path, string Target)>([(path, name)]);
            while (pending.TryPop(out var directory))
            {
                var children = new List<(string Path, string Target)>();
                foreach (var child in ListNames(i, directory.Path))
                {
                    var childPath = System.IO.Path.Combine(directory.Path, child);
                    var childTarget = System.IO.Path.Combine(directory.Target, child);
                    var (childMode, _, childError) = Stat(AtFdCwd, childPath, AtSymlinkNoFollow);
                    if (childError is { } e)
                    {
                        throw StatFailed(i, childPath, e);
                    }
                    switch (childMode & SIfMt)
                    {
                        case SIfDir:
                            CountDirectory(i, childPath, ref directories);
                            yield return new Entry(childTarget, null);
                            children.Add((childPath, childTarget));
                            break;
                        case SIfLnk:
                            throw LinkInside(i, childPath);
                        default:
                            // A FIFO, device or socket is refused here, before anything could open it.
                            CheckRegular(i, childPath, childMode, nested: true);
                            CountFile(i, ref files);
                            yield return new Entry(childTarget, new Source(i, childPath, Nested: true, roots, rootsText));
                            break;
                    }
                }
                // Reversed onto the stack, so subdirectories are walked in name order.
                for (var c = children.Count - 1; c >= 0; c--)
                {
                    pending.Push(children[c]);
                }
            }
        }
    }

    /// <summary>
    /// The names in one directory, in order. At most one more than any listing could hold
    /// without breaking a count, so a directory of millions of entries is never read whole.
    /// </summary>
    private static List<string> ListNames(int index, string directory)
    {
        try
        {
            return Directory.EnumerateFileSystemEntries(directory)
                .Take(SchedulerLimits.CopiedFilesMax + SchedulerLimits.CopiedDirectoriesMax + 1)
                .Select(System.IO.Path.GetFileName)
                .OfType<string>()
                .Order(StringComparer.Ordinal)
                .ToList();
        }
        catch (UnauthorizedAccessException)
        {
            throw Rejected(index, directory, "cannot be listed by the scheduler (permission denied); make it readable or remove it from \"files\"");
        }
        catch (IOException e)
        {
            throw Rejected(index, directory, $"cannot be listed ({e.Message}); check it or remove it from \"files\"");
        }
    }

    private static void CountFile(int index, ref int files)
    {
        if (++files > SchedulerLimits.CopiedFilesMax)
        {
            throw new InputRejectedException(
                $"files: the entries hold more than {SchedulerLimits.CopiedFilesMax} files up to files[{index}] (SchedulerLimits.CopiedFilesMax), each copied into every instance's directory; " +
                "list fewer files, or keep large data sets where the operator can read them in place (an absolute path in \"args\" or \"environment\")");
        }
    }

    private static void CountDirectory(int index, string path, ref int directories)
    {
        if (++directories > SchedulerLimits.CopiedDirectoriesMax)
        {
            throw Rejected(index, path, $"is one directory too many: the entries hold more than {SchedulerLimits.CopiedDirectoriesMax} directories (SchedulerLimits.CopiedDirectoriesMax); " +
                "list fewer or flatter directories, or keep large data sets where the operator can read them in place");
        }
    }

    /// <summary>
    /// The allowed directories: the scheduler's --files-root options when given (the client's
    /// word is not trusted then), else the deploy file's directory the client sent.
    /// </summary>
    private static IReadOnlyList<string> Roots(OperatorSpec spec, IReadOnlyList<string> filesRoots, out string describe)
    {
        if (filesRoots.Count > 0)
        {
            describe = $"the scheduler's --files-root ({string.Join(", ", filesRoots)})";
            return InputConfinement.RealRoots(filesRoots);
        }
        describe = string.IsNullOrEmpty(spec.SourceDirectory)
            ? "the deploy file's directory (unknown: the spec has no source_directory)"
            : $"the deploy file's directory ('{spec.SourceDirectory}')";
        return Path.IsPathFullyQualified(spec.SourceDirectory) ? InputConfinement.RealRoots([spec.SourceDirectory]) : [];
    }

    /// <summary>Opens one file, checked (type before and after opening, real path, size, the running total).</summary>
    private static OpenFile OpenOne(Source source, Total total)
    {
        var (index, path) = (source.Index, source.Path);
        // The type before opening: a FIFO is never opened (it would block), a device never read.
        var before = Stat(AtFdCwd, path, source.Nested ? AtSymlinkNoFollow : 0);
        if (before.Error is { } statError)
        {
            throw StatFailed(index, path, statError);
        }
        if (source.Nested && (before.Mode & SIfMt) == SIfLnk)
        {
            throw LinkInside(index, path);
        }
        CheckRegular(index, path, before.Mode, source.Nested);
        // Inside a listed directory a link is never followed, even one swapped in since the walk.
        var fd = Open(path, ORdOnly | ONonBlock | OCloExec | (source.Nested ? ONoFollow : 0));
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw errno switch
            {
                Eacces => Rejected(index, path, "cannot be read by the scheduler (permission denied); make it readable or remove it from \"files\""),
                Eloop when source.Nested => LinkInside(index, path),
                _ => Rejected(index, path, $"cannot be opened (errno {errno}); check it or remove it from \"files\""),
            };
        }
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            // Again on what was opened: the path may have been swapped since the check.
            var (mode, bytes, error) = Stat(fd, "", AtEmptyPath);
            if (error is not null)
            {
                throw Rejected(index, path, $"cannot be examined once opened (errno {error}); check it or remove it from \"files\"");
            }
            CheckRegular(index, path, mode, source.Nested);
            var real = new FileInfo($"/proc/self/fd/{fd}").LinkTarget ?? path;
            if (!source.Roots.Any(root => InputConfinement.IsUnder(real, root)))
            {
                throw Outside(index, path, real, source.RootsText);
            }
            if (bytes > SchedulerLimits.FileBytesMax)
            {
                throw Rejected(index, path, $"has {bytes} bytes, more than {SchedulerLimits.FileBytesMax} (SchedulerLimits.FileBytesMax); " +
                    "put large data where the operator can read it instead of in \"files\"");
            }
            total.Bytes += bytes;
            if (total.Bytes > SchedulerLimits.FilesBytesMax)
            {
                throw new InputRejectedException(
                    $"files: {total.Bytes} bytes up to files[{index}] is more than {SchedulerLimits.FilesBytesMax} bytes in all (SchedulerLimits.FilesBytesMax); " +
                    "every instance gets a copy, so put large data where the operator can read it instead of in \"files\"");
            }
            return new OpenFile(source, handle, bytes);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static InputRejectedException StatFailed(int index, string path, int error) => error switch
    {
        Enoent or Enotdir => Rejected(index, path, "does not exist; create it or remove it from \"files\" in the deploy file"),
        Eacces => Rejected(index, path, "cannot be read by the scheduler (permission denied); make it readable or remove it from \"files\""),
        _ => Rejected(index, path, $"cannot be examined (errno {error}); check it or remove it from \"files\""),
    };

    private static InputRejectedException Outside(int index, string path, string? real, string rootsText)
    {
        var really = real is null || real == path ? "" : $" (really '{real}')";
        return Rejected(index, path, $"{really} is outside {rootsText}; put it there, " +
            "or ask the cluster operator to start the scheduler with --files-root covering it");
    }

    /// <summary>A link inside a listed directory: following it could leave the tree or loop.</summary>
    private static InputRejectedException LinkInside(int index, string path)
    {
        var toDirectory = (Stat(AtFdCwd, path, 0).Mode & SIfMt) == SIfDir;
        return Rejected(index, path, toDirectory
            ? "is a symbolic link to a directory, and links inside a directory are not followed; list the link's target in \"files\" instead, or replace the link with the directory"
            : "is a symbolic link, and links inside a directory are not followed; list the link's target in \"files\" instead, or replace the link with the file");
    }

    private static void CheckRegular(int index, string path, int mode, bool nested)
    {
        var fix = nested ? "only regular files and directories are copied, so remove it from the directory" : "list regular files only";
        var what = (mode & SIfMt) switch
        {
            SIfReg => null,
            SIfDir => "a directory where a file was expected (it changed since it was checked); deploy again",
            SIfIfo => $"a FIFO (named pipe); {fix}",
            SIfChr or SIfBlk => $"a device; {fix}",
            SIfSock => $"a socket; {fix}",
            _ => $"not a regular file; {fix}",
        };
        if (what is not null)
        {
            throw Rejected(index, path, $"is {what}");
        }
    }

    /// <summary>
    /// Makes <paramref name="path"/> a real directory: whatever else is there (a link, a file an
    /// operator left) is removed first, so nothing below it is written through a link. Its parent
    /// was made sure of before (entries come parents first).
    /// </summary>
    private static void EnsureRealDirectory(string path)
    {
        var (mode, _, error) = Stat(AtFdCwd, path, AtSymlinkNoFollow);
        if (error is null && (mode & SIfMt) == SIfDir)
        {
            return;
        }
        if (error is null)
        {
            File.Delete(path);
        }
        Directory.CreateDirectory(path);
    }

    /// <summary>
    /// Copies one opened file into a new temp file beside <paramref name="destination"/>, then
    /// renames it over the destination. At most the size checked at open (plus one byte to
    /// notice growth) is read: a file that grows while copied is refused, never copied without end.
    /// </summary>
    private static async Task CopyOneAsync(OpenFile file, string destination, CancellationToken cancellationToken)
    {
        var temp = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(destination)!, $".concord-copy-{Guid.NewGuid():N}");
        try
        {
            // CreateNew is O_EXCL: never follows a link, never reuses a file someone prepared.
            await using (var output = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0, useAsync: true))
            {
                var buffer = new byte[(int)Math.Min(CopyChunkBytes, file.Bytes + 1)];
                long offset = 0;
                while (true)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var read = await RandomAccess.ReadAsync(file.Handle, buffer, offset, cancellationToken).ConfigureAwait(false);
                    if (read == 0)
                    {
                        break;
                    }
                    offset += read;
                    if (offset > file.Bytes)
                    {
                        throw Rejected(file.Source.Index, file.Source.Path, $"grew while it was copied (past {file.Bytes} bytes); copy it when it is complete");
                    }
                    await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                }
            }
            File.Move(temp, destination, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    private static unsafe (int Mode, long Bytes, int? Error) Stat(int dirfd, string path, int flags)
    {
        var buffer = stackalloc byte[StatxBufferBytes];
        if (Statx(dirfd, path, flags, StatxType | StatxSize, buffer) != 0)
        {
            return (0, 0, Marshal.GetLastPInvokeError());
        }
        return (*(ushort*)(buffer + StatxModeOffset), *(long*)(buffer + StatxSizeOffset), null);
    }

    private static InputRejectedException Rejected(int index, string path, string problem) =>
        new($"files[{index}]: '{path}'{(problem.StartsWith(' ') ? "" : " ")}{problem}");
}

/// <summary>An input a spec names (a file to copy) that the runtime refuses; the message names the field and the fix.</summary>
internal sealed class InputRejectedException(string message) : IOException(message);
