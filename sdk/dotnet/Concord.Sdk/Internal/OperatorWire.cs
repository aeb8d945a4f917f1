using System.Buffers;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Google.Protobuf;

namespace Concord.Sdk.Internal;

/// <summary>
/// The two hot wire shapes of the Session stream, read and written by hand so that a record
/// costs few objects: ProcessBatch is parsed into the generated types with every key and value
/// a <see cref="ByteString"/> over one array per message (no copy per record), and BatchDone's
/// produced records are written straight into one pooled buffer as they are produced (no
/// Record or ProducedRecord object). The generated code in Concord.Contracts stays the
/// reference: OperatorWireTests check that what is read here equals what the generated parser
/// reads, and that what is written here parses with it to the same message, byte for byte.
/// </summary>
/// <remarks>
/// Lifetime rule: the array behind a batch's keys and values is the message's own copy of its
/// gRPC payload, made for it and never reused or written again, so a <see cref="Record"/> (and
/// its ByteStrings) stays valid for as long as user code holds it. Holding one record holds the
/// bytes of its whole batch in memory; copy the bytes (<c>ToByteArray</c>) to keep a record
/// for long. Anything this reader does not expect (an unknown field, a trace, a field twice
/// where that would merge, malformed input) goes to the generated parser instead, message by
/// message or record by record, which keeps the protobuf semantics (including unknown fields
/// and its errors) exactly.
/// </remarks>
internal static class OperatorWire
{
    private const int WireVarint = 0;
    private const int WireLengthDelimited = 2;

    // ExecutorMessage.process_batch = 2; ProcessBatch's fields.
    private const uint ExecutorProcessBatchTag = (2 << 3) | WireLengthDelimited;
    private const uint BatchSeqTag = (1 << 3) | WireVarint;
    private const uint BatchRecordsTag = (2 << 3) | WireLengthDelimited;
    private const uint BatchTimersFiredTag = (3 << 3) | WireLengthDelimited;
    private const uint BatchStatesTag = (4 << 3) | WireLengthDelimited;
    private const uint BatchStateAsOfSeqTag = (5 << 3) | WireVarint;
    private const uint BatchWatermarkTag = (6 << 3) | WireVarint;

    // Record's fields (types.proto).
    internal const byte RecordKeyTag = (1 << 3) | WireLengthDelimited;
    internal const byte RecordValueTag = (2 << 3) | WireLengthDelimited;
    internal const byte RecordEventTimeTag = (3 << 3) | WireVarint;
    internal const byte RecordTraceTag = (4 << 3) | WireLengthDelimited;
    internal const byte RecordIngestTimeTag = (5 << 3) | WireVarint;

    // OperatorMessage.batch_done = 2; BatchDone.seq = 1, .produced = 2; ProducedRecord.stream = 1, .record = 2.
    internal const byte OperatorBatchDoneTag = (2 << 3) | WireLengthDelimited;
    internal const byte DoneSeqTag = (1 << 3) | WireVarint;
    internal const byte DoneProducedTag = (2 << 3) | WireLengthDelimited;
    internal const byte ProducedStreamTag = (1 << 3) | WireLengthDelimited;
    internal const byte ProducedRecordTag = (2 << 3) | WireLengthDelimited;

    /// <summary>
    /// Reads one ExecutorMessage from <paramref name="payload"/>, which becomes the ProcessBatch's
    /// record bytes (see the lifetime rule): the caller must not change or reuse it.
    /// </summary>
    public static ExecutorMessage ParseExecutorMessage(byte[] payload) =>
        TryParseProcessBatch(payload) ?? ExecutorMessage.Parser.ParseFrom(payload);

    private static ExecutorMessage? TryParseProcessBatch(byte[] payload)
    {
        var reader = new Reader(payload, 0, payload.Length);
        // Only the one shape the executor sends: process_batch and nothing else.
        if (!reader.TryReadTag(out var tag) || tag != ExecutorProcessBatchTag || !reader.TryReadLength(out var offset, out var length) || !reader.AtEnd)
        {
            return null;
        }
        var batch = new ProcessBatch();
        reader = new Reader(payload, offset, length);
        while (!reader.AtEnd)
        {
            if (!reader.TryReadTag(out tag))
            {
                return null;
            }
            switch (tag)
            {
                case BatchSeqTag:
                    if (!reader.TryReadVarint(out var seq))
                    {
                        return null;
                    }
                    batch.Seq = seq;
                    break;
                case BatchRecordsTag:
                    if (!reader.TryReadLength(out var recordOffset, out var recordLength))
                    {
                        return null;
                    }
                    batch.Records.Add(ReadRecord(payload, recordOffset, recordLength));
                    break;
                case BatchTimersFiredTag:
                    if (!reader.TryReadLength(out var timerOffset, out var timerLength))
                    {
                        return null;
                    }
                    batch.TimersFired.Add(TimerFired.Parser.ParseFrom(payload, timerOffset, timerLength));
                    break;
                case BatchStatesTag:
                    if (!reader.TryReadLength(out var stateOffset, out var stateLength))
                    {
                        return null;
                    }
                    batch.States.Add(KeyState.Parser.ParseFrom(payload, stateOffset, stateLength));
                    break;
                case BatchStateAsOfSeqTag:
                    if (!reader.TryReadVarint(out var asOf))
                    {
                        return null;
                    }
                    batch.StateAsOfSeq = asOf;
                    break;
                case BatchWatermarkTag:
                    if (!reader.TryReadVarint(out var watermark))
                    {
                        return null;
                    }
                    batch.WatermarkUnixMs = (long)watermark;
                    break;
                default:
                    return null; // unknown field: the generated parser keeps it
            }
        }
        return new ExecutorMessage { ProcessBatch = batch };
    }

    /// <summary>One Record; its key and value wrap <paramref name="payload"/> (no copy).</summary>
    private static Record ReadRecord(byte[] payload, int offset, int length)
    {
        var reader = new Reader(payload, offset, length);
        ByteString key = ByteString.Empty, value = ByteString.Empty;
        ulong eventTime = 0, ingestTime = 0;
        while (!reader.AtEnd)
        {
            if (!reader.TryReadTag(out var tag))
            {
                return Record.Parser.ParseFrom(payload, offset, length);
            }
            var ok = true;
            switch (tag)
            {
                case RecordKeyTag:
                    ok = reader.TryReadLength(out var keyOffset, out var keyLength);
                    key = Wrap(payload, keyOffset, keyLength);
                    break;
                case RecordValueTag:
                    ok = reader.TryReadLength(out var valueOffset, out var valueLength);
                    value = Wrap(payload, valueOffset, valueLength);
                    break;
                case RecordEventTimeTag:
                    ok = reader.TryReadVarint(out eventTime);
                    break;
                case RecordIngestTimeTag:
                    ok = reader.TryReadVarint(out ingestTime);
                    break;
                default:
                    ok = false; // a trace or an unknown field: the generated parser reads this record
                    break;
            }
            if (!ok)
            {
                return Record.Parser.ParseFrom(payload, offset, length);
            }
        }
        return new Record { Key = key, Value = value, EventTimeUnixMs = (long)eventTime, IngestTimeUnixUs = (long)ingestTime };
    }

    private static ByteString Wrap(byte[] payload, int offset, int length) =>
        length == 0 ? ByteString.Empty : UnsafeByteOperations.UnsafeWrap(new ReadOnlyMemory<byte>(payload, offset, length));

    /// <summary>Bytes of a varint encoding <paramref name="value"/>.</summary>
    public static int VarintSize(ulong value) =>
        // 7 bits per byte: bits needed (at least 1) rounded up to whole bytes.
        (64 - System.Numerics.BitOperations.LeadingZeroCount(value | 1) + 6) / 7;

    /// <summary>Writes <paramref name="value"/> as a varint at <paramref name="offset"/>; returns the offset after it.</summary>
    public static int WriteVarint(byte[] destination, int offset, ulong value)
    {
        while (value >= 0x80)
        {
            destination[offset++] = (byte)(value | 0x80);
            value >>= 7;
        }
        destination[offset++] = (byte)value;
        return offset;
    }

    /// <summary>A bounds-checked protobuf reader over part of an array; every Try fails on malformed input.</summary>
    private struct Reader(byte[] buffer, int offset, int length)
    {
        private readonly int _end = offset + length;
        private int _position = offset;

        public readonly bool AtEnd => _position >= _end;

        public bool TryReadTag(out uint tag)
        {
            var ok = TryReadVarint(out var value);
            tag = (uint)value;
            return ok && value is > 0 and <= uint.MaxValue;
        }

        public bool TryReadVarint(out ulong value)
        {
            value = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                if (_position >= _end)
                {
                    return false;
                }
                var b = buffer[_position++];
                value |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80)
                {
                    return true;
                }
            }
            return false;
        }

        public bool TryReadLength(out int bodyOffset, out int bodyLength)
        {
            bodyOffset = 0;
            bodyLength = 0;
            if (!TryReadVarint(out var value) || value > (ulong)(_end - _position))
            {
                return false;
            }
            bodyOffset = _position;
            bodyLength = (int)value;
            _position += bodyLength;
            return true;
        }
    }
}

/// <summary>
/// A message for the Session response stream: either generated (Metadata, Log, Error) or an
/// OperatorMessage{batch_done} already serialized into a pooled buffer by <see cref="BatchDoneWriter"/>.
/// </summary>
internal sealed class OutboundMessage
{
    private byte[]? _buffer;
    private readonly int _offset;
    private readonly int _length;

    public OutboundMessage(OperatorMessage message) => Message = message;

    public OutboundMessage(byte[] pooledBuffer, int offset, int length)
    {
        _buffer = pooledBuffer;
        _offset = offset;
        _length = length;
    }

    /// <summary>The generated message; null for a serialized BatchDone.</summary>
    public OperatorMessage? Message { get; }

    /// <summary>The serialized OperatorMessage (empty after <see cref="Release"/>).</summary>
    public ReadOnlySpan<byte> Serialized => _buffer is null ? default : _buffer.AsSpan(_offset, _length);

    /// <summary>Returns the buffer to the pool once the message is on its way (or will never be).</summary>
    public void Release()
    {
        if (_buffer is { } buffer)
        {
            _buffer = null;
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The message as the generated type (tests, and anything that must look inside).</summary>
    public OperatorMessage ToOperatorMessage() => Message ?? OperatorMessage.Parser.ParseFrom(Serialized);
}
