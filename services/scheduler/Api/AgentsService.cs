using Concord.Contracts.Agent.V1;
using Concord.Scheduler.Runtime;
using Concord.Scheduler.Runtime.Agents;
using Grpc.Core;

namespace Concord.Scheduler.Api;

/// <summary>
/// The Agents gRPC service (proto/concord/agent/v1/agent.proto): one session per agent, served by
/// <see cref="AgentClusterRuntime"/>. The agent secret was checked by the AuthInterceptor.
/// </summary>
public sealed class AgentsService(IClusterRuntime runtime) : Agents.AgentsBase
{
    public override Task AgentSession(IAsyncStreamReader<AgentReport> requestStream, IServerStreamWriter<AgentCommand> responseStream, ServerCallContext context) =>
        runtime is AgentClusterRuntime agents
            ? agents.RunSessionAsync(requestStream, responseStream, context.CancellationToken)
            : throw new RpcException(new Status(StatusCode.FailedPrecondition,
                $"this scheduler runs the '{runtime.Name}' runtime, which takes no agents; start it with --runtime {AgentClusterRuntime.RuntimeName}"));
}
