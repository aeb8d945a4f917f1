using Concord.Hosting.Checkpoints;

namespace Concord.Executor.State.Internal;

/// <summary>
/// A snapshot as both backends write it: the changed key groups into new state files
/// (<see cref="StateFile"/>), then the instance manifest, which also names the files of
/// unchanged groups. The backend supplies the entries of a group (<see cref="WriteGroup"/>)
/// from its immutable view.
/// </summary>
internal abstract class KeyGroupSnapshot(ulong checkpointId, (int Start, int End) range, List<int> groupsToWrite, List<KeyGroupFile> unchanged, int keyGroupCount)
    : IStateSnapshot
{
    private volatile IReadOnlyDictionary<int, KeyGroupFile>? _written;
    private int _started;

    public ulong CheckpointId { get; } = checkpointId;

    public IReadOnlyList<int> GroupsToWrite { get; } = groupsToWrite;

    /// <summary>The files written, by group (a group left empty has none), once the write succeeded; null before or after a failure.</summary>
    public IReadOnlyDictionary<int, KeyGroupFile>? Written => _written;

    /// <summary>Writes the entries of <paramref name="group"/> into <paramref name="writer"/>.</summary>
    protected abstract void WriteGroup(int group, StateFileWriter writer);

    public Task<SnapshotResult> WriteAsync(string checkpointDirectory, string operatorName, int instanceIndex, CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            throw new InvalidOperationException("a state snapshot is written once; take a new one for the next checkpoint");
        }
        // The caller is the batch pump: the files are written off its thread.
        return Task.Run(() => Write(checkpointDirectory, operatorName, instanceIndex, cancellationToken), cancellationToken);
    }

    private SnapshotResult Write(string checkpointDirectory, string operatorName, int instanceIndex, CancellationToken cancellationToken)
    {
        var root = CheckpointLayout.RootOf(checkpointDirectory);
        var written = new Dictionary<int, KeyGroupFile>();
        long writtenBytes = 0;
        foreach (var group in GroupsToWrite)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var stray = group >= range.Start && group < range.End ? (int?)null : instanceIndex;
            var relative = CheckpointLayout.StateFile(operatorName, group, CheckpointId, stray);
            var path = CheckpointLayout.ResolveStateFile(root, relative);
            long entries = 0;
            var bytes = CheckpointLayout.WriteFileDurably(path, stream =>
            {
                // Not disposed: that would close the file before its fsync; flushed instead.
                var buffered = new BufferedStream(stream, ExecutorLimits.StateFileBufferBytes);
                var writer = new StateFileWriter(buffered, group);
                WriteGroup(group, writer);
                writer.Finish();
                buffered.Flush();
                entries = writer.Entries;
            });
            writtenBytes += bytes;
            if (entries == 0)
            {
                // Every key of the group was cleared since the last snapshot: no file, and the
                // manifest leaves the group out.
                File.Delete(path);
                continue;
            }
            written[group] = new KeyGroupFile(group, relative, bytes, entries);
        }
        var groups = written.Values.Concat(unchanged).OrderBy(g => g.Group).ToList();
        var manifest = new InstanceManifest(CheckpointLayout.ManifestVersion, CheckpointId, operatorName, instanceIndex,
            keyGroupCount, range.Start, range.End, groups);
        writtenBytes += CheckpointLayout.WriteManifest(checkpointDirectory, manifest);
        _written = written;
        return new SnapshotResult(writtenBytes, manifest.StateBytes);
    }

    public virtual void Dispose()
    {
    }
}
