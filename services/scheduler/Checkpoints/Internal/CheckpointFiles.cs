using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Concord.Scheduler.Store;

namespace Concord.Scheduler.Checkpoints.Internal;

/// <summary>
/// The coordinator's side of the checkpoint directory layout (docs/guarantees.md): directory
/// names, <c>_metadata.json</c>, and removing what no retained checkpoint needs.
/// </summary>
/// <remarks>
/// A minimal private helper: the shared <c>CheckpointLayout</c> class (state-backend, in
/// Concord.Hosting) did not exist when this was written. It reads instance manifests only to
/// collect the <c>shared/</c> files they name, and does so without knowing their schema: every
/// string in a manifest counts as a possible reference, so an unknown format keeps files
/// rather than losing them.
/// </remarks>
internal static class CheckpointFiles
{
    public const string MetadataFileName = "_metadata.json";
    public const string SharedDirectoryName = "shared";
    public const string CheckpointPrefix = "chk-";
    public const string SavepointPrefix = "sp-";
    public const string ManifestSuffix = ".manifest.json";

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static string DirectoryName(ulong id, bool savepoint) =>
        (savepoint ? SavepointPrefix : CheckpointPrefix) + id.ToString(CultureInfo.InvariantCulture);

    /// <summary>The root, made if missing; only the scheduler's user may read it (snapshots hold operator state).</summary>
    public static void CreateRoot(string root)
    {
        if (!Directory.Exists(root))
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(root);
            }
            else
            {
                Directory.CreateDirectory(root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }
    }

    /// <summary>Writes <c>_metadata.json</c> atomically: a checkpoint is complete exactly when the file exists whole.</summary>
    public static Task WriteMetadataAsync(string directory, JsonObject metadata, CancellationToken cancellationToken) =>
        AtomicFile.WriteAllTextAsync(Path.Combine(directory, MetadataFileName), metadata.ToJsonString(Indented), cancellationToken);

    /// <summary>Removes the metadata of a checkpoint whose completion could not be recorded: it is not complete.</summary>
    public static void DeleteMetadata(string directory)
    {
        var path = Path.Combine(directory, MetadataFileName);
        if (File.Exists(path))
        {
            File.Delete(path);
        }
    }

    /// <summary>
    /// Deletes every checkpoint directory under <paramref name="root"/> that is not in
    /// <paramref name="keep"/> (retained checkpoints, savepoints, the one in progress), except
    /// savepoints (complete <c>sp-*</c> directories are deleted by hand only), then every
    /// <c>shared/</c> file that no manifest of a kept directory names and that was last written
    /// before <paramref name="unreferencedBefore"/> (a newer one may belong to a snapshot still
    /// being written). Returns the paths it could not delete with why; never throws for I/O.
    /// </summary>
    public static IReadOnlyList<string> Collect(string root, IReadOnlySet<string> keep, DateTimeOffset unreferencedBefore)
    {
        var problems = new List<string>();
        if (!Directory.Exists(root))
        {
            return problems;
        }
        foreach (var directory in Directory.EnumerateDirectories(root))
        {
            var name = Path.GetFileName(directory);
            var isCheckpoint = name.StartsWith(CheckpointPrefix, StringComparison.Ordinal);
            var isSavepoint = name.StartsWith(SavepointPrefix, StringComparison.Ordinal);
            if (!(isCheckpoint || isSavepoint) || keep.Contains(Path.GetFullPath(directory)))
            {
                continue;
            }
            if (isSavepoint && File.Exists(Path.Combine(directory, MetadataFileName)))
            {
                continue;
            }
            TryDelete(() => Directory.Delete(directory, recursive: true), directory, problems);
        }
        var shared = Path.Combine(root, SharedDirectoryName);
        if (!Directory.Exists(shared))
        {
            return problems;
        }
        if (ReferencedStrings(keep) is not { } referenced)
        {
            return problems; // A manifest could not be read: no shared file is known to be unreferenced.
        }
        foreach (var file in Directory.EnumerateFiles(shared, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(root, file).Replace(Path.DirectorySeparatorChar, '/');
            var name = Path.GetFileName(file);
            if (File.GetLastWriteTimeUtc(file) >= unreferencedBefore.UtcDateTime
                || referenced.Any(r => r.EndsWith(relative, StringComparison.Ordinal) || r == name || r.EndsWith("/" + name, StringComparison.Ordinal)))
            {
                continue;
            }
            TryDelete(() => File.Delete(file), file, problems);
        }
        return problems;
    }

    /// <summary>Every string value in the manifests under <paramref name="directories"/> (paths normalized to '/'); null when one cannot be read.</summary>
    private static HashSet<string>? ReferencedStrings(IEnumerable<string> directories)
    {
        var strings = new HashSet<string>(StringComparer.Ordinal);
        foreach (var directory in directories.Where(Directory.Exists))
        {
            foreach (var manifest in Directory.EnumerateFiles(directory, "*" + ManifestSuffix, SearchOption.AllDirectories))
            {
                try
                {
                    if (new FileInfo(manifest).Length > SchedulerLimits.CheckpointManifestBytesMax)
                    {
                        return null; // Too large to read: keep every shared file rather than guess.
                    }
                    Walk(JsonNode.Parse(File.ReadAllText(manifest)), strings);
                }
                catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
                {
                    return null; // Unreadable: it may still name files, so nothing unreferenced is safe to delete.
                }
            }
        }
        return strings;
    }

    private static void Walk(JsonNode? node, HashSet<string> strings)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (_, value) in o)
                {
                    Walk(value, strings);
                }
                break;
            case JsonArray a:
                foreach (var value in a)
                {
                    Walk(value, strings);
                }
                break;
            case JsonValue v when v.TryGetValue<string>(out var text):
                strings.Add(text.Replace('\\', '/'));
                break;
        }
    }

    private static void TryDelete(Action delete, string path, List<string> problems)
    {
        try
        {
            delete();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            problems.Add($"{path}: {e.Message}");
        }
    }
}
