using Concord.Contracts;
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
    int operatorThreadId,
    KeyedStateStore? state = null) : IComputationContext
{
    private static readonly IReadOnlyCollection<string> NoStates = [];
    private readonly Dictionary<string, ValueState> _stateHandles = new(StringComparer.Ordinal);
    private ByteString _timerStateKey = ByteString.Empty;
    private string? _stateKeyString; // the key in scope as a store key, computed on first use
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
        _timerStateKey = ByteString.Empty;
        _stateKeyString = null;
        WatermarkUnixMs = 0;
    }

    public long WatermarkUnixMs { get; set; }

    /// <summary>The record whose callback runs now; null in Init and timers.</summary>
    public void SetCurrent(Record? record)
    {
        _current = record;
        _stateKeyString = null;
    }

    /// <summary>The state key of the timer whose callback runs now.</summary>
    public void SetTimerScope(ByteString stateKey)
    {
        _timerStateKey = stateKey;
        _stateKeyString = null;
    }

    public ReadOnlyMemory<byte> StateKey => CurrentStateKey.Memory;

    private ByteString CurrentStateKey => _current?.Key ?? _timerStateKey;

    public IValueState State(string name)
    {
        RequireCallback(nameof(State));
        ArgumentNullException.ThrowIfNull(name);
        if (state is null || !state.IsDeclared(name))
        {
            throw new UndeclaredStateException(name, state?.Declared ?? NoStates);
        }
        if (!_stateHandles.TryGetValue(name, out var handle))
        {
            handle = new ValueState(this, state, name);
            _stateHandles[name] = handle;
        }
        return handle;
    }
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
        CheckBatchBytes();

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

    public void SetTimer(string key, long timeUnixMs) => SetTimer(key, timeUnixMs, TimerDomain.ProcessingTime);

    public void SetTimer(string key, long timeUnixMs, TimerDomain domain)
    {
        var batch = RequireCallback(nameof(SetTimer));
        ArgumentNullException.ThrowIfNull(key);
        var timer = new TimerSet { Key = key, TimeUnixMs = timeUnixMs };
        if (domain == TimerDomain.EventTime)
        {
            if (!init.Capabilities.Contains(Capabilities.EventTime))
            {
                throw new InvalidOperationException(
                    $"event-time timers need an executor with the capability {Capabilities.EventTime} (it offers [{string.Join(", ", init.Capabilities)}]); upgrade the executor, or use TimerDomain.ProcessingTime");
            }
            timer.Domain = TimeDomain.Event;
        }
        else if (domain != TimerDomain.ProcessingTime)
        {
            throw new ArgumentOutOfRangeException(nameof(domain), domain, "use TimerDomain.ProcessingTime or TimerDomain.EventTime");
        }
        if (state is not null)
        {
            // Keyed only with declared states: a stateless operator keeps one timer per key, as before keyed state.
            timer.StateKey = CurrentStateKey;
        }
        batch.TimersSet.Add(timer);
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

    private void CheckBatchBytes()
    {
        if (_producedBytes + (state?.PendingBytes ?? 0) > SdkLimits.ProducedBytesPerBatchMax)
        {
            throw new OperatorUsageException(
                $"the callbacks of one batch produced more than {SdkLimits.ProducedBytesPerBatchMax} bytes of records and state changes " +
                "(SdkLimits.ProducedBytesPerBatchMax); produce less per callback, e.g. emit from a timer in smaller steps, or keep smaller state values");
        }
    }

    private string CurrentStateKeyString() => _stateKeyString ??= KeyedStateStore.KeyString(CurrentStateKey.Span);

    /// <summary>A declared state, bound to the context: it acts on the key in scope when called.</summary>
    private sealed class ValueState(ComputationContext context, KeyedStateStore store, string name) : IValueState
    {
        public byte[]? Get()
        {
            context.RequireCallback(nameof(Get));
            return store.Get(context.CurrentStateKeyString(), name)?.ToByteArray();
        }

        public void Set(ReadOnlySpan<byte> value)
        {
            context.RequireCallback(nameof(Set));
            if (value.Length > store.ValueBytesMax)
            {
                throw new StateValueTooLargeException(name, value.Length, store.ValueBytesMax);
            }
            store.Set(context.CurrentStateKey, context.CurrentStateKeyString(), name, ByteString.CopyFrom(value));
            context.CheckBatchBytes();
        }

        public void Set(byte[] value)
        {
            ArgumentNullException.ThrowIfNull(value);
            Set((ReadOnlySpan<byte>)value);
        }

        public void Clear()
        {
            context.RequireCallback(nameof(Clear));
            store.Set(context.CurrentStateKey, context.CurrentStateKeyString(), name, null);
        }
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
