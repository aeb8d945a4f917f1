using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Runtime;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using SchedulerClient = Concord.Contracts.Scheduler.V1.Scheduler.SchedulerClient;

namespace Concord.Scheduler.Tests;

/// <summary>
/// A real scheduler in this process (Kestrel on a free port, the real file store in a temp
/// home) with <see cref="FakeClusterRuntime"/> and fake time (<see cref="WaitWatchingTimeProvider"/>).
/// </summary>
public sealed class SchedulerFixture : IAsyncDisposable
{
    public static readonly TimeSpan TestTimeout = TestTimeouts.Step;

    private readonly bool _ownsHome;
    private WebApplication? _app;
    private SchedulerHome? _home;
    private GrpcChannel? _channel;

    private SchedulerFixture(TempDirectory home, bool ownsHome, FakeClusterRuntime runtime, WaitWatchingTimeProvider time)
    {
        Home = home;
        _ownsHome = ownsHome;
        Runtime = runtime;
        Time = time;
    }

    public TempDirectory Home { get; }

    public FakeClusterRuntime Runtime { get; }

    public WaitWatchingTimeProvider Time { get; }

    public SchedulerClient Client { get; private set; } = null!;

    public string Address { get; private set; } = "";

    /// <summary>The running scheduler's secrets (to act as the executor of a launch, or not).</summary>
    public global::Concord.Scheduler.Security.SchedulerSecrets Secrets { get; private set; } = null!;

    /// <summary>The channel without credentials, for calls that must show what a stranger gets.</summary>
    public GrpcChannel Channel { get; private set; } = null!;

    public static Task<SchedulerFixture> StartAsync() => StartAsync(new TempDirectory(), ownsHome: true);

    /// <summary>Starts a scheduler on an existing home (a restart).</summary>
    public static async Task<SchedulerFixture> StartAsync(TempDirectory home, bool ownsHome)
    {
        var fixture = new SchedulerFixture(home, ownsHome, new FakeClusterRuntime(), new WaitWatchingTimeProvider(DateTimeOffset.UtcNow));
        await fixture.StartCoreAsync();
        return fixture;
    }

    private async Task StartCoreAsync()
    {
        _home = SchedulerHome.Acquire(Home.Path);
        var options = new SchedulerOptions { Home = Home.Path, Port = 0 };
        _app = SchedulerApp.Create(options, _home, services =>
        {
            services.AddSingleton<IClusterRuntime>(Runtime);
            services.AddSingleton<TimeProvider>(Time);
        });
        await _app.StartAsync().WaitAsync(TestTimeout);
        var info = SchedulerHome.ReadInfo(Home.Path) ?? throw new InvalidOperationException("scheduler.json was not written");
        Address = info.Address;
        _channel = GrpcChannel.ForAddress(Address);
        Secrets = _app.Services.GetRequiredService<global::Concord.Scheduler.Security.SchedulerSecrets>();
        Client = new SchedulerClient(_channel.Intercept(new SchedulerCallerCredentials(Secrets, SchedulerAuth.ReadToken(Home.Path))));
        Channel = _channel;
    }

    /// <summary>Stops the scheduler the way SIGTERM does; the home is kept.</summary>
    public async Task StopAsync()
    {
        _channel?.Dispose();
        _channel = null;
        if (_app is not null)
        {
            await _app.StopAsync().WaitAsync(TestTimeout);
            await _app.DisposeAsync();
            _app = null;
        }
        _home?.Dispose();
        _home = null;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        if (_ownsHome)
        {
            Home.Dispose();
        }
    }

    public static OperatorSpec Spec(string name, int instances = 1, string? reads = null, Grouping grouping = Grouping.Shuffle, string? writes = null)
    {
        var spec = new OperatorSpec { Name = name, Executable = "/bin/true", Instances = instances };
        if (reads is not null)
        {
            spec.ExpectedInputs.Add(new InputStream { Name = reads, Grouping = grouping });
        }
        if (writes is not null)
        {
            spec.ExpectedOutputs.Add(writes);
        }
        return spec;
    }

    public static OperatorMetadata MetadataOf(OperatorSpec spec)
    {
        var metadata = new OperatorMetadata { Name = spec.Name };
        metadata.Inputs.AddRange(spec.ExpectedInputs);
        metadata.Outputs.AddRange(spec.ExpectedOutputs);
        return metadata;
    }

    public Task<DeployResponse> DeployAsync(OperatorSpec spec) =>
        Client.DeployAsync(new DeployRequest { Spec = spec }).ResponseAsync.WaitAsync(TestTimeout);

    /// <summary>Registers a launched fake instance as its executor would.</summary>
    public Task RegisterAsync(FakeInstance instance, OperatorMetadata? metadata = null, string? dataAddress = null) =>
        Client.RegisterExecutorAsync(new RegisterExecutorRequest
        {
            OperatorName = instance.OperatorName,
            InstanceIndex = instance.Index,
            Incarnation = instance.Incarnation,
            DataAddress = dataAddress ?? $"127.0.0.1:{20000 + instance.Pid}",
            Metadata = metadata ?? MetadataOf(instance.Launch.Spec),
        }).ResponseAsync.WaitAsync(TestTimeout);

    public async Task<OperatorStatus> StatusAsync(string name)
    {
        var list = await Client.ListAsync(new ListRequest()).ResponseAsync.WaitAsync(TestTimeout);
        return list.Operators.Single(o => o.Spec.Name == name);
    }

    /// <summary>
    /// Polls `list` until <paramref name="condition"/> holds. Used only where the scheduler
    /// has no event to await (a state change inside the reconcile loop).
    /// </summary>
    public async Task<OperatorStatus> WaitForStatusAsync(string name, Func<OperatorStatus, bool> condition)
    {
        var deadline = DateTime.UtcNow + TestTimeout;
        while (true)
        {
            var status = await StatusAsync(name);
            if (condition(status))
            {
                return status;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"operator '{name}' never reached the expected state; last: {status}");
            }
            await Task.Delay(TimeSpan.FromMilliseconds(10));
        }
    }
}
