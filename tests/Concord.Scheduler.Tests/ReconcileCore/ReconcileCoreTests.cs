using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Api;
using Concord.Scheduler.Reconcile;
using Concord.Scheduler.Reconcile.Core;
using Concord.Scheduler.Runtime;
using Concord.Scheduler.Store;
using Grpc.Core;
using static Concord.Scheduler.Tests.ReconcileCore.ReconcileCoreDriver;

namespace Concord.Scheduler.Tests.ReconcileCore;

/// <summary>
/// The reconcile core's decisions, driven without processes, sockets or a real clock (see
/// <see cref="ReconcileCoreDriver"/>): each test feeds the core a store change, a launch, an
/// exit or a timer and checks the actions and states it answers with.
/// </summary>
public sealed class ReconcileCoreTests
{
    private static readonly TimeSpan InitialBackoff = TimeSpan.FromMilliseconds(SchedulerLimits.RestartBackoffInitialMs);

    private readonly ReconcileCoreDriver _driver = new();

    private static ReconcileException Refused(ReconcileErrorKind kind, Action action)
    {
        var error = Assert.Throws<ReconcileException>(action);
        Assert.Equal(kind, error.Kind);
        return error;
    }

    /// <summary>Deploys <paramref name="spec"/> and registers every instance.</summary>
    private List<FakeInstance> DeployRunning(OperatorSpec spec)
    {
        _driver.Deploy(spec);
        var instances = _driver.Launches.Where(l => l.OperatorName == spec.Name).ToList();
        foreach (var instance in instances)
        {
            _driver.Register(instance);
        }
        return instances;
    }

    private static IEnumerable<InstanceState> States(OperatorStatus status) => status.Instances.Select(i => i.State);

    [Fact]
    public void Deploy_launches_every_instance_with_its_own_incarnation_and_the_scheduler_address()
    {
        var status = _driver.Deploy(Spec("counter", instances: 3));

        Assert.Equal([0, 1, 2], _driver.Launches.Select(l => l.Index));
        Assert.Equal(3, _driver.Launches.Select(l => l.Incarnation).Distinct().Count());
        Assert.All(_driver.Launches, l => Assert.Equal(SchedulerAddress, l.Launch.SchedulerAddress));
        Assert.All(status.Instances, i => Assert.Equal(InstanceState.Starting, i.State));
        Assert.Contains(_driver.Actions, a => a is PublishRouting);
    }

    [Fact]
    public void A_launched_instance_gets_the_starting_timeout_and_its_exit_is_watched()
    {
        _driver.Deploy(Spec("counter"));

        var arm = Assert.Single(_driver.Actions.OfType<ArmTimer>());
        Assert.IsType<StartingTimeout>(arm.Event);
        Assert.Equal(TimeSpan.FromMilliseconds(SchedulerLimits.StartingTimeoutMs), arm.Delay);
        var watch = Assert.Single(_driver.Actions.OfType<WatchExit>());
        Assert.Same(_driver.Launches[0], watch.Handle);
    }

    [Fact]
    public void Deploying_a_deployed_name_is_already_exists_and_changes_nothing()
    {
        _driver.Deploy(Spec("counter"));
        var actions = _driver.Actions.Count;

        var error = Refused(ReconcileErrorKind.AlreadyExists, () => _driver.Core.PlanDeploy(Spec("counter", instances: 2)));

        Assert.Contains("already deployed", error.Message);
        Assert.Empty(_driver.Core.TakeActions());
        Assert.Equal(actions, _driver.Actions.Count);
    }

    [Fact]
    public void The_first_registration_records_the_metadata_then_the_instance_runs_and_is_routed()
    {
        _driver.Deploy(Spec("counter", reads: "words"));
        var instance = _driver.Launches.Single();

        var outcome = _driver.Register(instance);

        var recording = Assert.IsType<RecordMetadata>(outcome);
        Assert.Equal("counter", recording.Write.Name);
        Assert.Equal("words", Assert.Single(recording.Write.Metadata!.Inputs).Name);
        Assert.Equal(InstanceState.Running, _driver.Status("counter").Instances.Single().State);
        Assert.Equal([$"127.0.0.1:{9000 + instance.Pid}"], _driver.RoutedAddresses("words"));
    }

    [Fact]
    public void A_retried_registration_of_a_running_instance_changes_nothing()
    {
        var instance = DeployRunning(Spec("counter")).Single();
        var published = _driver.Published.Count;

        var outcome = _driver.Register(instance);

        Assert.Same(RegisterOutcome.Done, outcome);
        Assert.Equal(published, _driver.Published.Count);
        Assert.Equal(InstanceState.Running, _driver.Status("counter").Instances.Single().State);
    }

    [Fact]
    public void A_registration_with_other_streams_than_recorded_is_failed_precondition_and_becomes_the_exit_error()
    {
        _driver.Deploy(Spec("counter", instances: 2));
        _driver.Register(_driver.Launches[0], new OperatorMetadata { Name = "counter", Inputs = { new InputStream { Name = "words" } } });

        var error = Refused(ReconcileErrorKind.FailedPrecondition,
            () => _driver.Register(_driver.Launches[1], new OperatorMetadata { Name = "counter", Inputs = { new InputStream { Name = "sentences" } } }));
        _driver.Exit(_driver.Launches[1]);

        Assert.Contains("every instance must report the same streams", error.Message);
        Assert.Equal(error.Message, _driver.Status("counter").Instances[1].LastError);
    }

    [Fact]
    public void Registering_an_unknown_operator_is_not_found_naming_the_deployed_ones()
    {
        _driver.Deploy(Spec("counter"));

        var error = Refused(ReconcileErrorKind.NotFound, () => _driver.Core.Register(new RegisterExecutorRequest
        {
            OperatorName = "cuonter",
            InstanceIndex = 0,
            Incarnation = "x",
            DataAddress = "127.0.0.1:1",
        }));

        Assert.Contains("'cuonter' is not deployed; deployed: counter", error.Message);
    }

    [Fact]
    public void Registering_a_stale_incarnation_or_an_index_scaled_away_is_failed_precondition()
    {
        _driver.Deploy(Spec("counter"));
        RegisterExecutorRequest Request(int index, string incarnation) =>
            new() { OperatorName = "counter", InstanceIndex = index, Incarnation = incarnation, DataAddress = "127.0.0.1:1" };

        var stale = Refused(ReconcileErrorKind.FailedPrecondition, () => _driver.Core.Register(Request(0, "old")));
        var index = Refused(ReconcileErrorKind.FailedPrecondition, () => _driver.Core.Register(Request(1, _driver.Launches[0].Incarnation)));

        Assert.Contains("is stale", stale.Message);
        Assert.Contains("index 1 is not one of them", index.Message);
    }

    [Fact]
    public void Registering_before_the_store_is_applied_is_unavailable_so_the_executor_retries()
    {
        var error = Refused(ReconcileErrorKind.Unavailable, () => _driver.Core.Register(new RegisterExecutorRequest
        {
            OperatorName = "counter",
            InstanceIndex = 0,
            Incarnation = "x",
            DataAddress = "127.0.0.1:1",
        }));

        Assert.Contains("starting; retry", error.Message);
    }

    [Fact]
    public void An_exited_instance_fails_and_is_launched_again_only_after_its_back_off()
    {
        var instance = DeployRunning(Spec("counter")).Single();

        _driver.Exit(instance, code: 3);
        var failed = _driver.Status("counter");
        _driver.Advance(InitialBackoff - TimeSpan.FromMilliseconds(1));
        var launchesBefore = _driver.Launches.Count;
        _driver.Advance(TimeSpan.FromMilliseconds(1));

        Assert.Equal(InstanceState.Failed, failed.Instances.Single().State);
        Assert.Equal("executor exited with code 3; see its executor.log", failed.LastError);
        Assert.Equal(1, launchesBefore);
        var relaunch = _driver.Launches[^1];
        Assert.Equal(2, _driver.Launches.Count);
        Assert.NotEqual(instance.Incarnation, relaunch.Incarnation);
        var restarted = _driver.Status("counter").Instances.Single();
        Assert.Equal(InstanceState.Starting, restarted.State);
        Assert.Equal(1, restarted.Restarts);
    }

    [Fact]
    public void Repeated_failures_make_the_instance_crash_looping_with_the_longest_back_off()
    {
        _driver.Deploy(Spec("counter"));
        for (var failure = 1; failure < SchedulerLimits.CrashLoopFailuresMin; failure++)
        {
            _driver.Exit(_driver.Launches[^1]);
            Assert.Equal(InstanceState.Failed, _driver.Status("counter").Instances.Single().State);
            _driver.Advance(RestartBackoff.DelayFor(failure));
        }

        _driver.Exit(_driver.Launches[^1]);

        Assert.Equal(InstanceState.CrashLooping, _driver.Status("counter").Instances.Single().State);
        var backoff = _driver.Actions.OfType<ArmTimer>().Last();
        Assert.IsType<BackoffElapsed>(backoff.Event);
        Assert.Equal(TimeSpan.FromMilliseconds(SchedulerLimits.RestartBackoffMsMax), backoff.Delay);
    }

    [Fact]
    public void An_instance_that_does_not_register_in_time_is_stopped_and_fails_with_the_timeout_as_its_error()
    {
        _driver.Deploy(Spec("counter"));
        var instance = _driver.Launches.Single();

        _driver.Advance(TimeSpan.FromMilliseconds(SchedulerLimits.StartingTimeoutMs));
        var stopped = Assert.Single(_driver.Stops);
        _driver.Exit(instance, code: 143);

        Assert.Same(instance, stopped);
        var status = _driver.Status("counter");
        Assert.Equal(InstanceState.Failed, status.Instances.Single().State);
        Assert.Contains($"did not register within {SchedulerLimits.StartingTimeoutMs} ms", status.LastError);
    }

    [Fact]
    public void A_launch_the_runtime_refuses_fails_the_instance_and_retries_after_back_off()
    {
        _driver.LaunchError = "no such executable";

        _driver.Deploy(Spec("counter"));

        var status = _driver.Status("counter");
        Assert.Equal(InstanceState.Failed, status.Instances.Single().State);
        Assert.Equal("could not launch: no such executable", status.LastError);
        Assert.Equal(InitialBackoff, _driver.Actions.OfType<ArmTimer>().Single(a => a.Event is BackoffElapsed).Delay);
        _driver.LaunchError = null;
        _driver.Advance(InitialBackoff);
        Assert.Single(_driver.Launches);
    }

    [Fact]
    public void Scale_up_launches_the_added_instances_and_moves_routing_only_once_they_run()
    {
        var first = DeployRunning(Spec("counter", reads: "words")).Single();

        _driver.Scale("counter", 3);
        var added = _driver.Launches.Skip(1).ToList();
        var routedWhileStarting = _driver.RoutedAddresses("words");
        _driver.Register(added[0]);
        var routedWithOneStarting = _driver.RoutedAddresses("words");
        _driver.Register(added[1]);

        Assert.Equal([1, 2], added.Select(l => l.Index));
        Assert.Single(routedWhileStarting);
        Assert.Single(routedWithOneStarting);
        Assert.Equal(new[] { first, added[0], added[1] }.Select(i => $"127.0.0.1:{9000 + i.Pid}"), _driver.RoutedAddresses("words"));
    }

    [Fact]
    public void Scale_down_routes_away_first_and_stops_the_removed_instance_only_after_the_table_is_delivered()
    {
        var instances = DeployRunning(Spec("counter", instances: 3, reads: "words"));

        _driver.Scale("counter", 1);

        Assert.Empty(_driver.Stops);
        Assert.Equal([instances[2], instances[1]], _driver.StopsAfterRouting);
        Assert.Single(_driver.RoutedAddresses("words"));
        Assert.Single(_driver.Status("counter").Instances);
        _driver.Exit(instances[2], code: 0);
        _driver.Exit(instances[1], code: 0);
        Assert.Equal(3, _driver.Launches.Count); // A drained instance is not restarted.
        Assert.Empty(_driver.Stops);
    }

    [Fact]
    public void Scale_to_the_same_count_writes_nothing_and_scale_of_an_unknown_operator_is_not_found()
    {
        _driver.Deploy(Spec("counter", instances: 2));

        Assert.Null(_driver.Core.PlanScale("counter", 2));
        Refused(ReconcileErrorKind.NotFound, () => _driver.Core.PlanScale("nope", 2));
    }

    [Fact]
    public void Kill_stops_every_instance_at_once_and_forgets_the_operator()
    {
        var instances = DeployRunning(Spec("counter", instances: 2));

        _driver.Kill("counter");

        Assert.Equal(instances.Cast<IInstanceHandle>(), _driver.Stops);
        Assert.Empty(_driver.Core.List());
        Refused(ReconcileErrorKind.NotFound, () => _driver.Core.PlanKill("counter"));
    }

    [Fact]
    public void A_redeploy_after_kill_waits_for_the_old_process_of_the_same_index_to_exit()
    {
        var old = DeployRunning(Spec("counter")).Single();
        _driver.Kill("counter");

        _driver.Deploy(Spec("counter"));
        var launchesWhileDraining = _driver.Launches.Count;
        _driver.Exit(old, code: 0);

        Assert.Equal(1, launchesWhileDraining);
        Assert.Equal(2, _driver.Launches.Count);
        Assert.Equal(InstanceState.Starting, _driver.Status("counter").Instances.Single().State);
    }

    [Fact]
    public void An_exit_of_an_older_launch_is_ignored()
    {
        _driver.Deploy(Spec("counter"));
        var first = _driver.Launches.Single();
        _driver.Exit(first);
        _driver.Advance(InitialBackoff);
        var second = _driver.Launches[^1];
        _driver.Register(second);

        var watched = _driver.Actions.OfType<WatchExit>().First(w => w.Handle == first);
        _driver.Core.OnExited(watched.Slot, first, new InstanceExit(1, "exited with code 1"));

        Assert.Empty(_driver.Core.TakeActions());
        Assert.Equal(InstanceState.Running, _driver.Status("counter").Instances.Single().State);
    }

    [Fact]
    public void A_reported_failure_is_the_error_of_the_exit_that_follows()
    {
        var instance = DeployRunning(Spec("counter")).Single();

        _driver.Core.ReportFailure(new ReportFailureRequest
        {
            OperatorName = "counter",
            InstanceIndex = 0,
            Incarnation = instance.Incarnation,
            Message = "division by zero in process()",
        });
        _driver.Exit(instance);

        Assert.Equal("division by zero in process()", _driver.Status("counter").LastError);
    }

    [Fact]
    public void Stop_all_stops_everything_refuses_commands_and_restarts_nothing()
    {
        var instance = DeployRunning(Spec("counter")).Single();

        var exits = _driver.Core.StopAll();
        _driver.Run();
        _driver.Exit(instance, code: 0);

        Assert.Single(exits);
        Assert.Same(instance, Assert.Single(_driver.Stops));
        Refused(ReconcileErrorKind.Unavailable, () => _driver.Core.PlanDeploy(Spec("other")));
        Refused(ReconcileErrorKind.Unavailable, () => _driver.Core.Register(new RegisterExecutorRequest
        {
            OperatorName = "counter",
            InstanceIndex = 0,
            Incarnation = instance.Incarnation,
            DataAddress = "127.0.0.1:1",
        }));
        _driver.Advance(TimeSpan.FromMilliseconds(SchedulerLimits.RestartBackoffMsMax));
        Assert.Single(_driver.Launches);
    }

    [Fact]
    public void Replace_starts_the_new_release_beside_the_old_and_switches_routing_once_all_run()
    {
        var old = DeployRunning(Spec("counter", instances: 2, reads: "words"));
        var next = _driver.Core.PrepareReplace(Spec("counter", instances: 5, reads: "words"));

        var done = _driver.Core.StartReplace(next, TimeSpan.FromSeconds(30), _driver.Time.GetTimestamp());
        _driver.Run();
        var incoming = _driver.Launches.Skip(2).ToList();
        Assert.Equal([1, 1], incoming.Select(l => l.Launch.Release));
        Assert.Equal(2, incoming.Count); // The running operator's instance count, not the file's.
        _driver.Register(incoming[0]);
        Assert.False(done.IsCompleted);
        _driver.Register(incoming[1]);

        Assert.True(done.IsCompletedSuccessfully);
        Assert.Equal(incoming.Select(i => $"127.0.0.1:{9000 + i.Pid}"), _driver.RoutedAddresses("words"));
        Assert.Equal(old.Cast<IInstanceHandle>(), _driver.StopsAfterRouting);
        Assert.Equal(0, _driver.ArmedTimers); // Neither the replace's timer nor any starting timeout is left armed.
    }

    [Fact]
    public void A_replace_whose_new_instances_do_not_run_in_time_rolls_back_and_leaves_the_old_ones_running()
    {
        var old = DeployRunning(Spec("counter", reads: "words")).Single();
        var next = _driver.Core.PrepareReplace(Spec("counter", reads: "words"));
        var done = _driver.Core.StartReplace(next, TimeSpan.FromSeconds(5), _driver.Time.GetTimestamp());
        _driver.Run();
        var incoming = _driver.Launches[^1];

        _driver.Advance(TimeSpan.FromSeconds(5));

        var error = Assert.IsType<ReconcileException>(done.Exception!.InnerException);
        Assert.Equal(ReconcileErrorKind.FailedPrecondition, error.Kind);
        Assert.Contains("rolled back; the old version keeps running", error.Message);
        Assert.Same(incoming, Assert.Single(_driver.Stops));
        Assert.Equal([$"127.0.0.1:{9000 + old.Pid}"], _driver.RoutedAddresses("words"));
        Assert.Equal(InstanceState.Running, _driver.Status("counter").Instances.Single().State);
    }

    [Fact]
    public void Scale_or_a_second_replace_during_a_replace_is_failed_precondition()
    {
        DeployRunning(Spec("counter"));
        _driver.Core.StartReplace(_driver.Core.PrepareReplace(Spec("counter")), TimeSpan.FromSeconds(30), _driver.Time.GetTimestamp());
        _driver.Run();

        var scale = Refused(ReconcileErrorKind.FailedPrecondition, () => _driver.Core.PlanScale("counter", 3));
        Refused(ReconcileErrorKind.FailedPrecondition, () => _driver.Core.PrepareReplace(Spec("counter")));

        Assert.Contains("a replace of 'counter' (release 1) is in progress", scale.Message);
    }

    [Fact]
    public void A_replace_that_declares_other_streams_is_refused_before_anything_changes()
    {
        DeployRunning(Spec("counter", reads: "words"));

        var error = Refused(ReconcileErrorKind.FailedPrecondition, () => _driver.Core.PrepareReplace(Spec("counter", reads: "sentences")));

        Assert.Contains("Nothing was changed", error.Message);
        Assert.Empty(_driver.Core.TakeActions());
    }

    [Fact]
    public void Adopted_instances_are_not_launched_and_hold_routing_back_until_they_register_again()
    {
        var store = new ReconcileCoreDriver();
        store.Write(new StoreWrite("counter", TopologyStoreVersions.Absent, Spec("counter", reads: "words"), MetadataOf(Spec("counter", reads: "words"))));
        var leftover = new FakeInstance(new InstanceLaunch("counter", 0, "previous", Spec("counter", reads: "words"), SchedulerAddress), 77);
        var claimed = new HashSet<(string, int)>();
        Assert.True(_driver.Core.ShouldAdopt(store.Snapshot(), new LeftoverInstance("counter", 0, "previous", 0, 77, Spec("counter", reads: "words"), SchedulerAddress), claimed));
        Assert.False(_driver.Core.ShouldAdopt(store.Snapshot(), new LeftoverInstance("counter", 1, "previous", 0, 78, Spec("counter", reads: "words"), SchedulerAddress), claimed));
        _driver.Core.AddAdopted([new AdoptedInstance(leftover, 0)]);

        _driver.Core.Apply(store.Snapshot());
        _driver.Run();
        var publishedWhileAdopting = _driver.Published.Count;
        _driver.Register(leftover);

        Assert.Empty(_driver.Launches);
        Assert.Equal(0, publishedWhileAdopting);
        Assert.Equal(["127.0.0.1:9077"], _driver.RoutedAddresses("words"));
        Assert.Equal("previous", _driver.Status("counter").Instances.Single().Incarnation);
    }

    [Fact]
    public void Every_command_passes_the_acting_gate_today()
    {
        // The gate a follower (not the leader) will close; until then it must never refuse.
        Assert.True(_driver.Core.CanAct);
        Assert.True(_driver.Core.CanApply);
    }
}

/// <summary>The API's one mapping of reconcile errors to gRPC statuses.</summary>
public sealed class ReconcileErrorMappingTests
{
    [Theory]
    [InlineData(ReconcileErrorKind.InvalidArgument, StatusCode.InvalidArgument)]
    [InlineData(ReconcileErrorKind.NotFound, StatusCode.NotFound)]
    [InlineData(ReconcileErrorKind.AlreadyExists, StatusCode.AlreadyExists)]
    [InlineData(ReconcileErrorKind.FailedPrecondition, StatusCode.FailedPrecondition)]
    [InlineData(ReconcileErrorKind.Unavailable, StatusCode.Unavailable)]
    public void Each_kind_maps_to_its_status_with_the_message_unchanged(ReconcileErrorKind kind, StatusCode code)
    {
        var status = SchedulerService.ToStatus(new ReconcileException(kind, "operator 'x' is not deployed; deployed: none"));

        Assert.Equal(code, status.StatusCode);
        Assert.Equal("operator 'x' is not deployed; deployed: none", status.Detail);
    }

    [Fact]
    public void Every_kind_has_a_status_of_its_own()
    {
        var codes = Enum.GetValues<ReconcileErrorKind>().Select(k => SchedulerService.ToStatus(new ReconcileException(k, "m")).StatusCode).ToList();

        Assert.DoesNotContain(StatusCode.Internal, codes);
        Assert.Equal(codes.Count, codes.Distinct().Count());
    }
}
