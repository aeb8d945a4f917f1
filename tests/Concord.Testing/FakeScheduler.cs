using System.Collections.Concurrent;
using System.Net;
using System.Threading.Channels;
using Concord.Contracts.Scheduler.V1;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Concord.Testing;

/// <summary>
/// A test double standing in for the scheduler, served over real gRPC, for both of its clients.
/// The executor's side: records every RegisterExecutor and ReportFailure and serves one fixed
/// routing table on WatchRouting, so a test controls routing exactly; serves the checkpoint
/// commands a test writes on WatchCheckpoints and records AcknowledgeCheckpoint. The CLI's side: an
/// in-memory Deploy/Kill/Scale/List/Graph where instances start in STARTING and move to
/// <see cref="StateAfterStart"/> on the first List after deploy.
/// </summary>
public sealed class FakeScheduler(RoutingTable? routing = null) : Scheduler.SchedulerBase
{
    private readonly ConcurrentDictionary<string, OperatorStatus> _operators = new();

    public InstanceState StateAfterStart { get; set; } = InstanceState.Running;

    public string ErrorAfterStart { get; set; } = "";

    public int ListCalls;

    // The executor's side: registrations and failures recorded, one fixed routing table served.

    public Channel<RegisterExecutorRequest> Registrations { get; } = Channel.CreateUnbounded<RegisterExecutorRequest>();

    public Channel<ReportFailureRequest> Failures { get; } = Channel.CreateUnbounded<ReportFailureRequest>();

    /// <summary>Set: RegisterExecutor is refused with this status (e.g. a standby naming the leader).</summary>
    public Status? RefuseRegistrationWith { get; set; }

    public override Task<RegisterExecutorResponse> RegisterExecutor(RegisterExecutorRequest request, ServerCallContext context)
    {
        if (RefuseRegistrationWith is { } refusal)
        {
            throw new RpcException(refusal);
        }
        Registrations.Writer.TryWrite(request);
        return Task.FromResult(new RegisterExecutorResponse());
    }

    public override Task<ReportFailureResponse> ReportFailure(ReportFailureRequest request, ServerCallContext context)
    {
        Failures.Writer.TryWrite(request);
        return Task.FromResult(new ReportFailureResponse());
    }

    /// <summary>Sends the routing table given at construction and holds the call open (the executor's liveness link) until either side ends it.</summary>
    public override async Task WatchRouting(WatchRoutingRequest request, IServerStreamWriter<RoutingTable> responseStream, ServerCallContext context)
    {
        await responseStream.WriteAsync(routing ?? throw new RpcException(new Status(StatusCode.FailedPrecondition, "this FakeScheduler was made without a routing table; pass one to its constructor")));
        await Task.Delay(Timeout.Infinite, context.CancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    // The executor's checkpoint side (test double, not the coordinator): commands the test
    // writes are served on WatchCheckpoints, acknowledgements recorded with the launch secret
    // they carried.

    /// <summary>Commands served, in order, to the WatchCheckpoints call open at the time (one at a time).</summary>
    public Channel<CheckpointCommand> CheckpointCommands { get; } = Channel.CreateUnbounded<CheckpointCommand>();

    /// <summary>Every AcknowledgeCheckpoint received, with the launch-secret header it carried ("" when absent).</summary>
    public Channel<(AcknowledgeCheckpointRequest Request, string LaunchSecret)> Acknowledgements { get; } =
        Channel.CreateUnbounded<(AcknowledgeCheckpointRequest, string)>();

    /// <summary>WatchCheckpoints calls received (each reconnect is one).</summary>
    public int CheckpointWatches;

    public override async Task WatchCheckpoints(WatchCheckpointsRequest request, IServerStreamWriter<CheckpointCommand> responseStream, ServerCallContext context)
    {
        Interlocked.Increment(ref CheckpointWatches);
        try
        {
            await foreach (var command in CheckpointCommands.Reader.ReadAllAsync(context.CancellationToken))
            {
                await responseStream.WriteAsync(command);
            }
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
            // The executor went away.
        }
    }

    public override Task<AcknowledgeCheckpointResponse> AcknowledgeCheckpoint(AcknowledgeCheckpointRequest request, ServerCallContext context)
    {
        Acknowledgements.Writer.TryWrite((request, context.RequestHeaders.GetValue(Contracts.Credentials.LaunchSecretHeader) ?? ""));
        return Task.FromResult(new AcknowledgeCheckpointResponse());
    }

    // The client's side (concord deploy/kill/scale/list/graph), in memory.

    public override Task<DeployResponse> Deploy(DeployRequest request, ServerCallContext context)
    {
        var status = new OperatorStatus { Spec = request.Spec, Version = 1 };
        for (var i = 0; i < request.Spec.Instances; i++)
        {
            status.Instances.Add(new InstanceStatus { Index = i, State = InstanceState.Starting });
        }
        if (!_operators.TryAdd(request.Spec.Name, status))
        {
            throw new RpcException(new Status(StatusCode.AlreadyExists, $"operator '{request.Spec.Name}' is already deployed; kill it first (`concord kill {request.Spec.Name}`) or scale it"));
        }
        return Task.FromResult(new DeployResponse { Operator = status.Clone() });
    }

    public override Task<KillResponse> Kill(KillRequest request, ServerCallContext context) =>
        _operators.TryRemove(request.Name, out _)
            ? Task.FromResult(new KillResponse())
            : throw new RpcException(new Status(StatusCode.NotFound, $"operator '{request.Name}' is not deployed; see `concord list`"));

    public override Task<ScaleResponse> Scale(ScaleRequest request, ServerCallContext context)
    {
        if (!_operators.TryGetValue(request.Name, out var status))
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"operator '{request.Name}' is not deployed; see `concord list`"));
        }
        lock (status)
        {
            status.Spec.Instances = request.Instances;
            while (status.Instances.Count < request.Instances)
            {
                status.Instances.Add(new InstanceStatus { Index = status.Instances.Count, State = InstanceState.Starting });
            }
            while (status.Instances.Count > request.Instances)
            {
                status.Instances.RemoveAt(status.Instances.Count - 1);
            }
            return Task.FromResult(new ScaleResponse { Operator = status.Clone() });
        }
    }

    /// <summary>Replace requests received, in order (`concord replace`).</summary>
    public System.Collections.Concurrent.ConcurrentQueue<ReplaceRequest> Replaces { get; } = new();

    /// <summary>When set, Replace fails with this status (after recording the call): a refused or rolled-back replace.</summary>
    public Status? RefuseReplaceWith { get; set; }

    /// <summary>The checkpoint a replace that keeps state answers its instances restored from.</summary>
    public const ulong ReplaceRestoredCheckpointId = 7;

    /// <summary>
    /// Replaces a deployed operator's spec, keeping its instance count. With a guarantee it answers
    /// as the scheduler's restart does: with drop_state at once (instances starting), without it
    /// once the new instances run, restored from <see cref="ReplaceRestoredCheckpointId"/>.
    /// </summary>
    public override Task<ReplaceResponse> Replace(ReplaceRequest request, ServerCallContext context)
    {
        Replaces.Enqueue(request.Clone());
        if (RefuseReplaceWith is { } refusal)
        {
            throw new RpcException(refusal);
        }
        if (!_operators.TryGetValue(request.Spec.Name, out var status))
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"operator '{request.Spec.Name}' is not deployed; see `concord list`"));
        }
        var restarted = request.Spec.Delivery is Concord.Contracts.Types.V1.DeliveryGuarantee.DeliveryAtLeastOnce or Concord.Contracts.Types.V1.DeliveryGuarantee.DeliveryExactlyOnce;
        var keptState = restarted && !request.DropState;
        lock (status)
        {
            var instances = status.Spec.Instances;
            status.Spec = request.Spec.Clone();
            status.Spec.Instances = instances;
            foreach (var instance in status.Instances)
            {
                instance.State = restarted && !keptState ? InstanceState.Starting : InstanceState.Running;
                instance.RestoredCheckpointId = keptState ? ReplaceRestoredCheckpointId : 0;
            }
            return Task.FromResult(new ReplaceResponse
            {
                Operator = status.Clone(),
                SwitchMs = 5,
                TotalMs = restarted && !keptState ? 5 : 9,
                Restarted = restarted,
            });
        }
    }

    /// <summary>When set, List fails with this status (after recording the call).</summary>
    public Status? RefuseListWith { get; set; }

    /// <summary>The <c>authorization</c> header of every List call ("" when absent), in order: what a client sent as its token.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<string> ListAuthorizations { get; } = new();

    public override Task<ListResponse> List(ListRequest request, ServerCallContext context)
    {
        Interlocked.Increment(ref ListCalls);
        ListAuthorizations.Enqueue(context.RequestHeaders.GetValue(Contracts.Credentials.AuthorizationHeader) ?? "");
        if (RefuseListWith is { } refusal)
        {
            throw new RpcException(refusal);
        }
        var response = new ListResponse();
        foreach (var status in _operators.Values.OrderBy(o => o.Spec.Name, StringComparer.Ordinal))
        {
            lock (status)
            {
                foreach (var instance in status.Instances.Where(i => i.State == InstanceState.Starting))
                {
                    instance.State = StateAfterStart;
                    instance.LastError = ErrorAfterStart;
                }
                response.Operators.Add(status.Clone());
            }
        }
        return Task.FromResult(response);
    }

    public override Task<GraphResponse> Graph(GraphRequest request, ServerCallContext context)
    {
        var response = new GraphResponse();
        var operators = _operators.Values.OrderBy(o => o.Spec.Name, StringComparer.Ordinal).ToList();
        response.Operators.AddRange(operators.Select(o => o.Clone()));
        foreach (var producer in operators)
        {
            foreach (var stream in producer.Spec.ExpectedOutputs)
            {
                foreach (var reader in operators)
                {
                    foreach (var input in reader.Spec.ExpectedInputs.Where(i => i.Name == stream))
                    {
                        response.Edges.Add(new StreamEdge { Stream = stream, FromOperator = producer.Spec.Name, ToOperator = reader.Spec.Name, Grouping = input.Grouping });
                    }
                }
            }
        }
        return Task.FromResult(response);
    }

    /// <summary>What ListCheckpoints answers.</summary>
    public ListCheckpointsResponse Checkpoints { get; set; } = new();

    /// <summary>What TriggerSavepoint answers; null: FAILED_PRECONDITION, as a scheduler with nothing to checkpoint answers.</summary>
    public CheckpointInfo? Savepoint { get; set; }

    public override Task<ListCheckpointsResponse> ListCheckpoints(ListCheckpointsRequest request, ServerCallContext context) =>
        Task.FromResult(Checkpoints.Clone());

    public override Task<TriggerSavepointResponse> TriggerSavepoint(TriggerSavepointRequest request, ServerCallContext context) =>
        Savepoint is { } savepoint
            ? Task.FromResult(new TriggerSavepointResponse { Savepoint = savepoint.Clone() })
            : throw new RpcException(new Status(StatusCode.FailedPrecondition, "no operator with a delivery guarantee is deployed, so there is no state to checkpoint"));
}

/// <summary>Hosts a <see cref="FakeScheduler"/> on 127.0.0.1 with a free port; <see cref="Address"/> is http://127.0.0.1:port.</summary>
public sealed class FakeSchedulerHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private FakeSchedulerHost(WebApplication app, FakeScheduler scheduler, string address)
    {
        _app = app;
        Scheduler = scheduler;
        Address = address;
    }

    public FakeScheduler Scheduler { get; }

    public string Address { get; }

    /// <summary>Serves <paramref name="scheduler"/> (a fresh one without routing table by default).</summary>
    public static async Task<FakeSchedulerHost> StartAsync(FakeScheduler? scheduler = null)
    {
        scheduler ??= new FakeScheduler();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(scheduler);
        var app = builder.Build();
        app.MapGrpcService<FakeScheduler>();
        await app.StartAsync().WaitAsync(TestTimeouts.Step);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new FakeSchedulerHost(app, scheduler, address.Replace("[::1]", "127.0.0.1", StringComparison.Ordinal));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().WaitAsync(TestTimeouts.Step);
        await _app.DisposeAsync();
    }
}
