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
    // Each declared output with its encoded ProducedRecord.stream field, made once.
    private readonly Dictionary<string, byte[]> _outputs = metadata.Outputs.Distinct().ToDictionary(o => o, BatchDoneWriter.StreamField, StringComparer.Ordinal);
    private readonly IReadOnlyCollection<string> _outputList = [.. metadata.Outputs];
    private BatchDoneWriter? _batch;
    private Record? _current;
    private long _producedBytes;

    public string OperatorName { get; } = init.OperatorName;

    public int InstanceIndex { get; } = init.InstanceIndex;

    public int InstanceCount { get; } = init.InstanceCount;

    /// <summary>Starts collecting the products of one batch (Init is batch 0).</summary>
    public void Begin(BatchDoneWriter batch)
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
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        Produce(stream, key.Span, value.Span, eventTimeUnixMs);
    }

    // The span overloads write the bytes straight into the BatchDone, with no ByteString.
    public void ProduceRecord(string stream, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) =>
        Produce(stream, key, value, 0);

    public void ProduceRecord(string stream, byte[] key, byte[] value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        Produce(stream, key, value, 0);
    }

    private void Produce(string stream, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, long eventTimeUnixMs)
    {
        var batch = RequireCallback(nameof(ProduceRecord));
        ArgumentNullException.ThrowIfNull(stream);
        if (!_outputs.TryGetValue(stream, out var streamField))
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

        if (_current is { } current)
        {
            // Lineage: the produced record carries the trace and ingest time of its cause.
            batch.AddProduced(streamField, key, value,
                eventTimeUnixMs != 0 ? eventTimeUnixMs : current.EventTimeUnixMs, current.IngestTimeUnixUs, current.Trace);
        }
        else
        {
            var now = time.GetUtcNow();
            batch.AddProduced(streamField, key, value,
                eventTimeUnixMs != 0 ? eventTimeUnixMs : now.ToUnixTimeMilliseconds(),
                (now.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / TimeSpan.TicksPerMicrosecond, null);
        }
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
        batch.Rest.TimersSet.Add(timer);
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

    private BatchDoneWriter RequireCallback(string member)
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
