using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Grpc.Core;

namespace Concord.Scheduler.Tests.Checkpoints;

/// <summary>
/// Replace of an operator with a delivery guarantee through the Replace RPC in a real scheduler
/// (fake runtime, real checkpoint coordinator and store): without drop_state it keeps the state
/// through a fresh checkpoint, or rolls back when the new version refuses it; with drop_state the
/// new version's floor survives a scheduler restart (docs/live-changes.md).
/// </summary>
public sealed class ReplaceWithStateApiTests : IAsyncLifetime
{
    private static readonly TimeSpan Step = SchedulerFixture.TestTimeout;

    private SchedulerFixture _fixture = null!;

    public async Task InitializeAsync() => _fixture = await SchedulerFixture.StartAsync();

    public async Task DisposeAsync() => await _fixture.DisposeAsync();

    private static OperatorSpec Source(string version)
    {
        var spec = SchedulerFixture.Spec("source", writes: "words");
        spec.Delivery = DeliveryGuarantee.DeliveryExactlyOnce;
        spec.Environment["VERSION"] = version;
        return spec;
    }

    private static Task RegisterAsync(SchedulerFixture fixture, FakeInstance instance, ulong restored) =>
        fixture.Client.RegisterExecutorAsync(new RegisterExecutorRequest
        {
            OperatorName = instance.OperatorName,
            InstanceIndex = instance.Index,
            Incarnation = instance.Incarnation,
            DataAddress = $"127.0.0.1:{20000 + instance.Pid}",
            Metadata = SchedulerFixture.MetadataOf(instance.Launch.Spec),
            RestoredCheckpointId = restored,
        }).ResponseAsync.WaitAsync(Step);

    /// <summary>Acknowledges the next checkpoint <paramref name="instance"/> is asked for; returns its begin.</summary>
    private async Task<BeginCheckpoint> AcknowledgeNextAsync(FakeInstance instance)
    {
        using var watch = _fixture.Client.WatchCheckpoints(new WatchCheckpointsRequest
        {
            OperatorName = instance.OperatorName,
            InstanceIndex = instance.Index,
            Incarnation = instance.Incarnation,
        });
        Assert.True(await watch.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Step));
        var begin = watch.ResponseStream.Current.Begin;
        await _fixture.Client.AcknowledgeCheckpointAsync(new AcknowledgeCheckpointRequest
        {
            OperatorName = instance.OperatorName,
            InstanceIndex = instance.Index,
            Incarnation = instance.Incarnation,
            CheckpointId = begin.CheckpointId,
            StateBytes = 100,
            WrittenBytes = 100,
        }).ResponseAsync.WaitAsync(Step);
        return begin;
    }

    private async Task<FakeInstance> DeployRunningAsync(OperatorSpec spec)
    {
        await _fixture.DeployAsync(spec);
        var instance = await _fixture.Runtime.NextLaunchAsync(Step);
        await _fixture.RegisterAsync(instance);
        return instance;
    }

    [Fact]
    public async Task Replace_without_drop_state_takes_a_checkpoint_and_restarts_the_operator_as_the_new_version_restoring_it()
    {
        var old = await DeployRunningAsync(Source("1"));

        var replace = _fixture.Client.ReplaceAsync(new ReplaceRequest { Spec = Source("2") }).ResponseAsync;
        var begin = await AcknowledgeNextAsync(old);
        Assert.Same(old, await _fixture.Runtime.NextStopAsync(Step));
        var incoming = await _fixture.Runtime.NextLaunchAsync(Step);
        Assert.False(replace.IsCompleted); // Until the new version runs.
        await RegisterAsync(_fixture, incoming, begin.CheckpointId);
        var response = await replace.WaitAsync(Step);

        Assert.Equal("replace", System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(begin.Directory, "_metadata.json")))
            .RootElement.GetProperty("trigger").GetString());
        Assert.Equal((begin.Directory, "2", 1), (incoming.Launch.RestoreCheckpoint, incoming.Launch.Spec.Environment["VERSION"], incoming.Launch.Release));
        Assert.True(response.Restarted);
        Assert.Equal("2", response.Operator.Spec.Environment["VERSION"]);
        Assert.Equal((InstanceState.Running, begin.CheckpointId), (response.Operator.Instances[0].State, response.Operator.Instances[0].RestoredCheckpointId));
    }

    [Fact]
    public async Task A_new_version_that_refuses_the_checkpoints_state_is_rolled_back_to_the_old_one_restoring_the_same_checkpoint()
    {
        var old = await DeployRunningAsync(Source("1"));
        var replace = _fixture.Client.ReplaceAsync(new ReplaceRequest { Spec = Source("2") }).ResponseAsync;
        var begin = await AcknowledgeNextAsync(old);
        var incoming = await _fixture.Runtime.NextLaunchAsync(Step);
        var refusal = $"checkpoint {begin.CheckpointId} holds state 'count' of 'source' that this version does not declare (it declares 'total'); " +
                      "declare it in metadata() states (a new version may add state names, not drop or rename one), or replace with --drop-state " +
                      "to start it with empty state (docs/live-changes.md)";

        await _fixture.Client.ReportFailureAsync(new ReportFailureRequest
        {
            OperatorName = "source",
            InstanceIndex = 0,
            Incarnation = incoming.Incarnation,
            Message = refusal,
        }).ResponseAsync.WaitAsync(Step);
        incoming.Exit(1);

        var error = await Assert.ThrowsAsync<RpcException>(() => replace.WaitAsync(Step));
        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.Contains($"replace of 'source' failed and was rolled back: the old version is stored again and every operator with a delivery guarantee restarts from checkpoint {begin.CheckpointId}", error.Status.Detail);
        Assert.Contains(refusal, error.Status.Detail);
        var back = await _fixture.Runtime.NextLaunchAsync(Step);
        Assert.Equal((begin.Directory, "1", 2), (back.Launch.RestoreCheckpoint, back.Launch.Spec.Environment["VERSION"], back.Launch.Release));
        await RegisterAsync(_fixture, back, begin.CheckpointId);
        var status = await _fixture.StatusAsync("source");
        Assert.Equal("1", status.Spec.Environment["VERSION"]);
        Assert.Equal(InstanceState.Running, status.Instances[0].State);
        Assert.Contains("rolled back", status.LastError);
    }

    [Fact]
    public async Task A_failed_version_is_replaced_keeping_its_state_from_the_last_completed_checkpoint_when_no_fresh_one_can_be_taken()
    {
        var old = await DeployRunningAsync(Source("1"));
        var savepoint = _fixture.Client.TriggerSavepointAsync(new TriggerSavepointRequest()).ResponseAsync;
        var begin = await AcknowledgeNextAsync(old);
        await savepoint.WaitAsync(Step);
        old.Exit(1); // The version to replace fails (waiting for its back-off): no checkpoint can begin.
        await _fixture.WaitForStatusAsync("source", s => s.Instances[0].State == InstanceState.Failed);

        var replace = _fixture.Client.ReplaceAsync(new ReplaceRequest { Spec = Source("2") }).ResponseAsync;
        var incoming = await _fixture.Runtime.NextLaunchAsync(Step);
        await RegisterAsync(_fixture, incoming, begin.CheckpointId);
        var response = await replace.WaitAsync(Step);

        Assert.Equal((begin.Directory, "2"), (incoming.Launch.RestoreCheckpoint, incoming.Launch.Spec.Environment["VERSION"]));
        Assert.True(response.Restarted);
        Assert.Equal(begin.CheckpointId, response.Operator.Instances[0].RestoredCheckpointId);
    }

    [Fact]
    public async Task After_replace_with_drop_state_a_restarted_scheduler_does_not_restore_the_new_version_from_a_checkpoint_of_the_old_one()
    {
        var old = await DeployRunningAsync(Source("1"));
        var savepoint = _fixture.Client.TriggerSavepointAsync(new TriggerSavepointRequest()).ResponseAsync;
        var begin = await AcknowledgeNextAsync(old);
        await savepoint.WaitAsync(Step);
        var response = await _fixture.Client.ReplaceAsync(new ReplaceRequest { Spec = Source("2"), DropState = true }).ResponseAsync.WaitAsync(Step);
        Assert.True(response.Restarted);
        var incoming = await _fixture.Runtime.NextLaunchAsync(Step);
        Assert.Null(incoming.Launch.RestoreCheckpoint);

        // Restarted before any checkpoint of the new version: the old version's savepoint is still the newest.
        await _fixture.StopAsync();
        await using var restarted = await SchedulerFixture.StartAsync(_fixture.Home, ownsHome: false);
        var relaunched = await restarted.Runtime.NextLaunchAsync(Step);

        Assert.Equal("2", relaunched.Launch.Spec.Environment["VERSION"]);
        Assert.Null(relaunched.Launch.RestoreCheckpoint);
        var list = await restarted.Client.ListCheckpointsAsync(new ListCheckpointsRequest()).ResponseAsync.WaitAsync(Step);
        Assert.Equal(begin.CheckpointId, list.LatestCompletedId); // It was there to restore from, and was not used.
    }
}
