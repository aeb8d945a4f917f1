using Concord.Contracts.Types.V1;
using Concord.Scheduler.Runtime.Containment;
using Concord.Scheduler.Runtime.Containment.Internal;

namespace Concord.Scheduler.Tests.Containment;

/// <summary>
/// Which cgroup version is chosen and which files a group is made of, against
/// <see cref="CgroupFsDouble"/> (a temporary directory laid out like cgroupfs).
/// </summary>
public sealed class CgroupContainmentTests : IDisposable
{
    private const string Home = "/var/lib/concord-test-home";
    private const string OwnGroup = "/system.slice/concord.service";

    private readonly CgroupFsDouble _fs = new();

    public void Dispose() => _fs.Dispose();

    private string V2Mountinfo => $"30 24 0:26 / {_fs.Root} rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";

    private const string V1Mountinfo = """
        25 24 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
        33 25 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
        34 25 0:30 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids
        35 25 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,cpu,cpuacct
        36 25 0:32 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:18 - cgroup2 cgroup2 rw
        """;

    private const string V1SelfCgroup = "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/abc\n1:cpu,cpuacct:/\n0::/\n";

    private string OwnDirectory => _fs.Root + OwnGroup;

    private IInstanceContainment DetectV2()
    {
        _fs.MakeGroup(_fs.Root);
        _fs.MakeGroup(OwnDirectory);
        return CgroupDetection.Detect(V2Mountinfo, $"0::{OwnGroup}\n", _fs, Home);
    }

    private static InstanceResources Resources(int memMb, double cpus) => InstanceResources.For(new OperatorSpec { MemMb = memMb, Cpus = cpus });

    [Fact]
    public void V2_is_chosen_where_its_controllers_are_offered_and_groups_live_under_the_schedulers_own_group()
    {
        var containment = DetectV2();

        var group = containment.Create("wc-0-abc", Resources(256, 0.5));

        var parent = Path.Combine(OwnDirectory, CgroupDetection.ParentGroupName(Home));
        var directory = Path.Combine(parent, "wc-0-abc");
        Assert.Equal("cgroup v2", containment.Name);
        Assert.Equal([Path.Combine(directory, "cgroup.procs")], group.ProcsFiles);
        Assert.Equal((256L * 1024 * 1024).ToString(), File.ReadAllText(Path.Combine(directory, "memory.max")));
        Assert.Equal("0", File.ReadAllText(Path.Combine(directory, "memory.swap.max")));
        Assert.Equal("50000 100000", File.ReadAllText(Path.Combine(directory, "cpu.max")));
        Assert.Equal(ContainmentLimits.InstancePidsMax.ToString(), File.ReadAllText(Path.Combine(directory, "pids.max")));
        // Limits apply only where each ancestor delegates the controllers.
        Assert.Equal("cpu memory pids", File.ReadAllText(Path.Combine(OwnDirectory, "cgroup.subtree_control")));
        Assert.Equal("cpu memory pids", File.ReadAllText(Path.Combine(parent, "cgroup.subtree_control")));
        Assert.Equal(["wc-0-abc"], containment.List());
    }

    [Fact]
    public async Task V2_kill_uses_cgroup_kill_then_removes_the_group_and_the_empty_parent()
    {
        var containment = DetectV2();
        var group = containment.Create("wc-0-abc", Resources(0, 0));
        var procs = group.ProcsFiles[0];
        // A pid no process has: cgroup.kill (the double) empties the group, nothing is signalled.
        File.WriteAllText(procs, "2147483600\n");
        Assert.Equal([2147483600], group.Pids());

        Assert.True(await group.KillAndRemoveAsync(TimeProvider.System, CancellationToken.None));
        containment.RemoveParentIfEmpty();

        Assert.Contains(_fs.Writes, w => w.Path.EndsWith("cgroup.kill", StringComparison.Ordinal) && w.Text == "1");
        Assert.False(Directory.Exists(Path.GetDirectoryName(procs)));
        Assert.False(Directory.Exists(Path.Combine(OwnDirectory, CgroupDetection.ParentGroupName(Home))));
        Assert.Null(containment.Open("wc-0-abc"));
        Assert.Empty(containment.List());
    }

    [Fact]
    public void V2_oom_kills_are_read_from_memory_events()
    {
        var containment = DetectV2();
        var group = containment.Create("wc-0-abc", Resources(0, 0));
        var events = Path.Combine(Path.GetDirectoryName(group.ProcsFiles[0])!, "memory.events");

        Assert.Equal(0, group.OomKills());
        File.WriteAllText(events, "low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\n");
        Assert.Equal(2, group.OomKills());
    }

    [Fact]
    public void V2_whose_controllers_cannot_be_delegated_fails_naming_the_fix()
    {
        var containment = DetectV2();
        // v2 answers EBUSY when the group holds processes itself (no internal processes rule).
        _fs.Refused.Add(Path.Combine(OwnDirectory, "cgroup.subtree_control"));

        var error = Assert.Throws<ContainmentException>(() => containment.Create("wc-0-abc", Resources(0, 0)));

        Assert.Contains("--no-containment", error.Message, StringComparison.Ordinal);
        Assert.Contains("Delegate=yes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_limit_that_cannot_be_set_fails_the_create_and_leaves_no_half_made_group()
    {
        var containment = DetectV2();
        var directory = Path.Combine(OwnDirectory, CgroupDetection.ParentGroupName(Home), "wc-0-abc");
        _fs.Refused.Add(Path.Combine(directory, "memory.max"));

        var error = Assert.Throws<ContainmentException>(() => containment.Create("wc-0-abc", Resources(256, 1)));

        Assert.Contains("memory.max", error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(directory));
    }

    [Fact]
    public void V1_is_chosen_on_a_hybrid_host_whose_v2_has_no_controllers_with_one_group_per_hierarchy()
    {
        var containment = (CgroupContainment)CgroupDetection.Detect(V1Mountinfo, V1SelfCgroup, _fs, Home);

        var parent = CgroupDetection.ParentGroupName(Home);
        Assert.Equal("cgroup v1", containment.Name);
        Assert.Equal(
            new[] { $"/sys/fs/cgroup/memory/process_api/abc/{parent}", $"/sys/fs/cgroup/pids/{parent}", $"/sys/fs/cgroup/cpu,cpuacct/{parent}" }.Order(),
            containment.ParentDirectories.Order());
    }

    [Fact]
    public void Without_usable_cgroups_detection_fails_naming_no_containment()
    {
        var mountinfo = "25 24 0:22 / /sys/fs/cgroup ro - tmpfs tmpfs ro\n33 25 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";

        var error = Assert.Throws<ContainmentException>(() => CgroupDetection.Detect(mountinfo, "4:memory:/\n", _fs, Home));

        Assert.Contains("pids, cpu", error.Message, StringComparison.Ordinal);
        Assert.Contains("--no-containment", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Resources_default_as_the_spec_documents_and_quota_never_drops_below_the_kernels_minimum()
    {
        Assert.Equal(ContainmentLimits.DefaultMemMb * 1024L * 1024, Resources(0, 0).MemoryBytes);
        Assert.Equal(ContainmentLimits.CpuPeriodUs, Resources(0, 0).CpuQuotaUs);
        Assert.Equal(2 * ContainmentLimits.CpuPeriodUs, Resources(0, 2).CpuQuotaUs);
        Assert.Equal(ContainmentLimits.CpuQuotaUsMin, Resources(0, 0.001).CpuQuotaUs);
    }

    [Fact]
    public void Parent_group_names_differ_per_home_and_are_stable()
    {
        Assert.Equal(CgroupDetection.ParentGroupName("/a/home"), CgroupDetection.ParentGroupName("/a/home"));
        Assert.NotEqual(CgroupDetection.ParentGroupName("/a/home"), CgroupDetection.ParentGroupName("/b/home"));
        Assert.StartsWith(ContainmentLimits.ParentGroupPrefix, CgroupDetection.ParentGroupName("/a/home"), StringComparison.Ordinal);
    }
}
