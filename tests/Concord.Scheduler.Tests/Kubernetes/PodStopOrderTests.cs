using Concord.Contracts.Types.V1;
using Concord.Scheduler.Runtime;
using Concord.Scheduler.Runtime.Kubernetes;
using Concord.Scheduler.Runtime.Kubernetes.Internal;

namespace Concord.Scheduler.Tests.Kubernetes;

/// <summary>
/// The pod spec fields that make Kubernetes stop the operator before the executor (docs/kubernetes.md,
/// "Stop order"): the executor is a native sidecar (an init container with restartPolicy Always),
/// which kubelet terminates only after every main container has exited; the operator is the
/// one main container; the grace period is the named bound.
/// </summary>
public sealed class PodStopOrderTests
{
    private static readonly KubernetesRuntimeOptions Options = new() { Namespace = "streams", ExecutorImage = "registry.example.com/concord/executor:1.0", TlsSecret = "concord-tls" };

    [Fact]
    public void The_executor_is_a_native_sidecar_and_the_operator_the_only_main_container_so_the_operator_is_signalled_first()
    {
        var spec = new OperatorSpec { Name = "counter", Executable = "counter", Instances = 1, Image = "registry.example.com/team/counter:1.0" };
        var pod = PodSpecs.Pod(new InstanceLaunch("counter", 0, "0123456789abcdef", spec, "https://s"), Options, "uid");

        var sidecar = Assert.Single(pod.Spec.InitContainers);
        Assert.Equal((PodSpecs.ExecutorContainer, "Always"), (sidecar.Name, sidecar.RestartPolicy));
        var main = Assert.Single(pod.Spec.Containers);
        Assert.Equal(PodSpecs.OperatorContainer, main.Name);
        Assert.Null(main.RestartPolicy);
        // Neither container has a preStop hook that could reorder or delay the signals.
        Assert.Null(sidecar.Lifecycle);
        Assert.Null(main.Lifecycle);
        // The executor is the sidecar in attach mode: it waits for its own SIGTERM after the operator ends.
        Assert.Contains(sidecar.Env, e => e.Name == "CONCORD_OPERATOR_ATTACH" && e.Value == PodSpecs.SocketPath);
        Assert.Equal(KubernetesLimits.PodTerminationGraceSeconds, pod.Spec.TerminationGracePeriodSeconds);
        Assert.Equal("Never", pod.Spec.RestartPolicy);
    }

    [Fact]
    public void The_grace_period_is_the_stop_timeout_plus_the_named_slack()
    {
        Assert.Equal((SchedulerLimits.StopTimeoutMs / 1000) + KubernetesLimits.TerminationGraceSlackSeconds, KubernetesLimits.PodTerminationGraceSeconds);
        Assert.True(KubernetesLimits.PodTerminationGraceSeconds * 1000 > SchedulerLimits.StopTimeoutMs);
    }
}
