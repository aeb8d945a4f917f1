using Concord.Contracts.Scheduler.V1;
using Concord.Scheduler.Observability;
using Grpc.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Concord.Scheduler.Api;

/// <summary>
/// The observability RPCs of the Scheduler service (logs, instance metrics, traces). They live
/// beside the observability code; the work is in <see cref="ObservabilityQueries"/>.
/// </summary>
public sealed partial class SchedulerService
{
    public override async Task GetLogs(GetLogsRequest request, IServerStreamWriter<LogLine> responseStream, ServerCallContext context)
    {
        var services = context.GetHttpContext().RequestServices;
        // Following ends when the client hangs up or the scheduler stops.
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(
            context.CancellationToken, services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping);
        try
        {
            await Queries(context).StreamLogsAsync(request, line => responseStream.WriteAsync(line, linked.Token), linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (linked.IsCancellationRequested)
        {
        }
    }

    public override Task<GetInstanceMetricsResponse> GetInstanceMetrics(GetInstanceMetricsRequest request, ServerCallContext context) =>
        Queries(context).InstanceMetricsAsync(request, context.CancellationToken);

    public override Task<ListTracesResponse> ListTraces(ListTracesRequest request, ServerCallContext context) =>
        Queries(context).ListTracesAsync(request, context.CancellationToken);

    public override Task<GetTraceResponse> GetTrace(GetTraceRequest request, ServerCallContext context) =>
        Queries(context).GetTraceAsync(request, context.CancellationToken);

    public override Task<TailStreamResponse> TailStream(TailStreamRequest request, ServerCallContext context) =>
        Queries(context).TailStreamAsync(request, context.CancellationToken);

    private static ObservabilityQueries Queries(ServerCallContext context) =>
        context.GetHttpContext().RequestServices.GetRequiredService<ObservabilityQueries>();
}
