using Concord.Scheduler.Runtime.Kubernetes.Internal;
using k8s.Models;

namespace Concord.Scheduler.Tests.Kubernetes;

/// <summary>Pod phases and container statuses (as kubelet reports them) onto the instance lifecycle.</summary>
public sealed class PodStatusMappingTests
{
    private static V1Pod Pod(string phase, V1ContainerStatus? executor = null, V1ContainerStatus? op = null, string? reason = null) => new()
    {
        Metadata = new V1ObjectMeta { Name = "counter-0-abc" },
        Spec = new V1PodSpec
        {
            InitContainers = [new V1Container { Name = "executor", Image = "e", RestartPolicy = "Always" }],
            Containers = [new V1Container { Name = "operator", Image = "o" }],
        },
        Status = new V1PodStatus
        {
            Phase = phase,
            Reason = reason,
            InitContainerStatuses = executor is null ? null : [executor],
            ContainerStatuses = op is null ? null : [op],
        },
    };

    private static V1ContainerStatus Container(string name, V1ContainerState state, int restarts = 0, V1ContainerState? last = null) =>
        new() { Name = name, Image = name, ImageID = "", Ready = false, RestartCount = restarts, State = state, LastState = last };

    private static V1ContainerState Running => new() { Running = new V1ContainerStateRunning() };

    private static V1ContainerState Terminated(int code, string? reason = null) => new() { Terminated = new V1ContainerStateTerminated { ExitCode = code, Reason = reason } };

    [Fact]
    public void A_pending_pod_is_not_running_and_says_why()
    {
        var pod = Pod("Pending", op: Container("operator", new V1ContainerState { Waiting = new V1ContainerStateWaiting { Reason = "ErrImagePull", Message = "not found" } }));
        pod.Status.Conditions = [new V1PodCondition { Type = "PodScheduled", Status = "True" }];

        var seen = PodStatusMapping.Observe(pod);

        Assert.False(seen.Running);
        Assert.Null(seen.Ended);
        Assert.Equal("container operator waiting: ErrImagePull (not found)", seen.Waiting);
    }

    [Fact]
    public void An_unschedulable_pod_names_the_scheduler_reason()
    {
        var pod = Pod("Pending");
        pod.Status.Conditions = [new V1PodCondition { Type = "PodScheduled", Status = "False", Reason = "Unschedulable", Message = "0/3 nodes have enough cpu" }];

        Assert.Equal("not scheduled: Unschedulable (0/3 nodes have enough cpu)", PodStatusMapping.Observe(pod).Waiting);
    }

    [Fact]
    public void Running_means_the_executor_sidecar_runs()
    {
        Assert.True(PodStatusMapping.Observe(Pod("Running", Container("executor", Running), Container("operator", Running))).Running);
        Assert.False(PodStatusMapping.Observe(Pod("Running", Container("executor", new V1ContainerState { Waiting = new V1ContainerStateWaiting { Reason = "CrashLoopBackOff" } }))).Running);
    }

    [Fact]
    public void The_executor_first_exit_ends_the_instance_even_when_kubelet_already_restarted_the_sidecar()
    {
        var seen = PodStatusMapping.Observe(Pod("Running", Container("executor", Running, restarts: 1, last: Terminated(1, "Error"))));

        Assert.Equal(1, seen.Ended?.ExitCode);
        Assert.StartsWith("executor container exited with code 1 (Error)", seen.Ended?.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void An_OOM_killed_operator_is_the_operators_own_failure_once_the_pod_ends()
    {
        var seen = PodStatusMapping.Observe(Pod("Failed", Container("executor", Running), Container("operator", Terminated(137, "OOMKilled"))));

        Assert.True(seen.Ended?.OutOfMemory);
        Assert.Equal(9, seen.Ended?.Signal);
        Assert.Contains("raise `mem`", seen.Ended?.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void An_ended_operator_with_a_running_executor_is_reported_for_the_grace_period_not_yet_an_end()
    {
        var seen = PodStatusMapping.Observe(Pod("Running", Container("executor", Running), Container("operator", Terminated(2))));

        Assert.Null(seen.Ended);
        Assert.Equal(2, seen.OperatorEnded?.ExitCode);
    }

    [Theory]
    [InlineData("Evicted")]
    [InlineData("NodeLost")]
    public void A_pod_ended_by_the_node_is_a_host_loss(string reason)
    {
        var seen = PodStatusMapping.Observe(Pod("Failed", reason: reason));

        Assert.True(seen.Ended?.HostLost);
        Assert.Contains(reason, seen.Ended?.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void A_deleted_pod_is_a_stop_when_asked_and_a_kill_from_outside_otherwise()
    {
        Assert.Equal(128 + 15, PodStatusMapping.Deleted(stopRequested: true).ExitCode);
        Assert.Equal(9, PodStatusMapping.Deleted(stopRequested: false).Signal);
    }
}
