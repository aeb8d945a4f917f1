using Concord.Hosting.Checkpoints;

namespace Concord.Executor.State.Internal;

/// <summary>
/// Which key groups changed since the last snapshot, and which file holds each unchanged one,
/// for incremental checkpoints (both backends). A key group refers to an earlier file only once
/// the write of that file is known to have succeeded: a group whose write failed, or is still
/// running when the next snapshot is taken, is written again. Pump thread only; the snapshots
/// report their outcome through <see cref="KeyGroupSnapshot"/>'s thread-safe result.
/// </summary>
internal sealed class IncrementalSnapshots(int keyGroupCount)
{
    private readonly bool[] _changed = new bool[keyGroupCount];
    private readonly KeyGroupFile?[] _files = new KeyGroupFile?[keyGroupCount];
    private readonly List<KeyGroupSnapshot> _pending = [];

    public void MarkChanged(int group) => _changed[group] = true;

    /// <summary>
    /// Settles earlier snapshots and plans the next: the groups to write (changed) and the
    /// files of the unchanged non-empty ones.
    /// </summary>
    public (List<int> Write, List<KeyGroupFile> Refer) Plan()
    {
        foreach (var snapshot in _pending)
        {
            if (snapshot.Written is { } files)
            {
                foreach (var group in snapshot.GroupsToWrite)
                {
                    _files[group] = files.GetValueOrDefault(group);
                }
            }
            else
            {
                foreach (var group in snapshot.GroupsToWrite)
                {
                    _changed[group] = true;
                }
            }
        }
        _pending.Clear();
        var write = new List<int>();
        var refer = new List<KeyGroupFile>();
        for (var group = 0; group < _changed.Length; group++)
        {
            if (_changed[group])
            {
                write.Add(group);
                _changed[group] = false;
                _files[group] = null;
            }
            else if (_files[group] is { } file)
            {
                refer.Add(file);
            }
        }
        return (write, refer);
    }

    /// <summary>The snapshot planned last; its outcome is settled at the next <see cref="Plan"/>.</summary>
    public void Track(KeyGroupSnapshot snapshot) => _pending.Add(snapshot);

    /// <summary>After a restore: every group is unchanged, held in <paramref name="files"/> (or changed: merged from several files).</summary>
    public void Restored(IReadOnlyDictionary<int, KeyGroupFile> files, IEnumerable<int> changed)
    {
        _pending.Clear();
        Array.Clear(_changed);
        Array.Clear(_files);
        foreach (var (group, file) in files)
        {
            _files[group] = file;
        }
        foreach (var group in changed)
        {
            _changed[group] = true;
        }
    }
}
