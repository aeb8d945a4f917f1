namespace Concord.Executor.State;

/// <summary>
/// The keyed state of one executor instance (docs/guarantees.md). Values are addressed by
/// (key, state name) and stored under the key's key group (<see cref="Contracts.KeyGroups.Of"/>),
/// so a key group is written, restored and moved as one unit. Durable timers live here too, in
/// the reserved namespace <see cref="TimersNamespace"/>. Called from the batch pump's thread only,
/// except <see cref="IStateSnapshot.WriteAsync"/>, which runs in the background on a snapshot
/// that is immutable.
/// </summary>
public interface IKeyedStateBackend : IDisposable
{
    /// <summary>State name under which the executor stores keyed timers.</summary>
    public const string TimersNamespace = "concord.timers";

    /// <summary>Key groups in the topology (the routing table's key_group_count).</summary>
    int KeyGroupCount { get; }

    /// <summary>The key groups [Start, End) this instance owns.</summary>
    (int Start, int End) Range { get; }

    /// <summary>Bytes of keys and values held (what the memory bound is checked against).</summary>
    long StateBytes { get; }

    /// <summary>The value of (key, name), or false when it has none.</summary>
    bool TryGet(ReadOnlySpan<byte> key, string name, out ReadOnlyMemory<byte> value);

    /// <summary>
    /// Sets (key, name). Throws <see cref="StateLimitException"/> (naming the bound and the fix)
    /// when the value or the backend would exceed its bound; nothing is changed then.
    /// </summary>
    void Set(ReadOnlySpan<byte> key, string name, ReadOnlySpan<byte> value);

    /// <summary>Removes (key, name); no-op when absent.</summary>
    void Clear(ReadOnlySpan<byte> key, string name);

    /// <summary>Every (key, value) of <paramref name="name"/> (timers at restore); any order.</summary>
    IEnumerable<(byte[] Key, byte[] Value)> Entries(string name);

    /// <summary>
    /// The synchronous part of a checkpoint: an immutable view of the state as it is now, cheap
    /// (copy-on-write of changed key groups, or a store snapshot). Later Set/Clear calls do not
    /// change it.
    /// </summary>
    IStateSnapshot Snapshot(ulong checkpointId);

    /// <summary>
    /// Replaces all state with the key groups in <see cref="Range"/> of a completed checkpoint
    /// (its directory: docs/guarantees.md), reading every instance's files of that operator so
    /// key groups that moved at a rescale are found.
    /// </summary>
    void Restore(string checkpointDirectory, string operatorName);

    /// <summary>
    /// The state names the last <see cref="Restore"/> found entries for, ordered
    /// (<see cref="TimersNamespace"/> included when timers were restored); empty before one.
    /// The restore at start checks them against the names the operator declares.
    /// </summary>
    IReadOnlyList<string> RestoredStateNames { get; }
}

/// <summary>An immutable view of keyed state, written to a checkpoint in the background.</summary>
public interface IStateSnapshot : IDisposable
{
    /// <summary>
    /// Writes the view under <paramref name="checkpointDirectory"/> for
    /// <paramref name="operatorName"/> / <paramref name="instanceIndex"/> (incrementally where the
    /// backend can: unchanged key groups refer to files of earlier checkpoints).
    /// </summary>
    Task<SnapshotResult> WriteAsync(string checkpointDirectory, string operatorName, int instanceIndex, CancellationToken cancellationToken);
}

/// <param name="WrittenBytes">Bytes written for this checkpoint.</param>
/// <param name="StateBytes">Bytes of state the snapshot refers to in total.</param>
public readonly record struct SnapshotResult(long WrittenBytes, long StateBytes);

/// <summary>A state bound was reached; the message names the bound and how to raise it.</summary>
public sealed class StateLimitException(string message) : Exception(message);
