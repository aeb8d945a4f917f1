using Concord.Contracts;
using Confluent.Kafka;

namespace Concord.Executor.Builtins;

/// <summary>
/// A message's key or value as kafka-source received it: where <see cref="KafkaBytesDeserializer"/>
/// copied it, valid until the next message is consumed. A struct, so consuming a message
/// allocates no byte arrays (with byte[] keys and values Confluent.Kafka allocates two per
/// message, which the source only copied into its answer and dropped).
/// </summary>
internal readonly struct KafkaBytes(byte[]? buffer, int length)
{
    /// <summary>Length in bytes; 0 for a null or empty key or value.</summary>
    public int Length { get; } = length;

    /// <summary>The bytes; empty when longer than <see cref="ProtocolLimits.RecordBytesMax"/> (not copied: such a message is refused or skipped).</summary>
    public ReadOnlySpan<byte> Span => buffer is null ? default : buffer.AsSpan(0, Length);
}

/// <summary>
/// Copies a key or value out of librdkafka's message into a buffer of its own, reused for every
/// message: one instance for keys, one for values, per consumer (Confluent.Kafka calls them on
/// the consuming thread, key then value, within one Consume). The buffer grows to the largest
/// record seen, at most <see cref="ProtocolLimits.RecordBytesMax"/>; bigger ones are not copied
/// (their length alone decides that the message is refused or skipped).
/// </summary>
internal sealed class KafkaBytesDeserializer : IDeserializer<KafkaBytes>
{
    /// <summary>First size of the reused buffer, in bytes: 1 KiB (grows by doubling as records need).</summary>
    private const int BufferBytesInitial = 1024;

    private byte[] _buffer = new byte[BufferBytesInitial];

    public KafkaBytes Deserialize(ReadOnlySpan<byte> data, bool isNull, SerializationContext context)
    {
        if (isNull || data.IsEmpty)
        {
            return default;
        }
        if (data.Length > ProtocolLimits.RecordBytesMax)
        {
            return new KafkaBytes(null, data.Length);
        }
        if (data.Length > _buffer.Length)
        {
            _buffer = new byte[Math.Min(ProtocolLimits.RecordBytesMax, Math.Max(data.Length, _buffer.Length * 2))];
        }
        data.CopyTo(_buffer);
        return new KafkaBytes(_buffer, data.Length);
    }
}
