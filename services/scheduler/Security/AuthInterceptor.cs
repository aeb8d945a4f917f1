using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Concord.Scheduler.Security;

/// <summary>
/// The one check of who may call the scheduler's gRPC API (docs/security.md, "Threat model"):
/// the executor-facing calls (RegisterExecutor, ReportFailure, WatchRouting, WatchCheckpoints,
/// AcknowledgeCheckpoint) must carry the
/// secret of the launch they name; an agent's session (Agents.AgentSession) the cluster's agent
/// secret; every other call must carry the operator token. Runs before
/// any service code, for every method, so a new RPC is protected by default.
/// </summary>
public sealed class AuthInterceptor(SchedulerSecrets secrets, Runtime.Agents.AgentSecret agentSecret) : Interceptor
{
    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Authorize(request, context);
        return continuation(request, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authorize(request, context);
        return continuation(request, responseStream, context);
    }

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authorize(null, context);
        return continuation(requestStream, context);
    }

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        if (context.Method == Runtime.Agents.AgentSecret.SessionMethod)
        {
            AuthorizeAgent(context);
            return continuation(requestStream, responseStream, context);
        }
        Authorize(null, context);
        return continuation(requestStream, responseStream, context);
    }

    private void Authorize(object? request, ServerCallContext context)
    {
        var launch = request switch
        {
            RegisterExecutorRequest r => (r.OperatorName, r.InstanceIndex, r.Incarnation),
            ReportFailureRequest r => (r.OperatorName, r.InstanceIndex, r.Incarnation),
            WatchRoutingRequest r => (r.OperatorName, r.InstanceIndex, r.Incarnation),
            WatchCheckpointsRequest r => (r.OperatorName, r.InstanceIndex, r.Incarnation),
            AcknowledgeCheckpointRequest r => (r.OperatorName, r.InstanceIndex, r.Incarnation),
            _ => ((string, int, string)?)null,
        };
        if (launch is var (operatorName, index, incarnation))
        {
            AuthorizeExecutor(context, operatorName, index, incarnation);
        }
        else
        {
            AuthorizeOperator(context);
        }
    }

    private void AuthorizeOperator(ServerCallContext context)
    {
        var header = context.RequestHeaders.GetValue(Credentials.AuthorizationHeader);
        var token = header is not null && header.StartsWith(Credentials.BearerPrefix, StringComparison.OrdinalIgnoreCase)
            ? header[Credentials.BearerPrefix.Length..].Trim()
            : null;
        if (!secrets.IsToken(token))
        {
            // Never echoes what was sent: a near miss would teach an attacker nothing anyway,
            // but a pasted real token must not end up in a client's log next to the error.
            var problem = header is null ? "carries no operator token" : "carries a wrong operator token";
            throw new RpcException(new Status(StatusCode.Unauthenticated,
                $"the call {problem}; send `{Credentials.AuthorizationHeader}: {Credentials.BearerPrefix}<token>` with the token in {secrets.TokenFile} " +
                $"on the scheduler's machine (the CLI and SDK clients read it there, or take --token / {Credentials.TokenVariable})"));
        }
    }

    /// <summary>An agent's session carries the cluster's agent secret (never echoed).</summary>
    private void AuthorizeAgent(ServerCallContext context)
    {
        var secret = context.RequestHeaders.GetValue(Runtime.Agents.AgentSecret.Header);
        if (secret is null)
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated,
                $"the agent session carries no agent secret; start the agent with --agent-secret-file pointing at a copy of {agentSecret.File} from the scheduler's machine"));
        }
        if (!agentSecret.Is(secret))
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied,
                $"the agent secret does not match this scheduler's; copy {agentSecret.File} from the scheduler's machine again (is the scheduler started with --runtime agents?)"));
        }
    }

    private void AuthorizeExecutor(ServerCallContext context, string operatorName, int index, string incarnation)
    {
        var secret = context.RequestHeaders.GetValue(Credentials.LaunchSecretHeader);
        if (secret is null)
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated,
                $"the call carries no launch secret; only an executor launched by this scheduler may make it (it sends {Credentials.LaunchSecretVariable} in the {Credentials.LaunchSecretHeader} header)"));
        }
        if (!secrets.IsLaunchSecret(secret, operatorName, index, incarnation))
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied,
                $"the launch secret does not match launch {operatorName}/{index}; only the executor the scheduler launched for it may make this call"));
        }
    }
}
