using System.Buffers;
using System.Text;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Google.Protobuf;

namespace Concord.Sdk.Internal;

/// <summary>
/// Builds one OperatorMessage{batch_done} as bytes: seq, then each produced record written into
/// a pooled buffer when it is produced, then timers and state mutations (generated objects,
/// serialized at the end), in field order, as the generated code would write them. Operator
/// thread only; one batch at a time.
/// </summary>
internal sealed class BatchDoneWriter
{
    // Room before the body for the OperatorMessage tag and the body's length (a varint of at
    // most 5 bytes): written right-aligned when the length is known.
    private const int HeaderBytesMax = 1 + 5;

    private byte[]? _buffer;
    private int _position;

    /// <summary>The timers and state mutations of the batch (seq stays 0: it is written by <see cref="Begin"/>).</summary>
    public BatchDone Rest { get; } = new();

    /// <summary>The produced records written so far in this batch.</summary>
    public int ProducedCount { get; private set; }

    /// <summary>Starts batch <paramref name="seq"/> in a fresh pooled buffer.</summary>
    public void Begin(ulong seq)
    {
        _buffer = ArrayPool<byte>.Shared.Rent(SdkLimits.BatchDoneBufferBytesInitial);
        _position = HeaderBytesMax;
        ProducedCount = 0;
        Rest.TimersSet.Clear();
        Rest.StateMutations.Clear();
        if (seq != 0)
        {
            _buffer[_position++] = OperatorWire.DoneSeqTag;
            _position = OperatorWire.WriteVarint(_buffer, _position, seq);
        }
    }

    /// <summary>The encoded stream field of a ProducedRecord (tag, length, UTF-8 name); made once per output.</summary>
    public static byte[] StreamField(string stream)
    {
        var name = Encoding.UTF8.GetBytes(stream);
        if (name.Length == 0)
        {
            return []; // proto3 leaves an empty string out
        }
        var field = new byte[1 + OperatorWire.VarintSize((ulong)name.Length) + name.Length];
        field[0] = OperatorWire.ProducedStreamTag;
        var at = OperatorWire.WriteVarint(field, 1, (ulong)name.Length);
        name.CopyTo(field, at);
        return field;
    }

    /// <summary>Appends BatchDone.produced = ProducedRecord{stream, record{key, value, times, trace}}.</summary>
    public void AddProduced(byte[] streamField, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value,
        long eventTimeUnixMs, long ingestTimeUnixUs, TraceContext? trace)
    {
        var traceBytes = trace?.CalculateSize() ?? 0;
        var recordBytes =
            (key.Length > 0 ? 1 + OperatorWire.VarintSize((ulong)key.Length) + key.Length : 0)
            + (value.Length > 0 ? 1 + OperatorWire.VarintSize((ulong)value.Length) + value.Length : 0)
            + (eventTimeUnixMs != 0 ? 1 + OperatorWire.VarintSize((ulong)eventTimeUnixMs) : 0)
            + (trace is not null ? 1 + OperatorWire.VarintSize((ulong)traceBytes) + traceBytes : 0)
            + (ingestTimeUnixUs != 0 ? 1 + OperatorWire.VarintSize((ulong)ingestTimeUnixUs) : 0);
        var producedBytes = streamField.Length + 1 + OperatorWire.VarintSize((ulong)recordBytes) + recordBytes;
        Ensure(1 + OperatorWire.VarintSize((ulong)producedBytes) + producedBytes);

        var buffer = _buffer!;
        var at = _position;
        buffer[at++] = OperatorWire.DoneProducedTag;
        at = OperatorWire.WriteVarint(buffer, at, (ulong)producedBytes);
        streamField.CopyTo(buffer, at);
        at += streamField.Length;
        buffer[at++] = OperatorWire.ProducedRecordTag;
        at = OperatorWire.WriteVarint(buffer, at, (ulong)recordBytes);
        if (key.Length > 0)
        {
            buffer[at++] = OperatorWire.RecordKeyTag;
            at = OperatorWire.WriteVarint(buffer, at, (ulong)key.Length);
            key.CopyTo(buffer.AsSpan(at));
            at += key.Length;
        }
        if (value.Length > 0)
        {
            buffer[at++] = OperatorWire.RecordValueTag;
            at = OperatorWire.WriteVarint(buffer, at, (ulong)value.Length);
            value.CopyTo(buffer.AsSpan(at));
            at += value.Length;
        }
        if (eventTimeUnixMs != 0)
        {
            buffer[at++] = OperatorWire.RecordEventTimeTag;
            at = OperatorWire.WriteVarint(buffer, at, (ulong)eventTimeUnixMs);
        }
        if (trace is not null)
        {
            buffer[at++] = OperatorWire.RecordTraceTag;
            at = OperatorWire.WriteVarint(buffer, at, (ulong)traceBytes);
            trace.WriteTo(buffer.AsSpan(at, traceBytes));
            at += traceBytes;
        }
        if (ingestTimeUnixUs != 0)
        {
            buffer[at++] = OperatorWire.RecordIngestTimeTag;
            at = OperatorWire.WriteVarint(buffer, at, (ulong)ingestTimeUnixUs);
        }
        _position = at;
        ProducedCount++;
    }

    /// <summary>Ends the batch: appends timers and mutations, writes the header; the message owns the buffer.</summary>
    public OutboundMessage Finish()
    {
        var restBytes = Rest.CalculateSize();
        if (restBytes > 0)
        {
            Ensure(restBytes);
            Rest.WriteTo(_buffer.AsSpan(_position, restBytes));
            _position += restBytes;
        }
        var buffer = _buffer ?? throw new InvalidOperationException("Finish without Begin");
        var bodyBytes = _position - HeaderBytesMax;
        var start = HeaderBytesMax - 1 - OperatorWire.VarintSize((ulong)bodyBytes);
        buffer[start] = OperatorWire.OperatorBatchDoneTag;
        OperatorWire.WriteVarint(buffer, start + 1, (ulong)bodyBytes);
        _buffer = null;
        return new OutboundMessage(buffer, start, _position - start);
    }

    private void Ensure(int bytes)
    {
        var buffer = _buffer ?? throw new InvalidOperationException("a batch must be begun before anything is written to it");
        if (_position + bytes <= buffer.Length)
        {
            return;
        }
        var larger = ArrayPool<byte>.Shared.Rent(Math.Max(buffer.Length * 2, _position + bytes));
        buffer.AsSpan(0, _position).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(buffer);
        _buffer = larger;
    }
}
