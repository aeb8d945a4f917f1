using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Grpc.Core;
using SchedulerClient = Concord.Contracts.Scheduler.V1.Scheduler.SchedulerClient;

namespace Concord.Scheduler.Tests.Checkpoints;

/// <summary>
/// The checkpoint RPCs over real gRPC in a real scheduler (fake runtime): an executor watches
/// and acknowledges, the CLI lists and takes a savepoint; each caller must prove who it is.
/// </summary>
public sealed class CheckpointApiTests : IAsyncLifetime
{
    private static readonly TimeSpan Step = SchedulerFixture.TestTimeout;

    private SchedulerFixture _fixture = null!;

    public async Task InitializeAsync() => _fixture = await SchedulerFixture.StartAsync();

    public async Task DisposeAsync() => await _fixture.DisposeAsync();

    private async Task<FakeInstance> DeployRunningSourceAsync()
    {
        var spec = SchedulerFixture.Spec("source", writes: "words");
        spec.Delivery = DeliveryGuarantee.DeliveryExactlyOnce;
        await _fixture.DeployAsync(spec);
        var instance = await _fixture.Runtime.NextLaunchAsync(Step);
        await _fixture.RegisterAsync(instance);
        return instance;
    }

    private static AcknowledgeCheckpointRequest Ack(FakeInstance instance, ulong id) => new()
    {
        OperatorName = instance.OperatorName,
        InstanceIndex = instance.Index,
        Incarnation = instance.Incarnation,
        CheckpointId = id,
        StateBytes = 2048,
        WrittenBytes = 1024,
        DurationMs = 3,
    };

    [Fact]
    public async Task A_savepoint_begins_at_the_watching_executor_completes_on_its_acknowledgement_and_is_listed()
    {
        var source = await DeployRunningSourceAsync();
        using var watch = _fixture.Client.WatchCheckpoints(new WatchCheckpointsRequest
        {
            OperatorName = "source",
            InstanceIndex = 0,
            Incarnation = source.Incarnation,
        });

        var savepoint = _fixture.Client.TriggerSavepointAsync(new TriggerSavepointRequest()).ResponseAsync;
        Assert.True(await watch.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Step));
        var begin = watch.ResponseStream.Current.Begin;
        await _fixture.Client.AcknowledgeCheckpointAsync(Ack(source, begin.CheckpointId)).ResponseAsync.WaitAsync(Step);
        var taken = (await savepoint.WaitAsync(Step)).Savepoint;
        Assert.True(await watch.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Step));
        var completed = watch.ResponseStream.Current.Completed;
        var list = await _fixture.Client.ListCheckpointsAsync(new ListCheckpointsRequest()).ResponseAsync.WaitAsync(Step);

        Assert.True(begin.Savepoint);
        Assert.Empty(begin.Inputs);
        Assert.Equal(Path.Combine(_fixture.Home.Path, "checkpoints", $"sp-{begin.CheckpointId}"), begin.Directory);
        Assert.Equal((begin.CheckpointId, CheckpointStatus.Completed, 2048L, true), (taken.CheckpointId, taken.Status, taken.StateBytes, taken.Savepoint));
        Assert.Equal(begin.CheckpointId, completed.CheckpointId);
        Assert.Equal(begin.CheckpointId, list.LatestCompletedId);
        Assert.Equal(begin.CheckpointId, Assert.Single(list.Checkpoints).CheckpointId);
        Assert.True(File.Exists(Path.Combine(begin.Directory, "_metadata.json")));
    }

    /// <summary>Takes a savepoint, acknowledging it as <paramref name="executors"/> would; returns its directory.</summary>
    private async Task<string> SavepointAsync(params FakeInstance[] executors)
    {
        var watches = executors.Select(e => _fixture.Client.WatchCheckpoints(new WatchCheckpointsRequest
        {
            OperatorName = e.OperatorName,
            InstanceIndex = e.Index,
            Incarnation = e.Incarnation,
        })).ToList();
        try
        {
            var savepoint = _fixture.Client.TriggerSavepointAsync(new TriggerSavepointRequest()).ResponseAsync;
            for (var i = 0; i < executors.Length; i++)
            {
                Assert.True(await watches[i].ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Step));
                await _fixture.Client.AcknowledgeCheckpointAsync(Ack(executors[i], watches[i].ResponseStream.Current.Begin.CheckpointId)).ResponseAsync.WaitAsync(Step);
            }
            return (await savepoint.WaitAsync(Step)).Savepoint.Directory;
        }
        finally
        {
            watches.ForEach(w => w.Dispose());
        }
    }

    [Fact]
    public async Task A_failed_instance_with_a_guarantee_restarts_from_the_last_completed_checkpoint_and_list_shows_it()
    {
        var source = await DeployRunningSourceAsync();
        var directory = await SavepointAsync(source);

        source.Exit(1);
        await _fixture.WaitForStatusAsync("source", s => s.Instances[0].State == InstanceState.Failed);
        _fixture.Time.Advance(TimeSpan.FromMilliseconds(SchedulerLimits.RestartBackoffInitialMs));
        var restarted = await _fixture.Runtime.NextLaunchAsync(Step);
        await _fixture.Client.RegisterExecutorAsync(new RegisterExecutorRequest
        {
            OperatorName = "source",
            InstanceIndex = 0,
            Incarnation = restarted.Incarnation,
            DataAddress = "127.0.0.1:20999",
            Metadata = SchedulerFixture.MetadataOf(restarted.Launch.Spec),
            RestoredCheckpointId = 1,
        }).ResponseAsync.WaitAsync(Step);

        Assert.Equal(directory, restarted.Launch.RestoreCheckpoint);
        Assert.NotEqual(source.Incarnation, restarted.Incarnation);
        Assert.Equal(1UL, (await _fixture.StatusAsync("source")).Instances[0].RestoredCheckpointId);
    }

    [Fact]
    public async Task Scale_with_state_takes_a_checkpoint_then_restarts_the_participants_from_it_with_the_new_count()
    {
        var source = await DeployRunningSourceAsync();
        using var watch = _fixture.Client.WatchCheckpoints(new WatchCheckpointsRequest
        {
            OperatorName = "source",
            InstanceIndex = 0,
            Incarnation = source.Incarnation,
        });

        var scale = _fixture.Client.ScaleAsync(new ScaleRequest { Name = "source", Instances = 2 }).ResponseAsync;
        Assert.True(await watch.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Step));
        var begin = watch.ResponseStream.Current.Begin;
        await _fixture.Client.AcknowledgeCheckpointAsync(Ack(source, begin.CheckpointId)).ResponseAsync.WaitAsync(Step);
        var scaled = (await scale.WaitAsync(Step)).Operator;
        var stopped = await _fixture.Runtime.NextStopAsync(Step);
        var launches = new[] { await _fixture.Runtime.NextLaunchAsync(Step), await _fixture.Runtime.NextLaunchAsync(Step) };

        Assert.False(begin.Savepoint);
        Assert.Equal(2, scaled.Spec.Instances);
        Assert.Same(source, stopped);
        Assert.Equal([0, 1], launches.Select(l => l.Index).Order());
        Assert.All(launches, l => Assert.Equal((begin.Directory, 2), (l.Launch.RestoreCheckpoint, l.Launch.Spec.Instances)));
        Assert.True(File.Exists(Path.Combine(begin.Directory, "_metadata.json")));
    }

    [Fact]
    public async Task Scale_with_state_is_refused_with_the_reason_when_its_checkpoint_cannot_be_taken()
    {
        var spec = SchedulerFixture.Spec("source", writes: "words");
        spec.Delivery = DeliveryGuarantee.DeliveryAtLeastOnce;
        await _fixture.DeployAsync(spec); // never registers: not running

        var error = await Assert.ThrowsAsync<RpcException>(() =>
            _fixture.Client.ScaleAsync(new ScaleRequest { Name = "source", Instances = 2 }).ResponseAsync.WaitAsync(Step));

        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.Contains("'source' was not scaled", error.Status.Detail);
        Assert.Contains("source/0 (starting)", error.Status.Detail);
        Assert.Equal(1, (await _fixture.StatusAsync("source")).Spec.Instances);
    }

    [Fact]
    public async Task A_savepoint_without_an_operator_with_a_guarantee_is_failed_precondition_naming_the_fix()
    {
        var error = await Assert.ThrowsAsync<RpcException>(() => _fixture.Client.TriggerSavepointAsync(new TriggerSavepointRequest()).ResponseAsync.WaitAsync(Step));

        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.Contains("\"delivery\"", error.Status.Detail);
    }

    [Fact]
    public async Task Executor_checkpoint_calls_need_the_launch_secret_and_the_cli_calls_the_token()
    {
        var source = await DeployRunningSourceAsync();
        var token = SchedulerAuth.ReadToken(_fixture.Home.Path);
        var withToken = new SchedulerClient(_fixture.Channel);
        var tokenHeaders = new Metadata { { Credentials.AuthorizationHeader, Credentials.BearerPrefix + token } };
        var otherSecret = new Metadata { { Credentials.LaunchSecretHeader, _fixture.Secrets.LaunchSecret("source", 0, "another-incarnation") } };
        var watchRequest = new WatchCheckpointsRequest { OperatorName = "source", InstanceIndex = 0, Incarnation = source.Incarnation };

        var ackWithToken = await Assert.ThrowsAsync<RpcException>(() =>
            withToken.AcknowledgeCheckpointAsync(Ack(source, 1), tokenHeaders).ResponseAsync.WaitAsync(Step));
        var ackWithOtherSecret = await Assert.ThrowsAsync<RpcException>(() =>
            withToken.AcknowledgeCheckpointAsync(Ack(source, 1), otherSecret).ResponseAsync.WaitAsync(Step));
        using var watch = withToken.WatchCheckpoints(watchRequest, tokenHeaders);
        var watchWithToken = await Assert.ThrowsAsync<RpcException>(() => watch.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Step));
        var listWithout = await Assert.ThrowsAsync<RpcException>(() =>
            withToken.ListCheckpointsAsync(new ListCheckpointsRequest()).ResponseAsync.WaitAsync(Step));
        var savepointWithSecret = await Assert.ThrowsAsync<RpcException>(() =>
            withToken.TriggerSavepointAsync(new TriggerSavepointRequest(), otherSecret).ResponseAsync.WaitAsync(Step));

        Assert.Equal(StatusCode.Unauthenticated, ackWithToken.StatusCode);
        Assert.Equal(StatusCode.PermissionDenied, ackWithOtherSecret.StatusCode);
        Assert.Equal(StatusCode.Unauthenticated, watchWithToken.StatusCode);
        Assert.Equal(StatusCode.Unauthenticated, listWithout.StatusCode);
        Assert.Equal(StatusCode.Unauthenticated, savepointWithSecret.StatusCode);
    }

    [Fact]
    public async Task A_watch_of_a_replaced_launch_or_an_unknown_operator_is_refused()
    {
        var source = await DeployRunningSourceAsync();

        using var stale = _fixture.Client.WatchCheckpoints(new WatchCheckpointsRequest { OperatorName = "source", InstanceIndex = 0, Incarnation = "replaced" });
        var staleError = await Assert.ThrowsAsync<RpcException>(() => stale.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Step));
        using var unknown = _fixture.Client.WatchCheckpoints(new WatchCheckpointsRequest { OperatorName = "nobody", InstanceIndex = 0, Incarnation = source.Incarnation });
        var unknownError = await Assert.ThrowsAsync<RpcException>(() => unknown.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Step));

        Assert.Equal(StatusCode.FailedPrecondition, staleError.StatusCode);
        Assert.Contains("is stale", staleError.Status.Detail);
        Assert.Equal(StatusCode.NotFound, unknownError.StatusCode);
    }

    [Fact]
    public async Task Malformed_or_foreign_acknowledgements_are_refused_with_the_fix()
    {
        var source = await DeployRunningSourceAsync();
        var noId = Ack(source, 0);
        var negative = Ack(source, 1);
        negative.WrittenBytes = -1;

        var missing = await Assert.ThrowsAsync<RpcException>(() => _fixture.Client.AcknowledgeCheckpointAsync(noId).ResponseAsync.WaitAsync(Step));
        var wrong = await Assert.ThrowsAsync<RpcException>(() => _fixture.Client.AcknowledgeCheckpointAsync(negative).ResponseAsync.WaitAsync(Step));
        var never = await Assert.ThrowsAsync<RpcException>(() => _fixture.Client.AcknowledgeCheckpointAsync(Ack(source, 99)).ResponseAsync.WaitAsync(Step));

        Assert.Equal(StatusCode.InvalidArgument, missing.StatusCode);
        Assert.Contains("checkpoint_id", missing.Status.Detail);
        Assert.Equal(StatusCode.InvalidArgument, wrong.StatusCode);
        Assert.Equal(StatusCode.FailedPrecondition, never.StatusCode);
        Assert.Contains("never begun", never.Status.Detail);
    }

    [Fact]
    public async Task A_deploy_stronger_than_its_upstream_is_failed_precondition_naming_the_upstream()
    {
        await _fixture.DeployAsync(SchedulerFixture.Spec("source", writes: "words"));
        var counter = SchedulerFixture.Spec("counter", reads: "words");
        counter.Delivery = DeliveryGuarantee.DeliveryAtLeastOnce;

        var error = await Assert.ThrowsAsync<RpcException>(() => _fixture.DeployAsync(counter));

        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.Contains("reads stream 'words' from 'source', which has at_most_once", error.Status.Detail);
    }
}
