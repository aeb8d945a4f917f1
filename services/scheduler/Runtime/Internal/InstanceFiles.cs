using System.Runtime.InteropServices;
using Concord.Contracts.Types.V1;
using Microsoft.Win32.SafeHandles;

namespace Concord.Scheduler.Runtime.Internal;

/// <summary>
/// The "files" of a spec, checked and copied into an instance's working directory. A file is
/// accepted only if it is a regular file (never a directory, device, FIFO or socket: a FIFO
/// would block the reader, /dev/zero never ends), its real path (links resolved) is under an
/// allowed directory, and it and all files together are within
/// <see cref="SchedulerLimits.FileBytesMax"/> and <see cref="SchedulerLimits.FilesBytesMax"/>.
/// </summary>
/// <remarks>
/// The allowed directories are the scheduler's <c>--files-root</c>s when it has any, else the
/// deploy file's directory as the client states it (<c>source_directory</c>). The type is
/// checked before opening (a FIFO is never opened), and again on the open descriptor, whose
/// real path is read back from /proc: a file swapped for a link or a FIFO between the check
/// and the copy is caught. Copies go to a new temp file renamed over the destination, so a
/// link an operator left in its working directory is replaced, never followed. Linux only
/// (statx, /proc), as the local runtime is.
/// </remarks>
internal static partial class InstanceFiles
{
    private const int AtFdCwd = -100;
    private const int AtEmptyPath = 0x1000;
    private const uint StatxType = 0x1;
    private const uint StatxSize = 0x200;
    private const int StatxBufferBytes = 256;
    private const int StatxModeOffset = 28;
    private const int StatxSizeOffset = 40;
    private const int ORdOnly = 0;
    private const int ONonBlock = 0x800;
    private const int OCloExec = 0x80000;
    private const int SIfMt = 0xF000;
    private const int SIfReg = 0x8000;
    private const int SIfDir = 0x4000;
    private const int SIfIfo = 0x1000;
    private const int SIfChr = 0x2000;
    private const int SIfBlk = 0x6000;
    private const int SIfSock = 0xC000;
    private const int Enoent = 2;
    private const int Eacces = 13;
    private const int Enotdir = 20;

    /// <summary>Bytes read per step of a copy: 1 MiB, so a cancelled or timed-out copy stops within one step.</summary>
    private const int CopyChunkBytes = 1024 * 1024;

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static unsafe partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    /// <summary>
    /// Null when every file of <paramref name="spec"/> may be copied, else the first problem,
    /// naming the field and the fix. <paramref name="reservedNames"/> are the files the runtime
    /// itself keeps in an instance's directory.
    /// </summary>
    public static string? Check(OperatorSpec spec, IReadOnlyList<string> filesRoots, IReadOnlySet<string> reservedNames)
    {
        try
        {
            foreach (var file in OpenAll(spec, filesRoots, reservedNames))
            {
                file.Handle.Dispose();
            }
            return null;
        }
        catch (InputRejectedException e)
        {
            return e.Message;
        }
    }

    /// <summary>
    /// Copies every file of <paramref name="spec"/> into <paramref name="directory"/>, checking
    /// each again, within <see cref="SchedulerLimits.FilesCopyTimeoutMs"/>.
    /// </summary>
    /// <exception cref="InputRejectedException">A file is not acceptable (any more).</exception>
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
        var files = OpenAll(spec, filesRoots, reservedNames);
        try
        {
            foreach (var file in files)
            {
                await CopyOneAsync(file, directory, linked.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException(
                $"copying the \"files\" into '{directory}' took longer than {SchedulerLimits.FilesCopyTimeoutMs} ms (SchedulerLimits.FilesCopyTimeoutMs); " +
                "check the disk holding them, or list fewer or smaller files");
        }
        finally
        {
            foreach (var file in files)
            {
                file.Handle.Dispose();
            }
        }
    }

    private sealed record OpenFile(int Index, string Path, string Name, SafeFileHandle Handle, long Bytes);

    /// <summary>Opens every file, checked; on any problem closes what it opened and throws.</summary>
    private static List<OpenFile> OpenAll(OperatorSpec spec, IReadOnlyList<string> filesRoots, IReadOnlySet<string> reservedNames)
    {
        var opened = new List<OpenFile>();
        try
        {
            var roots = Roots(spec, filesRoots, out var rootsText);
            var names = new Dictionary<string, int>(StringComparer.Ordinal);
            long total = 0;
            for (var i = 0; i < spec.Files.Count; i++)
            {
                var path = spec.Files[i];
                var name = System.IO.Path.GetFileName(path);
                if (reservedNames.Contains(name))
                {
                    throw Rejected(i, path, $"has the name of a file Concord keeps in the instance's directory ({string.Join(", ", reservedNames.Order(StringComparer.Ordinal))}); rename it");
                }
                if (names.TryGetValue(name, out var other))
                {
                    throw Rejected(i, path, $"has the same name as files[{other}] ('{name}'); each file is copied into the instance's directory under its own name, so rename one");
                }
                names[name] = i;
                var file = OpenOne(i, path, name, roots, rootsText);
                opened.Add(file);
                total += file.Bytes;
                if (total > SchedulerLimits.FilesBytesMax)
                {
                    throw new InputRejectedException(
                        $"files: {total} bytes up to files[{i}] is more than {SchedulerLimits.FilesBytesMax} bytes in all (SchedulerLimits.FilesBytesMax); " +
                        "every instance gets a copy, so put large data where the operator can read it instead of in \"files\"");
                }
            }
            return opened;
        }
        catch
        {
            foreach (var file in opened)
            {
                file.Handle.Dispose();
            }
            throw;
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

    private static OpenFile OpenOne(int index, string path, string name, IReadOnlyList<string> roots, string rootsText)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw Rejected(index, path, "cannot be checked on this system (the local runtime copies files on Linux only); remove \"files\"");
        }
        // The type before opening: a FIFO is never opened (it would block), a device never read.
        var before = Stat(AtFdCwd, path, 0);
        if (before.Error is { } statError)
        {
            throw statError switch
            {
                Enoent or Enotdir => Rejected(index, path, "does not exist; create it or remove it from \"files\" in the deploy file"),
                Eacces => Rejected(index, path, "cannot be read by the scheduler (permission denied); make it readable or remove it from \"files\""),
                _ => Rejected(index, path, $"cannot be examined (errno {statError}); check it or remove it from \"files\""),
            };
        }
        CheckRegular(index, path, before.Mode);
        var fd = Open(path, ORdOnly | ONonBlock | OCloExec);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw Rejected(index, path, errno == Eacces
                ? "cannot be read by the scheduler (permission denied); make it readable or remove it from \"files\""
                : $"cannot be opened (errno {errno}); check it or remove it from \"files\"");
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
            CheckRegular(index, path, mode);
            var real = new FileInfo($"/proc/self/fd/{fd}").LinkTarget ?? path;
            if (!roots.Any(root => InputConfinement.IsUnder(real, root)))
            {
                var really = real == path ? "" : $" (really '{real}')";
                throw Rejected(index, path, $"{really} is outside {rootsText}; put it there, " +
                    "or ask the cluster operator to start the scheduler with --files-root covering it");
            }
            if (bytes > SchedulerLimits.FileBytesMax)
            {
                throw Rejected(index, path, $"has {bytes} bytes, more than {SchedulerLimits.FileBytesMax} (SchedulerLimits.FileBytesMax); " +
                    "put large data where the operator can read it instead of in \"files\"");
            }
            return new OpenFile(index, path, name, handle, bytes);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static void CheckRegular(int index, string path, int mode)
    {
        var what = (mode & SIfMt) switch
        {
            SIfReg => null,
            SIfDir => "a directory; list the files in it one by one",
            SIfIfo => "a FIFO (named pipe); list regular files only",
            SIfChr or SIfBlk => "a device; list regular files only",
            SIfSock => "a socket; list regular files only",
            _ => "not a regular file; list regular files only",
        };
        if (what is not null)
        {
            throw Rejected(index, path, $"is {what}");
        }
    }

    /// <summary>
    /// Copies one opened file into a new temp file in <paramref name="directory"/>, then renames
    /// it over the destination. At most the size checked at open (plus one byte to notice
    /// growth) is read: a file that grows while copied is refused, never copied without end.
    /// </summary>
    private static async Task CopyOneAsync(OpenFile file, string directory, CancellationToken cancellationToken)
    {
        var destination = System.IO.Path.Combine(directory, file.Name);
        var temp = System.IO.Path.Combine(directory, $".concord-copy-{Guid.NewGuid():N}");
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
                        throw Rejected(file.Index, file.Path, $"grew while it was copied (past {file.Bytes} bytes); copy it when it is complete");
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
