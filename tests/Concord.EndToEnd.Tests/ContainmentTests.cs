using System.Security.Cryptography;
using System.Text;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.EndToEnd.Tests.Harness;

namespace Concord.EndToEnd.Tests;

/// <summary>
/// No process of an instance outlives it, whatever the operator does (docs/security.md,
/// "Containment"): an operator that ignores SIGTERM, hangs in destroy() and starts children
/// that ignore SIGTERM too (one of them in a session of its own) is gone after `kill`, `down`,
/// a SIGKILL of its executor, and a SIGKILL of the scheduler with its executor followed by a
/// restart; and `mem` is enforced. These tests need root and cgroups (v1 or v2), as the
/// scheduler does without --no-containment.
/// </summary>
public sealed class ContainmentTests : IDisposable
{
    /// <summary>
    /// How long every process of a stopped instance may take to be gone, in seconds: the
    /// scheduler's stop timeout (15 s) plus the group kill bound (5 s) plus room for 2 busy cores.
    /// </summary>
    private const int GoneTimeoutSeconds = 40;

    /// <summary>Memory the hog is deployed with, in MiB: enough for the executor, far below what the hog takes.</summary>
    private const int HogMemMb = 256;

    /// <summary>Homes of the clusters of this test, whose groups Dispose removes whatever happened.</summary>
    private readonly List<string> _homes = [];

    /// <summary>
    /// Removes what a failed test may have left in the cgroup tree (the clusters' own disposal
    /// already killed their processes by environment): any process still in a group is
    /// SIGKILLed, then the groups and their parents are removed.
    /// </summary>
    public void Dispose()
    {
        foreach (var parent in _homes.SelectMany(ParentGroups).Where(Directory.Exists))
        {
            foreach (var group in Directory.EnumerateDirectories(parent))
            {
                var deadline = DateTime.UtcNow.AddSeconds(GoneTimeoutSeconds);
                while (Directory.Exists(group) && DateTime.UtcNow < deadline)
                {
                    foreach (var pid in File.ReadAllLines(Path.Combine(group, "cgroup.procs")).Where(l => l.Length > 0).Select(int.Parse))
                    {
                        Processes.Kill(pid, hard: true);
                    }
                    try
                    {
                        Directory.Delete(group);
                    }
                    catch (IOException)
                    {
                        // Busy until the killed processes are reaped: poll, bounded.
                        Thread.Sleep(Eventually.PollIntervalMs);
                    }
                }
            }
            try
            {
                Directory.Delete(parent);
            }
            catch (IOException)
            {
                // Another group is still there; the scheduler's next start on that home retries.
            }
        }
    }

    private async Task<Cluster> StartClusterAsync(string? home = null)
    {
        RequireContainment();
        var cluster = await Cluster.StartAsync(home);
        _homes.Add(cluster.Home);
        return cluster;
    }

    private static string OperatorScript => Path.Combine(Repo.Root, "tests", "operators", "python", "containment_operator.py");

    private static OperatorSpec Misbehaving(string name, string mode, int memMb = 512) => new()
    {
        Name = name,
        Executable = "/usr/bin/python3",
        Args = { OperatorScript },
        Instances = 1,
        Cpus = 1,
        MemMb = memMb,
        Environment =
        {
            ["PYTHONPATH"] = Path.Combine(Repo.Root, "sdk", "python"),
            ["CONTAINMENT_MODE"] = mode,
        },
        ExpectedOutputs = { "out" },
    };

    /// <summary>The instance's executor, operator and the operator's two children, once all run.</summary>
    private static async Task<int[]> StubbornInstanceAsync(Cluster cluster, string name)
    {
        await cluster.DeployAsync(Misbehaving(name, "stubborn"));
        var status = await cluster.WaitRunningAsync(name, 1);
        var children = Path.Combine(cluster.Home, "instances", name, "0", "children");
        await Eventually.UntilAsync(() => File.Exists(children), TimeSpan.FromSeconds(Cluster.RunningTimeoutSeconds),
            () => $"the operator to write {children}\n{cluster.InstanceLogs(name)}");
        int[] pids = [status.Instances[0].ExecutorPid, status.Instances[0].OperatorPid,
            .. File.ReadAllLines(children).Where(l => l.Length > 0).Select(int.Parse)];
        Assert.Equal(4, pids.Length);
        Assert.All(pids, pid => Assert.True(Processes.IsAlive(pid), $"pid {pid} of the instance should run before the test acts"));
        Assert.NotEmpty(InstanceGroups(cluster.Home));
        return pids;
    }

    private static Task AssertAllGoneAsync(IReadOnlyList<int> pids, string after, Cluster cluster) =>
        Eventually.UntilAsync(() => pids.All(pid => !Processes.IsAlive(pid)), TimeSpan.FromSeconds(GoneTimeoutSeconds),
            () => $"every process of the instance to be gone after {after}; still alive: " +
                  string.Join(", ", pids.Where(Processes.IsAlive).Select(Describe)) +
                  $"\nscheduler output (tail):\n{Cluster.Tail(cluster.SchedulerOutput, 30)}");

    private static Task AssertNoGroupsAsync(string home) =>
        Eventually.UntilAsync(() => InstanceGroups(home).Count == 0, TimeSpan.FromSeconds(GoneTimeoutSeconds),
            () => $"the instance groups of {home} to be removed; left: {string.Join(", ", InstanceGroups(home))}");

    [Fact]
    public async Task Kill_ends_every_process_of_a_stubborn_operator_and_removes_its_group()
    {
        await using var cluster = await StartClusterAsync();
        var pids = await StubbornInstanceAsync(cluster, "stubborn");

        await cluster.Client.KillAsync(new KillRequest { Name = "stubborn" }, cluster.Call());

        await AssertAllGoneAsync(pids, "kill", cluster);
        await AssertNoGroupsAsync(cluster.Home);
    }

    [Fact]
    public async Task Down_ends_every_process_of_a_stubborn_operator()
    {
        await using var cluster = await StartClusterAsync();
        var pids = await StubbornInstanceAsync(cluster, "stubborn");

        // What `concord down` does: SIGTERM to the scheduler, which stops every instance.
        Processes.Kill(cluster.SchedulerPid, hard: false);

        await Eventually.UntilAsync(() => !Processes.IsAlive(cluster.SchedulerPid), TimeSpan.FromSeconds(GoneTimeoutSeconds),
            () => $"the scheduler to exit after SIGTERM\n{Cluster.Tail(cluster.SchedulerOutput, 30)}");
        await AssertAllGoneAsync(pids, "down", cluster);
        await AssertNoGroupsAsync(cluster.Home);
    }

    [Fact]
    public async Task Sigkill_of_the_executor_ends_its_operator_and_the_operators_children()
    {
        await using var cluster = await StartClusterAsync();
        var pids = await StubbornInstanceAsync(cluster, "stubborn");

        Processes.Kill(pids[0], hard: true);

        // The operator by its parent-death signal, its children by the scheduler's group kill;
        // the scheduler then relaunches the instance as new processes.
        await AssertAllGoneAsync(pids, "SIGKILL of the executor", cluster);
    }

    [Fact]
    public async Task Scheduler_restart_after_sigkill_of_scheduler_and_executor_ends_the_orphans()
    {
        var first = await StartClusterAsync();
        await using var __ = first;
        var pids = await StubbornInstanceAsync(first, "stubborn");

        Processes.Kill(first.SchedulerPid, hard: true);
        Processes.Kill(pids[0], hard: true);
        await Eventually.UntilAsync(() => !Processes.IsAlive(first.SchedulerPid) && !Processes.IsAlive(pids[0]) && !Processes.IsAlive(pids[1]),
            TimeSpan.FromSeconds(GoneTimeoutSeconds), () => "the scheduler, the executor and (by its parent-death signal) the operator to die");
        // Nobody is left to kill the operator's children: they are orphans until a restart.
        Assert.True(Processes.IsAlive(pids[3]), "the operator's child in its own session should outlive a crash of scheduler and executor");

        // A stale scheduler.json would make the new cluster talk to the dead address; the executor
        // is dead, so there is nothing to adopt and any port will do.
        File.Delete(Path.Combine(first.Home, "scheduler.json"));
        await using var second = await StartClusterAsync(first.Home);

        await AssertAllGoneAsync(pids, "a scheduler restart", second);
        await second.WaitRunningAsync("stubborn", 1);
    }

    [Fact]
    public async Task An_instance_adopted_after_a_scheduler_sigkill_keeps_its_group_and_kill_still_ends_all_of_it()
    {
        var first = await StartClusterAsync();
        await using var __ = first;
        var pids = await StubbornInstanceAsync(first, "stubborn");
        var incarnation = (await first.FindAsync("stubborn"))!.Instances[0].Incarnation;

        Processes.Kill(first.SchedulerPid, hard: true);
        await Eventually.UntilAsync(() => !Processes.IsAlive(first.SchedulerPid), TimeSpan.FromSeconds(GoneTimeoutSeconds), () => "the scheduler to die");
        // The stale scheduler.json stays: the new scheduler takes its port, so the executor finds it.
        await using var second = await StartClusterAsync(first.Home);
        var schedulerJson = Path.Combine(first.Home, "scheduler.json");
        await Eventually.UntilAsync(
            () => File.Exists(schedulerJson)
                  && System.Text.Json.JsonDocument.Parse(File.ReadAllText(schedulerJson)).RootElement.GetProperty("pid").GetInt32() == second.SchedulerPid,
            TimeSpan.FromSeconds(Cluster.StartTimeoutSeconds), () => "the restarted scheduler to write scheduler.json");
        // The client talks to the address of the stale file; the new scheduler must serve there.
        Assert.Equal(first.Address, System.Text.Json.JsonDocument.Parse(File.ReadAllText(schedulerJson)).RootElement.GetProperty("address").GetString());
        var adopted = await second.WaitRunningAsync("stubborn", 1);

        Assert.Equal(incarnation, adopted.Instances[0].Incarnation);
        Assert.All(pids, pid => Assert.True(Processes.IsAlive(pid), $"pid {pid} of the adopted instance should still run: its group is not a leftover"));
        Assert.NotEmpty(InstanceGroups(first.Home));

        await second.Client.KillAsync(new KillRequest { Name = "stubborn" }, second.Call());

        await AssertAllGoneAsync(pids, "kill of the adopted instance", second);
        await AssertNoGroupsAsync(first.Home);
    }

    [Fact]
    public async Task An_operator_allocating_past_mem_is_oom_killed_and_the_instance_fails_saying_so()
    {
        await using var cluster = await StartClusterAsync();

        await cluster.DeployAsync(Misbehaving("hog", "hog", HogMemMb), waitRunning: false);

        var failed = await cluster.WaitForAsync("hog",
            o => o.Instances.Any(i => i.LastError.Contains("OOM", StringComparison.Ordinal)),
            "an instance whose last error says it was OOM-killed");
        var error = failed.Instances.First(i => i.LastError.Contains("OOM", StringComparison.Ordinal)).LastError;
        Assert.Contains($"{HogMemMb} MiB", error, StringComparison.Ordinal);
        Assert.Contains("mem", error, StringComparison.Ordinal);
        Assert.DoesNotContain("without being stopped", error, StringComparison.Ordinal);
    }

    /// <summary>Fails with the fix when this machine cannot contain instances (not root, no cgroups).</summary>
    private static void RequireContainment()
    {
        if (Environment.UserName != "root")
        {
            Assert.Fail($"containment tests need root (running as {Environment.UserName}) to create cgroups; run the end-to-end tests as root on a host with cgroup v1 or v2");
        }
        if (HierarchyRoots().Count == 0)
        {
            Assert.Fail("containment tests need cgroup v1 (memory, pids, cpu under /sys/fs/cgroup) or a cgroup v2 with those controllers; none is mounted here");
        }
    }

    /// <summary>The scheduler's parent group of <paramref name="home"/> in every hierarchy (as the scheduler names it).</summary>
    private static IReadOnlyList<string> ParentGroups(string home)
    {
        var name = "concord-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Path.GetFullPath(home))))[..8];
        return [.. HierarchyRoots().Select(root => Path.Combine(root, name))];
    }

    /// <summary>Instance groups of <paramref name="home"/> that exist now, in any hierarchy.</summary>
    private static IReadOnlyList<string> InstanceGroups(string home) =>
        [.. ParentGroups(home).Where(Directory.Exists).SelectMany(Directory.EnumerateDirectories)];

    /// <summary>
    /// This process's group in each hierarchy the scheduler uses; the scheduler it starts is
    /// in the same groups (children inherit them).
    /// </summary>
    private static IReadOnlyList<string> HierarchyRoots()
    {
        var roots = new List<string>();
        foreach (var line in File.ReadAllLines("/proc/self/cgroup"))
        {
            var parts = line.Split(':', 3);
            if (parts.Length != 3)
            {
                continue;
            }
            foreach (var controller in parts[1].Split(','))
            {
                var directory = "/sys/fs/cgroup/" + controller + parts[2];
                if (controller is "memory" or "pids" or "cpu" && Directory.Exists(directory))
                {
                    roots.Add(directory.TrimEnd('/'));
                }
            }
            if (parts[1] == "" && File.Exists("/sys/fs/cgroup/cgroup.controllers"))
            {
                roots.Add(("/sys/fs/cgroup" + parts[2]).TrimEnd('/'));
            }
        }
        return roots;
    }

    private static string Describe(int pid)
    {
        try
        {
            return $"{pid} ({File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').Trim()})";
        }
        catch (IOException)
        {
            return pid.ToString();
        }
    }
}
