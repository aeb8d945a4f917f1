using Concord.Contracts.Types.V1;
using Google.Protobuf;

namespace Concord.Executor.Records;

/// <summary>
/// One serialized <c>concord.types.v1.Record</c> as the executor carries it: a slice of a
/// shared buffer (the message it arrived in, or a chunk it was copied into), plus the few
/// fields routing and metrics need, found by one scan of its bytes. The executor never parses
/// records into objects on the data path: it forwards these bytes unchanged from the wire it
/// read them on to the wire it writes them to (docs/data-plane.md, "Records as bytes").
/// </summary>
/// <remarks>
/// Immutable; the buffer behind it must not change while any copy of the struct is in use.
/// Offsets are absolute positions in <see cref="Buffer"/>.
/// </remarks>
public readonly struct RawRecord
{
    internal RawRecord(byte[] buffer, int offset, int length, int keyOffset, int keyLength, int valueOffset, int valueLength,
        long eventTimeUnixMs, long ingestTimeUnixUs, bool hasTrace)
    {
        Buffer = buffer;
        Offset = offset;
        Length = length;
        KeyOffset = keyOffset;
        KeyLength = keyLength;
        ValueOffset = valueOffset;
        ValueLength = valueLength;
        EventTimeUnixMs = eventTimeUnixMs;
        IngestTimeUnixUs = ingestTimeUnixUs;
        HasTrace = hasTrace;
    }

    /// <summary>The buffer holding the record's bytes.</summary>
    public byte[] Buffer { get; }

    /// <summary>Where the record's serialized message body starts in <see cref="Buffer"/>.</summary>
    public int Offset { get; }

    /// <summary>Serialized size of the record message body, in bytes (what credit counts).</summary>
    public int Length { get; }

    internal int KeyOffset { get; }

    internal int KeyLength { get; }

    internal int ValueOffset { get; }

    internal int ValueLength { get; }

    /// <summary>Record.event_time_unix_ms (0 when unset).</summary>
    public long EventTimeUnixMs { get; }

    /// <summary>Record.ingest_time_unix_us (0 when unset).</summary>
    public long IngestTimeUnixUs { get; }

    /// <summary>True when the record carries a trace context (it was sampled for tracing).</summary>
    public bool HasTrace { get; }

    /// <summary>The serialized message body.</summary>
    public ReadOnlySpan<byte> Bytes => Buffer.AsSpan(Offset, Length);

    /// <summary>Record.key; empty when unset.</summary>
    public ReadOnlySpan<byte> Key => Buffer.AsSpan(KeyOffset, KeyLength);

    /// <summary>Record.value; empty when unset.</summary>
    public ReadOnlySpan<byte> Value => Buffer.AsSpan(ValueOffset, ValueLength);

    /// <summary>Key plus value bytes: what <see cref="Contracts.ProtocolLimits.RecordBytesMax"/> limits.</summary>
    public long KeyValueBytes => (long)KeyLength + ValueLength;

    /// <summary>Where the record's bytes are, without the parsed fields (what a queued chunk keeps).</summary>
    public RecordSlice Slice => new(Buffer, Offset, Length, HasTrace);

    /// <summary>The same record with its bytes at <paramref name="offset"/> in <paramref name="buffer"/> (after a copy there).</summary>
    internal RawRecord MovedTo(byte[] buffer, int offset)
    {
        var delta = offset - Offset;
        return new RawRecord(buffer, offset, Length, KeyOffset + delta, KeyLength, ValueOffset + delta, ValueLength,
            EventTimeUnixMs, IngestTimeUnixUs, HasTrace);
    }

    /// <summary>Parses the record into the generated message (tracing, tests, built-ins that need every field).</summary>
    public Record ToRecord() => Record.Parser.ParseFrom(Buffer, Offset, Length);

    /// <summary>Serializes <paramref name="record"/> into a buffer of its own.</summary>
    public static RawRecord From(Record record)
    {
        var bytes = record.ToByteArray();
        return RecordWire.ScanRecord(bytes, 0, bytes.Length);
    }

    public override string ToString() => $"RawRecord({Length} bytes, key {KeyLength} bytes, value {ValueLength} bytes{(HasTrace ? ", traced" : "")})";
}

/// <summary>
/// A serialized record by position only: 24 bytes instead of a <see cref="RawRecord"/>'s 56,
/// for records that only wait to be written out again (outbound queues).
/// </summary>
public readonly record struct RecordSlice(byte[] Buffer, int Offset, int Length, bool HasTrace)
{
    public ReadOnlySpan<byte> Bytes => Buffer.AsSpan(Offset, Length);

    public Record ToRecord() => Record.Parser.ParseFrom(Buffer, Offset, Length);
}

/// <summary>A record an operator produced, with its stream as an index into the operator's <see cref="StreamTable"/>.</summary>
public readonly record struct RawProduced(int Stream, RawRecord Record);
