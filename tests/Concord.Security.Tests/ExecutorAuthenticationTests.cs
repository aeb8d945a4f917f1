using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Grpc.Core;

namespace Concord.Security.Tests;

/// <summary>
/// Finding: `RegisterExecutor` could be forged. Registering as an instance that was still
/// starting diverted its records to a foreign server. Now every executor-facing call carries
/// the secret of its launch, handed to the executor privately, and a launch registers once.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ExecutorAuthenticationTests
{
    private static readonly TimeSpan Step = TestTimeouts.Step;

    private static async Task<(LocalScheduler Scheduler, InstanceStatus Starting, Dictionary<string, string> Environment)> StartingSinkAsync()
    {
        var scheduler = await LocalScheduler.StartAsync();
        await scheduler.Operator.DeployAsync(new DeployRequest { Spec = new OperatorSpec { Name = "sink", Executable = "/bin/true", Instances = 1 } })
            .ResponseAsync.WaitAsync(Step);
        var environment = await scheduler.ExecutorEnvironmentAsync("sink");
        var starting = (await scheduler.StatusAsync("sink")).Instances.Single();
        Assert.Equal(InstanceState.Starting, starting.State);
        return (scheduler, starting, environment);
    }

    private static RegisterExecutorRequest Registration(InstanceStatus instance, string dataAddress) => new()
    {
        OperatorName = "sink",
        InstanceIndex = 0,
        Incarnation = instance.Incarnation, // public: `list` shows it, so it proves nothing
        DataAddress = dataAddress,
        MetricsAddress = "127.0.0.1:1",
        OperatorPid = 4242,
        Metadata = new OperatorMetadata { Name = "sink" },
    };

    private static Metadata Secret(string secret) => new() { { Credentials.LaunchSecretHeader, secret } };

    [Fact]
    public async Task A_forged_registration_of_a_starting_instance_is_refused_and_routing_never_sees_it()
    {
        var (scheduler, starting, environment) = await StartingSinkAsync();
        await using var _ = scheduler;
        var forged = Registration(starting, "127.0.0.1:6666");

        // The operator token is not enough: it is for operators, not for executors.
        var withToken = await Assert.ThrowsAsync<RpcException>(() => scheduler.Operator.RegisterExecutorAsync(forged).ResponseAsync.WaitAsync(Step));
        var withGuess = await Assert.ThrowsAsync<RpcException>(() =>
            scheduler.Stranger.RegisterExecutorAsync(forged, Secret("a-guessed-secret")).ResponseAsync.WaitAsync(Step));
        var otherLaunchesSecret = scheduler.Secrets.LaunchSecret("sink", 0, "some-other-incarnation");
        var withOtherSecret = await Assert.ThrowsAsync<RpcException>(() =>
            scheduler.Stranger.RegisterExecutorAsync(forged, Secret(otherLaunchesSecret)).ResponseAsync.WaitAsync(Step));

        Assert.Equal(StatusCode.Unauthenticated, withToken.StatusCode);
        Assert.Equal(StatusCode.PermissionDenied, withGuess.StatusCode);
        Assert.Equal(StatusCode.PermissionDenied, withOtherSecret.StatusCode);
        var after = (await scheduler.StatusAsync("sink")).Instances.Single();
        Assert.Equal(InstanceState.Starting, after.State);
        Assert.Equal("", after.DataAddress);

        // The executor the scheduler launched got the secret in its environment and registers.
        await scheduler.Stranger.RegisterExecutorAsync(Registration(starting, "127.0.0.1:7777"), Secret(environment[Credentials.LaunchSecretVariable]))
            .ResponseAsync.WaitAsync(Step);
        var running = (await scheduler.StatusAsync("sink")).Instances.Single();
        Assert.Equal((InstanceState.Running, "127.0.0.1:7777"), (running.State, running.DataAddress));
    }

    [Fact]
    public async Task A_launch_registers_once_a_retry_is_idempotent_and_a_second_caller_with_the_secret_is_refused()
    {
        var (scheduler, starting, environment) = await StartingSinkAsync();
        await using var _ = scheduler;
        var secret = Secret(environment[Credentials.LaunchSecretVariable]);
        var real = Registration(starting, "127.0.0.1:7777");
        await scheduler.Stranger.RegisterExecutorAsync(real, secret).ResponseAsync.WaitAsync(Step);

        await scheduler.Stranger.RegisterExecutorAsync(real, secret).ResponseAsync.WaitAsync(Step); // a retry after a lost answer
        var second = await Assert.ThrowsAsync<RpcException>(() =>
            scheduler.Stranger.RegisterExecutorAsync(Registration(starting, "127.0.0.1:6666"), secret).ResponseAsync.WaitAsync(Step));

        Assert.Equal(StatusCode.PermissionDenied, second.StatusCode);
        Assert.Contains("already registered", second.Status.Detail);
        var running = (await scheduler.StatusAsync("sink")).Instances.Single();
        Assert.Equal((InstanceState.Running, "127.0.0.1:7777"), (running.State, running.DataAddress));
    }

    [Fact]
    public async Task Routing_watch_and_failure_reports_need_the_launch_secret_too()
    {
        var (scheduler, starting, environment) = await StartingSinkAsync();
        await using var _ = scheduler;
        var watch = new WatchRoutingRequest { OperatorName = "sink", InstanceIndex = 0, Incarnation = starting.Incarnation };
        var report = new ReportFailureRequest { OperatorName = "sink", InstanceIndex = 0, Incarnation = starting.Incarnation, Message = "forged failure" };

        var watchError = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var call = scheduler.Operator.WatchRouting(watch, Secret("a-guessed-secret"));
            await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Step);
        });
        var reportError = await Assert.ThrowsAsync<RpcException>(() =>
            scheduler.Stranger.ReportFailureAsync(report, Secret("a-guessed-secret")).ResponseAsync.WaitAsync(Step));

        Assert.Equal(StatusCode.PermissionDenied, watchError.StatusCode);
        Assert.Equal(StatusCode.PermissionDenied, reportError.StatusCode);
        Assert.DoesNotContain(environment[Credentials.LaunchSecretVariable], watchError.Status.Detail + reportError.Status.Detail);
        // With the secret the watch opens (and the first table comes at once).
        using var real = scheduler.Stranger.WatchRouting(watch, Secret(environment[Credentials.LaunchSecretVariable]));
        Assert.True(await real.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Step));
    }

    [Fact]
    public async Task The_launch_secret_is_handed_over_in_the_executors_environment_only()
    {
        var (scheduler, starting, environment) = await StartingSinkAsync();
        await using var _ = scheduler;

        var secret = environment[Credentials.LaunchSecretVariable];
        Assert.True(secret.Length >= 40, $"launch secret of {secret.Length} characters");
        Assert.DoesNotContain(secret, starting.Incarnation);
        Assert.True(environment.ContainsKey(Credentials.DataPlaneKeyVariable));
        Assert.False(environment.ContainsKey(Credentials.TokenVariable));
        Assert.DoesNotContain(scheduler.Token, string.Join("\n", environment.Values));
        var log = await File.ReadAllTextAsync(scheduler.Home.Combine("instances", "sink", "0", "executor.log"));
        Assert.DoesNotContain(secret, log);
        var commandLine = await File.ReadAllTextAsync(scheduler.Home.Combine("instances", "sink", "0", "args.txt"));
        Assert.Contains("executor.sh", commandLine);
        Assert.DoesNotContain(secret, commandLine);
        // A different launch (another incarnation) has another secret.
        Assert.NotEqual(secret, scheduler.Secrets.LaunchSecret("sink", 0, starting.Incarnation + "x"));
    }
}
