using Concord.Contracts.Agent.V1;
using Concord.Scheduler.Leadership;
using Concord.Scheduler.Runtime;
using Concord.Scheduler.Runtime.Agents;
using Grpc.Core;

namespace Concord.Scheduler.Api;

/// <summary>
/// The Agents gRPC service (proto/concord/agent/v1/agent.proto): one session per agent, served by
/// <see cref="AgentClusterRuntime"/>. The agent secret was checked by the AuthInterceptor.
/// </summary>
public sealed class AgentsService(IClusterRuntime runtime, ILeaderGate gate) : Agents.AgentsBase
{
    public override async Task AgentSession(IAsyncStreamReader<AgentReport> requestStream, IServerStreamWriter<AgentCommand> responseStream, ServerCallContext context)
    {
        if (runtime is not AgentClusterRuntime agents)
        {
            throw NoAgents();
        }
        if (!gate.IsLeader)
        {
            // Agents serve the leader only: a standby sends them on (the refusal names the leader).
            throw new RpcException(new Status(StatusCode.Unavailable, gate.StandbyMessage));
        }
        // The session ends with the term, so the agent reconnects to the next leader.
        using var session = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, gate.TermLost);
        try
        {
            await agents.RunSessionAsync(requestStream, responseStream, session.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (gate.TermLost.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, gate.StandbyMessage));
        }
        if (gate.TermLost.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, gate.StandbyMessage));
        }
    }

    private RpcException NoAgents() =>
        new(new Status(StatusCode.FailedPrecondition,
                $"this scheduler runs the '{runtime.Name}' runtime, which takes no agents; start it with --runtime {AgentClusterRuntime.RuntimeName}"));
}
