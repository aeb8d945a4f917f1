using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Runtime;
using Concord.Scheduler.Runtime.Agents;
using Concord.Scheduler.Runtime.Containment;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SchedulerClient = Concord.Contracts.Scheduler.V1.Scheduler.SchedulerClient;

namespace Concord.Scheduler.Tests.Agents;

/// <summary>
/// A scheduler in this process with the agents runtime (short heartbeat timeout), and real
/// agents (<see cref="AgentHost"/>, each with its own home and a <see cref="LocalProcessRuntime"/>)
/// on loopback, which launch real processes: a shell script that stands in for the executor
/// (it prints one line naming its agent and instance, then runs until SIGTERM; the Concord
/// executor is slow to start and is covered end to end).
/// Real time throughout: agents talk gRPC.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class AgentCluster : IAsyncDisposable
{
    /// <summary>The heartbeat timeout of these tests, in ms: short, so a lost agent is noticed fast.</summary>
    public const int HeartbeatTimeoutMs = 1_500;

    /// <summary>Agents' heartbeat interval here, in ms.</summary>
    public const int HeartbeatIntervalMs = 100;

    public static readonly TimeSpan Step = TestTimeouts.Step;

    private readonly TempDirectory _root = new("cc-agents-");
    private readonly List<Agent> _agents = [];
    private WebApplication? _app;
    private SchedulerHome? _home;
    private GrpcChannel? _channel;

    public string Home => _root.Combine("scheduler");

    public string Address { get; private set; } = "";

    public SchedulerClient Client { get; private set; } = null!;

    public AgentClusterRuntime Runtime { get; private set; } = null!;

    public global::Concord.Scheduler.Security.SchedulerSecrets Secrets { get; private set; } = null!;

    /// <summary>Starts the scheduler (again, on the same home and port, after <see cref="CrashSchedulerAsync"/>).</summary>
    public async Task StartSchedulerAsync(int adoptWaitMs = 200)
    {
        Directory.CreateDirectory(Home);
        _home = SchedulerHome.Acquire(Home);
        var options = new SchedulerOptions { Home = Home, Port = 0, Runtime = AgentClusterRuntime.RuntimeName };
        _app = SchedulerApp.Create(options, _home, services =>
            services.AddSingleton<IClusterRuntime>(provider => new AgentClusterRuntime(
                new AgentClusterRuntimeOptions
                {
                    HeartbeatTimeoutMs = HeartbeatTimeoutMs,
                    LossCheckIntervalMs = HeartbeatIntervalMs,
                    AdoptWaitMs = adoptWaitMs,
                    PrivateEnvironment = provider.GetRequiredService<global::Concord.Scheduler.Security.SchedulerSecrets>().ExecutorEnvironment,
                },
                NullLogger<AgentClusterRuntime>.Instance,
                TimeProvider.System)));
        await _app.StartAsync().WaitAsync(Step);
        Address = SchedulerHome.ReadInfo(Home)!.Address;
        Runtime = (AgentClusterRuntime)_app.Services.GetRequiredService<IClusterRuntime>();
        Secrets = _app.Services.GetRequiredService<global::Concord.Scheduler.Security.SchedulerSecrets>();
        _channel = GrpcChannel.ForAddress(Address);
        Client = new SchedulerClient(_channel.Intercept(new SchedulerCallerCredentials(Secrets, SchedulerAuth.ReadToken(Home))));
    }

    /// <summary>
    /// Ends the scheduler as a crash would for its agents: its endpoint goes away without it
    /// stopping any instance (the host's stop, which stops them all, is not run).
    /// </summary>
    public async Task CrashSchedulerAsync()
    {
        _channel?.Dispose();
        _channel = null;
        if (_app is not null)
        {
            await _app.DisposeAsync().AsTask().WaitAsync(Step);
            _app = null;
        }
        _home?.Dispose();
        _home = null;
    }

    /// <summary>Starts an agent and waits until the scheduler has it.</summary>
    public async Task<Agent> StartAgentAsync(string id, double cpus = 2, int memMb = 2048)
    {
        var connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnConnected(string agentId)
        {
            if (agentId == id)
            {
                connected.TrySetResult();
            }
        }
        Runtime.AgentConnected += OnConnected;
        try
        {
            var agent = new Agent(this, id, cpus, memMb);
            _agents.Add(agent);
            await connected.Task.WaitAsync(Step);
            return agent;
        }
        finally
        {
            Runtime.AgentConnected -= OnConnected;
        }
    }

    public Task<DeployResponse> DeployAsync(OperatorSpec spec) =>
        Client.DeployAsync(new DeployRequest { Spec = spec }).ResponseAsync.WaitAsync(Step);

    public static OperatorSpec Spec(string name, int instances, double cpus = 1, int memMb = 512) =>
        new() { Name = name, Executable = "/bin/true", Instances = instances, Cpus = cpus, MemMb = memMb };

    public async Task<IReadOnlyList<OperatorStatus>> ListAsync() =>
        (await Client.ListAsync(new ListRequest()).ResponseAsync.WaitAsync(Step)).Operators;

    /// <summary>Polls `list` until <paramref name="condition"/> holds (the loop has no event to await from outside).</summary>
    public async Task<OperatorStatus> WaitForAsync(string name, Func<OperatorStatus, bool> condition, TimeSpan? timeout = null)
    {
        OperatorStatus? last = null;
        await Eventually.UntilAsync(async () =>
        {
            last = (await ListAsync()).Single(o => o.Spec.Name == name);
            return condition(last);
        }, timeout ?? Step, () => $"operator '{name}' never reached the expected state; last: {last}");
        return last!;
    }

    /// <summary>Registers an instance as its executor would, so it runs.</summary>
    public Task RegisterAsync(OperatorSpec spec, InstanceStatus instance) =>
        Client.RegisterExecutorAsync(new RegisterExecutorRequest
        {
            OperatorName = spec.Name,
            InstanceIndex = instance.Index,
            Incarnation = instance.Incarnation,
            DataAddress = $"127.0.0.1:{20000 + instance.Index}",
            Metadata = new OperatorMetadata { Name = spec.Name },
        }).ResponseAsync.WaitAsync(Step);

    public async ValueTask DisposeAsync()
    {
        foreach (var agent in _agents)
        {
            await agent.DisposeAsync();
        }
        _channel?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync().WaitAsync(Step);
            await _app.DisposeAsync();
        }
        _home?.Dispose();
        _root.Dispose();
    }

    /// <summary>One real agent with its own home; the executor is a script that runs until SIGTERM.</summary>
    public sealed class Agent : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stopping = new();
        private readonly Task _run;

        internal Agent(AgentCluster cluster, string id, double cpus, int memMb)
        {
            Id = id;
            Home = cluster._root.Combine("agent-" + id);
            Directory.CreateDirectory(Home);
            var executor = Path.Combine(Home, "executor.sh");
            // The line it prints lands in the instance's executor.log in this agent's home (for `concord logs`).
            File.WriteAllText(executor, $"#!/bin/sh\necho \"executor on agent {id}: $CONCORD_OPERATOR_NAME/$CONCORD_INSTANCE_INDEX\"\ntrap 'exit 0' TERM\nwhile :; do sleep 0.05; done\n");
            File.SetUnixFileMode(executor, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            AgentHost? host = null;
            var runtime = new LocalProcessRuntime(
                new LocalProcessRuntimeOptions
                {
                    Home = Home,
                    ExecutorCommand = LaunchCommand.ForExecutor(executor),
                    Containment = InstanceContainment.None,
                    PrivateEnvironment = launch => host!.EnvironmentOf(launch),
                },
                NullLogger<LocalProcessRuntime>.Instance,
                TimeProvider.System);
            host = new AgentHost(
                new AgentOptions
                {
                    SchedulerAddress = cluster.Address,
                    AgentId = id,
                    Cpus = cpus,
                    MemMb = memMb,
                    Home = Home,
                    Secret = File.ReadAllText(Path.Combine(cluster.Home, AgentSecret.FileName)).Trim(),
                    HeartbeatIntervalMs = HeartbeatIntervalMs,
                },
                runtime,
                NullLogger<AgentHost>.Instance,
                TimeProvider.System);
            Host = host;
            _run = Task.Run(() => host.RunAsync(_stopping.Token));
        }

        public string Id { get; }

        public string Home { get; }

        public AgentHost Host { get; }

        public async ValueTask DisposeAsync()
        {
            Host.Heal();
            await _stopping.CancelAsync();
            await _run.WaitAsync(TimeSpan.FromMilliseconds(SchedulerLimits.ShutdownTimeoutMs + 5_000));
            _stopping.Dispose();
        }
    }
}
