using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Runtime;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using SchedulerClient = Concord.Contracts.Scheduler.V1.Scheduler.SchedulerClient;

namespace Concord.Scheduler.Tests.Security;

/// <summary>
/// A launch that does not finish (a copy of /dev/zero once wrote 15 GB while `list` and
/// `kill` timed out) runs beside the reconcile loop: the scheduler keeps answering, and a kill
/// cancels it.
/// </summary>
public sealed class SlowLaunchTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TestTimeouts.Step;
    private readonly TempDirectory _home = new();
    private readonly StalledLaunchRuntime _runtime = new();
    private SchedulerHome? _schedulerHome;
    private WebApplication? _app;
    private GrpcChannel? _channel;
    private SchedulerClient _client = null!;

    public async Task InitializeAsync()
    {
        _schedulerHome = SchedulerHome.Acquire(_home.Path);
        _app = SchedulerApp.Create(new SchedulerOptions { Home = _home.Path, Port = 0 }, _schedulerHome,
            services => services.AddSingleton<IClusterRuntime>(_runtime));
        await _app.StartAsync().WaitAsync(Timeout);
        _channel = GrpcChannel.ForAddress(SchedulerHome.ReadInfo(_home.Path)!.Address);
        _client = new SchedulerClient(_channel.CreateCallInvoker().WithToken(_home.Path));
    }

    public async Task DisposeAsync()
    {
        _channel?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync().WaitAsync(Timeout);
            await _app.DisposeAsync();
        }
        _schedulerHome?.Dispose();
        _home.Dispose();
    }

    [Fact]
    public async Task Deploy_and_list_answer_while_a_launch_hangs_and_kill_cancels_it()
    {
        var spec = new OperatorSpec { Name = "stuck", Executable = "/bin/true", Instances = 1 };

        var deployed = await _client.DeployAsync(new DeployRequest { Spec = spec }).ResponseAsync.WaitAsync(Timeout);
        var launch = await _runtime.Started.Task.WaitAsync(Timeout);
        var listed = await _client.ListAsync(new ListRequest()).ResponseAsync.WaitAsync(Timeout);

        Assert.Equal(InstanceState.Starting, Assert.Single(deployed.Operator.Instances).State);
        Assert.Equal(InstanceState.Starting, Assert.Single(Assert.Single(listed.Operators).Instances).State);
        Assert.Equal(0, Assert.Single(Assert.Single(listed.Operators).Instances).ExecutorPid);
        Assert.False(launch.IsCancellationRequested);

        await _client.KillAsync(new KillRequest { Name = "stuck" }).ResponseAsync.WaitAsync(Timeout);

        await _runtime.Cancelled.Task.WaitAsync(Timeout);
        Assert.Empty((await _client.ListAsync(new ListRequest()).ResponseAsync.WaitAsync(Timeout)).Operators);
    }

    /// <summary>
    /// Test double of <see cref="IClusterRuntime"/> whose launches never finish on their own
    /// (a copy that stalls), so the test sees what waits for them and what cancels them.
    /// </summary>
    private sealed class StalledLaunchRuntime : IClusterRuntime
    {
        public TaskCompletionSource<CancellationToken> Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Cancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string Name => "stalled";

        public string? Validate(OperatorSpec spec) => null;

        public async Task<IInstanceHandle> LaunchAsync(InstanceLaunch launch, CancellationToken cancellationToken)
        {
            Started.TrySetResult(cancellationToken);
            try
            {
                await Task.Delay(System.Threading.Timeout.InfiniteTimeSpan, cancellationToken);
            }
            finally
            {
                Cancelled.TrySetResult();
            }
            throw new InvalidOperationException("unreachable: the delay only ends by cancellation");
        }

        public Task StopAsync(IInstanceHandle handle, TimeSpan timeout, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task ReapLeftoversAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task ForgetInstanceAsync(string operatorName, int index, int release, bool keepLog, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task ForgetOperatorAsync(string operatorName, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
