using System.Diagnostics;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Runtime.Containment;

namespace Concord.Scheduler.Tests.Containment;

/// <summary>
/// Containment on this host's real cgroups (v1 here; v2 where mounted): limits are enforced,
/// a forking group is killed to the last process and removed. Needs root and cgroups; fails
/// saying so otherwise. Every group created is removed, also when an assertion fails.
/// </summary>
public sealed class RealCgroupTests : IAsyncLifetime
{
    private static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(20);

    private readonly TempDirectory _home = new();
    private readonly IInstanceContainment _containment;
    private readonly List<IContainmentGroup> _groups = [];

    public RealCgroupTests()
    {
        if (Environment.UserName != "root")
        {
            Assert.Fail($"these tests create cgroups and need root (running as {Environment.UserName}); run them as root on a host with cgroup v1 or v2");
        }
        _containment = InstanceContainment.Detect(_home.Path);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var group in _groups)
        {
            await group.KillAndRemoveAsync(TimeProvider.System, CancellationToken.None);
        }
        _containment.RemoveParentIfEmpty();
        _home.Dispose();
    }

    private IContainmentGroup Create(string name, int memMb)
    {
        var group = _containment.Create(name, InstanceResources.For(new OperatorSpec { MemMb = memMb, Cpus = 1 }));
        _groups.Add(group);
        return group;
    }

    /// <summary>Runs <paramref name="script"/> in a shell that first enters <paramref name="group"/>, as the runtime's launch does.</summary>
    private static Process StartIn(IContainmentGroup group, string script)
    {
        var enter = string.Concat(group.ProcsFiles.Select(f => $"echo $$ > '{f}' || exit 125; "));
        return Process.Start(new ProcessStartInfo("/bin/sh", ["-c", enter + script]) { UseShellExecute = false })!;
    }

    [Fact]
    public async Task A_process_allocating_past_the_memory_limit_is_oom_killed_and_counted()
    {
        var group = Create("oom-0-test", memMb: 32);

        using var hog = StartIn(group, "exec /usr/bin/python3 -c 'x = [b\"\\x01\" * (8 << 20) for _ in range(64)]'");
        await hog.WaitForExitAsync().WaitAsync(TestTimeout);

        Assert.Equal(137, hog.ExitCode);
        Assert.True(group.OomKills() > 0, "the group's OOM kill count should say why the process died");
    }

    [Fact]
    public async Task Kill_and_remove_ends_a_process_that_ignores_sigterm_and_its_forks_then_removes_the_group()
    {
        var group = Create("stubborn-0-test", memMb: 64);
        using var shell = StartIn(group, "trap '' TERM; sleep 300 & sleep 300 & setsid sleep 300 & wait");
        var deadline = DateTime.UtcNow + TestTimeout;
        // Another process's state with no event to await: poll with a deadline.
        while (group.Pids().Count < 4)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the shell and its 3 children should be in the group; found {group.Pids().Count}");
            await Task.Delay(20);
        }
        var pids = group.Pids();
        Assert.Contains(_containment.List(), name => name == "stubborn-0-test");

        Assert.True(await group.KillAndRemoveAsync(TimeProvider.System, CancellationToken.None).WaitAsync(TestTimeout));

        await shell.WaitForExitAsync().WaitAsync(TestTimeout);
        Assert.All(pids, pid => Assert.False(File.Exists($"/proc/{pid}/cmdline") && !IsZombie(pid), $"pid {pid} should be dead"));
        Assert.Null(_containment.Open("stubborn-0-test"));
        Assert.DoesNotContain(_containment.List(), name => name == "stubborn-0-test");
    }

    private static bool IsZombie(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..][0] is 'Z' or 'X';
        }
        catch (IOException)
        {
            return true;
        }
    }
}
