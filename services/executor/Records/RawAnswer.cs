using System.Text;
using Concord.Contracts;
using Concord.Contracts.Operator.V1;
using Concord.Executor.Records.Internal;
using Google.Protobuf;

namespace Concord.Executor.Records;

/// <summary>
/// A BatchDone as the executor reads it: the produced records as bytes (each with its stream
/// as an index into the operator's <see cref="StreamTable"/>) and the timers set. Scanned
/// from the operator's message in place; built-ins write one with <see cref="AnswerWriter"/>.
/// </summary>
public sealed class RawAnswer
{
    private const int SeqTag = 0x08;           // BatchDone.seq = 1
    private const int ProducedTag = 0x12;      // BatchDone.produced = 2
    private const int TimersSetTag = 0x1A;     // BatchDone.timers_set = 3
    private const int StateMutationsTag = 0x22; // BatchDone.state_mutations = 4
    private const int StreamTag = 0x0A;        // ProducedRecord.stream = 1
    private const int RecordTag = 0x12;        // ProducedRecord.record = 2
    private const int BatchDoneField = 2;      // OperatorMessage.batch_done = 2 (oneof: fields 1..4)
    private const int OneofFieldMax = 4;

    public RawAnswer(ulong seq, int capacity = 0)
    {
        Seq = seq;
        Produced = new List<RawProduced>(capacity);
    }

    public ulong Seq { get; }

    /// <summary>The records produced, in order. Tracing may replace an entry (a sampled record gets a trace context).</summary>
    public List<RawProduced> Produced { get; }

    public List<TimerSet> TimersSet { get; } = [];

    /// <summary>
    /// The state changes of the batch, in order ("keyed-state.v1"); null when the answer has none,
    /// so an operator without state allocates nothing for them.
    /// </summary>
    public List<StateMutation>? StateMutations { get; private set; }

    /// <summary>Adds a state change (built-ins, tests).</summary>
    public void AddStateMutation(StateMutation mutation) => (StateMutations ??= []).Add(mutation);

    /// <summary>
    /// Reads an OperatorMessage: its BatchDone when that is the message (the oneof's last field,
    /// as protobuf decides), else null and the caller parses it with the generated parser.
    /// </summary>
    public static RawAnswer? TryScanOperatorMessage(byte[] message, StreamTable outputs)
    {
        var reader = new WireReader(message, 0, message.Length);
        int last = 0, offset = 0, length = 0;
        while (reader.TryReadTag(out var field, out var wireType))
        {
            if (field == BatchDoneField && wireType == WireReader.WireLengthDelimited)
            {
                (offset, length) = reader.ReadLengthDelimited();
                last = field;
                continue;
            }
            if (field <= OneofFieldMax)
            {
                last = field;
            }
            reader.Skip(wireType);
        }
        return last == BatchDoneField ? Scan(message, offset, length, outputs) : null;
    }

    /// <summary>Scans a serialized BatchDone (the message body at <paramref name="offset"/>).</summary>
    /// <exception cref="OperatorProtocolException">A produced record names a stream outside
    /// <paramref name="outputs"/>, has no record, or the answer has more than
    /// <see cref="ProtocolLimits.BatchDoneRecordsMax"/> records.</exception>
    /// <exception cref="WireFormatException">The bytes are not a BatchDone.</exception>
    public static RawAnswer Scan(byte[] buffer, int offset, int length, StreamTable outputs)
    {
        // Pass 1: seq and the count, so the list is allocated once and the limit is checked first.
        ulong seq = 0;
        var count = 0;
        var reader = new WireReader(buffer, offset, length);
        while (reader.TryReadTag(out var field, out var wireType))
        {
            switch ((field << 3) | wireType)
            {
                case SeqTag:
                    seq = reader.ReadVarint();
                    break;
                case ProducedTag:
                    reader.ReadLengthDelimited();
                    count++;
                    break;
                default:
                    reader.Skip(wireType);
                    break;
            }
        }
        if (count > ProtocolLimits.BatchDoneRecordsMax)
        {
            throw new OperatorProtocolException(
                $"the operator answered batch {seq} with {count} records; one BatchDone may carry at most {ProtocolLimits.BatchDoneRecordsMax} (ProtocolLimits.BatchDoneRecordsMax): produce less per batch, e.g. emit from a timer in smaller steps");
        }

        var answer = new RawAnswer(seq, count);
        var stream = 0;
        reader = new WireReader(buffer, offset, length);
        while (reader.TryReadTag(out var field, out var wireType))
        {
            switch ((field << 3) | wireType)
            {
                case ProducedTag:
                    var (o, l) = reader.ReadLengthDelimited();
                    answer.Produced.Add(ScanProduced(buffer, o, l, outputs, seq, ref stream));
                    break;
                case TimersSetTag:
                    var (to, tl) = reader.ReadLengthDelimited();
                    try
                    {
                        answer.TimersSet.Add(TimerSet.Parser.ParseFrom(buffer, to, tl));
                    }
                    catch (InvalidProtocolBufferException e)
                    {
                        throw new WireFormatException($"timers_set entry of batch {seq} is not a TimerSet: {e.Message}");
                    }
                    break;
                case StateMutationsTag:
                    var (mo, ml) = reader.ReadLengthDelimited();
                    try
                    {
                        answer.AddStateMutation(StateMutation.Parser.ParseFrom(buffer, mo, ml));
                    }
                    catch (InvalidProtocolBufferException e)
                    {
                        throw new WireFormatException($"state_mutations entry of batch {seq} is not a StateMutation: {e.Message}");
                    }
                    break;
                default:
                    reader.Skip(wireType);
                    break;
            }
        }
        return answer;
    }

    /// <summary>Serializes <paramref name="done"/> and scans it (tests, and callers that hold a generated BatchDone).</summary>
    public static RawAnswer From(BatchDone done, StreamTable outputs)
    {
        var bytes = done.ToByteArray();
        return Scan(bytes, 0, bytes.Length, outputs);
    }

    private static RawProduced ScanProduced(byte[] buffer, int offset, int length, StreamTable outputs, ulong seq, ref int stream)
    {
        var reader = new WireReader(buffer, offset, length);
        int streamOffset = offset, streamLength = 0, recordOffset = 0, recordLength = -1;
        while (reader.TryReadTag(out var field, out var wireType))
        {
            switch ((field << 3) | wireType)
            {
                case StreamTag:
                    (streamOffset, streamLength) = reader.ReadLengthDelimited();
                    break;
                case RecordTag:
                    (recordOffset, recordLength) = reader.ReadLengthDelimited();
                    break;
                default:
                    reader.Skip(wireType);
                    break;
            }
        }
        var name = buffer.AsSpan(streamOffset, streamLength);
        var index = outputs.IndexOf(name, stream);
        if (index < 0)
        {
            throw new OperatorProtocolException(
                $"the operator produced to stream '{Encoding.UTF8.GetString(name)}', which is not among its metadata outputs {outputs}; add it to metadata() outputs (the SDK should have refused this)");
        }
        if (recordLength < 0)
        {
            throw new OperatorProtocolException(
                $"the operator produced to stream '{outputs[index]}' without a record in batch {seq}; ProducedRecord.record is required");
        }
        stream = index;
        return new RawProduced(index, RecordWire.ScanRecord(buffer, recordOffset, recordLength));
    }
}

/// <summary>
/// Builds the answer of a built-in operator: records are written as bytes into an arena, in
/// the wire format of a Record, so they travel exactly like those of a user operator.
/// </summary>
public sealed class AnswerWriter
{
    private readonly RecordArena _arena = new();

    public AnswerWriter(ulong seq, int capacity = 0)
    {
        Answer = new RawAnswer(seq, capacity);
    }

    public RawAnswer Answer { get; }

    public ulong Seq => Answer.Seq;

    public List<TimerSet> TimersSet => Answer.TimersSet;

    public int ProducedCount => Answer.Produced.Count;

    /// <summary>Appends a record to stream <paramref name="stream"/> (an index into the built-in's outputs).</summary>
    public void Produce(int stream, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, long eventTimeUnixMs, long ingestTimeUnixUs)
    {
        var size = RecordWire.RecordSize(key.Length, value.Length, eventTimeUnixMs, ingestTimeUnixUs);
        var span = _arena.Reserve(size, out var buffer, out var offset);
        RecordWire.WriteRecord(span, key, value, eventTimeUnixMs, ingestTimeUnixUs);
        // Where WriteRecord put key and value (no need to scan what was just written).
        var keyOffset = offset + (key.IsEmpty ? 0 : 1 + RecordWire.VarintSize((uint)key.Length));
        var valueStart = offset + (key.IsEmpty ? 0 : RecordWire.FieldSize(key.Length));
        var valueOffset = valueStart + (value.IsEmpty ? 0 : 1 + RecordWire.VarintSize((uint)value.Length));
        Answer.Produced.Add(new RawProduced(stream, new RawRecord(buffer, offset, size, keyOffset, key.Length, valueOffset, value.Length,
            eventTimeUnixMs, ingestTimeUnixUs, hasTrace: false)));
    }
}
