extern alias scheduler;
using Concord.Executor;
using KubernetesLimits = scheduler::Concord.Scheduler.Runtime.Kubernetes.KubernetesLimits;

namespace Concord.Observability.Tests;

/// <summary>
/// The executor's attach-mode stop (operator first, then the sidecar: docs/kubernetes.md,
/// "Stop order") inside the Kubernetes runtime's bounds. Lives here because this project is the
/// one that references both services.
/// </summary>
public sealed class KubernetesStopBoundTests
{
    [Fact]
    public void The_sidecars_wait_for_its_sigterm_and_its_drain_end_before_the_runtime_takes_the_operators_exit_instead()
    {
        Assert.True(ExecutorLimits.AttachedOperatorStopWaitMs + ExecutorLimits.OutboundDrainTimeoutMs < KubernetesLimits.OperatorEndGraceMs,
            $"AttachedOperatorStopWaitMs ({ExecutorLimits.AttachedOperatorStopWaitMs}) + OutboundDrainTimeoutMs ({ExecutorLimits.OutboundDrainTimeoutMs}) must be below KubernetesLimits.OperatorEndGraceMs ({KubernetesLimits.OperatorEndGraceMs})");
    }

    [Fact]
    public void A_pods_grace_covers_the_operators_shutdown_then_the_sidecars_wait_and_drain()
    {
        Assert.True(ExecutorLimits.ShutdownTimeoutMs + ExecutorLimits.AttachedOperatorStopWaitMs + ExecutorLimits.OutboundDrainTimeoutMs < KubernetesLimits.PodTerminationGraceSeconds * 1000,
            $"a pod's grace ({KubernetesLimits.PodTerminationGraceSeconds} s) must cover the operator's shutdown, the sidecar's wait for SIGTERM and its outbound drain");
    }
}
