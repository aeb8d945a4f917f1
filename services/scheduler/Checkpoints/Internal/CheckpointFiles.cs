using Concord.Hosting.Checkpoints;

namespace Concord.Scheduler.Checkpoints.Internal;

/// <summary>
/// The coordinator's side of the checkpoint directory layout (docs/guarantees.md), on top of
/// the shared <see cref="CheckpointLayout"/> (names, <c>_metadata.json</c>, shared-file
/// collection): making the root, undoing a completion that could not be recorded, and removing
/// the checkpoint directories no one keeps.
/// </summary>
internal static class CheckpointFiles
{
    /// <summary>The directory of checkpoint (or savepoint) <paramref name="id"/> under <paramref name="root"/>.</summary>
    public static string DirectoryOf(string root, ulong id, bool savepoint) =>
        savepoint ? CheckpointLayout.SavepointDirectory(root, id) : CheckpointLayout.CheckpointDirectory(root, id);

    /// <summary>The root, made if missing; only the scheduler's user may read it (snapshots hold operator state).</summary>
    public static void CreateRoot(string root)
    {
        if (Directory.Exists(root))
        {
            return;
        }
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(root);
        }
        else
        {
            Directory.CreateDirectory(root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    /// <summary>The highest checkpoint id that has a directory under <paramref name="root"/> (0 when none).</summary>
    public static ulong HighestIdOnDisk(string root) =>
        Directory.Exists(root)
            ? Directory.EnumerateDirectories(root)
                .Select(d => CheckpointLayout.TryParseDirectoryName(Path.GetFileName(d), out var id, out _) ? id : 0)
                .DefaultIfEmpty(0UL).Max()
            : 0;

    /// <summary>Removes the metadata of a checkpoint whose completion could not be recorded: it is not complete.</summary>
    public static void DeleteMetadata(string directory)
    {
        var path = CheckpointLayout.MetadataPath(directory);
        if (File.Exists(path))
        {
            File.Delete(path);
        }
    }

    /// <summary>
    /// Deletes every checkpoint directory under <paramref name="root"/> that is not in
    /// <paramref name="keep"/> (the retained checkpoints and savepoints), except complete
    /// savepoints (deleted by hand only), then the <c>shared/</c> files no kept manifest refers
    /// to (<see cref="CheckpointLayout.CollectGarbage"/>). Call with no checkpoint in progress.
    /// Returns what could not be removed, with why; never throws for I/O or a damaged manifest.
    /// </summary>
    public static IReadOnlyList<string> Collect(string root, IReadOnlyCollection<string> keep)
    {
        var problems = new List<string>();
        if (!Directory.Exists(root))
        {
            return problems;
        }
        var kept = keep.Select(Path.GetFullPath).ToHashSet(StringComparer.Ordinal);
        foreach (var directory in Directory.EnumerateDirectories(root))
        {
            if (!CheckpointLayout.TryParseDirectoryName(Path.GetFileName(directory), out _, out var savepoint)
                || kept.Contains(Path.GetFullPath(directory))
                || (savepoint && CheckpointLayout.IsComplete(directory)))
            {
                continue;
            }
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                problems.Add($"{directory}: {e.Message}");
            }
        }
        try
        {
            CheckpointLayout.CollectGarbage(root, kept);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            // A manifest that cannot be read stops the collection: nothing unreferenced is known.
            problems.Add($"{Path.Combine(root, CheckpointLayout.SharedDirectoryName)}: {e.Message}");
        }
        return problems;
    }
}
