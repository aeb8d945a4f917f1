extern alias scheduler;
using Concord.Executor;
using SchedulerLimits = scheduler::Concord.Scheduler.SchedulerLimits;

namespace Concord.Observability.Tests;

/// <summary>
/// The executor's shutdown bound strictly inside the scheduler's stop bound: otherwise the
/// scheduler SIGKILLs the executor while it is still stopping its operator, and the operator's
/// group is only caught by the instance's cgroup. Lives here because this project is the one
/// that references both services (the scheduler does not reference the executor).
/// </summary>
public sealed class ShutdownBoundTests
{
    [Fact]
    public void The_executors_whole_shutdown_fits_strictly_inside_the_schedulers_stop_timeout()
    {
        Assert.True(ExecutorLimits.ShutdownBoundMs < SchedulerLimits.StopTimeoutMs,
            $"ExecutorLimits.ShutdownBoundMs ({ExecutorLimits.ShutdownBoundMs} ms) must be below SchedulerLimits.StopTimeoutMs ({SchedulerLimits.StopTimeoutMs} ms)");
    }

    [Fact]
    public void The_executors_bound_counts_the_operators_shutdown_and_its_groups_stop()
    {
        Assert.True(ExecutorLimits.ShutdownBoundMs >= ExecutorLimits.ShutdownTimeoutMs + ExecutorLimits.OperatorStopGraceMs + ExecutorLimits.OutboundDrainTimeoutMs);
    }
}
