using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Grpc.Core;
using static Concord.Scheduler.Tests.SchedulerFixture;

namespace Concord.Scheduler.Tests;

/// <summary>Rolling replace through the gRPC API, against <see cref="FakeClusterRuntime"/>.</summary>
public sealed class ReplaceTests
{
    private static OperatorSpec Counter(int instances = 2, string version = "1")
    {
        var spec = Spec("counter", instances, reads: "words", grouping: Grouping.GroupBy, writes: "counts");
        spec.Environment["VERSION"] = version;
        return spec;
    }

    /// <summary>Deploys counter (2 instances) and a source, and registers them all: a running topology.</summary>
    private static async Task<(FakeInstance[] Counter, FakeInstance Source)> RunningTopologyAsync(SchedulerFixture scheduler)
    {
        await scheduler.DeployAsync(Counter());
        var counter = new[] { await scheduler.Runtime.NextLaunchAsync(TestTimeout), await scheduler.Runtime.NextLaunchAsync(TestTimeout) };
        await scheduler.DeployAsync(Spec("source", writes: "words"));
        var source = await scheduler.Runtime.NextLaunchAsync(TestTimeout);
        foreach (var instance in counter.Append(source))
        {
            await scheduler.RegisterAsync(instance);
        }
        return (counter, source);
    }

    private static Task<ReplaceResponse> ReplaceAsync(SchedulerFixture scheduler, OperatorSpec spec, int runningTimeoutMs = 0) =>
        scheduler.Client.ReplaceAsync(new ReplaceRequest { Spec = spec, RunningTimeoutMs = runningTimeoutMs }).ResponseAsync;

    [Fact]
    public async Task Replace_starts_the_new_version_beside_the_old_then_routes_to_it_and_stops_the_old()
    {
        await using var scheduler = await StartAsync();
        var (old, source) = await RunningTopologyAsync(scheduler);

        var replace = ReplaceAsync(scheduler, Counter(version: "2"));
        var incoming = new[] { await scheduler.Runtime.NextLaunchAsync(TestTimeout), await scheduler.Runtime.NextLaunchAsync(TestTimeout) };

        // The new version runs beside the old one, which is still the one listed and routed to.
        Assert.Equal([0, 1], incoming.Select(i => i.Index));
        Assert.All(incoming, i => Assert.Equal(1, i.Launch.Release));
        Assert.All(incoming, i => Assert.Equal("2", i.Launch.Spec.Environment["VERSION"]));
        Assert.False(scheduler.Runtime.Stops.Reader.TryRead(out _));
        var during = await scheduler.StatusAsync("counter");
        Assert.Equal(old.Select(o => o.Incarnation), during.Instances.Select(i => i.Incarnation));
        Assert.All(during.Instances, i => Assert.Equal(InstanceState.Running, i.State));

        await scheduler.RegisterAsync(incoming[0]);
        Assert.False(replace.IsCompleted, "the switch waits for every new instance");
        await scheduler.RegisterAsync(incoming[1]);
        var response = await replace.WaitAsync(TestTimeout);

        var stopped = new[] { await scheduler.Runtime.NextStopAsync(TestTimeout), await scheduler.Runtime.NextStopAsync(TestTimeout) };
        Assert.Equal(old.Select(o => o.Incarnation).Order(), stopped.Select(s => s.Incarnation).Order());
        Assert.Equal(incoming.Select(i => i.Incarnation), response.Operator.Instances.Select(i => i.Incarnation));
        Assert.All(response.Operator.Instances, i => Assert.Equal(InstanceState.Running, i.State));
        Assert.Equal("2", response.Operator.Spec.Environment["VERSION"]);
        Assert.True(response.TotalMs >= response.SwitchMs);
        var after = await scheduler.StatusAsync("counter");
        Assert.Equal("2", after.Spec.Environment["VERSION"]);
        Assert.Equal(incoming.Select(i => i.Incarnation), after.Instances.Select(i => i.Incarnation));
        // Nothing else restarted: no launch or stop beyond the replaced operator's.
        var sourceNow = await scheduler.StatusAsync("source");
        Assert.Equal(source.Incarnation, sourceNow.Instances[0].Incarnation);
        Assert.Equal(InstanceState.Running, sourceNow.Instances[0].State);
        Assert.False(scheduler.Runtime.Launches.Reader.TryRead(out _));
        Assert.False(scheduler.Runtime.Stops.Reader.TryRead(out _));
    }

    [Fact]
    public async Task Replace_with_drop_state_of_an_operator_with_a_guarantee_restarts_it_as_the_new_version_and_answers_restarted()
    {
        await using var scheduler = await StartAsync();
        var counter = Counter();
        counter.Delivery = DeliveryGuarantee.DeliveryExactlyOnce;
        await scheduler.DeployAsync(counter);
        var old = new[] { await scheduler.Runtime.NextLaunchAsync(TestTimeout), await scheduler.Runtime.NextLaunchAsync(TestTimeout) };
        foreach (var instance in old)
        {
            await scheduler.RegisterAsync(instance);
        }
        var next = Counter(version: "2");
        next.Delivery = DeliveryGuarantee.DeliveryExactlyOnce;
        var withoutGuarantee = Counter(version: "2"); // Would lose the state: refused without drop_state.

        var refused = await Assert.ThrowsAsync<RpcException>(() => ReplaceAsync(scheduler, withoutGuarantee).WaitAsync(TestTimeout));
        var response = await scheduler.Client.ReplaceAsync(new ReplaceRequest { Spec = next, DropState = true }).ResponseAsync.WaitAsync(TestTimeout);

        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
        Assert.Contains("--drop-state", refused.Status.Detail);
        Assert.True(response.Restarted);
        Assert.Equal(response.SwitchMs, response.TotalMs);
        Assert.Equal("2", response.Operator.Spec.Environment["VERSION"]);
        var stopped = new[] { await scheduler.Runtime.NextStopAsync(TestTimeout), await scheduler.Runtime.NextStopAsync(TestTimeout) };
        Assert.Equal(old.Select(o => o.Incarnation).Order(), stopped.Select(s => s.Incarnation).Order());
        var incoming = new[] { await scheduler.Runtime.NextLaunchAsync(TestTimeout), await scheduler.Runtime.NextLaunchAsync(TestTimeout) };
        Assert.Equal([0, 1], incoming.Select(i => i.Index).Order());
        Assert.All(incoming, i => Assert.Equal("2", i.Launch.Spec.Environment["VERSION"]));
        Assert.All(incoming, i => Assert.Equal(1, i.Launch.Release));
        Assert.All(incoming, i => Assert.Null(i.Launch.RestoreCheckpoint));
        Assert.Equal("2", (await scheduler.StatusAsync("counter")).Spec.Environment["VERSION"]);
    }

    [Fact]
    public async Task A_new_version_that_exits_before_running_is_rolled_back_and_the_old_keeps_running()
    {
        await using var scheduler = await StartAsync();
        var (old, _) = await RunningTopologyAsync(scheduler);

        var replace = ReplaceAsync(scheduler, Counter(version: "broken"));
        var incoming = await scheduler.Runtime.NextLaunchAsync(TestTimeout);
        await scheduler.Client.ReportFailureAsync(new ReportFailureRequest
        {
            OperatorName = "counter",
            InstanceIndex = incoming.Index,
            Incarnation = incoming.Incarnation,
            Message = "operator error: boom in init",
        }).ResponseAsync.WaitAsync(TestTimeout);
        incoming.Exit(1);

        var error = await Assert.ThrowsAsync<RpcException>(() => replace.WaitAsync(TestTimeout));
        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.Contains("replace of 'counter' failed and was rolled back; the old version keeps running", error.Status.Detail);
        Assert.Contains("boom in init", error.Status.Detail);
        var status = await scheduler.StatusAsync("counter");
        Assert.Equal(old.Select(o => o.Incarnation), status.Instances.Select(i => i.Incarnation));
        Assert.All(status.Instances, i => Assert.Equal(InstanceState.Running, i.State));
        Assert.Equal("1", status.Spec.Environment["VERSION"]);
        Assert.Contains("rolled back", status.LastError);
        // Only new instances were stopped, never an old one.
        var stops = new List<FakeInstance>();
        while (scheduler.Runtime.Stops.Reader.TryRead(out var stop))
        {
            stops.Add(stop);
        }
        Assert.DoesNotContain(stops, s => old.Any(o => o.Incarnation == s.Incarnation));
    }

    [Fact]
    public async Task A_new_version_that_does_not_reach_running_in_time_is_rolled_back()
    {
        await using var scheduler = await StartAsync();
        var (old, _) = await RunningTopologyAsync(scheduler);

        var runningTimeout = TimeSpan.FromMilliseconds(1_000);
        var armed = scheduler.Time.TimerArmedAsync(runningTimeout);
        var replace = ReplaceAsync(scheduler, Counter(version: "slow"), runningTimeoutMs: 1_000);
        var incoming = new[] { await scheduler.Runtime.NextLaunchAsync(TestTimeout), await scheduler.Runtime.NextLaunchAsync(TestTimeout) };
        await scheduler.RegisterAsync(incoming[0]);
        // The timer is set once both launches are done; then the fake clock passes it.
        await armed.WaitAsync(TestTimeout);
        scheduler.Time.Advance(runningTimeout);

        var error = await Assert.ThrowsAsync<RpcException>(() => replace.WaitAsync(TestTimeout));
        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.Contains("did not all reach running within 1000 ms (1 of 2 running)", error.Status.Detail);
        var stopped = new[] { await scheduler.Runtime.NextStopAsync(TestTimeout), await scheduler.Runtime.NextStopAsync(TestTimeout) };
        Assert.Equal(incoming.Select(i => i.Incarnation).Order(), stopped.Select(s => s.Incarnation).Order());
        var status = await scheduler.StatusAsync("counter");
        Assert.Equal(old.Select(o => o.Incarnation), status.Instances.Select(i => i.Incarnation));
    }

    [Fact]
    public async Task Replace_with_a_deploy_file_whose_streams_differ_is_FAILED_PRECONDITION_and_changes_nothing()
    {
        await using var scheduler = await StartAsync();
        await RunningTopologyAsync(scheduler);
        var before = await scheduler.StatusAsync("counter");
        var other = Spec("counter", instances: 2, reads: "sentences", grouping: Grouping.Shuffle, writes: "counts");

        var error = await Assert.ThrowsAsync<RpcException>(() => ReplaceAsync(scheduler, other).WaitAsync(TestTimeout));

        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.Equal(
            "the deploy file for 'counter' declares inputs [sentences (shuffle)] and outputs [counts] but the running operator has " +
            "inputs [words (group_by)] and outputs [counts]; a replace must keep the streams: fix \"inputs\"/\"outputs\" in the deploy file, " +
            "or kill the operator and deploy the new version. Nothing was changed",
            error.Status.Detail);
        Assert.False(scheduler.Runtime.Launches.Reader.TryRead(out _));
        Assert.Equal(before, await scheduler.StatusAsync("counter"));
    }

    [Fact]
    public async Task New_instances_reporting_other_streams_are_refused_and_the_replace_rolled_back()
    {
        await using var scheduler = await StartAsync();
        var (old, _) = await RunningTopologyAsync(scheduler);
        var undeclared = Spec("counter", instances: 2); // streams not declared: checked at registration

        var replace = ReplaceAsync(scheduler, undeclared);
        var incoming = await scheduler.Runtime.NextLaunchAsync(TestTimeout);
        var refused = await Assert.ThrowsAsync<RpcException>(() => scheduler.RegisterAsync(incoming,
            new OperatorMetadata { Name = "counter", Inputs = { new InputStream { Name = "lines", Grouping = Grouping.Shuffle } } }));
        incoming.Exit(1); // as the executor does when its registration is refused

        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
        var error = await Assert.ThrowsAsync<RpcException>(() => replace.WaitAsync(TestTimeout));
        Assert.Contains("reports inputs [lines (shuffle)] and outputs [] but the running version has inputs [words (group_by)] and outputs [counts]", error.Status.Detail);
        var status = await scheduler.StatusAsync("counter");
        Assert.Equal(old.Select(o => o.Incarnation), status.Instances.Select(i => i.Incarnation));
    }

    [Fact]
    public async Task Scale_and_a_second_replace_during_a_replace_are_FAILED_PRECONDITION()
    {
        await using var scheduler = await StartAsync();
        await RunningTopologyAsync(scheduler);
        var replace = ReplaceAsync(scheduler, Counter(version: "2"));
        var incoming = new[] { await scheduler.Runtime.NextLaunchAsync(TestTimeout), await scheduler.Runtime.NextLaunchAsync(TestTimeout) };

        var scale = await Assert.ThrowsAsync<RpcException>(() => scheduler.Client.ScaleAsync(new ScaleRequest { Name = "counter", Instances = 3 }).ResponseAsync.WaitAsync(TestTimeout));
        var second = await Assert.ThrowsAsync<RpcException>(() => ReplaceAsync(scheduler, Counter(version: "3")).WaitAsync(TestTimeout));

        Assert.Equal(StatusCode.FailedPrecondition, scale.StatusCode);
        Assert.Equal("a replace of 'counter' (release 1) is in progress; scale it once the replace has finished (`concord list` shows it)", scale.Status.Detail);
        Assert.Equal(StatusCode.FailedPrecondition, second.StatusCode);
        foreach (var instance in incoming)
        {
            await scheduler.RegisterAsync(instance);
        }
        Assert.Equal("2", (await replace.WaitAsync(TestTimeout)).Operator.Spec.Environment["VERSION"]);
    }

    [Fact]
    public async Task Replace_of_an_unknown_operator_is_NOT_FOUND_and_a_bad_timeout_INVALID_ARGUMENT()
    {
        await using var scheduler = await StartAsync();
        await scheduler.DeployAsync(Spec("counter"));

        var unknown = await Assert.ThrowsAsync<RpcException>(() => ReplaceAsync(scheduler, Spec("cuonter")).WaitAsync(TestTimeout));
        var negative = await Assert.ThrowsAsync<RpcException>(() => ReplaceAsync(scheduler, Spec("counter"), runningTimeoutMs: -1).WaitAsync(TestTimeout));

        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("operator 'cuonter' is not deployed; deployed: counter", unknown.Status.Detail);
        Assert.Equal(StatusCode.InvalidArgument, negative.StatusCode);
        Assert.Equal("running_timeout_ms: -1 is out of range; use 1..60000, or 0 for that default", negative.Status.Detail);
    }

    [Fact]
    public async Task Killing_an_operator_during_its_replace_fails_the_replace_and_stops_everything()
    {
        await using var scheduler = await StartAsync();
        var (old, _) = await RunningTopologyAsync(scheduler);
        var replace = ReplaceAsync(scheduler, Counter(version: "2"));
        var incoming = new[] { await scheduler.Runtime.NextLaunchAsync(TestTimeout), await scheduler.Runtime.NextLaunchAsync(TestTimeout) };

        await scheduler.Client.KillAsync(new KillRequest { Name = "counter" }).ResponseAsync.WaitAsync(TestTimeout);

        var error = await Assert.ThrowsAsync<RpcException>(() => replace.WaitAsync(TestTimeout));
        Assert.Contains("the operator was killed during the replace", error.Status.Detail);
        var stopped = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            stopped.Add((await scheduler.Runtime.NextStopAsync(TestTimeout)).Incarnation);
        }
        Assert.Equal(old.Concat(incoming).Select(i => i.Incarnation).Order(), stopped.Order());
    }
}
