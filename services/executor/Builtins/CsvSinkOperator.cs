using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;

namespace Concord.Executor.Builtins;

/// <summary>
/// Built-in sink: writes every record of its input streams as a "key,value" line (raw UTF-8
/// bytes) to a file, appending, flushed at least every
/// <see cref="ExecutorLimits.CsvSinkFlushIntervalMs"/> while records arrive (by its own
/// timer) and on shutdown. Options: path (required; "{instance}" is replaced by the instance
/// index so several instances do not share a file). Inputs come from expected_inputs.
/// </summary>
public sealed class CsvSinkOperator : BuiltinSession
{
    public const string Kind = "csv-sink";
    private const string FlushTimerKey = "flush";

    private readonly FileStream _file;
    private long _lastFlushMs;
    private bool _dirty;
    private bool _flushTimerSet;

    public CsvSinkOperator(OperatorSpec spec, string workDir, int instanceIndex, TimeProvider time)
        : base(spec, time)
    {
        var options = new BuiltinOptions(spec.Builtin, "path");
        if (spec.ExpectedInputs.Count == 0)
        {
            throw new OperatorFailedException(
                "built-in 'csv-sink' reads the streams listed in 'expected_inputs', and none are listed; add the streams to write");
        }
        var path = BuiltinOptions.ResolvePath(spec, options.Required("path", "the file to write key,value lines to"), workDir)
            .Replace("{instance}", instanceIndex.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        Path = path;
        try
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
            _file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read, bufferSize: 64 * 1024);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OperatorFailedException($"csv-sink cannot open '{path}' for writing ({e.Message}); fix option 'path' or the directory's permissions");
        }
    }

    /// <summary>The file written.</summary>
    public string Path { get; }

    protected override OperatorMetadata Describe() => new() { Name = Spec.Name, Inputs = { Spec.ExpectedInputs } };

    protected override void OnBatch(ProcessBatch batch, BatchDone done)
    {
        foreach (var record in batch.Records)
        {
            _file.Write(record.Key.Span);
            _file.WriteByte((byte)',');
            _file.Write(record.Value.Span);
            _file.WriteByte((byte)'\n');
            _dirty = true;
        }
        var nowMs = Now().EventTimeMs;
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
        if (_dirty && !_flushTimerSet)
        {
            // Records that arrive and then stop are still flushed within the interval.
            done.TimersSet.Add(new TimerSet { Key = FlushTimerKey, TimeUnixMs = _lastFlushMs + ExecutorLimits.CsvSinkFlushIntervalMs });
            _flushTimerSet = true;
        }
    }

    protected override void OnShutdown()
    {
        _file.Flush(flushToDisk: false);
        _file.Dispose();
    }

    private void Flush(long nowMs)
    {
        _file.Flush(flushToDisk: false);
        _lastFlushMs = nowMs;
        _dirty = false;
    }
}
