using System.Globalization;
using System.Text;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.Builtins.Internal;
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
/// </summary>
public sealed class CsvSinkOperator : BuiltinSession
{
    public const string Kind = "csv-sink";
    private const string FlushTimerKey = "flush";

    private readonly FileStream _file;
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
        var path = BuiltinOptions.ResolvePath(spec, "path",
            options.Required("path", "the file to write key,value lines to").Replace("{instance}", instance, StringComparison.Ordinal), workDir);
        Path = path;
        _statsPath = options.String("stats") is { } stats
            ? BuiltinOptions.ResolvePath(spec, "stats", stats.Replace("{instance}", instance, StringComparison.Ordinal), workDir)
            : null;
        try
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
            _file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read, bufferSize: ExecutorLimits.CsvSinkBufferBytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OperatorFailedException($"csv-sink cannot open '{path}' for writing ({e.Message}); fix option 'path' or the directory's permissions");
        }
    }

    /// <summary>The file written.</summary>
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
            foreach (var record in records)
            {
                _file.Write(record.Key);
                _file.WriteByte((byte)',');
                _file.Write(record.Value);
                _file.WriteByte((byte)'\n');
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
        _file.Flush(flushToDisk: false);
        _file.Dispose();
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
        _file.Flush(flushToDisk: false);
        _lastFlushMs = nowMs;
        _dirty = false;
    }
}
