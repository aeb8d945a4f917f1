using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;
using Concord.Scheduler.Security;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Concord.Scheduler.Tests;

/// <summary>
/// Lets one test client play both callers of the scheduler API: an operator (the home's
/// token on every call) and the executor of any launch (the secret the scheduler derives for
/// the launch an executor-facing request (RegisterExecutor, ReportFailure, WatchRouting, WatchCheckpoints, AcknowledgeCheckpoint) names), as the real
/// CLI and executors would send them.
/// </summary>
public sealed class SchedulerCallerCredentials(SchedulerSecrets secrets, string token) : Interceptor
{
    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(
        TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation) =>
        continuation(request, WithCredentials(request, context));

    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(
        TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncServerStreamingCallContinuation<TRequest, TResponse> continuation) =>
        continuation(request, WithCredentials(request, context));

    private ClientInterceptorContext<TRequest, TResponse> WithCredentials<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context)
        where TRequest : class
        where TResponse : class
    {
        var headers = new Metadata();
        foreach (var entry in context.Options.Headers ?? [])
        {
            headers.Add(entry);
        }
        var launch = request switch
        {
            RegisterExecutorRequest r => (r.OperatorName, r.InstanceIndex, r.Incarnation),
            ReportFailureRequest r => (r.OperatorName, r.InstanceIndex, r.Incarnation),
            WatchRoutingRequest r => (r.OperatorName, r.InstanceIndex, r.Incarnation),
            WatchCheckpointsRequest r => (r.OperatorName, r.InstanceIndex, r.Incarnation),
            AcknowledgeCheckpointRequest r => (r.OperatorName, r.InstanceIndex, r.Incarnation),
            _ => ((string, int, string)?)null,
        };
        if (launch is var (name, index, incarnation))
        {
            headers.Add(Credentials.LaunchSecretHeader, secrets.LaunchSecret(name, index, incarnation));
        }
        else
        {
            headers.Add(Credentials.AuthorizationHeader, Credentials.BearerPrefix + token);
        }
        return new ClientInterceptorContext<TRequest, TResponse>(context.Method, context.Host, context.Options.WithHeaders(headers));
    }
}
