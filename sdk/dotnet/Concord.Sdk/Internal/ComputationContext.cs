using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Google.Protobuf;

namespace Concord.Sdk.Internal;

/// <summary>
/// The context handed to callbacks. Owned by the operator thread: products go straight into the
/// BatchDone being built, with no locks, which is why calls from other threads are rejected.
/// </summary>
internal sealed class ComputationContext(
    Init init,
    OperatorMetadata metadata,
    TimeProvider time,
    Action<OperatorMessage> sendLog,
    int operatorThreadId) : IComputationContext
{
    private readonly HashSet<string> _outputs = [.. metadata.Outputs];
    private readonly IReadOnlyCollection<string> _outputList = [.. metadata.Outputs];
    private BatchDone? _batch;
    private Record? _current;
    private long _producedBytes;

    public string OperatorName { get; } = init.OperatorName;

    public int InstanceIndex { get; } = init.InstanceIndex;

    public int InstanceCount { get; } = init.InstanceCount;

    /// <summary>Starts collecting the products of one batch (Init is batch 0).</summary>
    public void Begin(BatchDone batch)
    {
        _batch = batch;
        _current = null;
        _producedBytes = 0;
    }

    /// <summary>The record whose callback runs now; null in Init and timers.</summary>
    public void SetCurrent(Record? record) => _current = record;

    public void End()
    {
        _batch = null;
        _current = null;
    }

    public void ProduceRecord(string stream, ByteString key, ByteString value, long eventTimeUnixMs = 0)
    {
        var batch = RequireCallback(nameof(ProduceRecord));
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        if (!_outputs.Contains(stream))
        {
            throw new UndeclaredStreamException(stream, _outputList);
        }
        var recordBytes = (long)key.Length + value.Length;
        if (recordBytes > init.MaxRecordBytes)
        {
            throw new RecordTooLargeException(stream, recordBytes, init.MaxRecordBytes);
        }
        _producedBytes += recordBytes + stream.Length + SdkLimits.ProducedRecordOverheadBytes;
        if (_producedBytes > SdkLimits.ProducedBytesPerBatchMax)
        {
            throw new OperatorUsageException(
                $"the callbacks of one batch produced more than {SdkLimits.ProducedBytesPerBatchMax} bytes " +
                "(SdkLimits.ProducedBytesPerBatchMax); produce less per callback, e.g. emit from a timer in smaller steps");
        }

        var record = new Record { Key = key, Value = value };
        if (_current is { } current)
        {
            // Lineage: the produced record carries the trace and ingest time of its cause.
            record.Trace = current.Trace;
            record.IngestTimeUnixUs = current.IngestTimeUnixUs;
            record.EventTimeUnixMs = eventTimeUnixMs != 0 ? eventTimeUnixMs : current.EventTimeUnixMs;
        }
        else
        {
            var now = time.GetUtcNow();
            record.IngestTimeUnixUs = (now.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / TimeSpan.TicksPerMicrosecond;
            record.EventTimeUnixMs = eventTimeUnixMs != 0 ? eventTimeUnixMs : now.ToUnixTimeMilliseconds();
        }
        batch.Produced.Add(new ProducedRecord { Stream = stream, Record = record });
    }

    public void SetTimer(string key, long timeUnixMs)
    {
        var batch = RequireCallback(nameof(SetTimer));
        ArgumentNullException.ThrowIfNull(key);
        batch.TimersSet.Add(new TimerSet { Key = key, TimeUnixMs = timeUnixMs });
    }

    public void Log(string message, OperatorLogLevel level = OperatorLogLevel.Info)
    {
        message ??= "";
        if (message.Length > SdkLimits.LogMessageCharsMax)
        {
            message = string.Concat(message.AsSpan(0, SdkLimits.LogMessageCharsMax), " …(truncated)");
        }
        sendLog(new OperatorMessage
        {
            Log = new Contracts.Operator.V1.Log
            {
                Message = message,
                Level = level switch
                {
                    OperatorLogLevel.Debug => Contracts.Operator.V1.Log.Types.Level.Debug,
                    OperatorLogLevel.Warning => Contracts.Operator.V1.Log.Types.Level.Warning,
                    OperatorLogLevel.Error => Contracts.Operator.V1.Log.Types.Level.Error,
                    _ => Contracts.Operator.V1.Log.Types.Level.Info,
                },
            },
        });
    }

    private BatchDone RequireCallback(string member)
    {
        if (Environment.CurrentManagedThreadId != operatorThreadId || _batch is null)
        {
            throw new InvalidOperationException(
                $"{member} was called outside a callback; call it only from Init, ProcessRecord or ProcessTimer, " +
                "on the thread that runs them (products belong to the batch being processed)");
        }
        return _batch;
    }
}
