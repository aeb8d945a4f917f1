using Concord.Contracts.Types.V1;

namespace Concord.Scheduler.Store;

/// <summary>
/// One deployed operator as stored: its spec, the metadata its first registered instance
/// reported (null until then), and the store version of the last write.
/// </summary>
/// <param name="Version">
/// Store revision of the last write of this entry: increases with every change, and is never
/// reused, even after a kill and a new deploy of the same name (like ZooKeeper's mzxid).
/// </param>
public sealed record OperatorEntry(string Name, OperatorSpec Spec, OperatorMetadata? Metadata, long Version)
{
    /// <summary>
    /// The version from which on the operator's checkpointed state counts: a checkpoint that
    /// recorded it at an older version holds state it must not restore (a replace with drop-state
    /// wrote this version; docs/live-changes.md). 0: every checkpoint of the operator counts.
    /// Kept by every later write of the entry, so it survives a scheduler restart.
    /// </summary>
    public long StateSince { get; init; }
}

/// <summary>The whole topology at one store revision.</summary>
public sealed record TopologySnapshot(long Revision, IReadOnlyList<OperatorEntry> Operators);

/// <summary>
/// Where the desired topology lives. Every write is a compare-and-set on one operator entry,
/// which is what ZooKeeper (setData/create/delete with a version) and etcd (txn on
/// mod_revision) offer, so a scheduler can lose leadership between a read and a write and
/// still never overwrite a change it did not see.
/// </summary>
public interface ITopologyStore : IAsyncDisposable
{
    /// <summary>Every operator, ordered by name, and the store revision they were read at.</summary>
    Task<TopologySnapshot> ReadAsync(CancellationToken cancellationToken);

    /// <summary>One operator, or null when it is not deployed.</summary>
    Task<OperatorEntry?> GetAsync(string name, CancellationToken cancellationToken);

    /// <summary>
    /// Writes (or deletes, when <paramref name="spec"/> is null) the entry of
    /// <paramref name="name"/> if its current version is <paramref name="expectedVersion"/>;
    /// <see cref="TopologyStoreVersions.Absent"/> means "must not exist yet".
    /// </summary>
    /// <returns>The entry as now stored; null after a delete.</returns>
    /// <exception cref="TopologyConflictException">The entry's version is not the expected one.</exception>
    Task<OperatorEntry?> CompareAndSetAsync(
        string name, long expectedVersion, OperatorSpec? spec, OperatorMetadata? metadata, CancellationToken cancellationToken);

    /// <summary>
    /// <see cref="CompareAndSetAsync(string, long, OperatorSpec?, OperatorMetadata?, CancellationToken)"/>;
    /// with <paramref name="newState"/>, the written entry's state starts anew: its
    /// <see cref="OperatorEntry.StateSince"/> is its own version (otherwise the current entry's is kept).
    /// </summary>
    Task<OperatorEntry?> CompareAndSetAsync(
        string name, long expectedVersion, OperatorSpec? spec, OperatorMetadata? metadata, bool newState, CancellationToken cancellationToken);

    /// <summary>
    /// The store revision after each change, starting with the current one. Notifications are
    /// coalesced (a slow reader sees only the newest revision): re-read the store on each.
    /// </summary>
    IAsyncEnumerable<long> WatchAsync(CancellationToken cancellationToken);

    /// <summary>
    /// The completed checkpoints and savepoints recorded (<see cref="RecordCheckpointAsync"/>),
    /// by id. A scheduler that starts (or becomes the leader) restores from the newest.
    /// </summary>
    Task<IReadOnlyList<CheckpointRecord>> ReadCheckpointsAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Records <paramref name="completed"/> and forgets the records with the ids in
    /// <paramref name="forget"/> (checkpoints past the retained count) in one durable write.
    /// Does not change the topology's revision: checkpoints are not a topology change.
    /// </summary>
    /// <exception cref="ArgumentException">A record with that id is already stored.</exception>
    Task RecordCheckpointAsync(CheckpointRecord completed, IReadOnlyCollection<ulong> forget, CancellationToken cancellationToken);
}

/// <summary>Special versions for <see cref="ITopologyStore.CompareAndSetAsync"/>.</summary>
public static class TopologyStoreVersions
{
    /// <summary>The entry must not exist (create).</summary>
    public const long Absent = 0;
}

/// <summary>A compare-and-set found another version than the caller expected.</summary>
public sealed class TopologyConflictException(string name, long expectedVersion, long actualVersion)
    : Exception(Describe(name, expectedVersion, actualVersion))
{
    public string Name { get; } = name;

    public long ExpectedVersion { get; } = expectedVersion;

    /// <summary>The version found; <see cref="TopologyStoreVersions.Absent"/> when there is no entry.</summary>
    public long ActualVersion { get; } = actualVersion;

    private static string Describe(string name, long expected, long actual) =>
        (expected, actual) switch
        {
            (TopologyStoreVersions.Absent, _) => $"operator '{name}' already exists (version {actual})",
            (_, TopologyStoreVersions.Absent) => $"operator '{name}' does not exist (expected version {expected})",
            _ => $"operator '{name}' changed: expected version {expected}, found {actual}; re-read and retry",
        };
}

/// <summary>A write would make the stored topology larger than the store allows.</summary>
/// <param name="what">What grew too large: the whole topology (a file store) or one stored node (ZooKeeper).</param>
/// <param name="limit">The name of the limit, for the message.</param>
public sealed class TopologyTooLargeException(long bytes, long bytesMax, string what = "the topology", string limit = "SchedulerLimits.TopologyBytesMax")
    : Exception($"{what} would grow to {bytes} bytes, more than {bytesMax} ({limit}); kill operators you no longer need, or shorten their specs")
{
    public long Bytes { get; } = bytes;

    public long BytesMax { get; } = bytesMax;
}
