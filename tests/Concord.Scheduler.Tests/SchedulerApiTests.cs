using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Grpc.Core;
using static Concord.Scheduler.Tests.SchedulerFixture;

namespace Concord.Scheduler.Tests;

/// <summary>The Scheduler gRPC API in process, against <see cref="FakeClusterRuntime"/>.</summary>
public sealed class SchedulerApiTests
{
    [Fact]
    public async Task Deploy_launches_every_instance_and_list_shows_them_starting()
    {
        await using var scheduler = await StartAsync();

        var response = await scheduler.DeployAsync(Spec("counter", instances: 2));
        var first = await scheduler.Runtime.NextLaunchAsync(TestTimeout);
        var second = await scheduler.Runtime.NextLaunchAsync(TestTimeout);

        Assert.Equal([0, 1], new[] { first.Index, second.Index });
        Assert.NotEqual(first.Incarnation, second.Incarnation);
        Assert.Equal(scheduler.Address, first.Launch.SchedulerAddress);
        Assert.Equal(2, response.Operator.Instances.Count);
        Assert.All(response.Operator.Instances, i => Assert.Equal(InstanceState.Starting, i.State));
        var listed = await scheduler.StatusAsync("counter");
        Assert.Equal(first.Pid, listed.Instances[0].ExecutorPid);
        Assert.Equal(first.Incarnation, listed.Instances[0].Incarnation);
        Assert.True(listed.Version > 0);
    }

    [Fact]
    public async Task Deploy_of_existing_name_is_rejected_with_ALREADY_EXISTS()
    {
        await using var scheduler = await StartAsync();
        await scheduler.DeployAsync(Spec("counter"));

        var error = await Assert.ThrowsAsync<RpcException>(() => scheduler.DeployAsync(Spec("counter", instances: 3)));

        Assert.Equal(StatusCode.AlreadyExists, error.StatusCode);
        Assert.Equal("operator 'counter' is already deployed; kill it first or use scale", error.Status.Detail);
    }

    [Fact]
    public async Task Deploy_of_invalid_spec_is_INVALID_ARGUMENT_naming_the_field()
    {
        await using var scheduler = await StartAsync();

        var error = await Assert.ThrowsAsync<RpcException>(() => scheduler.DeployAsync(Spec("Bad Name", instances: 0)));

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("name: 'Bad Name' is not a valid operator name", error.Status.Detail);
        Assert.Contains("instances: 0 is out of range", error.Status.Detail);
    }

    [Fact]
    public async Task Deploy_the_runtime_rejects_is_INVALID_ARGUMENT_with_the_runtime_message()
    {
        await using var scheduler = await StartAsync();
        scheduler.Runtime.ValidationError = "executable '/x/y' does not exist; build it or fix \"executable\" in the deploy file";

        var error = await Assert.ThrowsAsync<RpcException>(() => scheduler.DeployAsync(Spec("counter")));

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("executable '/x/y' does not exist", error.Status.Detail);
        var list = await scheduler.Client.ListAsync(new ListRequest()).ResponseAsync.WaitAsync(TestTimeout);
        Assert.Empty(list.Operators);
    }

    [Fact]
    public async Task Kill_of_unknown_name_is_NOT_FOUND_and_lists_deployed_names()
    {
        await using var scheduler = await StartAsync();
        await scheduler.DeployAsync(Spec("counter"));
        await scheduler.DeployAsync(Spec("archive"));

        var error = await Assert.ThrowsAsync<RpcException>(() => scheduler.Client.KillAsync(new KillRequest { Name = "cuonter" }).ResponseAsync.WaitAsync(TestTimeout));

        Assert.Equal(StatusCode.NotFound, error.StatusCode);
        Assert.Equal("operator 'cuonter' is not deployed; deployed: archive, counter", error.Status.Detail);
    }

    [Fact]
    public async Task Kill_stops_every_instance_and_removes_the_operator()
    {
        await using var scheduler = await StartAsync();
        await scheduler.DeployAsync(Spec("counter", instances: 2));
        var launched = new[] { await scheduler.Runtime.NextLaunchAsync(TestTimeout), await scheduler.Runtime.NextLaunchAsync(TestTimeout) };

        await scheduler.Client.KillAsync(new KillRequest { Name = "counter" }).ResponseAsync.WaitAsync(TestTimeout);
        var stopped = new[] { await scheduler.Runtime.NextStopAsync(TestTimeout), await scheduler.Runtime.NextStopAsync(TestTimeout) };

        Assert.Equal(launched.Select(l => l.Incarnation).Order(), stopped.Select(s => s.Incarnation).Order());
        var list = await scheduler.Client.ListAsync(new ListRequest()).ResponseAsync.WaitAsync(TestTimeout);
        Assert.Empty(list.Operators);
    }

    [Fact]
    public async Task Scale_up_launches_new_instances_and_scale_down_stops_the_highest()
    {
        await using var scheduler = await StartAsync();
        await scheduler.DeployAsync(Spec("counter", instances: 1));
        await scheduler.Runtime.NextLaunchAsync(TestTimeout);

        var up = await scheduler.Client.ScaleAsync(new ScaleRequest { Name = "counter", Instances = 3 }).ResponseAsync.WaitAsync(TestTimeout);
        var added = new[] { await scheduler.Runtime.NextLaunchAsync(TestTimeout), await scheduler.Runtime.NextLaunchAsync(TestTimeout) };
        var down = await scheduler.Client.ScaleAsync(new ScaleRequest { Name = "counter", Instances = 1 }).ResponseAsync.WaitAsync(TestTimeout);
        var stopped = new[] { await scheduler.Runtime.NextStopAsync(TestTimeout), await scheduler.Runtime.NextStopAsync(TestTimeout) };

        Assert.Equal(3, up.Operator.Spec.Instances);
        Assert.Equal([1, 2], added.Select(a => a.Index));
        Assert.Equal(1, Assert.Single(down.Operator.Instances).Index + 1);
        Assert.Equal([1, 2], stopped.Select(s => s.Index).Order());
        Assert.True(down.Operator.Version > up.Operator.Version);
    }

    [Fact]
    public async Task Scale_out_of_range_is_INVALID_ARGUMENT_and_of_unknown_name_NOT_FOUND()
    {
        await using var scheduler = await StartAsync();
        await scheduler.DeployAsync(Spec("counter"));

        var tooMany = await Assert.ThrowsAsync<RpcException>(() => scheduler.Client.ScaleAsync(new ScaleRequest { Name = "counter", Instances = 129 }).ResponseAsync.WaitAsync(TestTimeout));
        var unknown = await Assert.ThrowsAsync<RpcException>(() => scheduler.Client.ScaleAsync(new ScaleRequest { Name = "nope", Instances = 2 }).ResponseAsync.WaitAsync(TestTimeout));

        Assert.Equal(StatusCode.InvalidArgument, tooMany.StatusCode);
        Assert.Equal("instances: 129 is out of range; use 1..128", tooMany.Status.Detail);
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
        Assert.Contains("deployed: counter", unknown.Status.Detail);
    }

    [Fact]
    public async Task Register_marks_the_instance_running_and_records_the_metadata()
    {
        await using var scheduler = await StartAsync();
        var spec = Spec("counter", reads: "words", grouping: Grouping.GroupBy, writes: "counts");
        await scheduler.DeployAsync(spec);
        var instance = await scheduler.Runtime.NextLaunchAsync(TestTimeout);

        await scheduler.RegisterAsync(instance, dataAddress: "127.0.0.1:5555");

        var status = await scheduler.StatusAsync("counter");
        Assert.Equal(InstanceState.Running, status.Instances[0].State);
        Assert.Equal("127.0.0.1:5555", status.Instances[0].DataAddress);
        Assert.Equal(MetadataOf(spec), status.Metadata);
    }

    [Fact]
    public async Task Register_with_a_stale_incarnation_is_FAILED_PRECONDITION()
    {
        await using var scheduler = await StartAsync();
        await scheduler.DeployAsync(Spec("counter"));
        var instance = await scheduler.Runtime.NextLaunchAsync(TestTimeout);

        var error = await Assert.ThrowsAsync<RpcException>(() => scheduler.Client.RegisterExecutorAsync(new RegisterExecutorRequest
        {
            OperatorName = "counter",
            InstanceIndex = 0,
            Incarnation = "old-" + instance.Incarnation,
            DataAddress = "127.0.0.1:1",
            Metadata = new OperatorMetadata { Name = "counter" },
        }).ResponseAsync.WaitAsync(TestTimeout));

        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.Contains("is stale", error.Status.Detail);
        Assert.Equal(InstanceState.Starting, (await scheduler.StatusAsync("counter")).Instances[0].State);
    }

    [Fact]
    public async Task A_later_instance_with_different_metadata_is_rejected_with_FAILED_PRECONDITION()
    {
        await using var scheduler = await StartAsync();
        await scheduler.DeployAsync(Spec("counter", instances: 2));
        var first = await scheduler.Runtime.NextLaunchAsync(TestTimeout);
        var second = await scheduler.Runtime.NextLaunchAsync(TestTimeout);
        await scheduler.RegisterAsync(first, new OperatorMetadata { Name = "counter", Inputs = { new InputStream { Name = "words" } } });

        var error = await Assert.ThrowsAsync<RpcException>(() =>
            scheduler.RegisterAsync(second, new OperatorMetadata { Name = "counter", Inputs = { new InputStream { Name = "sentences" } } }));

        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.Contains("every instance must report the same streams", error.Status.Detail);
    }

    [Fact]
    public async Task WatchRouting_sends_the_current_table_then_a_new_one_when_a_second_reader_deploys()
    {
        await using var scheduler = await StartAsync();
        await scheduler.DeployAsync(Spec("counter", instances: 2, reads: "words", grouping: Grouping.GroupBy));
        var counter0 = await scheduler.Runtime.NextLaunchAsync(TestTimeout);
        await scheduler.RegisterAsync(counter0, dataAddress: "127.0.0.1:6000");
        using var cancel = new CancellationTokenSource(TestTimeout);
        using var watch = scheduler.Client.WatchRouting(
            new WatchRoutingRequest { OperatorName = "counter", InstanceIndex = 0, Incarnation = counter0.Incarnation }, cancellationToken: cancel.Token);

        Assert.True(await watch.ResponseStream.MoveNext(cancel.Token));
        var first = watch.ResponseStream.Current;
        await scheduler.DeployAsync(Spec("archive", reads: "words"));
        Assert.True(await watch.ResponseStream.MoveNext(cancel.Token));
        var second = watch.ResponseStream.Current;

        var counterRoute = Assert.Single(Assert.Single(first.Streams).Readers);
        Assert.Equal("counter", counterRoute.OperatorName);
        Assert.Equal(["127.0.0.1:6000", ""], counterRoute.Instances.Select(i => i.DataAddress));
        Assert.Equal(counter0.Incarnation, counterRoute.Instances[0].Incarnation);
        Assert.Equal([(0, 64), (64, 128)], counterRoute.Instances.Select(i => (i.KeyGroupStart, i.KeyGroupEnd)));
        Assert.True(second.Version > first.Version);
        Assert.Equal(["archive", "counter"], Assert.Single(second.Streams).Readers.Select(r => r.OperatorName));
        Assert.Equal(128, second.KeyGroupCount);
        // Deploying a new reader restarted nothing.
        Assert.Equal(InstanceState.Running, (await scheduler.StatusAsync("counter")).Instances[0].State);
        Assert.False(scheduler.Runtime.Stops.Reader.TryRead(out _));
    }

    [Fact]
    public async Task Graph_has_an_edge_from_each_producer_to_each_reader_of_a_stream()
    {
        await using var scheduler = await StartAsync();
        await scheduler.DeployAsync(Spec("source", writes: "words"));
        await scheduler.DeployAsync(Spec("counter", reads: "words", grouping: Grouping.GroupBy, writes: "counts"));
        await scheduler.DeployAsync(Spec("sink", reads: "counts"));

        var graph = await scheduler.Client.GraphAsync(new GraphRequest()).ResponseAsync.WaitAsync(TestTimeout);

        Assert.Equal(["counter", "sink", "source"], graph.Operators.Select(o => o.Spec.Name));
        Assert.Equal(
            ["counts counter→sink Shuffle", "words source→counter GroupBy"],
            graph.Edges.Select(e => $"{e.Stream} {e.FromOperator}→{e.ToOperator} {e.Grouping}"));
    }

    [Fact]
    public async Task A_failed_instance_shows_the_reported_error_and_restarts_after_the_back_off()
    {
        await using var scheduler = await StartAsync();
        await scheduler.DeployAsync(Spec("counter"));
        var first = await scheduler.Runtime.NextLaunchAsync(TestTimeout);
        await scheduler.RegisterAsync(first);
        await scheduler.Client.ReportFailureAsync(new ReportFailureRequest
        {
            OperatorName = "counter",
            InstanceIndex = 0,
            Incarnation = first.Incarnation,
            Message = "operator exited with code 3",
        }).ResponseAsync.WaitAsync(TestTimeout);

        first.Exit(1);
        var failed = await scheduler.WaitForStatusAsync("counter", s => s.Instances[0].State == InstanceState.Failed);
        scheduler.Time.Advance(TimeSpan.FromMilliseconds(SchedulerLimits.RestartBackoffInitialMs - 1));
        Assert.False(scheduler.Runtime.Launches.Reader.TryRead(out _));
        scheduler.Time.Advance(TimeSpan.FromMilliseconds(1));
        var second = await scheduler.Runtime.NextLaunchAsync(TestTimeout);

        Assert.Equal("operator exited with code 3", failed.Instances[0].LastError);
        Assert.Equal("operator exited with code 3", failed.LastError);
        Assert.NotEqual(first.Incarnation, second.Incarnation);
        var restarted = await scheduler.StatusAsync("counter");
        Assert.Equal(1, restarted.Instances[0].Restarts);
        Assert.Equal(InstanceState.Starting, restarted.Instances[0].State);
    }

    [Fact]
    public async Task An_instance_failing_five_times_in_the_window_is_crash_looping_and_keeps_restarting_at_the_longest_back_off()
    {
        await using var scheduler = await StartAsync();
        await scheduler.DeployAsync(Spec("counter"));
        var instance = await scheduler.Runtime.NextLaunchAsync(TestTimeout);
        for (var failure = 1; failure < SchedulerLimits.CrashLoopFailuresMin; failure++)
        {
            instance.Exit(1);
            await scheduler.WaitForStatusAsync("counter", s => s.Instances[0].State == InstanceState.Failed);
            scheduler.Time.Advance(Reconcile.RestartBackoff.DelayFor(failure));
            instance = await scheduler.Runtime.NextLaunchAsync(TestTimeout);
        }

        instance.Exit(1);
        var looping = await scheduler.WaitForStatusAsync("counter", s => s.Instances[0].State == InstanceState.CrashLooping);
        scheduler.Time.Advance(TimeSpan.FromMilliseconds(SchedulerLimits.RestartBackoffMsMax - 1));
        Assert.False(scheduler.Runtime.Launches.Reader.TryRead(out _));
        scheduler.Time.Advance(TimeSpan.FromMilliseconds(1));
        var relaunched = await scheduler.Runtime.NextLaunchAsync(TestTimeout);

        Assert.Equal("executor exited with code 1; see its executor.log", looping.Instances[0].LastError);
        Assert.Equal(SchedulerLimits.CrashLoopFailuresMin - 1, looping.Instances[0].Restarts);
        Assert.Equal(0, relaunched.Index);
    }

    [Fact]
    public async Task An_executor_that_never_registers_is_stopped_and_failed_after_the_starting_timeout()
    {
        await using var scheduler = await StartAsync();
        await scheduler.DeployAsync(Spec("counter"));
        var instance = await scheduler.Runtime.NextLaunchAsync(TestTimeout);

        scheduler.Time.Advance(TimeSpan.FromMilliseconds(SchedulerLimits.StartingTimeoutMs));
        var stopped = await scheduler.Runtime.NextStopAsync(TestTimeout);
        var failed = await scheduler.WaitForStatusAsync("counter", s => s.Instances[0].State == InstanceState.Failed);

        Assert.Equal(instance.Incarnation, stopped.Incarnation);
        Assert.Contains($"did not register within {SchedulerLimits.StartingTimeoutMs} ms", failed.Instances[0].LastError);
    }

    [Fact]
    public async Task Topology_survives_a_scheduler_restart_and_is_relaunched()
    {
        using var home = new TempDirectory();
        await using (var first = await StartAsync(home, ownsHome: false))
        {
            await first.DeployAsync(Spec("counter", instances: 2));
            await first.Runtime.NextLaunchAsync(TestTimeout);
            await first.Runtime.NextLaunchAsync(TestTimeout);
            await first.StopAsync();
            // A clean stop stops the instances and removes scheduler.json.
            Assert.Equal(2, first.Runtime.Stops.Reader.Count);
            Assert.False(File.Exists(home.Combine(SchedulerHome.InfoFileName)));
        }

        await using var second = await StartAsync(home, ownsHome: false);
        var relaunched = new[] { await second.Runtime.NextLaunchAsync(TestTimeout), await second.Runtime.NextLaunchAsync(TestTimeout) };

        Assert.Equal([0, 1], relaunched.Select(r => r.Index).Order());
        Assert.Equal(1, second.Runtime.LeftoverReaps);
        Assert.Equal(2, (await second.StatusAsync("counter")).Spec.Instances);
    }

    [Fact]
    public async Task A_second_scheduler_on_the_same_home_is_refused_with_the_owner_named()
    {
        await using var scheduler = await StartAsync();

        var error = Assert.Throws<HomeInUseException>(() => SchedulerHome.Acquire(scheduler.Home.Path));

        Assert.Contains($"pid {Environment.ProcessId}", error.Message);
        Assert.Contains("pass a different --home", error.Message);
    }
}
