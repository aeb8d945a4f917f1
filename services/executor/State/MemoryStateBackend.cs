using System.Buffers;
using Concord.Contracts;
using Concord.Executor.State.Internal;

namespace Concord.Executor.State;

/// <summary>
/// The default state backend (docs/guarantees.md "State backends"): a dictionary per key group,
/// bounded by <c>--state-memory-mb</c> (<see cref="ExecutorLimits.StateMemoryBytesMax"/>).
/// Snapshots are copy-on-write per key group and incremental: only key groups changed since the
/// last snapshot are copied and written; the others refer to the files written before.
/// Not thread-safe: the batch pump's thread only (snapshots are written from any thread).
/// </summary>
public sealed class MemoryStateBackend : IKeyedStateBackend
{
    private readonly KeyGroupMap?[] _groups;
    private readonly long _bytesMax;
    private readonly IncrementalSnapshots _incremental;

    /// <param name="keyGroupCount">Key groups of the topology (the routing table's key_group_count).</param>
    /// <param name="range">Key groups [Start, End) this instance owns; keys of other groups are accepted too.</param>
    /// <param name="bytesMax">Bound on <see cref="StateBytes"/>, in bytes (<c>--state-memory-mb</c>).</param>
    public MemoryStateBackend(int keyGroupCount, (int Start, int End) range, long bytesMax)
    {
        StateBackendChecks.Validate(keyGroupCount, range, bytesMax);
        KeyGroupCount = keyGroupCount;
        Range = range;
        _bytesMax = bytesMax;
        _groups = new KeyGroupMap?[keyGroupCount];
        _incremental = new IncrementalSnapshots(keyGroupCount);
    }

    /// <inheritdoc/>
    public int KeyGroupCount { get; }

    /// <inheritdoc/>
    public (int Start, int End) Range { get; }

    /// <inheritdoc/>
    public long StateBytes { get; private set; }

    /// <summary>Bytes one entry is accounted for: its state key, its value and <see cref="ExecutorLimits.StateEntryOverheadBytes"/>.</summary>
    internal static long EntryBytes(int stateKeyLength, int valueLength) =>
        (long)stateKeyLength + valueLength + ExecutorLimits.StateEntryOverheadBytes;

    /// <inheritdoc/>
    public bool TryGet(ReadOnlySpan<byte> key, string name, out ReadOnlyMemory<byte> value)
    {
        var map = _groups[KeyGroups.Of(key, KeyGroupCount)];
        if (map is null)
        {
            value = default;
            return false;
        }
        var length = StateKeys.LengthOf(key, name);
        var rented = length <= ExecutorLimits.StateKeyStackBytesMax ? null : ArrayPool<byte>.Shared.Rent(length);
        try
        {
            var stateKey = rented is null ? stackalloc byte[length] : rented.AsSpan(0, length);
            StateKeys.Write(stateKey, key, name);
            var found = map.Entries.GetAlternateLookup<ReadOnlySpan<byte>>().TryGetValue(stateKey, out var bytes);
            value = found ? bytes : default;
            return found;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <inheritdoc/>
    public void Set(ReadOnlySpan<byte> key, string name, ReadOnlySpan<byte> value)
    {
        StateBackendChecks.CheckValue(value.Length);
        var group = KeyGroups.Of(key, KeyGroupCount);
        var map = _groups[group] ??= new KeyGroupMap();
        var length = StateKeys.LengthOf(key, name);
        var rented = length <= ExecutorLimits.StateKeyStackBytesMax ? null : ArrayPool<byte>.Shared.Rent(length);
        try
        {
            var stateKey = rented is null ? stackalloc byte[length] : rented.AsSpan(0, length);
            StateKeys.Write(stateKey, key, name);
            var lookup = map.Entries.GetAlternateLookup<ReadOnlySpan<byte>>();
            var exists = lookup.TryGetValue(stateKey, out var storedKey, out var old);
            var delta = EntryBytes(length, value.Length) - (exists ? EntryBytes(length, old!.Length) : 0);
            if (StateBytes + delta > _bytesMax)
            {
                throw StateBackendChecks.MemoryBoundReached(StateBytes + delta, _bytesMax);
            }
            var entries = map.Writable();
            entries[storedKey ?? stateKey.ToArray()] = value.ToArray();
            map.Bytes += delta;
            StateBytes += delta;
            MarkChanged(group);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <inheritdoc/>
    public void Clear(ReadOnlySpan<byte> key, string name)
    {
        var group = KeyGroups.Of(key, KeyGroupCount);
        var map = _groups[group];
        if (map is null)
        {
            return;
        }
        var length = StateKeys.LengthOf(key, name);
        var rented = length <= ExecutorLimits.StateKeyStackBytesMax ? null : ArrayPool<byte>.Shared.Rent(length);
        try
        {
            var stateKey = rented is null ? stackalloc byte[length] : rented.AsSpan(0, length);
            StateKeys.Write(stateKey, key, name);
            if (!map.Entries.GetAlternateLookup<ReadOnlySpan<byte>>().ContainsKey(stateKey))
            {
                return;
            }
            map.Writable().GetAlternateLookup<ReadOnlySpan<byte>>().Remove(stateKey, out _, out var old);
            var freed = EntryBytes(length, old!.Length);
            map.Bytes -= freed;
            StateBytes -= freed;
            MarkChanged(group);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <inheritdoc/>
    public IEnumerable<(byte[] Key, byte[] Value)> Entries(string name)
    {
        var prefix = StateKeys.NamePrefix(name);
        var result = new List<(byte[], byte[])>();
        foreach (var map in _groups)
        {
            if (map is null)
            {
                continue;
            }
            foreach (var (stateKey, value) in map.Entries)
            {
                if (stateKey.AsSpan().StartsWith(prefix))
                {
                    result.Add((stateKey[prefix.Length..], value));
                }
            }
        }
        return result;
    }

    /// <inheritdoc/>
    public IStateSnapshot Snapshot(ulong checkpointId)
    {
        var (write, refer) = _incremental.Plan();
        var frozen = new Dictionary<int, Dictionary<byte[], byte[]>>(write.Count);
        foreach (var group in write)
        {
            if (_groups[group] is { } map)
            {
                frozen[group] = map.Freeze();
            }
        }
        var snapshot = new MemorySnapshot(checkpointId, Range, write, refer, KeyGroupCount, frozen);
        _incremental.Track(snapshot);
        return snapshot;
    }

    /// <inheritdoc/>
    public void Restore(string checkpointDirectory, string operatorName)
    {
        var plan = CheckpointRestore.Plan(checkpointDirectory, operatorName, KeyGroupCount, Range);
        Array.Clear(_groups);
        StateBytes = 0;
        var names = new StateNameSet();
        var files = new Dictionary<int, Hosting.Checkpoints.KeyGroupFile>();
        var merged = new List<int>();
        try
        {
            foreach (var (group, sources) in plan)
            {
                var map = new KeyGroupMap();
                foreach (var (path, _) in sources)
                {
                    StateFile.Read(path, group, (stateKey, value) =>
                    {
                        // The owner's file is read first: a former owner's copy of a key is older.
                        if (map.Entries.TryAdd(stateKey, value))
                        {
                            names.Add(stateKey);
                            var bytes = EntryBytes(stateKey.Length, value.Length);
                            if (StateBytes + bytes > _bytesMax)
                            {
                                throw StateBackendChecks.MemoryBoundReached(StateBytes + bytes, _bytesMax);
                            }
                            map.Bytes += bytes;
                            StateBytes += bytes;
                        }
                    });
                }
                _groups[group] = map;
                if (sources.Count == 1)
                {
                    files[group] = sources[0].File;
                }
                else
                {
                    merged.Add(group);
                }
            }
        }
        catch
        {
            // No half-restored state: the instance fails and restarts from nothing or a retry.
            Array.Clear(_groups);
            StateBytes = 0;
            throw;
        }
        _incremental.Restored(files, merged);
        RestoredStateNames = names.ToList();
    }

    /// <inheritdoc/>
    public IReadOnlyList<string> RestoredStateNames { get; private set; } = [];

    /// <inheritdoc/>
    public void Dispose()
    {
    }

    private void MarkChanged(int group) => _incremental.MarkChanged(group);

    /// <summary>The frozen dictionaries of the changed groups; written off the pump thread.</summary>
    private sealed class MemorySnapshot(
        ulong checkpointId, (int Start, int End) range, List<int> write, List<Hosting.Checkpoints.KeyGroupFile> refer, int keyGroupCount,
        Dictionary<int, Dictionary<byte[], byte[]>> frozen)
        : KeyGroupSnapshot(checkpointId, range, write, refer, keyGroupCount)
    {
        protected override void WriteGroup(int group, StateFileWriter writer)
        {
            if (frozen.TryGetValue(group, out var entries))
            {
                foreach (var (stateKey, value) in entries)
                {
                    writer.Add(stateKey, value);
                }
            }
        }
    }
}
