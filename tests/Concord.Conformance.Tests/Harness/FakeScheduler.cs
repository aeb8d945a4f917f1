using System.Threading.Channels;
using Concord.Contracts.Scheduler.V1;
using Grpc.Core;

namespace Concord.Conformance.Tests.Harness;

/// <summary>
/// A test double standing in for the scheduler, so the harness controls routing exactly: it
/// records every RegisterExecutor and ReportFailure, and serves one fixed routing table on
/// WatchRouting, holding the call open (the executor's liveness link) until the executor or the
/// harness ends it.
/// </summary>
public sealed class FakeScheduler(RoutingTable table) : Scheduler.SchedulerBase
{
    public Channel<RegisterExecutorRequest> Registrations { get; } = Channel.CreateUnbounded<RegisterExecutorRequest>();

    public Channel<ReportFailureRequest> Failures { get; } = Channel.CreateUnbounded<ReportFailureRequest>();

    public override Task<RegisterExecutorResponse> RegisterExecutor(RegisterExecutorRequest request, ServerCallContext context)
    {
        Registrations.Writer.TryWrite(request);
        return Task.FromResult(new RegisterExecutorResponse());
    }

    public override Task<ReportFailureResponse> ReportFailure(ReportFailureRequest request, ServerCallContext context)
    {
        Failures.Writer.TryWrite(request);
        return Task.FromResult(new ReportFailureResponse());
    }

    public override async Task WatchRouting(WatchRoutingRequest request, IServerStreamWriter<RoutingTable> responseStream, ServerCallContext context)
    {
        await responseStream.WriteAsync(table);
        await Task.Delay(Timeout.Infinite, context.CancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }
}
