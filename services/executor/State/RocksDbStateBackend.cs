using System.Buffers.Binary;
using Concord.Contracts;
using Concord.Executor.State.Internal;
using Concord.Hosting.Checkpoints;
using RocksDbSharp;

namespace Concord.Executor.State;

/// <summary>
/// The rocksdb state backend (docs/guarantees.md "State backends"): state on local disk, for
/// state larger than memory. A RocksDB key is the 2-byte big-endian key group, then the state
/// key (2-byte name length, name, record key), so a key group is one contiguous key range.
/// Snapshots take a RocksDB snapshot and write the changed key groups from it in the same file
/// format as <see cref="MemoryStateBackend"/>, so a checkpoint restores into either backend.
/// The directory is working storage: emptied when the backend opens (state comes back by
/// <see cref="Restore"/>, never from what a previous run left), without a write-ahead log.
/// Pump thread only; snapshots are written from any thread.
/// </summary>
public sealed class RocksDbStateBackend : IKeyedStateBackend
{
    private const int GroupPrefixBytes = 2;

    private readonly string _directory;
    private readonly IncrementalSnapshots _incremental;
    private readonly WriteOptions _writeOptions = new WriteOptions().DisableWal(1);
    private readonly Lock _gate = new();
    private RocksDb _db;
    private int _liveSnapshots;
    private bool _disposed;

    /// <param name="directory">Local directory for the database; its previous content is deleted.</param>
    /// <param name="keyGroupCount">Key groups of the topology (the routing table's key_group_count).</param>
    /// <param name="range">Key groups [Start, End) this instance owns; keys of other groups are accepted too.</param>
    public RocksDbStateBackend(string directory, int keyGroupCount, (int Start, int End) range)
    {
        StateBackendChecks.Validate(keyGroupCount, range, bytesMax: long.MaxValue);
        _directory = Path.GetFullPath(directory);
        KeyGroupCount = keyGroupCount;
        Range = range;
        _incremental = new IncrementalSnapshots(keyGroupCount);
        _db = OpenEmpty(_directory);
    }

    /// <inheritdoc/>
    public int KeyGroupCount { get; }

    /// <inheritdoc/>
    public (int Start, int End) Range { get; }

    /// <inheritdoc/>
    public long StateBytes { get; private set; }

    /// <inheritdoc/>
    public bool TryGet(ReadOnlySpan<byte> key, string name, out ReadOnlyMemory<byte> value)
    {
        var bytes = _db.Get(DbKey(key, name, out _));
        value = bytes;
        return bytes is not null;
    }

    /// <inheritdoc/>
    public void Set(ReadOnlySpan<byte> key, string name, ReadOnlySpan<byte> value)
    {
        StateBackendChecks.CheckValue(value.Length);
        var dbKey = DbKey(key, name, out var group);
        // Read before write for the accounting of StateBytes (a point lookup, usually cached).
        var old = _db.Get(dbKey);
        _db.Put(dbKey, value.ToArray(), null, _writeOptions);
        StateBytes += value.Length - (old?.Length ?? -dbKey.Length);
        _incremental.MarkChanged(group);
    }

    /// <inheritdoc/>
    public void Clear(ReadOnlySpan<byte> key, string name)
    {
        var dbKey = DbKey(key, name, out var group);
        var old = _db.Get(dbKey);
        if (old is null)
        {
            return;
        }
        _db.Remove(dbKey, null, _writeOptions);
        StateBytes -= dbKey.Length + old.Length;
        _incremental.MarkChanged(group);
    }

    /// <inheritdoc/>
    public IEnumerable<(byte[] Key, byte[] Value)> Entries(string name)
    {
        var prefix = StateKeys.NamePrefix(name);
        var result = new List<(byte[], byte[])>();
        using var iterator = _db.NewIterator();
        for (iterator.SeekToFirst(); iterator.Valid(); iterator.Next())
        {
            var dbKey = iterator.Key();
            if (dbKey.AsSpan(GroupPrefixBytes).StartsWith(prefix))
            {
                result.Add((dbKey[(GroupPrefixBytes + prefix.Length)..], iterator.Value()));
            }
        }
        return result;
    }

    /// <inheritdoc/>
    public IStateSnapshot Snapshot(ulong checkpointId)
    {
        var (write, refer) = _incremental.Plan();
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _liveSnapshots++;
        }
        var snapshot = new RocksSnapshot(this, _db.CreateSnapshot(), checkpointId, write, refer);
        _incremental.Track(snapshot);
        return snapshot;
    }

    /// <inheritdoc/>
    public void Restore(string checkpointDirectory, string operatorName)
    {
        var plan = CheckpointRestore.Plan(checkpointDirectory, operatorName, KeyGroupCount, Range);
        lock (_gate)
        {
            if (_liveSnapshots != 0)
            {
                throw new InvalidOperationException("restore while a state snapshot is being written; restore only before the first batch");
            }
            _db.Dispose();
            _db = OpenEmpty(_directory);
        }
        StateBytes = 0;
        var names = new StateNameSet();
        var files = new Dictionary<int, KeyGroupFile>();
        var merged = new List<int>();
        try
        {
            foreach (var (group, sources) in plan)
            {
                // Staged per group and written once every file of it checked out.
                using var batch = new WriteBatch();
                var seen = sources.Count > 1 ? new HashSet<byte[]>(ByteArrayComparer.Instance) : null;
                long bytes = 0;
                foreach (var (path, _) in sources)
                {
                    StateFile.Read(path, group, (stateKey, value) =>
                    {
                        // The owner's file is read first: a former owner's copy of a key is older.
                        if (seen is null || seen.Add(stateKey))
                        {
                            names.Add(stateKey);
                            var dbKey = GroupKey(group, stateKey);
                            batch.Put(dbKey, value);
                            bytes += dbKey.Length + value.Length;
                        }
                    });
                }
                _db.Write(batch, _writeOptions);
                StateBytes += bytes;
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
            _db.Dispose();
            _db = OpenEmpty(_directory);
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
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            // A snapshot still being written keeps the database open; the last one closes it.
            if (_liveSnapshots == 0)
            {
                _db.Dispose();
            }
        }
    }

    private void SnapshotDisposed()
    {
        lock (_gate)
        {
            if (--_liveSnapshots == 0 && _disposed)
            {
                _db.Dispose();
            }
        }
    }

    private static RocksDb OpenEmpty(string directory)
    {
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
        Directory.CreateDirectory(directory);
        var options = new DbOptions()
            .SetCreateIfMissing(true)
            .SetWriteBufferSize(ExecutorLimits.StateRocksDbWriteBufferBytes)
            .SetMaxWriteBufferNumber(ExecutorLimits.StateRocksDbWriteBuffersMax);
        try
        {
            return RocksDb.Open(options, directory);
        }
        catch (DllNotFoundException e)
        {
            throw new InvalidOperationException(
                $"the rocksdb state backend cannot load its native library ({e.Message}); use the memory state backend, or run on linux-x64/arm64, macOS or Windows x64", e);
        }
    }

    private byte[] DbKey(ReadOnlySpan<byte> key, string name, out int group)
    {
        group = KeyGroups.Of(key, KeyGroupCount);
        var dbKey = new byte[GroupPrefixBytes + StateKeys.LengthOf(key, name)];
        BinaryPrimitives.WriteUInt16BigEndian(dbKey, (ushort)group);
        StateKeys.Write(dbKey.AsSpan(GroupPrefixBytes), key, name);
        return dbKey;
    }

    private static byte[] GroupKey(int group, byte[] stateKey)
    {
        var dbKey = new byte[GroupPrefixBytes + stateKey.Length];
        BinaryPrimitives.WriteUInt16BigEndian(dbKey, (ushort)group);
        stateKey.CopyTo(dbKey, GroupPrefixBytes);
        return dbKey;
    }

    /// <summary>A RocksDB snapshot; each changed key group is one range scan of it.</summary>
    private sealed class RocksSnapshot(RocksDbStateBackend backend, Snapshot snapshot, ulong checkpointId, List<int> write, List<KeyGroupFile> refer)
        : KeyGroupSnapshot(checkpointId, backend.Range, write, refer, backend.KeyGroupCount)
    {
        private readonly Lock _gate = new();
        private bool _disposed;

        protected override void WriteGroup(int group, StateFileWriter writer)
        {
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                var start = new byte[GroupPrefixBytes];
                BinaryPrimitives.WriteUInt16BigEndian(start, (ushort)group);
                var end = new byte[GroupPrefixBytes + 1];
                // The next group's prefix, or past every 2-byte prefix for the last group.
                if (group + 1 <= ushort.MaxValue)
                {
                    BinaryPrimitives.WriteUInt16BigEndian(end, (ushort)(group + 1));
                    end = end[..GroupPrefixBytes];
                }
                else
                {
                    end = [0xFF, 0xFF, 0xFF];
                }
                var options = new ReadOptions().SetSnapshot(snapshot).SetIterateUpperBound(end);
                using var iterator = backend._db.NewIterator(null, options);
                for (iterator.Seek(start); iterator.Valid(); iterator.Next())
                {
                    writer.Add(iterator.Key().AsSpan(GroupPrefixBytes), iterator.Value());
                }
                // The options own the upper bound's native copy: alive until the scan ends.
                GC.KeepAlive(options);
            }
        }

        public override void Dispose()
        {
            lock (_gate)
            {
                if (_disposed)
                {
                    return;
                }
                _disposed = true;
                snapshot.Dispose();
            }
            backend.SnapshotDisposed();
        }
    }
}
