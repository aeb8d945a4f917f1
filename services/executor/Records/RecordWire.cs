using Concord.Executor.Records.Internal;

namespace Concord.Executor.Records;

/// <summary>
/// The wire format of <c>concord.types.v1.Record</c> and of the repeated record fields that
/// carry it (RecordBatch.records, ProcessBatch.records, ProducedRecord.record), read and
/// written directly so records travel as bytes through the executor. The generated code in
/// Concord.Contracts stays the reference: tests check that every message written here parses
/// with it and every message it writes scans here to the same fields.
/// </summary>
/// <remarks>
/// As the generated C# parser does, a field is recognised by its whole tag (number and wire
/// type); anything else is an unknown field, skipped and forwarded untouched. For a scalar
/// or bytes field that occurs twice the last occurrence wins.
/// </remarks>
public static class RecordWire
{
    /// <summary>Record.key = 1, length-delimited.</summary>
    public const byte RecordKeyTag = 0x0A;

    /// <summary>Record.value = 2, length-delimited.</summary>
    public const byte RecordValueTag = 0x12;

    /// <summary>Record.event_time_unix_ms = 3, varint.</summary>
    public const byte RecordEventTimeTag = 0x18;

    /// <summary>Record.trace = 4, length-delimited.</summary>
    public const byte RecordTraceTag = 0x22;

    /// <summary>Record.ingest_time_unix_us = 5, varint.</summary>
    public const byte RecordIngestTimeTag = 0x28;

    /// <summary>RecordBatch.records = 1, length-delimited (dataplane.proto).</summary>
    public const byte RecordBatchRecordsTag = 0x0A;

    /// <summary>Scans one serialized Record (its message body) at <paramref name="offset"/>.</summary>
    public static RawRecord ScanRecord(byte[] buffer, int offset, int length)
    {
        var reader = new WireReader(buffer, offset, length);
        int keyOffset = offset, keyLength = 0, valueOffset = offset, valueLength = 0;
        long eventTime = 0, ingestTime = 0;
        var hasTrace = false;
        while (reader.TryReadTag(out var field, out var wireType))
        {
            switch ((field << 3) | wireType)
            {
                case RecordKeyTag:
                    (keyOffset, keyLength) = reader.ReadLengthDelimited();
                    break;
                case RecordValueTag:
                    (valueOffset, valueLength) = reader.ReadLengthDelimited();
                    break;
                case RecordEventTimeTag:
                    eventTime = (long)reader.ReadVarint();
                    break;
                case RecordTraceTag:
                    reader.ReadLengthDelimited();
                    hasTrace = true;
                    break;
                case RecordIngestTimeTag:
                    ingestTime = (long)reader.ReadVarint();
                    break;
                default:
                    reader.Skip(wireType);
                    break;
            }
        }
        return new RawRecord(buffer, offset, length, keyOffset, keyLength, valueOffset, valueLength, eventTime, ingestTime, hasTrace);
    }

    /// <summary>
    /// Scans the body of a RecordBatch (or any message whose field <paramref name="recordsField"/>
    /// is <c>repeated Record</c> and whose other fields are to be ignored) into its records.
    /// </summary>
    /// <param name="recordsMax">Most records accepted: more throws a <see cref="RecordCountExceededException"/> before anything is allocated.</param>
    public static RawRecord[] ScanRecords(byte[] buffer, int offset, int length, int recordsField = 1, int recordsMax = int.MaxValue)
    {
        var tag = (recordsField << 3) | WireReader.WireLengthDelimited;
        // Two passes: count, then scan into an array of the exact size (one allocation).
        var count = 0;
        var reader = new WireReader(buffer, offset, length);
        while (reader.TryReadTag(out var field, out var wireType))
        {
            if (((field << 3) | wireType) == tag)
            {
                reader.ReadLengthDelimited();
                if (++count > recordsMax)
                {
                    throw new RecordCountExceededException(recordsMax);
                }
            }
            else
            {
                reader.Skip(wireType);
            }
        }
        var records = new RawRecord[count];
        var i = 0;
        reader = new WireReader(buffer, offset, length);
        while (reader.TryReadTag(out var field, out var wireType))
        {
            if (((field << 3) | wireType) == tag)
            {
                var (o, l) = reader.ReadLengthDelimited();
                records[i++] = ScanRecord(buffer, o, l);
            }
            else
            {
                reader.Skip(wireType);
            }
        }
        return records;
    }

    /// <summary>Bytes of a varint encoding <paramref name="value"/>.</summary>
    public static int VarintSize(ulong value) =>
        // 7 bits per byte: bits needed (at least 1) rounded up to whole bytes.
        (64 - System.Numerics.BitOperations.LeadingZeroCount(value | 1) + 6) / 7;

    /// <summary>Writes <paramref name="value"/> as a varint; returns the bytes written.</summary>
    public static int WriteVarint(Span<byte> destination, ulong value)
    {
        var i = 0;
        while (value >= 0x80)
        {
            destination[i++] = (byte)(value | 0x80);
            value >>= 7;
        }
        destination[i++] = (byte)value;
        return i;
    }

    /// <summary>Size of a length-delimited field of <paramref name="length"/> bytes with a one-byte tag.</summary>
    public static int FieldSize(int length) => 1 + VarintSize((uint)length) + length;

    /// <summary>Writes a length-delimited field: one-byte <paramref name="tag"/>, length, bytes. Returns the bytes written.</summary>
    public static int WriteField(Span<byte> destination, byte tag, ReadOnlySpan<byte> body)
    {
        destination[0] = tag;
        var n = 1 + WriteVarint(destination[1..], (uint)body.Length);
        body.CopyTo(destination[n..]);
        return n + body.Length;
    }

    /// <summary>Serialized size of a Record with these fields (proto3: empty and zero fields are left out).</summary>
    public static int RecordSize(int keyLength, int valueLength, long eventTimeUnixMs, long ingestTimeUnixUs) =>
        (keyLength > 0 ? FieldSize(keyLength) : 0)
        + (valueLength > 0 ? FieldSize(valueLength) : 0)
        + (eventTimeUnixMs != 0 ? 1 + VarintSize((ulong)eventTimeUnixMs) : 0)
        + (ingestTimeUnixUs != 0 ? 1 + VarintSize((ulong)ingestTimeUnixUs) : 0);

    /// <summary>Writes a Record of exactly <see cref="RecordSize"/> bytes into <paramref name="destination"/>.</summary>
    public static void WriteRecord(Span<byte> destination, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, long eventTimeUnixMs, long ingestTimeUnixUs)
    {
        var n = 0;
        if (!key.IsEmpty)
        {
            n += WriteField(destination, RecordKeyTag, key);
        }
        if (!value.IsEmpty)
        {
            n += WriteField(destination[n..], RecordValueTag, value);
        }
        if (eventTimeUnixMs != 0)
        {
            destination[n++] = RecordEventTimeTag;
            n += WriteVarint(destination[n..], (ulong)eventTimeUnixMs);
        }
        if (ingestTimeUnixUs != 0)
        {
            destination[n++] = RecordIngestTimeTag;
            WriteVarint(destination[n..], (ulong)ingestTimeUnixUs);
        }
    }
}

/// <summary>A message holds more records than its reader admits (a credit window): found while counting, before anything is allocated.</summary>
public sealed class RecordCountExceededException(int recordsMax)
    : Exception($"more than {recordsMax} records in one message")
{
    public int RecordsMax { get; } = recordsMax;
}
