using System.Globalization;
using System.Text;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.Builtins.Internal;
using Concord.Executor.Checkpoints;
using Concord.Executor.Records;

namespace Concord.Executor.Builtins;

/// <summary>
/// Built-in sink: writes every record of its input streams as a "key,value" line (raw UTF-8
/// bytes) to a file, appending, flushed at least every
/// <see cref="ExecutorLimits.CsvSinkFlushIntervalMs"/> while records arrive (by its own
/// timer) and on shutdown. Options: path (required; "{instance}" is replaced by the instance
/// index so several instances do not share a file); stats (optional path, "{instance}" as for
/// path): a JSON summary — records written and a histogram of source-to-sink latency
/// (arrival time minus the record's ingest_time_unix_us) — rewritten every
/// <see cref="ExecutorLimits.CsvSinkStatsIntervalMs"/> while records arrive and on shutdown;
/// the benchmark reads it. Inputs come from expected_inputs.
/// <para>
/// With delivery exactly_once it is transactional (docs/guarantees.md, "Sources and sinks"):
/// path names a directory; records go to a hidden in-progress file, which
/// <see cref="SnapshotOperator"/>(n) fsyncs and renames to <c>.pending-&lt;instance&gt;-&lt;n&gt;.csv</c>,
/// and <see cref="CheckpointCompleted"/>(n) renames every pending file up to n to
/// <c>part-&lt;instance&gt;-&lt;n&gt;.csv</c>. The committed output is the set of part files; nothing
/// else in the directory is ever visible under a <c>part-</c> name.
/// </para>
/// </summary>
public sealed class CsvSinkOperator : BuiltinSession, ICheckpointedOperator
{
    public const string Kind = "csv-sink";
    private const string FlushTimerKey = "flush";

    /// <summary>Committed output files (exactly_once): part-&lt;instance&gt;-&lt;checkpoint, 20 digits&gt;.csv, so a name sort is checkpoint order.</summary>
    public const string PartPrefix = "part-";
    private const string PendingPrefix = ".pending-";
    private const string InProgressPrefix = ".inprogress-";
    private const string Extension = ".csv";

    private readonly bool _transactional;
    private readonly string _pathTemplate;
    private readonly string _workDir;
    private readonly int _instanceIndex;
    private readonly int _instances;
    // Checkpoints whose pending file this instance wrote and has not committed yet, ascending.
    private readonly SortedSet<ulong> _pending = [];
    private FileStream? _file;
    private string? _inProgressPath;
    private readonly string? _statsPath;
    private readonly LatencyHistogram _latency = new();
    private long _records;
    private long _lastFlushMs;
    private long _lastStatsMs;
    private bool _dirty;
    private bool _statsDirty;
    private bool _flushTimerSet;

    public CsvSinkOperator(OperatorSpec spec, string workDir, int instanceIndex, TimeProvider time)
        : base(spec, time)
    {
        var options = new BuiltinOptions(spec.Builtin);
        if (spec.ExpectedInputs.Count == 0)
        {
            throw new OperatorFailedException(
                "built-in 'csv-sink' reads the streams listed in \"inputs\", and none are listed; add the streams to write");
        }
        // {instance} is filled in before the path is checked: the check is of the file really written.
        var instance = instanceIndex.ToString(CultureInfo.InvariantCulture);
        _pathTemplate = options.Required("path", "the file to write key,value lines to");
        _workDir = workDir;
        _instanceIndex = instanceIndex;
        _instances = Math.Max(1, spec.Instances);
        _transactional = spec.Delivery == DeliveryGuarantee.DeliveryExactlyOnce;
        var path = BuiltinOptions.ResolvePath(spec, "path", _pathTemplate.Replace("{instance}", instance, StringComparison.Ordinal), workDir);
        Path = path;
        _statsPath = options.String("stats") is { } stats
            ? BuiltinOptions.ResolvePath(spec, "stats", stats.Replace("{instance}", instance, StringComparison.Ordinal), workDir)
            : null;
        try
        {
            if (_transactional)
            {
                // The in-progress file opens with the first record after a start or a snapshot.
                Directory.CreateDirectory(path);
                return;
            }
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
            if (spec.Delivery == DeliveryGuarantee.DeliveryAtLeastOnce)
            {
                DropTornLine(path);
            }
            _file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read, bufferSize: ExecutorLimits.CsvSinkBufferBytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OperatorFailedException($"csv-sink cannot open '{path}' for writing ({e.Message}); fix option 'path' or the directory's permissions");
        }
    }

    /// <summary>
    /// at_least_once: an incarnation killed while its buffer went to the file can leave half a
    /// line at the end, and the next one's first line would be glued to it (a record neither
    /// whole nor replayed apart). Every line before the last snapshot is whole (the snapshot
    /// flushes), so the torn tail was written after it and its record is replayed: cut it off.
    /// </summary>
    private static void DropTornLine(string path)
    {
        using var file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
        var end = file.Length;
        var buffer = new byte[ExecutorLimits.CsvSinkBufferBytes];
        while (end > 0)
        {
            var start = Math.Max(0, end - buffer.Length);
            file.Position = start;
            file.ReadExactly(buffer, 0, (int)(end - start));
            var newline = Array.LastIndexOf(buffer, (byte)'\n', (int)(end - start) - 1);
            if (newline >= 0)
            {
                end = start + newline + 1;
                break;
            }
            end = start;
        }
        if (end < file.Length)
        {
            file.SetLength(end);
            file.Flush(flushToDisk: true);
        }
    }

    /// <summary>The file written; with exactly_once, the directory of part files.</summary>
    public string Path { get; }

    /// <summary>Records written so far.</summary>
    public long Records => Interlocked.Read(ref _records);

    protected override OperatorMetadata Describe() => new() { Name = Spec.Name, Inputs = { Spec.ExpectedInputs } };

    protected override void OnBatch(RawBatch batch, AnswerWriter done)
    {
        var (nowMs, nowUs) = Now();
        var records = batch.Records;
        if (records.Count > 0)
        {
            var file = _file ?? OpenInProgress();
            foreach (var record in records)
            {
                file.Write(record.Key);
                file.WriteByte((byte)',');
                file.Write(record.Value);
                file.WriteByte((byte)'\n');
                if (_statsPath is not null && record.IngestTimeUnixUs > 0)
                {
                    _latency.Record(nowUs - record.IngestTimeUnixUs);
                }
            }
            Interlocked.Add(ref _records, records.Count);
            _dirty = true;
            _statsDirty = _statsPath is not null;
        }
        foreach (var timer in batch.TimersFired)
        {
            if (timer.Key == FlushTimerKey)
            {
                _flushTimerSet = false;
            }
        }
        if (_transactional)
        {
            // Flushing is the pre-commit's job: nothing written here is visible before the commit.
            _dirty = false;
        }
        if (_dirty && nowMs - _lastFlushMs >= ExecutorLimits.CsvSinkFlushIntervalMs)
        {
            Flush(nowMs);
        }
        if (_statsDirty && nowMs - _lastStatsMs >= ExecutorLimits.CsvSinkStatsIntervalMs)
        {
            WriteStats(nowMs);
        }
        if ((_dirty || _statsDirty) && !_flushTimerSet)
        {
            // Records that arrive and then stop are still flushed (and summarised) within the interval.
            var due = _dirty ? _lastFlushMs + ExecutorLimits.CsvSinkFlushIntervalMs : _lastStatsMs + ExecutorLimits.CsvSinkStatsIntervalMs;
            done.TimersSet.Add(new TimerSet { Key = FlushTimerKey, TimeUnixMs = due });
            _flushTimerSet = true;
        }
    }

    protected override void OnShutdown()
    {
        // exactly_once: an in-progress file is left as it is; the next restore deletes it.
        _file?.Flush(flushToDisk: false);
        _file?.Dispose();
        _file = null;
        if (_statsPath is not null)
        {
            WriteStats(Now().EventTimeMs);
        }
    }

    /// <summary>Replaces the stats file atomically (write then rename) so a reader never sees half of it.</summary>
    private void WriteStats(long nowMs)
    {
        var json = new StringBuilder(256);
        json.Append("{\"records\":").Append(Records).Append(",\"updated_unix_ms\":").Append(nowMs).Append(",\"latency_us\":");
        _latency.WriteJson(json);
        json.Append('}');
        try
        {
            var temp = _statsPath + ".tmp";
            File.WriteAllText(temp, json.ToString());
            File.Move(temp, _statsPath!, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OperatorFailedException($"csv-sink cannot write its stats file '{_statsPath}' ({e.Message}); fix option 'stats' or the directory's permissions");
        }
        _lastStatsMs = nowMs;
        _statsDirty = false;
    }

    private void Flush(long nowMs)
    {
        _file?.Flush(flushToDisk: false);
        _lastFlushMs = nowMs;
        _dirty = false;
    }

    private FileStream OpenInProgress()
    {
        _inProgressPath = System.IO.Path.Combine(Path, $"{InProgressPrefix}{_instanceIndex}-{Guid.NewGuid():N}{Extension}");
        try
        {
            _file = new FileStream(_inProgressPath, FileMode.CreateNew, FileAccess.Write, FileShare.Read, bufferSize: ExecutorLimits.CsvSinkBufferBytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OperatorFailedException($"csv-sink cannot create '{_inProgressPath}' ({e.Message}); fix option 'path' or the directory's permissions");
        }
        return _file;
    }

    private static string PendingName(int instance, ulong checkpointId) =>
        FormattableString.Invariant($"{PendingPrefix}{instance}-{checkpointId:D20}{Extension}");

    /// <summary>The committed file of <paramref name="instance"/>'s records up to checkpoint <paramref name="checkpointId"/>.</summary>
    public static string PartName(int instance, ulong checkpointId) =>
        FormattableString.Invariant($"{PartPrefix}{instance}-{checkpointId:D20}{Extension}");

    /// <summary>
    /// Pre-commit: the records since the last snapshot become the pending file of
    /// <paramref name="checkpointId"/>, fsynced with its directory entry, so a crash after this
    /// returns cannot lose them. Returns the pending checkpoints of this instance.
    /// </summary>
    public byte[] SnapshotOperator(ulong checkpointId)
    {
        if (!_transactional)
        {
            // Other modes append to the file directly: what came before the barrier must be
            // on disk before the checkpoint lets the sources forget it (at_least_once).
            Io(() => _file?.Flush(flushToDisk: true), Path);
            return PositionSnapshot.Write([], Kind);
        }
        if (_file is not null)
        {
            var pending = System.IO.Path.Combine(Path, PendingName(_instanceIndex, checkpointId));
            Io(() =>
            {
                _file.Flush(flushToDisk: true);
                _file.Dispose();
                _file = null;
                File.Move(_inProgressPath!, pending);
                Concord.Hosting.DirectorySync.Sync(Path);
            }, pending);
            _inProgressPath = null;
            _pending.Add(checkpointId);
        }
        return PositionSnapshot.Write(_pending.Select(id => new KeyValuePair<int, long>(_instanceIndex, (long)id)), Kind);
    }

    public void CheckpointCompleted(ulong checkpointId)
    {
        if (!_transactional)
        {
            return;
        }
        var committed = _pending.Where(id => id <= checkpointId).ToList();
        foreach (var id in committed)
        {
            Commit(Path, _instanceIndex, id);
            _pending.Remove(id);
        }
        if (committed.Count > 0)
        {
            Io(() => Concord.Hosting.DirectorySync.Sync(Path), Path);
        }
    }

    public void CheckpointAborted(ulong checkpointId)
    {
        // The pending file stays: the next completed checkpoint commits it (ids are ascending).
    }

    /// <summary>
    /// Commits what the restored checkpoint pre-committed and deletes everything else not
    /// committed: pending files it does not list (taken after it) and in-progress files. This
    /// instance handles the files of every old instance i with i mod (new instance count) == its
    /// index, so after a rescale each old instance's files have exactly one owner.
    /// </summary>
    public void RestoreOperator(ulong checkpointId, IReadOnlyDictionary<int, byte[]> snapshots)
    {
        if (!_transactional)
        {
            return;
        }
        var listed = new HashSet<(int Instance, ulong Id)>();
        foreach (var snapshot in snapshots.Values)
        {
            foreach (var (instance, id) in PositionSnapshot.Read(snapshot, Kind))
            {
                if ((ulong)id <= checkpointId)
                {
                    listed.Add((instance, (ulong)id));
                }
            }
        }
        bool Mine(int instance) => instance % _instances == _instanceIndex;
        var indices = snapshots.Keys.Concat(listed.Select(l => l.Instance)).Append(_instanceIndex).Where(Mine).Distinct();
        var directories = indices.Select(InstanceDirectory).Distinct().Where(Directory.Exists).ToList();
        foreach (var (instance, id) in listed.Where(l => Mine(l.Instance)))
        {
            var directory = InstanceDirectory(instance);
            if (!File.Exists(System.IO.Path.Combine(directory, PendingName(instance, id))) && File.Exists(System.IO.Path.Combine(directory, PartName(instance, id))))
            {
                continue; // committed before the failure
            }
            Commit(directory, instance, id);
        }
        foreach (var directory in directories)
        {
            foreach (var file in Directory.GetFiles(directory))
            {
                var name = System.IO.Path.GetFileName(file);
                if ((name.StartsWith(PendingPrefix, StringComparison.Ordinal) || name.StartsWith(InProgressPrefix, StringComparison.Ordinal))
                    && ParseInstance(name) is { } instance && Mine(instance))
                {
                    Io(() => File.Delete(file), file); // not in the checkpoint: its records are replayed
                }
            }
            Io(() => Concord.Hosting.DirectorySync.Sync(directory), directory);
        }
        _pending.Clear();
    }

    /// <summary>The directory of instance <paramref name="instance"/>'s files ("{instance}" in path filled in), checked as path is.</summary>
    private string InstanceDirectory(int instance) => instance == _instanceIndex
        ? Path
        : BuiltinOptions.ResolvePath(Spec, "path", _pathTemplate.Replace("{instance}", instance.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal), _workDir);

    private static int? ParseInstance(string name)
    {
        var rest = name[(name.StartsWith(PendingPrefix, StringComparison.Ordinal) ? PendingPrefix.Length : InProgressPrefix.Length)..];
        var dash = rest.IndexOf('-', StringComparison.Ordinal);
        return dash > 0 && int.TryParse(rest.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out var instance) ? instance : null;
    }

    /// <summary>Renames a pending file to its part name: atomic, and never over an existing part (that would lose committed records).</summary>
    private static void Commit(string directory, int instance, ulong checkpointId)
    {
        var pending = System.IO.Path.Combine(directory, PendingName(instance, checkpointId));
        var part = System.IO.Path.Combine(directory, PartName(instance, checkpointId));
        if (!File.Exists(pending))
        {
            throw new OperatorFailedException(
                $"csv-sink: checkpoint {checkpointId} pre-committed '{pending}', which is gone, and '{part}' does not exist either; its records are lost. Something else deletes files in option 'path''s directory: give the sink a directory of its own");
        }
        Io(() => File.Move(pending, part, overwrite: false), part);
    }

    private static void Io(Action action, string path)
    {
        try
        {
            action();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OperatorFailedException($"csv-sink cannot write '{path}' ({e.Message}); check the disk and the directory's permissions");
        }
    }
}
