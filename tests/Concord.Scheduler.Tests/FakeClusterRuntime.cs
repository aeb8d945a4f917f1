using System.Collections.Concurrent;
using System.Threading.Channels;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Runtime;

namespace Concord.Scheduler.Tests;

/// <summary>
/// Test double of <see cref="IClusterRuntime"/>: it stands in for process launching in unit
/// tests only. A launch starts nothing; the test reads it from <see cref="Launches"/>, makes it
/// exit with <see cref="FakeInstance.Exit"/>, and sees stops in <see cref="Stops"/>.
/// </summary>
public sealed class FakeClusterRuntime : IClusterRuntime
{
    private int _nextPid = 1000;

    /// <summary>Every launch, in order.</summary>
    public Channel<FakeInstance> Launches { get; } = Channel.CreateUnbounded<FakeInstance>();

    /// <summary>Every stop request, in order.</summary>
    public Channel<FakeInstance> Stops { get; } = Channel.CreateUnbounded<FakeInstance>();

    /// <summary>When set, Validate returns this for every spec.</summary>
    public string? ValidationError { get; set; }

    public int LeftoverReaps { get; private set; }

    public string Name => "fake";

    public string? Validate(OperatorSpec spec) => ValidationError;

    public Task<IInstanceHandle> LaunchAsync(InstanceLaunch launch, CancellationToken cancellationToken)
    {
        var instance = new FakeInstance(launch, Interlocked.Increment(ref _nextPid));
        Launches.Writer.TryWrite(instance);
        return Task.FromResult<IInstanceHandle>(instance);
    }

    public Task StopAsync(IInstanceHandle handle, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var instance = (FakeInstance)handle;
        Stops.Writer.TryWrite(instance);
        // A well-behaved executor drains and exits 0 on SIGTERM.
        instance.Exit(0);
        return instance.Exited;
    }

    /// <summary>Every forget asked for, in order: (operator, index, release, keepLog); index -1 for a whole operator.</summary>
    public ConcurrentQueue<(string Operator, int Index, int Release, bool KeepLog)> Forgotten { get; } = new();

    public Task ForgetInstanceAsync(string operatorName, int index, int release, bool keepLog, CancellationToken cancellationToken)
    {
        Forgotten.Enqueue((operatorName, index, release, keepLog));
        return Task.CompletedTask;
    }

    public Task ForgetOperatorAsync(string operatorName, CancellationToken cancellationToken)
    {
        Forgotten.Enqueue((operatorName, -1, 0, false));
        return Task.CompletedTask;
    }

    public Task ReapLeftoversAsync(CancellationToken cancellationToken)
    {
        LeftoverReaps++;
        return Task.CompletedTask;
    }

    /// <summary>The next launch, waiting at most <paramref name="timeout"/>.</summary>
    public async Task<FakeInstance> NextLaunchAsync(TimeSpan timeout) =>
        await Launches.Reader.ReadAsync().AsTask().WaitAsync(timeout);

    /// <summary>The next stop, waiting at most <paramref name="timeout"/>.</summary>
    public async Task<FakeInstance> NextStopAsync(TimeSpan timeout) =>
        await Stops.Reader.ReadAsync().AsTask().WaitAsync(timeout);
}

/// <summary>One pretend instance.</summary>
public sealed class FakeInstance(InstanceLaunch launch, int pid) : IInstanceHandle
{
    private readonly TaskCompletionSource<InstanceExit> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public InstanceLaunch Launch { get; } = launch;

    public string OperatorName => Launch.OperatorName;

    public int Index => Launch.Index;

    public string Incarnation => Launch.Incarnation;

    public int Pid { get; } = pid;

    public Task<InstanceExit> Exited => _exited.Task;

    public void Exit(int code) => _exited.TrySetResult(new InstanceExit(code, $"exited with code {code}"));
}
