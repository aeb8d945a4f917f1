using System.Globalization;

namespace Concord.Executor.Checkpoints.Internal;

/// <summary>
/// The parts of the checkpoint directory layout (docs/guarantees.md) the executor itself
/// writes and reads: the per-instance operator snapshot files. Keyed-state files and manifests
/// are the state backend's. Kept private to the executor until the shared layout helper of
/// Concord.Hosting is available to replace it.
/// </summary>
internal static class CheckpointPaths
{
    /// <summary>Suffix of an instance's operator snapshot: <c>&lt;operator&gt;/&lt;index&gt;.operator</c>.</summary>
    public const string OperatorSnapshotSuffix = ".operator";

    /// <summary><c>&lt;checkpoint&gt;/&lt;operator&gt;/&lt;index&gt;.operator</c>.</summary>
    public static string OperatorSnapshot(string checkpointDirectory, string operatorName, int instanceIndex) =>
        Path.Combine(checkpointDirectory, operatorName, instanceIndex.ToString(CultureInfo.InvariantCulture) + OperatorSnapshotSuffix);

    /// <summary>Every instance's operator snapshot of <paramref name="operatorName"/> in a checkpoint, by instance index.</summary>
    public static IReadOnlyDictionary<int, byte[]> ReadOperatorSnapshots(string checkpointDirectory, string operatorName)
    {
        var snapshots = new Dictionary<int, byte[]>();
        var directory = Path.Combine(checkpointDirectory, operatorName);
        if (!Directory.Exists(directory))
        {
            return snapshots;
        }
        foreach (var file in Directory.EnumerateFiles(directory, "*" + OperatorSnapshotSuffix))
        {
            var name = Path.GetFileName(file)[..^OperatorSnapshotSuffix.Length];
            if (int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out var index))
            {
                snapshots[index] = File.ReadAllBytes(file);
            }
        }
        return snapshots;
    }

    /// <summary>Writes an operator snapshot whole or not at all (temporary file, then rename).</summary>
    public static void WriteOperatorSnapshot(string path, byte[] snapshot)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temporary = path + ".tmp";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            file.Write(snapshot);
            file.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>
    /// The checkpoint id of a checkpoint directory, from its name (<c>chk-&lt;id&gt;</c> or
    /// <c>sp-&lt;id&gt;</c>); null when the name is neither.
    /// </summary>
    public static ulong? IdOf(string checkpointDirectory)
    {
        var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(checkpointDirectory));
        foreach (var prefix in (string[])["chk-", "sp-"])
        {
            if (name.StartsWith(prefix, StringComparison.Ordinal)
                && ulong.TryParse(name.AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var id) && id > 0)
            {
                return id;
            }
        }
        return null;
    }
}
