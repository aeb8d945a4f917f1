using System.Text.Json.Nodes;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Runtime;
using Concord.Scheduler.Runtime.Mesos;
using Microsoft.Extensions.Logging.Abstractions;

namespace Concord.Scheduler.Tests.Mesos;

/// <summary>
/// The Mesos runtime driven through <see cref="IClusterRuntime"/> as the reconciler drives it,
/// against <see cref="MesosMasterDouble"/>, a TEST DOUBLE of the Mesos master (not Mesos: no
/// allocator, agents or containers; the tests play the agents by sending offers and updates).
/// </summary>
public sealed class MesosClusterRuntimeTests : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TestTimeouts.Step;
    private readonly string _home = Path.Combine(Path.GetTempPath(), "concord-mesos-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly List<MesosClusterRuntime> _runtimes = [];
    private MesosMasterDouble _master = null!;

    public async Task InitializeAsync() => _master = await MesosMasterDouble.StartAsync();

    public async Task DisposeAsync()
    {
        foreach (var runtime in _runtimes)
        {
            await runtime.DisposeAsync();
        }
        await _master.DisposeAsync();
        if (Directory.Exists(_home))
        {
            Directory.Delete(_home, recursive: true);
        }
        Assert.True(_master.Refused.Count == 0, "calls the master refused: " + string.Join("\n", _master.Refused));
    }

    private string IdFile => Path.Combine(_home, MesosRuntimeOptions.FrameworkIdFileName);

    private MesosRuntimeOptions Options(Uri? master = null) => new()
    {
        Masters = [master ?? _master.Address],
        ExecutorCommand = "/opt/concord/executor/Concord.Executor",
        TlsDirectory = "/etc/concord/tls",
        PrivateEnvironment = launch => new Dictionary<string, string?> { ["CONCORD_LAUNCH_SECRET"] = "s-" + launch.Incarnation },
        SubscribeRetryMaxMs = 200,
        ReconcileQuietMs = 200,
    };

    private IClusterRuntime New(MesosRuntimeOptions? options = null)
    {
        var runtime = new MesosClusterRuntime(options ?? Options(), new FileFrameworkIdStore(IdFile), NullLogger<MesosClusterRuntime>.Instance, TimeProvider.System);
        _runtimes.Add(runtime);
        return runtime;
    }

    private static OperatorSpec Counter() => new()
    {
        Name = "counter",
        Executable = "/opt/app/counter",
        Args = { "--greeting", "it's" },
        Instances = 2,
        Cpus = 0.5,
        MemMb = 256,
        Environment = { ["GREETING"] = "hi" },
    };

    private static InstanceLaunch Launch(int index = 0, OperatorSpec? spec = null) =>
        new("counter", index, Guid.NewGuid().ToString("N")[..12], spec ?? Counter(), "https://scheduler.example:7400");

    private static string TaskId(InstanceLaunch launch) => $"concord.{launch.OperatorName}.{launch.Index}.{launch.Incarnation}";

    /// <summary>Launches, offers room, and awaits the ACCEPT and the group's TASK_RUNNING acknowledged.</summary>
    private async Task<(IInstanceHandle Handle, JsonObject Accept)> LaunchRunningAsync(IClusterRuntime runtime, InstanceLaunch launch)
    {
        var handle = await runtime.LaunchAsync(launch, CancellationToken.None).WaitAsync(Bound);
        await _master.WaitSubscribedAsync(1, Bound);
        var calls = _master.Calls.Count;
        _master.Offer(cpus: 4, memMiB: 8192);
        var accept = await _master.WaitCallAsync("ACCEPT", Bound, calls);
        // Four updates (STARTING, RUNNING of both tasks), all acknowledged.
        await _master.WaitCallAsync(_ => _master.Calls.Skip(calls).Count(c => (string?)c["type"] == "ACKNOWLEDGE") >= 4 && _master.Unacknowledged.Count == 0, Bound, calls);
        return (handle, accept);
    }

    [Fact]
    public async Task An_offer_with_room_is_accepted_with_one_LAUNCH_GROUP_of_the_executor_in_attach_mode_and_the_operator_sharing_a_sandbox_directory()
    {
        var runtime = New();
        var launch = Launch(index: 1);
        var (handle, accept) = await LaunchRunningAsync(runtime, launch);

        Assert.Equal(_master.FrameworkId, (string?)accept["framework_id"]!["value"]);
        var operation = Assert.Single(accept["accept"]!["operations"]!.AsArray())!;
        Assert.Equal("LAUNCH_GROUP", (string?)operation["type"]);
        Assert.Equal("DEFAULT", (string?)operation["launch_group"]!["executor"]!["type"]);
        var tasks = operation["launch_group"]!["task_group"]!["tasks"]!.AsArray();
        Assert.Equal(2, tasks.Count);
        var executor = tasks[0]!;
        var op = tasks[1]!;
        Assert.Equal(TaskId(launch), (string?)executor["task_id"]!["value"]);
        Assert.Equal(TaskId(launch) + ".operator", (string?)op["task_id"]!["value"]);
        Assert.All(tasks, t => Assert.Equal(MesosMasterDouble.DefaultAgentId, (string?)t!["agent_id"]!["value"]));

        // Both tasks mount the same directory of the default executor's sandbox.
        foreach (var task in tasks)
        {
            var volume = Assert.Single(task!["container"]!["volumes"]!.AsArray())!;
            Assert.Equal("PARENT", (string?)volume["source"]!["sandbox_path"]!["type"]);
            Assert.Equal("concord-shared", (string?)volume["source"]!["sandbox_path"]!["path"]);
            Assert.Equal("concord-shared", (string?)volume["container_path"]);
        }

        // The executor attaches to the operator's socket in it; the operator is told the same path.
        var executorShell = (string)executor["command"]!["value"]!;
        Assert.Contains("export CONCORD_OPERATOR_ATTACH=\"$w/operator.sock\"", executorShell, StringComparison.Ordinal);
        Assert.EndsWith("exec /opt/concord/executor/Concord.Executor", executorShell, StringComparison.Ordinal);
        var operatorShell = (string)op["command"]!["value"]!;
        Assert.Contains("export CONCORD_OPERATOR_ADDRESS=\"$w/operator.sock\"", operatorShell, StringComparison.Ordinal);
        Assert.EndsWith("exec '/opt/app/counter' '--greeting' 'it'\\''s'", operatorShell, StringComparison.Ordinal);

        var executorEnv = Env(executor);
        Assert.Equal("counter", executorEnv["CONCORD_OPERATOR_NAME"]);
        Assert.Equal("1", executorEnv["CONCORD_INSTANCE_INDEX"]);
        Assert.Equal(launch.Incarnation, executorEnv["CONCORD_INCARNATION"]);
        Assert.Equal(MesosMasterDouble.DefaultHostname, executorEnv["CONCORD_ADVERTISED_HOST"]);
        Assert.Equal("/etc/concord/tls/tls.crt", executorEnv["CONCORD_TLS_CERT"]);
        Assert.Equal("s-" + launch.Incarnation, executorEnv["CONCORD_LAUNCH_SECRET"]);
        Assert.Equal("300000", executorEnv["CONCORD_OPERATOR_ATTACH_TIMEOUT_MS"]);
        var operatorEnv = Env(op);
        Assert.Equal("hi", operatorEnv["GREETING"]);
        Assert.False(operatorEnv.ContainsKey("CONCORD_LAUNCH_SECRET"), "the launch secret is the executor's only");

        // Resources from the spec: the operator's cpus and mem, the executor's own share beside it.
        Assert.Equal((0.5, 256.0), Resources(op));
        Assert.Equal((0.25, 512.0), Resources(executor));
        Assert.Equal((0.1, 32.0), Resources(operation["launch_group"]!["executor"]!));

        Assert.Equal(MesosMasterDouble.DefaultHostname, handle.Host);
        Assert.False(handle.Exited.IsCompleted);
    }

    [Fact]
    public async Task Every_update_with_a_uuid_is_acknowledged_and_a_failed_operator_ends_the_instance_with_its_exit_code()
    {
        var runtime = New();
        var launch = Launch();
        var (handle, _) = await LaunchRunningAsync(runtime, launch);

        _master.Update(TaskId(launch) + ".operator", "TASK_FAILED", "Command exited with status 3", "REASON_COMMAND_EXECUTOR_FAILED");
        _master.Update(TaskId(launch), "TASK_FAILED", "Command exited with status 1");
        var exit = await handle.Exited.WaitAsync(Bound);

        Assert.Equal(3, exit.ExitCode);
        Assert.Contains("exited with code 3", exit.Description, StringComparison.Ordinal);
        await _master.WaitCallAsync(c => (string?)c["type"] == "ACKNOWLEDGE" && _master.Unacknowledged.Count == 0, Bound);
    }

    [Fact]
    public async Task A_lost_agent_ends_the_instance_as_host_lost_and_out_of_memory_as_the_operators_own_failure()
    {
        var runtime = New();
        var lost = Launch(index: 0);
        var oom = Launch(index: 1);
        var (lostHandle, _) = await LaunchRunningAsync(runtime, lost);
        var (oomHandle, _) = await LaunchRunningAsync(runtime, oom);

        _master.Update(TaskId(lost), "TASK_UNREACHABLE", "Agent unreachable", "REASON_AGENT_REMOVED");
        _master.Update(TaskId(oom) + ".operator", "TASK_FAILED", "Memory limit exceeded", "REASON_CONTAINER_LIMITATION_MEMORY");
        _master.Update(TaskId(oom), "TASK_KILLED", "Killed with its task group");

        var lostExit = await lostHandle.Exited.WaitAsync(Bound);
        Assert.True(lostExit.HostLost);
        var oomExit = await oomHandle.Exited.WaitAsync(Bound);
        Assert.True(oomExit.OutOfMemory);
        Assert.False(oomExit.HostLost);
    }

    [Fact]
    public async Task Offers_are_declined_with_a_long_filter_when_nothing_waits_and_a_short_one_when_what_waits_does_not_fit()
    {
        var runtime = New();
        await runtime.ReapLeftoversAsync(CancellationToken.None).WaitAsync(Bound);

        _master.Offer(cpus: 8, memMiB: 16384);
        var idle = await _master.WaitCallAsync("DECLINE", Bound);
        Assert.Equal(MesosLimits.DeclineIdleSeconds, (double)idle["decline"]!["filters"]!["refuse_seconds"]!);

        var calls = _master.Calls.Count;
        var handle = await runtime.LaunchAsync(Launch(), CancellationToken.None).WaitAsync(Bound);
        // The launch revives the filtered offers.
        await _master.WaitCallAsync("REVIVE", Bound, calls);
        _master.Offer(cpus: 0.2, memMiB: 100);
        var tooSmall = await _master.WaitCallAsync("DECLINE", Bound, calls);
        Assert.Equal(MesosLimits.DeclineWhileWaitingSeconds, (double)tooSmall["decline"]!["filters"]!["refuse_seconds"]!);
        Assert.DoesNotContain(_master.Calls, c => (string?)c["type"] == "ACCEPT");
        Assert.False(handle.Exited.IsCompleted);
    }

    [Fact]
    public async Task A_stop_kills_the_executor_task_with_the_stop_timeout_as_grace_and_ends_as_stopped()
    {
        var runtime = New();
        var launch = Launch();
        var (handle, _) = await LaunchRunningAsync(runtime, launch);

        await runtime.StopAsync(handle, TimeSpan.FromSeconds(7), CancellationToken.None).WaitAsync(Bound);

        var kill = await _master.WaitCallAsync("KILL", Bound);
        Assert.Equal(TaskId(launch), (string?)kill["kill"]!["task_id"]!["value"]);
        Assert.Equal(MesosMasterDouble.DefaultAgentId, (string?)kill["kill"]!["agent_id"]!["value"]);
        Assert.Equal(7_000_000_000L, (long)kill["kill"]!["kill_policy"]!["grace_period"]!["nanoseconds"]!);
        var exit = await handle.Exited.WaitAsync(Bound);
        Assert.Equal(128 + InstanceExit.SigTerm, exit.ExitCode);
        Assert.StartsWith("stopped", exit.Description, StringComparison.Ordinal);
        Assert.Equal("TASK_KILLED", _master.TaskState(TaskId(launch) + ".operator"));
    }

    [Fact]
    public async Task A_stop_of_a_launch_no_offer_took_yet_ends_it_without_a_call()
    {
        var runtime = New();
        var handle = await runtime.LaunchAsync(Launch(), CancellationToken.None).WaitAsync(Bound);

        await runtime.StopAsync(handle, TimeSpan.FromSeconds(5), CancellationToken.None).WaitAsync(Bound);

        Assert.StartsWith("stopped", (await handle.Exited.WaitAsync(Bound)).Description, StringComparison.Ordinal);
        await _master.WaitSubscribedAsync(1, Bound);
        _master.Offer(cpus: 4, memMiB: 8192);
        var decline = await _master.WaitCallAsync("DECLINE", Bound);
        Assert.Equal(MesosLimits.DeclineIdleSeconds, (double)decline["decline"]!["filters"]!["refuse_seconds"]!);
        Assert.DoesNotContain(_master.Calls, c => (string?)c["type"] is "ACCEPT" or "KILL");
    }

    [Fact]
    public async Task A_launch_no_offer_fits_fails_after_the_start_bound_naming_the_offers()
    {
        var runtime = New(Options() with { TaskStartTimeoutMs = 300 });
        var handle = await runtime.LaunchAsync(Launch(), CancellationToken.None).WaitAsync(Bound);

        var exit = await handle.Exited.WaitAsync(Bound);

        Assert.Equal(-1, exit.ExitCode);
        Assert.Contains("not running within 300 ms", exit.Description, StringComparison.Ordinal);
        Assert.Contains("no offer had room", exit.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_restarted_scheduler_subscribes_with_the_stored_framework_id_and_kills_the_tasks_the_earlier_run_left()
    {
        var first = New();
        var launch = Launch();
        await LaunchRunningAsync(first, launch);
        var frameworkId = _master.FrameworkId!;
        Assert.Equal(frameworkId, File.ReadAllText(IdFile).Trim());
        await ((MesosClusterRuntime)first).DisposeAsync();

        var second = New();
        var calls = _master.Calls.Count;
        await second.ReapLeftoversAsync(CancellationToken.None).WaitAsync(Bound);

        var subscribe = await _master.WaitCallAsync("SUBSCRIBE", Bound, calls);
        Assert.Equal(frameworkId, (string?)subscribe["framework_id"]!["value"]);
        Assert.Equal(frameworkId, (string?)subscribe["subscribe"]!["framework_info"]!["id"]!["value"]);
        Assert.Equal(MesosLimits.FailoverTimeoutSeconds, (double)subscribe["subscribe"]!["framework_info"]!["failover_timeout"]!);
        var reconcile = await _master.WaitCallAsync("RECONCILE", Bound, calls);
        Assert.Empty(reconcile["reconcile"]!["tasks"]!.AsArray()); // implicit: every task of the framework
        // Adoption is not offered (Mesos does not give back a task's spec): the leftovers are killed, and were gone when Reap returned.
        Assert.Contains(_master.Calls.Skip(calls), c => (string?)c["type"] == "KILL" && (string?)c["kill"]!["task_id"]!["value"] == TaskId(launch));
        Assert.Equal("TASK_KILLED", _master.TaskState(TaskId(launch)));
        Assert.Equal("TASK_KILLED", _master.TaskState(TaskId(launch) + ".operator"));
    }

    [Fact]
    public async Task A_dropped_subscription_is_made_again_with_the_same_framework_id_and_reconciles_the_known_tasks()
    {
        var runtime = New();
        var launch = Launch();
        var (handle, _) = await LaunchRunningAsync(runtime, launch);
        var frameworkId = _master.FrameworkId;
        var calls = _master.Calls.Count;

        // While no scheduler was subscribed, the agent was lost.
        _master.DropSubscription();
        var subscribe = await _master.WaitCallAsync("SUBSCRIBE", Bound, calls);
        Assert.Equal(frameworkId, (string?)subscribe["subscribe"]!["framework_info"]!["id"]!["value"]);
        await _master.WaitSubscribedAsync(2, Bound);
        var reconcile = await _master.WaitCallAsync("RECONCILE", Bound, calls);
        var asked = reconcile["reconcile"]!["tasks"]!.AsArray().Select(t => (string?)t!["task_id"]!["value"]).Order(StringComparer.Ordinal).ToList();
        Assert.Equal([TaskId(launch), TaskId(launch) + ".operator"], asked);
        Assert.All(reconcile["reconcile"]!["tasks"]!.AsArray(), t => Assert.Equal(MesosMasterDouble.DefaultAgentId, (string?)t!["agent_id"]!["value"]));
        Assert.False(handle.Exited.IsCompleted); // the reconciliation answered TASK_RUNNING

        // The new subscription carries the instance's later updates.
        _master.Update(TaskId(launch), "TASK_LOST", "Agent lost", "REASON_AGENT_DISCONNECTED");
        Assert.True((await handle.Exited.WaitAsync(Bound)).HostLost);
    }

    [Fact]
    public async Task A_master_silent_for_the_missed_heartbeats_bound_is_subscribed_to_again()
    {
        _master.HeartbeatSeconds = 0.1;
        _master.SendHeartbeats = false;
        var runtime = (MesosClusterRuntime)New();
        var ended = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        runtime.SubscriptionEnded += why => ended.TrySetResult(why);

        await runtime.ReapLeftoversAsync(CancellationToken.None).WaitAsync(Bound);

        Assert.Contains("5 heartbeats", await ended.Task.WaitAsync(Bound), StringComparison.Ordinal);
        await _master.WaitSubscribedAsync(2, Bound);
        var subscribes = _master.Calls.Where(c => (string?)c["type"] == "SUBSCRIBE").ToList();
        Assert.Null(subscribes[0]["framework_id"]);
        Assert.Equal(_master.FrameworkId, (string?)subscribes[1]["framework_id"]!["value"]);
    }

    [Fact]
    public async Task A_heartbeating_master_keeps_its_one_subscription()
    {
        _master.HeartbeatSeconds = 0.3;
        var runtime = New();
        await runtime.ReapLeftoversAsync(CancellationToken.None).WaitAsync(Bound);

        // Long enough (2.4 s) for its missed-heartbeat bound (5 × 0.3 s) to have passed.
        await WaitEventsAsync(e => (string?)e["type"] == "HEARTBEAT", count: 8);

        Assert.Equal(1, _master.Subscriptions);
    }

    [Fact]
    public async Task A_non_leading_master_redirects_SUBSCRIBE_to_the_leader_and_every_later_call_goes_there()
    {
        await using var follower = await MesosMasterDouble.StartNonLeaderAsync(_master);
        var runtime = New(Options(follower.Address));
        var launch = Launch();

        var (handle, _) = await LaunchRunningAsync(runtime, launch);

        // The follower saw SUBSCRIBE only; it and every later call (ACCEPT, ACKNOWLEDGE) reached the leader.
        Assert.Equal(1, follower.Redirects);
        Assert.Contains(_master.Calls, c => (string?)c["type"] == "SUBSCRIBE");
        Assert.Contains(_master.Calls, c => (string?)c["type"] == "ACCEPT");
        Assert.False(handle.Exited.IsCompleted);
    }

    [Fact]
    public async Task An_ERROR_that_the_framework_was_removed_forgets_the_stored_id_and_subscribes_as_a_new_framework()
    {
        var runtime = New();
        await runtime.ReapLeftoversAsync(CancellationToken.None).WaitAsync(Bound);
        var old = _master.FrameworkId!;
        Assert.True(File.Exists(IdFile));
        var calls = _master.Calls.Count;

        _master.Error("Framework has been removed");

        var subscribe = await _master.WaitCallAsync("SUBSCRIBE", Bound, calls);
        Assert.Null(subscribe["framework_id"]);
        await _master.WaitSubscribedAsync(2, Bound);
        Assert.NotEqual(old, _master.FrameworkId);
        await WaitAsync(() => File.Exists(IdFile) && File.ReadAllText(IdFile).Trim() == _master.FrameworkId);
    }

    [Fact]
    public async Task A_scheduler_whose_framework_another_one_took_over_stops_subscribing()
    {
        // Heartbeats every 0.5 s: the wait below is paced by them, and a busy machine does not
        // stretch it past the 2.5 s the runtime allows before it takes the master as silent.
        _master.HeartbeatSeconds = 0.5;
        var first = (MesosClusterRuntime)New();
        var ended = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var reasons = new System.Collections.Concurrent.ConcurrentQueue<string>();
        first.SubscriptionEnded += why =>
        {
            reasons.Enqueue(why);
            if (why.Contains("failed over", StringComparison.Ordinal))
            {
                ended.TrySetResult(why);
            }
        };
        await first.ReapLeftoversAsync(CancellationToken.None).WaitAsync(Bound);

        var second = New();
        await second.ReapLeftoversAsync(CancellationToken.None).WaitAsync(Bound);

        try
        {
            await ended.Task.WaitAsync(Bound);
        }
        catch (TimeoutException)
        {
            Assert.Fail("the first scheduler's subscription did not end with 'failed over'; it ended: " + string.Join("; ", reasons));
        }
        var subscriptions = _master.Subscriptions;
        // The new leader keeps the framework: the old one does not take it back, however long
        // (here 2 s, past several of its subscription retry delays: SubscribeRetryMaxMs is 200 ms).
        var heartbeats = _master.Events.Count(e => (string?)e["type"] == "HEARTBEAT");
        await WaitEventsAsync(e => (string?)e["type"] == "HEARTBEAT", count: heartbeats + 4);
        Assert.Equal(subscriptions, _master.Subscriptions);
    }

    [Fact]
    public async Task A_built_in_is_a_task_group_of_the_executor_alone_with_the_instances_resources()
    {
        var runtime = New();
        var spec = new OperatorSpec { Name = "source", Builtin = new BuiltinOperator { Kind = "generator" }, Instances = 1, Cpus = 1, MemMb = 128 };
        var launch = Launch(spec: spec);
        await runtime.LaunchAsync(launch, CancellationToken.None).WaitAsync(Bound);
        await _master.WaitSubscribedAsync(1, Bound);
        _master.Offer(cpus: 4, memMiB: 8192);

        var accept = await _master.WaitCallAsync("ACCEPT", Bound);

        var task = Assert.Single(accept["accept"]!["operations"]![0]!["launch_group"]!["task_group"]!["tasks"]!.AsArray())!;
        Assert.Equal((1.0, 128.0), Resources(task));
        Assert.DoesNotContain("CONCORD_OPERATOR_ATTACH", (string)task["command"]!["value"]!, StringComparison.Ordinal);
    }

    [Fact]
    public void Specs_that_cannot_run_on_Mesos_are_refused_with_the_field_and_the_fix()
    {
        var runtime = New();
        Assert.Contains("executable", runtime.Validate(new OperatorSpec { Name = "x", Instances = 1 }), StringComparison.Ordinal);
        Assert.Contains("install them on the agents", runtime.Validate(new OperatorSpec { Name = "x", Executable = "/bin/x", Instances = 1, Files = { "a.txt" } }), StringComparison.Ordinal);
        Assert.Null(runtime.Validate(Counter()));
    }

    private async Task WaitEventsAsync(Func<JsonObject, bool> match, int count) =>
        await WaitAsync(() => _master.Events.Count(match) >= count);

    /// <summary>Polls the double's state (another thread's) with a deadline.</summary>
    private static async Task WaitAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within " + Bound);
            await Task.Delay(20);
        }
    }

    private static Dictionary<string, string> Env(JsonNode task) =>
        task["command"]!["environment"]!["variables"]!.AsArray().ToDictionary(v => (string)v!["name"]!, v => (string)v!["value"]!);

    private static (double Cpus, double Mem) Resources(JsonNode owner)
    {
        var resources = owner["resources"]!.AsArray();
        double Of(string name) => (double)resources.Single(r => (string?)r!["name"] == name)!["scalar"]!["value"]!;
        return (Of("cpus"), Of("mem"));
    }
}
