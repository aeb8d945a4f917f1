using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;
using Concord.Scheduler.Checkpoints;
using Concord.Scheduler.Reconcile;
using Concord.Scheduler.Reconcile.Core;
using Concord.Scheduler.Runtime;
using Concord.Scheduler.Security;
using Concord.ZooKeeper;
using Grpc.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Concord.Scheduler.Api;

/// <summary>
/// The Scheduler gRPC service (proto/concord/scheduler/v1/scheduler.proto). It checks what
/// can be checked without state (spec validation, ranges) and hands everything else to the
/// <see cref="Reconciler"/>, whose refusals (<see cref="ReconcileException"/>) become gRPC
/// statuses here and only here (<see cref="ToStatus"/>), with their message unchanged: it names
/// the problem and the fix.
/// </summary>
public sealed partial class SchedulerService(
    Reconciler reconciler,
    IClusterRuntime runtime,
    RoutingHub routing,
    CheckpointCoordinator checkpoints,
    Leadership.ILeaderGate gate,
    IHostApplicationLifetime lifetime,
    ILogger<SchedulerService> logger) : Contracts.Scheduler.V1.Scheduler.SchedulerBase
{
    public override async Task<DeployResponse> Deploy(DeployRequest request, ServerCallContext context)
    {
        var spec = request.Spec
            ?? throw Invalid("spec: is required; send the operator spec to deploy");
        RequireSpecSize(spec);
        var problems = OperatorSpecValidator.Validate(spec);
        if (problems.Count > 0)
        {
            throw Invalid(OperatorSpecValidator.Describe(spec, problems));
        }
        if (runtime.Validate(spec) is { } runtimeProblem)
        {
            throw Invalid($"invalid operator '{spec.Name}':\n  {runtimeProblem}");
        }
        var status = await Reconciled(() => reconciler.DeployAsync(spec, context.CancellationToken)).ConfigureAwait(false);
        return new DeployResponse { Operator = Redaction.Redact(status) };
    }

    public override async Task<KillResponse> Kill(KillRequest request, ServerCallContext context)
    {
        RequireName(request.Name);
        await Reconciled(() => reconciler.KillAsync(request.Name, context.CancellationToken)).ConfigureAwait(false);
        return new KillResponse();
    }

    public override async Task<ScaleResponse> Scale(ScaleRequest request, ServerCallContext context)
    {
        if (ScaleProblem(request.Name, request.Instances) is { } problem)
        {
            throw Invalid(problem);
        }
        var status = await Reconciled(() => reconciler.ScaleAsync(request.Name, request.Instances, context.CancellationToken)).ConfigureAwait(false);
        return new ScaleResponse { Operator = Redaction.Redact(status) };
    }

    public override async Task<ReplaceResponse> Replace(ReplaceRequest request, ServerCallContext context)
    {
        var spec = request.Spec
            ?? throw Invalid("spec: is required; send the new version of the operator (same name as the deployed one)");
        RequireSpecSize(spec);
        var problems = OperatorSpecValidator.Validate(spec);
        if (problems.Count > 0)
        {
            throw Invalid(OperatorSpecValidator.Describe(spec, problems));
        }
        if (request.RunningTimeoutMs < 0 || request.RunningTimeoutMs > SchedulerLimits.ReplaceRunningTimeoutMs)
        {
            throw Invalid($"running_timeout_ms: {request.RunningTimeoutMs} is out of range; use 1..{SchedulerLimits.ReplaceRunningTimeoutMs}, or 0 for that default");
        }
        var timeout = TimeSpan.FromMilliseconds(request.RunningTimeoutMs == 0 ? SchedulerLimits.ReplaceRunningTimeoutMs : request.RunningTimeoutMs);
        var result = await Reconciled(() => reconciler.ReplaceAsync(spec, timeout, request.DropState, context.CancellationToken)).ConfigureAwait(false);
        return new ReplaceResponse { Operator = Redaction.Redact(result.Status), SwitchMs = result.SwitchMs, TotalMs = result.TotalMs, Restarted = result.Restarted };
    }

    public override async Task<ListResponse> List(ListRequest request, ServerCallContext context)
    {
        var response = new ListResponse { Leader = gate.LeaderAddress ?? "", FromStandby = reconciler.IsStandby };
        response.Operators.AddRange((await Reconciled(() => reconciler.ListAsync(context.CancellationToken)).ConfigureAwait(false))
            .Select(Redaction.Redact));
        return response;
    }

    public override async Task<GraphResponse> Graph(GraphRequest request, ServerCallContext context)
    {
        var graph = await Reconciled(() => reconciler.GraphAsync(context.CancellationToken)).ConfigureAwait(false);
        var redacted = new GraphResponse { Edges = { graph.Edges } };
        redacted.Operators.AddRange(graph.Operators.Select(Redaction.Redact));
        return redacted;
    }

    public override async Task<RegisterExecutorResponse> RegisterExecutor(RegisterExecutorRequest request, ServerCallContext context)
    {
        RequireInstance(request.OperatorName, request.InstanceIndex, request.Incarnation);
        if (string.IsNullOrEmpty(request.DataAddress))
        {
            throw Invalid("data_address: is required; send the host:port where this executor serves DataPlane");
        }
        if (request.Metadata is null)
        {
            throw Invalid("metadata: is required; send the metadata the operator reported");
        }
        await Reconciled(() => reconciler.RegisterAsync(request, context.CancellationToken)).ConfigureAwait(false);
        return new RegisterExecutorResponse();
    }

    public override async Task<ReportFailureResponse> ReportFailure(ReportFailureRequest request, ServerCallContext context)
    {
        RequireInstance(request.OperatorName, request.InstanceIndex, request.Incarnation);
        await Reconciled(() => reconciler.ReportFailureAsync(request, context.CancellationToken)).ConfigureAwait(false);
        return new ReportFailureResponse();
    }

    public override async Task WatchRouting(WatchRoutingRequest request, IServerStreamWriter<RoutingTable> responseStream, ServerCallContext context)
    {
        // Watches end when the scheduler stops, so that shutdown does not wait for executors
        // to hang up (they reconnect to the next scheduler).
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lifetime.ApplicationStopping);
        LogWatchOpened(request.OperatorName, request.InstanceIndex, request.Incarnation);
        try
        {
            await foreach (var table in routing.WatchAsync(linked.Token).ConfigureAwait(false))
            {
                await responseStream.WriteAsync(table, linked.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (linked.IsCancellationRequested)
        {
            // The executor hung up or the scheduler is stopping.
        }
        finally
        {
            LogWatchClosed(request.OperatorName, request.InstanceIndex, request.Incarnation);
        }
    }

    public override async Task WatchCheckpoints(WatchCheckpointsRequest request, IServerStreamWriter<CheckpointCommand> responseStream, ServerCallContext context)
    {
        RequireInstance(request.OperatorName, request.InstanceIndex, request.Incarnation);
        await Reconciled(() => reconciler.RequireCurrentLaunchAsync(request.OperatorName, request.InstanceIndex, request.Incarnation, context.CancellationToken))
            .ConfigureAwait(false);
        // Ends when the scheduler stops, as WatchRouting does; the executor reconnects to the next one.
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lifetime.ApplicationStopping);
        try
        {
            await foreach (var command in checkpoints.WatchAsync(request.OperatorName, request.InstanceIndex, request.Incarnation, linked.Token).ConfigureAwait(false))
            {
                await responseStream.WriteAsync(command, linked.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (linked.IsCancellationRequested)
        {
            // The executor hung up or the scheduler is stopping.
        }
    }

    public override async Task<AcknowledgeCheckpointResponse> AcknowledgeCheckpoint(AcknowledgeCheckpointRequest request, ServerCallContext context)
    {
        RequireInstance(request.OperatorName, request.InstanceIndex, request.Incarnation);
        if (request.CheckpointId == 0)
        {
            throw Invalid("checkpoint_id: is required; send the id of the BeginCheckpoint this acknowledges");
        }
        if (request.WrittenBytes < 0 || request.StateBytes < 0 || request.AlignmentMs < 0 || request.DurationMs < 0)
        {
            throw Invalid("written_bytes, state_bytes, alignment_ms and duration_ms: must not be negative; send the figures of the snapshot");
        }
        if (request.Error.Length > SchedulerLimits.LastErrorCharsMax * 2)
        {
            // Kept for `concord checkpoints` and logs: cut, not refused, so the abort still happens.
            request.Error = ReconcileCore.Truncate(request.Error);
        }
        await Reconciled(() => checkpoints.AcknowledgeAsync(request, context.CancellationToken)).ConfigureAwait(false);
        return new AcknowledgeCheckpointResponse();
    }

    public override Task<ListCheckpointsResponse> ListCheckpoints(ListCheckpointsRequest request, ServerCallContext context) =>
        Reconciled(() => checkpoints.ListAsync(context.CancellationToken));

    public override async Task<TriggerSavepointResponse> TriggerSavepoint(TriggerSavepointRequest request, ServerCallContext context)
    {
        var savepoint = await Reconciled(() => checkpoints.TakeAsync(savepoint: true, "savepoint", context.CancellationToken)).ConfigureAwait(false);
        return new TriggerSavepointResponse { Savepoint = CheckpointCoordinator.ToInfo(savepoint) };
    }

    /// <summary>A spec larger than <see cref="SchedulerLimits.SpecBytesMax"/> would grow the topology and every `list` answer.</summary>
    private static void RequireSpecSize(Contracts.Types.V1.OperatorSpec spec)
    {
        if (spec.CalculateSize() is var bytes && bytes > SchedulerLimits.SpecBytesMax)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted,
                $"spec: {bytes} bytes is more than the scheduler accepts ({SchedulerLimits.SpecBytesMax} bytes, SchedulerLimits.SpecBytesMax); " +
                "shorten args and environment, and pass large data through \"files\""));
        }
    }

    private static void RequireName(string name)
    {
        if (NameProblem(name) is { } problem)
        {
            throw Invalid(problem);
        }
    }

    /// <summary>What is wrong with the operator name of a kill or scale, or null; shared with the dashboard's actions.</summary>
    internal static string? NameProblem(string name) =>
        string.IsNullOrEmpty(name) ? "name: is required; give the operator's name (see `concord list`)" : null;

    /// <summary>What is wrong with a scale request before the reconciler sees it, or null; shared with the dashboard's actions.</summary>
    internal static string? ScaleProblem(string name, int instances) =>
        NameProblem(name) ?? (instances < 1 || instances > ProtocolLimits.InstancesMax
            ? $"instances: {instances} is out of range; use 1..{ProtocolLimits.InstancesMax}"
            : null);

    private static void RequireInstance(string operatorName, int index, string incarnation)
    {
        if (string.IsNullOrEmpty(operatorName))
        {
            throw Invalid("operator_name: is required; send CONCORD_OPERATOR_NAME");
        }
        if (index < 0)
        {
            throw Invalid($"instance_index: {index} is negative; send CONCORD_INSTANCE_INDEX");
        }
        if (string.IsNullOrEmpty(incarnation))
        {
            throw Invalid("incarnation: is required; send CONCORD_INCARNATION");
        }
    }

    private static RpcException Invalid(string message) => new(new Status(StatusCode.InvalidArgument, message));

    /// <summary>The one mapping of reconcile errors to gRPC: each kind to its status code, the message as the detail.</summary>
    internal static Status ToStatus(ReconcileException error) => new(error.Kind switch
    {
        ReconcileErrorKind.InvalidArgument => StatusCode.InvalidArgument,
        ReconcileErrorKind.NotFound => StatusCode.NotFound,
        ReconcileErrorKind.AlreadyExists => StatusCode.AlreadyExists,
        ReconcileErrorKind.FailedPrecondition => StatusCode.FailedPrecondition,
        ReconcileErrorKind.Unavailable => StatusCode.Unavailable,
        ReconcileErrorKind.ResourceExhausted => StatusCode.ResourceExhausted,
        ReconcileErrorKind.PermissionDenied => StatusCode.PermissionDenied,
        _ => StatusCode.Internal,
    }, error.Message);

    private static async Task<T> Reconciled<T>(Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (ReconcileException e)
        {
            throw new RpcException(ToStatus(e));
        }
        catch (ZooKeeperException e)
        {
            // A read (a standby's, or the leader catching up) while ZooKeeper has no quorum or
            // cannot be reached: no state was changed by a read.
            throw new RpcException(new Status(StatusCode.Unavailable,
                $"the topology in ZooKeeper cannot be read right now ({e.Message}); retry once ZooKeeper has a quorum again"));
        }
    }

    private static Task Reconciled(Func<Task> call) => Reconciled(async () =>
    {
        await call().ConfigureAwait(false);
        return true;
    });

    [LoggerMessage(EventId = 300, Level = LogLevel.Debug, Message = "WatchRouting opened by {Operator}/{Index} ({Incarnation})")]
    private partial void LogWatchOpened(string @operator, int index, string incarnation);

    [LoggerMessage(EventId = 301, Level = LogLevel.Debug, Message = "WatchRouting closed by {Operator}/{Index} ({Incarnation})")]
    private partial void LogWatchClosed(string @operator, int index, string incarnation);
}
