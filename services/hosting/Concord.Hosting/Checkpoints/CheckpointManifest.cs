namespace Concord.Hosting.Checkpoints;

/// <summary>
/// One instance's part of a checkpoint (<c>&lt;operator&gt;/&lt;index&gt;.manifest.json</c>,
/// docs/guarantees.md): which file holds each non-empty key group of its keyed state. Files are
/// paths relative to the checkpoint root (<c>shared/&lt;operator&gt;/kg-…​.state</c>); an unchanged
/// key group points at the file an earlier checkpoint wrote (incremental checkpoints).
/// </summary>
/// <param name="Version">Format version, <see cref="CheckpointLayout.ManifestVersion"/>.</param>
/// <param name="CheckpointId">The checkpoint (or savepoint) this manifest belongs to.</param>
/// <param name="Operator">Operator name.</param>
/// <param name="InstanceIndex">Instance index at the time of the checkpoint.</param>
/// <param name="KeyGroupCount">Key groups of the topology then; a restore needs the same count.</param>
/// <param name="RangeStart">First key group the instance owned.</param>
/// <param name="RangeEnd">One past the last key group the instance owned.</param>
/// <param name="KeyGroups">Every non-empty key group the instance held, owned or not, by group.</param>
public sealed record InstanceManifest(
    int Version,
    ulong CheckpointId,
    string Operator,
    int InstanceIndex,
    int KeyGroupCount,
    int RangeStart,
    int RangeEnd,
    IReadOnlyList<KeyGroupFile> KeyGroups)
{
    /// <summary>Bytes of state files this manifest refers to.</summary>
    public long StateBytes => KeyGroups.Sum(g => g.Bytes);

    /// <summary>True when <paramref name="group"/> was in the instance's range.</summary>
    public bool Owns(int group) => group >= RangeStart && group < RangeEnd;
}

/// <param name="Group">Key group.</param>
/// <param name="File">Path of its state file relative to the checkpoint root, '/'-separated.</param>
/// <param name="Bytes">Size of that file.</param>
/// <param name="Entries">Entries (key, name, value) in it.</param>
public sealed record KeyGroupFile(int Group, string File, long Bytes, long Entries);

/// <summary>
/// <c>_metadata.json</c>: written by the coordinator, last, when every participant acknowledged;
/// its presence is what makes a checkpoint complete.
/// </summary>
/// <param name="Version">Format version, <see cref="CheckpointLayout.ManifestVersion"/>.</param>
/// <param name="CheckpointId">Checkpoint (or savepoint) id.</param>
/// <param name="Savepoint">True for a savepoint (<c>sp-&lt;id&gt;/</c>): kept until deleted by hand.</param>
/// <param name="Trigger">Why it was taken: "interval", "savepoint", "scale", ….</param>
/// <param name="TriggeredUnixMs">When the coordinator began it.</param>
/// <param name="CompletedUnixMs">When the last participant acknowledged.</param>
/// <param name="Participants">Every instance that took part, with its sizes.</param>
public sealed record CheckpointMetadata(
    int Version,
    ulong CheckpointId,
    bool Savepoint,
    string Trigger,
    long TriggeredUnixMs,
    long CompletedUnixMs,
    IReadOnlyList<CheckpointParticipant> Participants)
{
    /// <summary>Bytes of state the checkpoint refers to.</summary>
    public long StateBytes => Participants.Sum(p => p.StateBytes);

    /// <summary>Bytes written for this checkpoint (the rest was written by earlier ones).</summary>
    public long WrittenBytes => Participants.Sum(p => p.WrittenBytes);
}

/// <param name="Operator">Operator name.</param>
/// <param name="InstanceIndex">Instance index.</param>
/// <param name="StateBytes">Bytes of state files its manifest refers to.</param>
/// <param name="WrittenBytes">Bytes it wrote for this checkpoint.</param>
/// <param name="AlignmentMs">Time its inputs were blocked for alignment.</param>
/// <param name="DurationMs">Time from begin to acknowledgement.</param>
public sealed record CheckpointParticipant(string Operator, int InstanceIndex, long StateBytes, long WrittenBytes, long AlignmentMs, long DurationMs);

/// <param name="FilesDeleted">State and temp files deleted.</param>
/// <param name="BytesDeleted">Their bytes.</param>
/// <param name="FilesKept">State files kept (referenced, or of a checkpoint newer than every retained one).</param>
public readonly record struct GarbageCollection(int FilesDeleted, long BytesDeleted, int FilesKept);
