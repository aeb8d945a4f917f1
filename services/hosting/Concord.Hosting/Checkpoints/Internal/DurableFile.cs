
namespace Concord.Hosting.Checkpoints.Internal;

/// <summary>
/// Crash-safe file writes: a unique temp file next to the target, fsync, rename, fsync of the
/// directory. A reader sees the old file or the whole new one, never a torn one; a crash
/// leaves at most a <c>*.tmp</c> file, which readers never open and
/// <see cref="CheckpointLayout.CollectGarbage"/> removes.
/// </summary>
internal static partial class DurableFile
{
    /// <summary>Suffix of temp files: <c>&lt;target&gt;.&lt;pid&gt;.&lt;guid&gt;.tmp</c>.</summary>
    public const string TempSuffix = ".tmp";

    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/>; returns the bytes written.</summary>
    public static long Write(string path, Action<Stream> write)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        var temp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}{TempSuffix}";
        long length;
        try
        {
            using (var stream = new FileStream(temp, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None }))
            {
                write(stream);
                // fsync before rename: otherwise a crash can leave the renamed file empty.
                stream.Flush(flushToDisk: true);
                length = stream.Length;
            }
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
        DirectorySync.Sync(directory);
        return length;
    }

    /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/> crash-safely.</summary>
    public static long Write(string path, ReadOnlyMemory<byte> bytes) => Write(path, stream => stream.Write(bytes.Span));

    /// <summary>Reads a whole file of at most <paramref name="bytesMax"/> bytes; a larger one is refused unread.</summary>
    public static byte[] ReadAll(string path, long bytesMax, string what)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        if (stream.Length > bytesMax)
        {
            throw new InvalidDataException($"{what} '{path}' has {stream.Length} bytes, over the bound of {bytesMax}; the file is not one Concord wrote, or the checkpoint is damaged");
        }
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }
}
