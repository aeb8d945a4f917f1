using Concord.Contracts.Operator.V1;
using Google.Protobuf;
using Grpc.Core;

namespace Concord.Sdk.Internal;

/// <summary>The gRPC face of <see cref="SessionHost"/>.</summary>
internal sealed class OperatorService(SessionHost host) : OperatorServiceBase
{
    public override Task Session(
        IAsyncStreamReader<ExecutorMessage> requestStream,
        IServerStreamWriter<OutboundMessage> responseStream,
        ServerCallContext context) =>
        host.RunSessionAsync(requestStream, responseStream, context);
}

/// <summary>
/// The Operator service of operator.proto, bound by hand with the marshallers of
/// <see cref="OperatorWire"/> (same service, method and messages on the wire as the generated
/// binding; fewer objects per record). ASP.NET Core's gRPC binds the override of
/// <see cref="Session"/>, as it does for a generated base class.
/// </summary>
[BindServiceMethod(typeof(OperatorServiceBase), nameof(BindService))]
internal abstract class OperatorServiceBase
{
    private static readonly Marshaller<ExecutorMessage> Requests = new(
        (ExecutorMessage message, SerializationContext context) =>
        {
            context.SetPayloadLength(message.CalculateSize());
            message.WriteTo(context.GetBufferWriter());
            context.Complete();
        },
        // A new array per message: the batch's records wrap it (OperatorWire's lifetime rule).
        (DeserializationContext context) => OperatorWire.ParseExecutorMessage(context.PayloadAsNewBuffer()));

    private static readonly Marshaller<OutboundMessage> Responses = new(
        (OutboundMessage message, SerializationContext context) =>
        {
            if (message.Message is { } generated)
            {
                context.SetPayloadLength(generated.CalculateSize());
                generated.WriteTo(context.GetBufferWriter());
            }
            else
            {
                var bytes = message.Serialized;
                context.SetPayloadLength(bytes.Length);
                var writer = context.GetBufferWriter();
                bytes.CopyTo(writer.GetSpan(bytes.Length));
                writer.Advance(bytes.Length);
            }
            context.Complete();
        },
        (DeserializationContext context) => new OutboundMessage(OperatorMessage.Parser.ParseFrom(context.PayloadAsReadOnlySequence())));

    /// <summary>operator.proto's <c>rpc Session(stream ExecutorMessage) returns (stream OperatorMessage)</c>.</summary>
    internal static readonly Method<ExecutorMessage, OutboundMessage> SessionMethod = new(
        MethodType.DuplexStreaming, "concord.operator.v1.Operator", "Session", Requests, Responses);

    public abstract Task Session(
        IAsyncStreamReader<ExecutorMessage> requestStream,
        IServerStreamWriter<OutboundMessage> responseStream,
        ServerCallContext context);

    public static void BindService(ServiceBinderBase binder, OperatorServiceBase? service) =>
        binder.AddMethod(SessionMethod, service is null ? null : service.Session);
}
