using Concord.Contracts.Operator.V1;
using Grpc.Core;

namespace Concord.Sdk.Internal;

/// <summary>The gRPC face of <see cref="SessionHost"/>.</summary>
internal sealed class OperatorService(SessionHost host) : Operator.OperatorBase
{
    public override Task Session(
        IAsyncStreamReader<ExecutorMessage> requestStream,
        IServerStreamWriter<OperatorMessage> responseStream,
        ServerCallContext context) =>
        host.RunSessionAsync(requestStream, responseStream, context);
}
