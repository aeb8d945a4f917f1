using System.Globalization;
using System.Text.Json;
using Concord.Hosting.Checkpoints.Internal;

namespace Concord.Hosting.Checkpoints;

/// <summary>
/// The checkpoint directory layout (docs/guarantees.md "Checkpoint directory layout"), shared
/// by the scheduler's coordinator and the executors: paths, the manifest and metadata files,
/// operator snapshot files, and garbage collection of <c>shared/</c>. Every write is crash-safe
/// (temp file, fsync, rename); names are validated so no path leaves the checkpoint root.
/// <code>
/// &lt;root&gt;/chk-&lt;id&gt;/_metadata.json
///         chk-&lt;id&gt;/&lt;operator&gt;/&lt;index&gt;.manifest.json
///         chk-&lt;id&gt;/&lt;operator&gt;/&lt;index&gt;.operator
///         sp-&lt;id&gt;/…                                   (savepoints, same inside)
///         shared/&lt;operator&gt;/kg-&lt;group&gt;-&lt;id&gt;.state
///         shared/&lt;operator&gt;/kg-&lt;group&gt;-&lt;id&gt;-i&lt;index&gt;.state  (a key group outside the instance's range)
/// </code>
/// </summary>
public static class CheckpointLayout
{
    /// <summary>Version of the manifest and metadata JSON formats.</summary>
    public const int ManifestVersion = 1;

    public const string CheckpointPrefix = "chk-";
    public const string SavepointPrefix = "sp-";
    public const string MetadataFileName = "_metadata.json";
    public const string SharedDirectoryName = "shared";
    public const string ManifestSuffix = ".manifest.json";
    public const string OperatorSnapshotSuffix = ".operator";
    public const string StateFileSuffix = ".state";

    // ---- paths ----------------------------------------------------------------------------

    /// <summary><c>&lt;root&gt;/chk-&lt;id&gt;</c>.</summary>
    public static string CheckpointDirectory(string root, ulong checkpointId) =>
        Path.Combine(root, CheckpointPrefix + checkpointId.ToString(CultureInfo.InvariantCulture));

    /// <summary><c>&lt;root&gt;/sp-&lt;id&gt;</c>.</summary>
    public static string SavepointDirectory(string root, ulong checkpointId) =>
        Path.Combine(root, SavepointPrefix + checkpointId.ToString(CultureInfo.InvariantCulture));

    /// <summary>The checkpoint root a <c>chk-&lt;id&gt;</c> or <c>sp-&lt;id&gt;</c> directory is in.</summary>
    public static string RootOf(string checkpointDirectory)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(checkpointDirectory));
        if (!TryParseDirectoryName(Path.GetFileName(full), out _, out _))
        {
            throw new ArgumentException($"'{checkpointDirectory}' is not a checkpoint directory (chk-<id> or sp-<id> under the checkpoint root)", nameof(checkpointDirectory));
        }
        return Path.GetDirectoryName(full)!;
    }

    /// <summary>The id in a directory name <c>chk-&lt;id&gt;</c> or <c>sp-&lt;id&gt;</c>; false for any other name.</summary>
    public static bool TryParseDirectoryName(string name, out ulong checkpointId, out bool savepoint)
    {
        savepoint = name.StartsWith(SavepointPrefix, StringComparison.Ordinal);
        var digits = savepoint ? name[SavepointPrefix.Length..]
            : name.StartsWith(CheckpointPrefix, StringComparison.Ordinal) ? name[CheckpointPrefix.Length..] : "";
        return TryParseId(digits, out checkpointId);
    }

    /// <summary>The id of a checkpoint directory (chk-&lt;id&gt; or sp-&lt;id&gt;).</summary>
    public static ulong IdOf(string checkpointDirectory)
    {
        var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(checkpointDirectory)));
        return TryParseDirectoryName(name, out var id, out _) ? id
            : throw new ArgumentException($"'{checkpointDirectory}' is not a checkpoint directory (chk-<id> or sp-<id> under the checkpoint root)", nameof(checkpointDirectory));
    }

    /// <summary>
    /// Every <c>chk-&lt;id&gt;</c> and <c>sp-&lt;id&gt;</c> directory under <paramref name="root"/>, by id
    /// (a checkpoint before its savepoint of the same id), and whether it is complete. Other
    /// entries (<c>shared/</c>, files) are left out. None when the root does not exist.
    /// </summary>
    public static IReadOnlyList<(ulong Id, bool Savepoint, string Directory, bool Complete)> List(string root)
    {
        if (!Directory.Exists(root))
        {
            return [];
        }
        var found = new List<(ulong, bool, string, bool)>();
        foreach (var directory in Directory.EnumerateDirectories(root))
        {
            if (TryParseDirectoryName(Path.GetFileName(directory), out var id, out var savepoint))
            {
                found.Add((id, savepoint, directory, IsComplete(directory)));
            }
        }
        return [.. found.OrderBy(c => c.Item1).ThenBy(c => c.Item2)];
    }

    /// <summary><c>&lt;checkpoint&gt;/_metadata.json</c>.</summary>
    public static string MetadataPath(string checkpointDirectory) => Path.Combine(checkpointDirectory, MetadataFileName);

    /// <summary>A checkpoint is complete only once its <c>_metadata.json</c> exists.</summary>
    public static bool IsComplete(string checkpointDirectory) => File.Exists(MetadataPath(checkpointDirectory));

    /// <summary><c>&lt;checkpoint&gt;/&lt;operator&gt;</c>: the instances' manifests and operator snapshots.</summary>
    public static string OperatorDirectory(string checkpointDirectory, string operatorName) =>
        Path.Combine(checkpointDirectory, ValidOperatorName(operatorName));

    /// <summary><c>&lt;checkpoint&gt;/&lt;operator&gt;/&lt;index&gt;.manifest.json</c>.</summary>
    public static string ManifestPath(string checkpointDirectory, string operatorName, int instanceIndex) =>
        Path.Combine(OperatorDirectory(checkpointDirectory, operatorName), ValidIndex(instanceIndex) + ManifestSuffix);

    /// <summary><c>&lt;checkpoint&gt;/&lt;operator&gt;/&lt;index&gt;.operator</c>: the ICheckpointedOperator snapshot.</summary>
    public static string OperatorSnapshotPath(string checkpointDirectory, string operatorName, int instanceIndex) =>
        Path.Combine(OperatorDirectory(checkpointDirectory, operatorName), ValidIndex(instanceIndex) + OperatorSnapshotSuffix);

    /// <summary><c>&lt;root&gt;/shared/&lt;operator&gt;</c>.</summary>
    public static string SharedOperatorDirectory(string root, string operatorName) =>
        Path.Combine(root, SharedDirectoryName, ValidOperatorName(operatorName));

    /// <summary>
    /// The state file of <paramref name="keyGroup"/> written for <paramref name="checkpointId"/>,
    /// relative to the root, '/'-separated, as manifests store it: <c>shared/&lt;operator&gt;/kg-&lt;group&gt;-&lt;id&gt;.state</c>.
    /// <paramref name="strayInstance"/> is set for a key group outside the writer's range (keys
    /// routed to it before a rescale): the owner writes the same group in the same checkpoint,
    /// so the writer's index keeps the names apart (<c>…-i&lt;index&gt;.state</c>).
    /// </summary>
    public static string StateFile(string operatorName, int keyGroup, ulong checkpointId, int? strayInstance = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(keyGroup);
        var stray = strayInstance is { } index ? "-i" + ValidIndex(index) : "";
        return string.Create(CultureInfo.InvariantCulture,
            $"{SharedDirectoryName}/{ValidOperatorName(operatorName)}/kg-{keyGroup}-{checkpointId}{stray}{StateFileSuffix}");
    }

    /// <summary>
    /// The full path of a state file named in a manifest; refuses any name <see cref="StateFile"/>
    /// cannot produce (a manifest must not make a restore read outside the root).
    /// </summary>
    public static string ResolveStateFile(string root, string relative)
    {
        var parts = relative.Split('/');
        if (parts.Length != 3 || parts[0] != SharedDirectoryName || !IsOperatorName(parts[1]) || !TryParseStateFileName(parts[2], out _, out _))
        {
            throw new InvalidDataException($"state file '{relative}' in a manifest is not shared/<operator>/kg-<group>-<id>.state; the manifest is damaged or not Concord's");
        }
        return Path.Combine(root, parts[0], parts[1], parts[2]);
    }

    /// <summary>Key group and checkpoint id of a state file name <c>kg-&lt;group&gt;-&lt;id&gt;[-i&lt;index&gt;].state</c>.</summary>
    public static bool TryParseStateFileName(string fileName, out int keyGroup, out ulong checkpointId)
    {
        keyGroup = 0;
        checkpointId = 0;
        if (!fileName.StartsWith("kg-", StringComparison.Ordinal) || !fileName.EndsWith(StateFileSuffix, StringComparison.Ordinal))
        {
            return false;
        }
        var parts = fileName["kg-".Length..^StateFileSuffix.Length].Split('-');
        if (parts.Length is < 2 or > 3 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out keyGroup)
            || !TryParseId(parts[1], out checkpointId))
        {
            return false;
        }
        return parts.Length == 2 || (parts[2].Length > 1 && parts[2][0] == 'i' && int.TryParse(parts[2].AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out _));
    }

    // ---- manifests, metadata, operator snapshots -----------------------------------------

    /// <summary>Writes the manifest crash-safely to <see cref="ManifestPath"/>; returns its bytes.</summary>
    public static long WriteManifest(string checkpointDirectory, InstanceManifest manifest)
    {
        foreach (var group in manifest.KeyGroups)
        {
            // Only the name is checked here: a manifest that a restore would refuse is never written.
            ResolveStateFile(RootOf(checkpointDirectory), group.File);
        }
        var json = JsonSerializer.SerializeToUtf8Bytes(manifest, CheckpointJsonContext.Default.InstanceManifest);
        return DurableFile.Write(ManifestPath(checkpointDirectory, manifest.Operator, manifest.InstanceIndex), json);
    }

    /// <summary>Reads one manifest file (bounded by <see cref="HostingLimits.CheckpointManifestBytesMax"/>).</summary>
    public static InstanceManifest ReadManifest(string path)
    {
        var bytes = DurableFile.ReadAll(path, HostingLimits.CheckpointManifestBytesMax, "manifest");
        InstanceManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize(bytes, CheckpointJsonContext.Default.InstanceManifest);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"manifest '{path}' is not valid JSON ({e.Message}); the checkpoint is damaged: restore an earlier one", e);
        }
        if (manifest is null || manifest.Version != ManifestVersion)
        {
            throw new InvalidDataException($"manifest '{path}' has version {manifest?.Version}, this Concord reads {ManifestVersion}; restore with the Concord version that wrote it");
        }
        return manifest;
    }

    /// <summary>
    /// Every instance manifest of <paramref name="operatorName"/> in the checkpoint, by index
    /// (all of them: a rescale restores key groups from whichever old instance had them).
    /// Temp files of interrupted writes are ignored. None when the operator took no part.
    /// </summary>
    public static IReadOnlyList<InstanceManifest> ReadManifests(string checkpointDirectory, string operatorName)
    {
        var directory = OperatorDirectory(checkpointDirectory, operatorName);
        if (!Directory.Exists(directory))
        {
            return [];
        }
        var manifests = new List<InstanceManifest>();
        foreach (var path in Directory.EnumerateFiles(directory, "*" + ManifestSuffix))
        {
            var name = Path.GetFileName(path);
            if (!int.TryParse(name.AsSpan(0, name.Length - ManifestSuffix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var index))
            {
                continue;
            }
            var manifest = ReadManifest(path);
            if (manifest.Operator != operatorName || manifest.InstanceIndex != index)
            {
                throw new InvalidDataException($"manifest '{path}' names {manifest.Operator}/{manifest.InstanceIndex}; a manifest was moved or copied by hand: restore an earlier checkpoint");
            }
            manifests.Add(manifest);
        }
        manifests.Sort((a, b) => a.InstanceIndex.CompareTo(b.InstanceIndex));
        return manifests;
    }

    /// <summary>Writes <c>_metadata.json</c> crash-safely: the last step of a checkpoint, which completes it.</summary>
    public static long WriteMetadata(string checkpointDirectory, CheckpointMetadata metadata)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(metadata, CheckpointJsonContext.Default.CheckpointMetadata);
        return DurableFile.Write(MetadataPath(checkpointDirectory), json);
    }

    /// <summary>Reads <c>_metadata.json</c>; null when the checkpoint is not complete.</summary>
    public static CheckpointMetadata? ReadMetadata(string checkpointDirectory)
    {
        var path = MetadataPath(checkpointDirectory);
        if (!File.Exists(path))
        {
            return null;
        }
        try
        {
            return JsonSerializer.Deserialize(DurableFile.ReadAll(path, HostingLimits.CheckpointManifestBytesMax, "checkpoint metadata"), CheckpointJsonContext.Default.CheckpointMetadata);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"checkpoint metadata '{path}' is not valid JSON ({e.Message}); the checkpoint is damaged: restore an earlier one", e);
        }
    }

    /// <summary>Writes an instance's operator snapshot crash-safely; returns its bytes.</summary>
    public static long WriteOperatorSnapshot(string checkpointDirectory, string operatorName, int instanceIndex, ReadOnlyMemory<byte> snapshot)
    {
        if (snapshot.Length > HostingLimits.CheckpointOperatorSnapshotBytesMax)
        {
            throw new InvalidOperationException($"operator snapshot of {snapshot.Length} bytes exceeds HostingLimits.CheckpointOperatorSnapshotBytesMax ({HostingLimits.CheckpointOperatorSnapshotBytesMax}); an operator snapshot holds positions, not data");
        }
        return DurableFile.Write(OperatorSnapshotPath(checkpointDirectory, operatorName, instanceIndex), snapshot);
    }

    /// <summary>Every instance's operator snapshot of <paramref name="operatorName"/> in the checkpoint, by instance index.</summary>
    public static IReadOnlyDictionary<int, byte[]> ReadOperatorSnapshots(string checkpointDirectory, string operatorName)
    {
        var directory = OperatorDirectory(checkpointDirectory, operatorName);
        var snapshots = new Dictionary<int, byte[]>();
        if (!Directory.Exists(directory))
        {
            return snapshots;
        }
        foreach (var path in Directory.EnumerateFiles(directory, "*" + OperatorSnapshotSuffix))
        {
            var name = Path.GetFileName(path);
            if (int.TryParse(name.AsSpan(0, name.Length - OperatorSnapshotSuffix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var index))
            {
                snapshots[index] = DurableFile.ReadAll(path, HostingLimits.CheckpointOperatorSnapshotBytesMax, "operator snapshot");
            }
        }
        return snapshots;
    }

    /// <summary>
    /// Writes a file crash-safely (temp, fsync, rename, directory fsync) through
    /// <paramref name="write"/>, for the state backends' key-group files; returns its bytes.
    /// </summary>
    public static long WriteFileDurably(string path, Action<Stream> write) => DurableFile.Write(path, write);

    // ---- garbage collection ---------------------------------------------------------------

    /// <summary>
    /// Deletes the files under <c>&lt;root&gt;/shared/</c> that no manifest of
    /// <paramref name="retainedCheckpointDirs"/> refers to, and temp files of writes that died
    /// (older than <see cref="HostingLimits.CheckpointTempFileAgeMinMs"/>). State files of a
    /// checkpoint newer than every retained one are kept: they belong to a checkpoint being
    /// written, which no retained manifest can name yet. Pass every completed checkpoint and
    /// savepoint kept. A manifest that cannot be read stops the collection before anything is
    /// deleted: deleting on a partial view could remove state a checkpoint needs.
    /// </summary>
    public static GarbageCollection CollectGarbage(string root, IEnumerable<string> retainedCheckpointDirs)
    {
        var referenced = new HashSet<string>(StringComparer.Ordinal);
        ulong newestRetained = 0;
        foreach (var directory in retainedCheckpointDirs)
        {
            newestRetained = Math.Max(newestRetained, IdOf(directory));
            if (!Directory.Exists(directory))
            {
                continue;
            }
            foreach (var operatorDirectory in Directory.EnumerateDirectories(directory))
            {
                foreach (var path in Directory.EnumerateFiles(operatorDirectory, "*" + ManifestSuffix))
                {
                    foreach (var group in ReadManifest(path).KeyGroups)
                    {
                        referenced.Add(Path.GetFullPath(ResolveStateFile(root, group.File)));
                    }
                }
            }
        }

        var shared = Path.Combine(root, SharedDirectoryName);
        if (!Directory.Exists(shared))
        {
            return default;
        }
        var deleted = 0;
        var kept = 0;
        long bytesDeleted = 0;
        var tempCutoff = DateTime.UtcNow.AddMilliseconds(-HostingLimits.CheckpointTempFileAgeMinMs);
        foreach (var operatorDirectory in Directory.EnumerateDirectories(shared))
        {
            foreach (var file in new DirectoryInfo(operatorDirectory).EnumerateFiles())
            {
                bool delete;
                if (file.Name.EndsWith(DurableFile.TempSuffix, StringComparison.Ordinal))
                {
                    delete = file.LastWriteTimeUtc < tempCutoff;
                }
                else if (TryParseStateFileName(file.Name, out _, out var id))
                {
                    delete = id <= newestRetained && !referenced.Contains(Path.GetFullPath(file.FullName));
                    kept += delete ? 0 : 1;
                }
                else
                {
                    continue;
                }
                if (delete)
                {
                    bytesDeleted += file.Length;
                    file.Delete();
                    deleted++;
                }
            }
        }
        return new GarbageCollection(deleted, bytesDeleted, kept);
    }

    // ---- names -----------------------------------------------------------------------------

    /// <summary>
    /// True for an operator name as the protocol defines it (ProtocolLimits.OperatorNamePattern:
    /// 1..63 of a-z 0-9 '-', not starting with '-'), which is also safe as a directory name.
    /// </summary>
    public static bool IsOperatorName(string name)
    {
        if (name.Length is < 1 or > OperatorNameCharsMax || name[0] == '-')
        {
            return false;
        }
        foreach (var c in name)
        {
            if (c is not ((>= 'a' and <= 'z') or (>= '0' and <= '9') or '-'))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Longest operator name: the protocol's (ProtocolLimits.OperatorNameCharsMax; Concord.Hosting does not reference the protocol).</summary>
    public const int OperatorNameCharsMax = 63;

    private static string ValidOperatorName(string name) => IsOperatorName(name) ? name
        : throw new ArgumentException($"operator name '{name}' is not 1..{OperatorNameCharsMax} of a-z 0-9 '-' (not starting with '-'); checkpoint paths use only such names", nameof(name));

    private static string ValidIndex(int index) => index >= 0 ? index.ToString(CultureInfo.InvariantCulture)
        : throw new ArgumentOutOfRangeException(nameof(index), index, "an instance index is 0 or more");

    private static bool TryParseId(string digits, out ulong id)
    {
        id = 0;
        // Digits only, no leading zero: one id has one name, so GC and restore agree on it.
        return digits.Length > 0 && (digits == "0" || digits[0] != '0')
            && ulong.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out id);
    }
}
