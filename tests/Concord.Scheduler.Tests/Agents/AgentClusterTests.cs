using Concord.Contracts.Scheduler.V1;
using Grpc.Core;

namespace Concord.Scheduler.Tests.Agents;

/// <summary>
/// The agents runtime with real agents on loopback (<see cref="AgentCluster"/>): placement by cpus
/// and mem, refusal of what does not fit, rescheduling off a lost agent, stale instances of a
/// returning agent stopped, and adoption by a scheduler that starts while agents run instances.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class AgentClusterTests
{
    /// <summary>
    /// Bound on moving the instances of a lost agent: the heartbeat timeout, a loss check, and a
    /// relaunch on another agent, with room for a slow machine.
    /// </summary>
    private static readonly TimeSpan RescheduleBound = TimeSpan.FromMilliseconds(AgentCluster.HeartbeatTimeoutMs + 10_000);

    [Fact]
    public async Task Instances_are_spread_over_the_agents_by_free_cpus_and_each_agent_runs_its_own()
    {
        await using var cluster = new AgentCluster();
        await cluster.StartSchedulerAsync();
        var a = await cluster.StartAgentAsync("a");
        var b = await cluster.StartAgentAsync("b");

        await cluster.DeployAsync(AgentCluster.Spec("work", instances: 4));

        var status = await cluster.WaitForAsync("work", s => s.Instances.All(i => i.Host.Length > 0 && i.ExecutorPid > 0));
        Assert.Equal(2, status.Instances.Count(i => i.Host == "a"));
        Assert.Equal(2, status.Instances.Count(i => i.Host == "b"));
        // Each agent runs exactly the instances the scheduler placed on it.
        await Eventually.UntilAsync(() => a.Host.RunningIncarnations.Count == 2 && b.Host.RunningIncarnations.Count == 2, AgentCluster.Step,
            () => $"a runs {a.Host.RunningIncarnations.Count}, b runs {b.Host.RunningIncarnations.Count}");
        Assert.Equal(
            status.Instances.Where(i => i.Host == "a").Select(i => i.Incarnation).Order(),
            a.Host.RunningIncarnations.Order());
    }

    [Fact]
    public async Task A_deploy_that_does_not_fit_is_refused_naming_the_need_and_the_free_capacity_and_nothing_changes()
    {
        await using var cluster = new AgentCluster();
        await cluster.StartSchedulerAsync();
        await cluster.StartAgentAsync("a", cpus: 2, memMb: 4096);
        await cluster.StartAgentAsync("b", cpus: 1, memMb: 4096);

        var refused = await Assert.ThrowsAsync<RpcException>(() => cluster.DeployAsync(AgentCluster.Spec("big", instances: 4)));

        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.Contains("operator 'big' was not deployed", refused.Status.Detail);
        Assert.Contains("needs 4 instance(s) of 1 cpus and 512 MiB", refused.Status.Detail);
        Assert.Contains("a 2 cpus 4096 MiB, b 1 cpus 4096 MiB", refused.Status.Detail);
        Assert.Empty(await cluster.ListAsync());

        // What fits is accepted; scaling it past the cluster is refused and leaves it as it was.
        await cluster.DeployAsync(AgentCluster.Spec("small", instances: 2));
        var scale = await Assert.ThrowsAsync<RpcException>(() =>
            cluster.Client.ScaleAsync(new ScaleRequest { Name = "small", Instances = 4 }).ResponseAsync.WaitAsync(AgentCluster.Step));
        Assert.Equal(StatusCode.ResourceExhausted, scale.StatusCode);
        Assert.Contains("operator 'small' was not scaled", scale.Status.Detail);
        // The free capacity is what is left for it with the other operators placed: here, none other.
        Assert.Contains("needs 4 instance(s) of 1 cpus and 512 MiB", scale.Status.Detail);
        Assert.Contains("free a 2 cpus 4096 MiB, b 1 cpus 4096 MiB", scale.Status.Detail);
        var small = (await cluster.ListAsync()).Single();
        Assert.Equal(2, small.Spec.Instances);
        Assert.Equal(2, small.Instances.Count);
    }

    [Fact]
    public async Task The_instances_of_a_lost_agent_run_on_the_others_within_a_bound_and_are_stopped_on_it_when_it_returns()
    {
        await using var cluster = new AgentCluster();
        await cluster.StartSchedulerAsync();
        var a = await cluster.StartAgentAsync("a", cpus: 1);
        await cluster.StartAgentAsync("b", cpus: 1);
        var spec = AgentCluster.Spec("work", instances: 2);
        await cluster.DeployAsync(spec);
        var before = await cluster.WaitForAsync("work", s => s.Instances.All(i => i.Host.Length > 0 && i.ExecutorPid > 0));
        foreach (var instance in before.Instances)
        {
            await cluster.RegisterAsync(spec, instance);
        }
        await cluster.WaitForAsync("work", s => s.Instances.All(i => i.State == InstanceState.Running));
        var onA = before.Instances.Single(i => i.Host == "a");
        // A third agent joins: the only one with room once a is gone.
        await cluster.StartAgentAsync("c", cpus: 1);

        a.Host.Partition();
        var lostAt = DateTime.UtcNow;

        var after = await cluster.WaitForAsync("work",
            s => s.Instances[onA.Index] is { Host: "c", ExecutorPid: > 0 } moved && moved.Incarnation != onA.Incarnation, RescheduleBound);
        var moved = after.Instances[onA.Index];
        Assert.Contains("agent a lost: no heartbeat for 1.5 s", moved.LastError);
        Assert.Contains(Reconcile.Core.ReconcileCore.KilledFromOutsideNote, moved.LastError);
        Assert.True(DateTime.UtcNow - lostAt < RescheduleBound);
        // The other instance was not touched.
        var other = before.Instances.Single(i => i.Host == "b");
        Assert.Equal(other.Incarnation, after.Instances[other.Index].Incarnation);
        // Partitioned, a still runs its old instance...
        Assert.Equal([onA.Incarnation], a.Host.RunningIncarnations);

        a.Host.Heal();

        // ...until it is back: the scheduler runs that instance on c now, so a stops its copy.
        await Eventually.UntilAsync(() => a.Host.RunningIncarnations.Count == 0, AgentCluster.Step,
            () => $"a still runs {string.Join(", ", a.Host.RunningIncarnations)}");
        Assert.False(Runtime.Internal.Posix.IsAlive(onA.ExecutorPid), $"the stale executor (pid {onA.ExecutorPid}) on a must be gone");
        var final = (await cluster.ListAsync()).Single();
        Assert.Equal(moved.Incarnation, final.Instances[onA.Index].Incarnation);
        Assert.Equal("c", final.Instances[onA.Index].Host);
    }

    [Fact]
    public async Task An_agent_that_reconnects_within_the_heartbeat_timeout_keeps_its_instances()
    {
        await using var cluster = new AgentCluster();
        await cluster.StartSchedulerAsync();
        var a = await cluster.StartAgentAsync("a");
        var spec = AgentCluster.Spec("work", instances: 2);
        await cluster.DeployAsync(spec);
        var before = await cluster.WaitForAsync("work", s => s.Instances.All(i => i.ExecutorPid > 0));
        foreach (var instance in before.Instances)
        {
            await cluster.RegisterAsync(spec, instance);
        }
        await cluster.WaitForAsync("work", s => s.Instances.All(i => i.State == InstanceState.Running));

        var reconnected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        cluster.Runtime.AgentConnected += id => reconnected.TrySetResult();
        a.Host.Partition();
        a.Host.Heal();
        await reconnected.Task.WaitAsync(AgentCluster.Step);

        var after = (await cluster.ListAsync()).Single();
        Assert.Equal(before.Instances.Select(i => i.Incarnation), after.Instances.Select(i => i.Incarnation));
        Assert.All(after.Instances, i => Assert.Equal(InstanceState.Running, i.State));
        Assert.All(after.Instances, i => Assert.Equal(0, i.Restarts));
        Assert.Equal(before.Instances.Select(i => i.Incarnation).Order(), a.Host.RunningIncarnations.Order());
    }

    [Fact]
    public async Task A_scheduler_that_starts_while_agents_run_instances_adopts_them_instead_of_launching_again()
    {
        await using var cluster = new AgentCluster();
        await cluster.StartSchedulerAsync();
        var a = await cluster.StartAgentAsync("a");
        var b = await cluster.StartAgentAsync("b");
        var spec = AgentCluster.Spec("work", instances: 2);
        await cluster.DeployAsync(spec);
        var before = await cluster.WaitForAsync("work", s => s.Instances.All(i => i.ExecutorPid > 0));
        var running = a.Host.RunningIncarnations.Concat(b.Host.RunningIncarnations).Order().ToList();

        await cluster.CrashSchedulerAsync();
        // Agents reconnect within their back-off, well inside this wait.
        await cluster.StartSchedulerAsync(adoptWaitMs: SchedulerLimits.AgentAdoptWaitMs);

        var after = (await cluster.ListAsync()).Single();
        Assert.Equal(before.Instances.Select(i => i.Incarnation), after.Instances.Select(i => i.Incarnation));
        Assert.Equal(before.Instances.Select(i => i.Host), after.Instances.Select(i => i.Host));
        Assert.Equal(running, a.Host.RunningIncarnations.Concat(b.Host.RunningIncarnations).Order().ToList());
    }

    [Theory]
    [InlineData(null, StatusCode.Unauthenticated, "carries no agent secret")]
    [InlineData("a-wrong-secret-of-a-reasonable-length-000000", StatusCode.PermissionDenied, "does not match")]
    public async Task An_agent_session_needs_the_agent_secret_and_the_refusal_never_echoes_it(string? secret, StatusCode expected, string message)
    {
        await using var cluster = new AgentCluster();
        await cluster.StartSchedulerAsync();
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(cluster.Address);
        var headers = new Metadata();
        if (secret is not null)
        {
            headers.Add(Runtime.Agents.AgentSecret.Header, secret);
        }
        using var call = new Contracts.Agent.V1.Agents.AgentsClient(channel).AgentSession(headers);
        var hello = new Contracts.Agent.V1.AgentHello { AgentId = "intruder", AdvertisedHost = "127.0.0.1", Cpus = 64, MemMb = 65536 };

        // The scheduler looks at a call once its first message arrives (RequestSizeGate), as an agent sends its hello at once.
        await call.RequestStream.WriteAsync(new Contracts.Agent.V1.AgentReport { Hello = hello }).WaitAsync(AgentCluster.Step);
        var refused = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(AgentCluster.Step));

        Assert.Equal(expected, refused.StatusCode);
        Assert.Contains(message, refused.Status.Detail);
        Assert.DoesNotContain("a-wrong-secret", refused.Status.Detail);
        Assert.Empty(cluster.Runtime.ConnectedAgents);
    }

    [Fact]
    public async Task A_first_report_that_is_not_a_hello_is_refused()
    {
        await using var cluster = new AgentCluster();
        await cluster.StartSchedulerAsync();
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(cluster.Address);
        var secret = File.ReadAllText(Path.Combine(cluster.Home, Runtime.Agents.AgentSecret.FileName)).Trim();
        using var call = new Contracts.Agent.V1.Agents.AgentsClient(channel).AgentSession(new Metadata { { Runtime.Agents.AgentSecret.Header, secret } });

        await call.RequestStream.WriteAsync(new Contracts.Agent.V1.AgentReport { Heartbeat = new Contracts.Agent.V1.AgentHeartbeat() });
        var refused = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(AgentCluster.Step));

        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.Contains("must be a hello", refused.Status.Detail);
    }

    [Fact]
    public async Task Killing_an_operator_stops_its_instances_on_the_agents_and_removes_their_working_state_there()
    {
        await using var cluster = new AgentCluster();
        await cluster.StartSchedulerAsync();
        var a = await cluster.StartAgentAsync("a");
        await cluster.DeployAsync(AgentCluster.Spec("work", instances: 2));
        await cluster.WaitForAsync("work", s => s.Instances.All(i => i.ExecutorPid > 0));
        var directory = Path.Combine(a.Home, "instances", "work");
        Assert.True(Directory.Exists(directory));

        await cluster.Client.KillAsync(new KillRequest { Name = "work" }).ResponseAsync.WaitAsync(AgentCluster.Step);

        await Eventually.UntilAsync(() => a.Host.RunningIncarnations.Count == 0 && !Directory.Exists(directory), AgentCluster.Step,
            () => $"a runs {a.Host.RunningIncarnations.Count}; {directory} exists: {Directory.Exists(directory)}");
        Assert.Empty(await cluster.ListAsync());
    }
}
