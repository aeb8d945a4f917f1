namespace Concord.Scheduler.Store;

/// <summary>
/// One completed checkpoint (or savepoint) as the topology store keeps it (docs/guarantees.md):
/// what a restore needs — where it is and the topology it was taken of — and the figures
/// `concord checkpoints` shows.
/// </summary>
/// <param name="Id">Increasing, starting at 1; never reused.</param>
/// <param name="Directory">Absolute path of its directory (chk-&lt;id&gt; or sp-&lt;id&gt;).</param>
/// <param name="Operators">Every participating operator with its instance count and store version when it was taken.</param>
public sealed record CheckpointRecord(
    ulong Id,
    bool Savepoint,
    long TriggerUnixMs,
    long DurationMs,
    long AlignmentMsMax,
    long StateBytes,
    long WrittenBytes,
    string Directory,
    int Participants,
    IReadOnlyList<CheckpointedOperator> Operators)
{
    /// <summary>Records compare by value, operators included (for the store contract).</summary>
    public bool Equals(CheckpointRecord? other) =>
        other is not null
        && (Id, Savepoint, TriggerUnixMs, DurationMs, AlignmentMsMax, StateBytes, WrittenBytes, Directory, Participants)
        == (other.Id, other.Savepoint, other.TriggerUnixMs, other.DurationMs, other.AlignmentMsMax, other.StateBytes, other.WrittenBytes, other.Directory, other.Participants)
        && Operators.SequenceEqual(other.Operators);

    public override int GetHashCode() => HashCode.Combine(Id, Directory);
}

/// <summary>One operator taking part in a checkpoint: its name, instance count and store version then.</summary>
public sealed record CheckpointedOperator(string Name, int Instances, long Version);
