using Concord.Contracts.Types.V1;
using Concord.Scheduler.Runtime;
using Concord.Scheduler.Runtime.Containment;
using Microsoft.Extensions.Logging.Abstractions;

namespace Concord.Scheduler.Tests;

/// <summary>
/// Adoption of leftovers by the local runtime, with real processes: a shell script stands in
/// for an executor that outlived its scheduler; a second runtime on the same home plays the
/// restarted scheduler.
/// </summary>
public sealed class LocalAdoptionTests : IDisposable
{
    private static readonly TimeSpan TestTimeout = TestTimeouts.Step;
    private readonly TempDirectory _home = new();

    public void Dispose() => _home.Dispose();

    private LocalProcessRuntime Runtime() => new(
        new LocalProcessRuntimeOptions { Home = _home.Path, ExecutorCommand = new LaunchCommand("/bin/sh", ["-c", "exec sleep 30"]), Containment = InstanceContainment.None },
        NullLogger<LocalProcessRuntime>.Instance,
        TimeProvider.System);

    private static InstanceLaunch Launch(int release) =>
        new("counter", 1, $"inc-{release}", new OperatorSpec { Name = "counter", Executable = "/bin/true", Instances = 2 }, "http://127.0.0.1:7400", release);

    [Fact]
    public async Task A_live_leftover_is_offered_with_what_it_runs_and_once_adopted_its_exit_is_noticed()
    {
        var previousRun = Runtime();
        var child = await previousRun.LaunchAsync(Launch(release: 1), default);
        var directory = previousRun.InstanceDirectory("counter", 1, release: 1);
        Assert.Equal(_home.Combine("instances", "counter", "1.b"), directory);
        Assert.Equal($"{child.Pid}\ninc-1\n1\n", File.ReadAllText(Path.Combine(directory, LocalProcessRuntime.PidFileName)));

        var offered = new List<LeftoverInstance>();
        var adopted = await Runtime().AdoptLeftoversAsync(leftover =>
        {
            offered.Add(leftover);
            return true;
        }, default).WaitAsync(TestTimeout);

        var leftover = Assert.Single(offered);
        Assert.Equal(("counter", 1, "inc-1", 1, child.Pid, "http://127.0.0.1:7400"),
            (leftover.OperatorName, leftover.Index, leftover.Incarnation, leftover.Release, leftover.Pid, leftover.SchedulerAddress));
        Assert.Equal(Launch(1).Spec, leftover.Spec);
        var instance = Assert.Single(adopted);
        Assert.Equal((child.Pid, "inc-1", 1), (instance.Handle.Pid, instance.Handle.Incarnation, instance.Release));
        Assert.False(instance.Handle.Exited.IsCompleted, "an adopted executor keeps running");

        await Runtime().StopAsync(instance.Handle, TimeSpan.FromSeconds(10), default).WaitAsync(TestTimeout);

        var exit = await instance.Handle.Exited.WaitAsync(TestTimeout);
        Assert.Equal("exited (adopted from a previous scheduler run, so its exit code is unknown)", exit.Description);
        Assert.Equal("killed by signal 15", (await child.Exited.WaitAsync(TestTimeout)).Description);
    }

    [Fact]
    public async Task A_leftover_the_scheduler_does_not_want_is_stopped_and_a_dead_one_is_not_offered()
    {
        var previousRun = Runtime();
        var child = await previousRun.LaunchAsync(Launch(release: 0), default);
        // A pid file whose process is long gone (a pid no process has).
        var dead = _home.Combine("instances", "other", "0");
        Directory.CreateDirectory(dead);
        File.WriteAllText(Path.Combine(dead, LocalProcessRuntime.PidFileName), "2147483\ninc-dead\n");

        var offered = new List<string>();
        var adopted = await Runtime().AdoptLeftoversAsync(leftover =>
        {
            offered.Add(leftover.Incarnation);
            return false;
        }, default).WaitAsync(TestTimeout);

        Assert.Empty(adopted);
        Assert.Equal(["inc-0"], offered);
        Assert.Equal("killed by signal 15", (await child.Exited.WaitAsync(TestTimeout)).Description);
        Assert.False(File.Exists(Path.Combine(dead, LocalProcessRuntime.PidFileName)), "a dead leftover's pid file is removed");
    }
}
