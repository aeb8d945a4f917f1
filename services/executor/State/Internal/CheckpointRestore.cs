using Concord.Hosting.Checkpoints;

namespace Concord.Executor.State.Internal;

/// <summary>
/// Which files restore the key groups of a range from a checkpoint, for both backends: every
/// instance manifest of the operator is read, since after a rescale a group's entries are in
/// whichever old instance held it. A group held by several old instances (keys routed to a
/// former owner around a rescale) is merged: the owner's file first, and for a key present in
/// several files the first one read wins.
/// </summary>
internal static class CheckpointRestore
{
    /// <summary>Full paths of the files of each group in <paramref name="range"/>, in the order to read them.</summary>
    public static SortedDictionary<int, List<(string Path, KeyGroupFile File)>> Plan(
        string checkpointDirectory, string operatorName, int keyGroupCount, (int Start, int End) range)
    {
        if (!Directory.Exists(checkpointDirectory))
        {
            throw new DirectoryNotFoundException($"checkpoint directory '{checkpointDirectory}' does not exist; restore from a checkpoint that concord list shows");
        }
        var root = CheckpointLayout.RootOf(checkpointDirectory);
        var manifests = CheckpointLayout.ReadManifests(checkpointDirectory, operatorName);
        var plan = new SortedDictionary<int, List<(string, KeyGroupFile)>>();
        // Owners first, so their entries win over a former owner's leftovers.
        foreach (var manifest in manifests.OrderBy(m => m.InstanceIndex))
        {
            if (manifest.KeyGroupCount != keyGroupCount)
            {
                throw new InvalidDataException(
                    $"checkpoint '{checkpointDirectory}' has {manifest.KeyGroupCount} key groups for {operatorName}, the topology {keyGroupCount}; state cannot move between key-group counts: restore with the same count");
            }
        }
        foreach (var owners in new[] { true, false })
        {
            foreach (var manifest in manifests)
            {
                foreach (var file in manifest.KeyGroups)
                {
                    if (file.Group < range.Start || file.Group >= range.End || manifest.Owns(file.Group) != owners)
                    {
                        continue;
                    }
                    if (!plan.TryGetValue(file.Group, out var sources))
                    {
                        plan[file.Group] = sources = [];
                    }
                    sources.Add((CheckpointLayout.ResolveStateFile(root, file.File), file));
                }
            }
        }
        return plan;
    }
}
