using Concord.Contracts.Operator.V1;
using Concord.Executor.Records.Internal;
using Google.Protobuf;

namespace Concord.Executor.Records;

/// <summary>
/// A ProcessBatch as the executor builds it: records as bytes, taken from the inbound queue,
/// and the timers that fired. Serialized by the session straight into
/// <c>ExecutorMessage{process_batch}</c>; built-ins read it in place.
/// </summary>
public sealed class RawBatch : IWireMessage
{
    /// <summary>ExecutorMessage.process_batch = 2, length-delimited.</summary>
    private const byte ExecutorMessageProcessBatchTag = 0x12;

    /// <summary>ProcessBatch.seq = 1, varint.</summary>
    private const byte SeqTag = 0x08;

    /// <summary>ProcessBatch.records = 2, length-delimited.</summary>
    private const byte RecordsTag = 0x12;

    /// <summary>ProcessBatch.timers_fired = 3, length-delimited.</summary>
    private const byte TimersFiredTag = 0x1A;

    /// <summary>ProcessBatch.states = 4, length-delimited.</summary>
    private const byte StatesTag = 0x22;

    /// <summary>ProcessBatch.state_as_of_seq = 5, varint.</summary>
    private const byte StateAsOfSeqTag = 0x28;

    // ProcessBatch.watermark_unix_ms = 6, varint.
    private const byte WatermarkTag = 0x30;

    // BodySize's last result and what it was computed for: the marshaller asks for the size,
    // then writes, and the records are counted once for both.
    private int _bodySize = -1;
    private (int Records, int Timers, ulong Seq) _bodySizeOf;

    public RawBatch(int capacity = 0)
    {
        Records = new List<RawRecord>(capacity);
    }

    public ulong Seq { get; set; }

    /// <summary>The executor's input watermark when the batch was cut ("event-time.v1"); 0: not known. Set before the batch is sized.</summary>
    public long WatermarkUnixMs
    {
        get => _watermarkUnixMs;
        set
        {
            _watermarkUnixMs = value;
            _bodySize = -1;
        }
    }

    private long _watermarkUnixMs;

    public List<RawRecord> Records { get; }

    public List<TimerFired> TimersFired { get; } = [];

    /// <summary>
    /// The keyed state shipped with the batch ("keyed-state.v1"); null for an operator without
    /// declared states, whose batches are written exactly as before.
    /// </summary>
    public List<KeyState>? States { get; private set; }

    /// <summary>The highest seq whose state mutations were applied when <see cref="States"/> was read.</summary>
    public ulong StateAsOfSeq { get; private set; }

    /// <summary>Attaches the keyed state read for this batch (before it is sized or written).</summary>
    public void AttachStates(List<KeyState> states, ulong asOfSeq)
    {
        States = states;
        StateAsOfSeq = asOfSeq;
        _bodySize = -1;
    }

    /// <summary>Serialized bytes of the records (message bodies), what the batch bounds count.</summary>
    public long RecordBytes { get; private set; }

    public void Add(in RawRecord record)
    {
        Records.Add(record);
        RecordBytes += record.Length;
    }

    /// <summary>The size of <c>ExecutorMessage{process_batch: this}</c>; the batch must not change after.</summary>
    public int SerializedSize
    {
        get
        {
            var body = BodySize();
            return 1 + RecordWire.VarintSize((uint)body) + body;
        }
    }

    /// <summary>Writes <c>ExecutorMessage{process_batch: this}</c>.</summary>
    public void WriteTo(Span<byte> destination)
    {
        var body = BodySize();
        destination[0] = ExecutorMessageProcessBatchTag;
        var n = 1 + RecordWire.WriteVarint(destination[1..], (uint)body);
        if (Seq != 0)
        {
            destination[n++] = SeqTag;
            n += RecordWire.WriteVarint(destination[n..], Seq);
        }
        foreach (var record in Records)
        {
            n += RecordWire.WriteField(destination[n..], RecordsTag, record.Bytes);
        }
        foreach (var timer in TimersFired)
        {
            var size = timer.CalculateSize();
            destination[n++] = TimersFiredTag;
            n += RecordWire.WriteVarint(destination[n..], (uint)size);
            timer.WriteTo(destination.Slice(n, size));
            n += size;
        }
        if (_watermarkUnixMs > 0)
        {
            destination[n++] = WatermarkTag;
            n += RecordWire.WriteVarint(destination[n..], (ulong)_watermarkUnixMs);
        }
        if (States is not null)
        {
            WriteStates(destination[n..]);
        }
    }

    private void WriteStates(Span<byte> destination)
    {
        var n = 0;
        foreach (var state in States!)
        {
            var size = state.CalculateSize();
            destination[n++] = StatesTag;
            n += RecordWire.WriteVarint(destination[n..], (uint)size);
            state.WriteTo(destination.Slice(n, size));
            n += size;
        }
        if (StateAsOfSeq != 0)
        {
            destination[n++] = StateAsOfSeqTag;
            RecordWire.WriteVarint(destination[n..], StateAsOfSeq);
        }
    }

    /// <summary>The generated message with the same content (tests, diagnostics).</summary>
    public ProcessBatch ToProcessBatch()
    {
        var batch = new ProcessBatch { Seq = Seq, WatermarkUnixMs = _watermarkUnixMs };
        batch.Records.AddRange(Records.Select(r => r.ToRecord()));
        batch.TimersFired.AddRange(TimersFired);
        if (States is not null)
        {
            batch.States.AddRange(States);
            batch.StateAsOfSeq = StateAsOfSeq;
        }
        return batch;
    }

    private int BodySize()
    {
        var of = (Records.Count, TimersFired.Count, Seq);
        if (_bodySize >= 0 && _bodySizeOf == of)
        {
            return _bodySize;
        }
        var size = Seq != 0 ? 1 + RecordWire.VarintSize(Seq) : 0;
        foreach (var record in Records)
        {
            size += RecordWire.FieldSize(record.Length);
        }
        foreach (var timer in TimersFired)
        {
            size += RecordWire.FieldSize(timer.CalculateSize());
        }
        size += _watermarkUnixMs > 0 ? 1 + RecordWire.VarintSize((ulong)_watermarkUnixMs) : 0;
        if (States is not null)
        {
            foreach (var state in States)
            {
                size += RecordWire.FieldSize(state.CalculateSize());
            }
            size += StateAsOfSeq != 0 ? 1 + RecordWire.VarintSize(StateAsOfSeq) : 0;
        }
        _bodySize = size;
        _bodySizeOf = of;
        return size;
    }
}
