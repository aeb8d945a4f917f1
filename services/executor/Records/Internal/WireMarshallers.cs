using System.Buffers;
using Google.Protobuf;
using Grpc.Core;

namespace Concord.Executor.Records.Internal;

/// <summary>A message the executor serializes itself (records as bytes), written straight into gRPC's buffer.</summary>
internal interface IWireMessage
{
    /// <summary>Serialized size in bytes; computed once per write.</summary>
    int SerializedSize { get; }

    /// <summary>Writes exactly <see cref="SerializedSize"/> bytes.</summary>
    void WriteTo(Span<byte> destination);
}

/// <summary>A generated protobuf message sent through a method whose other messages are <see cref="IWireMessage"/>s.</summary>
internal sealed class ProtoWireMessage(IMessage message) : IWireMessage
{
    private readonly int _size = message.CalculateSize();

    public IMessage Message { get; } = message;

    public int SerializedSize => _size;

    public void WriteTo(Span<byte> destination) => Message.WriteTo(destination);
}

/// <summary>
/// gRPC marshallers for methods whose messages travel as bytes: the sending side writes an
/// <see cref="IWireMessage"/> into the call's buffer (one copy of each record, from where it
/// is held to the wire), the receiving side copies the payload into one array that the
/// scanners then read in place (one copy, and no object per record).
/// </summary>
internal static class WireMarshallers
{
    public static readonly Marshaller<IWireMessage> Writer = Marshallers.Create<IWireMessage>(Serialize, _ =>
        throw new NotSupportedException("IWireMessage is only ever sent"));

    public static readonly Marshaller<byte[]> Bytes = Marshallers.Create<byte[]>(
        (bytes, context) =>
        {
            context.SetPayloadLength(bytes.Length);
            context.GetBufferWriter().Write(bytes);
            context.Complete();
        },
        Deserialize);

    /// <summary>The generated marshaller of <typeparamref name="T"/> (credits, and messages the executor parses normally).</summary>
    public static Marshaller<T> Proto<T>(MessageParser<T> parser) where T : IMessage<T> =>
        Marshallers.Create<T>(
            (message, context) =>
            {
                context.SetPayloadLength(message.CalculateSize());
                message.WriteTo(context.GetBufferWriter());
                context.Complete();
            },
            context => parser.ParseFrom(context.PayloadAsReadOnlySequence()));

    private static void Serialize(IWireMessage message, SerializationContext context)
    {
        var size = message.SerializedSize;
        context.SetPayloadLength(size);
        var writer = context.GetBufferWriter();
        var span = writer.GetSpan(size);
        if (span.Length >= size)
        {
            message.WriteTo(span[..size]);
            writer.Advance(size);
        }
        else
        {
            // The writer could not offer one contiguous span: write aside, then copy in.
            var rented = ArrayPool<byte>.Shared.Rent(size);
            try
            {
                message.WriteTo(rented.AsSpan(0, size));
                writer.Write(rented.AsSpan(0, size));
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
        context.Complete();
    }

    private static byte[] Deserialize(DeserializationContext context)
    {
        var payload = context.PayloadAsReadOnlySequence();
        var bytes = GC.AllocateUninitializedArray<byte>(checked((int)payload.Length));
        payload.CopyTo(bytes);
        return bytes;
    }
}
