using Concord.Contracts.Types.V1;
using Concord.Scheduler.Runtime;
using Concord.Scheduler.Runtime.Containment;
using Microsoft.Extensions.Logging.Abstractions;

namespace Concord.Scheduler.Tests;

/// <summary>The local runtime removes the directories of forgotten instances and keeps one failed log per operator.</summary>
public sealed class LocalRuntimeForgetTests : IDisposable
{
    private static readonly TimeSpan TestTimeout = TestTimeouts.Step;
    private readonly TempDirectory _home = new();

    public void Dispose() => _home.Dispose();

    private LocalProcessRuntime Runtime(string script) => new(
        new LocalProcessRuntimeOptions { Home = _home.Path, ExecutorCommand = new LaunchCommand("/bin/sh", ["-c", script]), Containment = InstanceContainment.None },
        NullLogger<LocalProcessRuntime>.Instance,
        TimeProvider.System);

    private static InstanceLaunch Launch(int index, int release = 0) =>
        new("counter", index, $"inc-{index}-{release}", new OperatorSpec { Name = "counter", Executable = "/bin/true", Instances = 3 }, "http://127.0.0.1:7400", release);

    /// <summary>Launches an instance and waits for its script to exit.</summary>
    private static async Task RunToExitAsync(LocalProcessRuntime runtime, InstanceLaunch launch)
    {
        var handle = await runtime.LaunchAsync(launch, default);
        await handle.Exited.WaitAsync(TestTimeout);
    }

    [Fact]
    public async Task A_forgotten_failed_instance_leaves_no_directory_and_its_log_replaces_the_older_failed_one()
    {
        var first = Runtime("echo first failure: broker unreachable; exit 3");
        await RunToExitAsync(first, Launch(1));
        await first.ForgetInstanceAsync("counter", 1, 0, keepLog: true, default);
        var second = Runtime("echo second failure: out of memory; exit 3");
        await RunToExitAsync(second, Launch(2, release: 1));

        await second.ForgetInstanceAsync("counter", 2, 1, keepLog: true, default);

        Assert.False(Directory.Exists(second.InstanceDirectory("counter", 1)));
        Assert.False(Directory.Exists(second.InstanceDirectory("counter", 2, release: 1)));
        var kept = second.LastFailedDirectory("counter");
        var log = File.ReadAllText(Path.Combine(kept, LocalProcessRuntime.LogFileName));
        Assert.Contains("second failure: out of memory", log);
        Assert.DoesNotContain("first failure", log);
        Assert.Equal("2", File.ReadAllText(Path.Combine(kept, LocalProcessRuntime.LastFailedIndexFileName)));
    }

    [Fact]
    public async Task A_forgotten_healthy_instance_keeps_no_log_and_forgetting_the_operator_leaves_only_the_failed_log()
    {
        var failing = Runtime("echo failed for a reason; exit 3");
        await RunToExitAsync(failing, Launch(0));
        await failing.ForgetInstanceAsync("counter", 0, 0, keepLog: true, default);
        var healthy = Runtime("echo drained; exit 0");
        await RunToExitAsync(healthy, Launch(1));
        await RunToExitAsync(healthy, Launch(2));

        await healthy.ForgetInstanceAsync("counter", 1, 0, keepLog: false, default);
        await healthy.ForgetOperatorAsync("counter", default); // index 2 was never forgotten one by one

        Assert.Contains("failed for a reason", File.ReadAllText(Path.Combine(healthy.LastFailedDirectory("counter"), LocalProcessRuntime.LogFileName)));
        Assert.Equal(
            [LocalProcessRuntime.LastFailedDirectoryName],
            Directory.EnumerateFileSystemEntries(_home.Combine("instances", "counter")).Select(Path.GetFileName));
    }

    [Fact]
    public async Task Forgetting_an_operator_without_a_failed_log_removes_its_directory()
    {
        var runtime = Runtime("exit 0");
        await RunToExitAsync(runtime, Launch(0));

        await runtime.ForgetInstanceAsync("counter", 0, 0, keepLog: false, default);
        await runtime.ForgetOperatorAsync("counter", default);
        await runtime.ForgetInstanceAsync("gone", 0, 0, keepLog: true, default); // Never existed: nothing to do, no error.

        Assert.False(Directory.Exists(_home.Combine("instances", "counter")));
    }
}
