using Concord.Scheduler.Runtime;
using Concord.Scheduler.Runtime.Mesos.Internal;

namespace Concord.Scheduler.Tests.Mesos;

/// <summary>Every Mesos task state onto the instance lifecycle (the table in docs/mesos.md).</summary>
public sealed class TaskStateMappingTests
{
    [Theory]
    [InlineData("TASK_STAGING")]
    [InlineData("TASK_STARTING")]
    public void Staging_and_starting_are_still_starting(string state)
    {
        var seen = TaskStateMapping.Observe(state, null, null, stopRequested: false);
        Assert.False(seen.Running);
        Assert.Null(seen.Ended);
        Assert.False(TaskStateMapping.IsTerminal(state));
    }

    [Theory]
    [InlineData("TASK_RUNNING")]
    [InlineData("TASK_KILLING")]
    public void Running_and_killing_are_running(string state)
    {
        var seen = TaskStateMapping.Observe(state, null, null, stopRequested: false);
        Assert.True(seen.Running);
        Assert.Null(seen.Ended);
    }

    [Fact]
    public void Finished_is_exit_code_0()
    {
        var exit = TaskStateMapping.Observe("TASK_FINISHED", "Command exited with status 0", null, false).Ended!;
        Assert.Equal(0, exit.ExitCode);
        Assert.False(exit.HostLost);
    }

    [Theory]
    [InlineData("Command exited with status 3", 3, "exited with code 3")]
    [InlineData("Command terminated with signal 9", 137, "killed by signal 9")]
    [InlineData("something else", 1, "failed (TASK_FAILED, something else)")]
    public void Failed_keeps_the_exit_status_or_signal_mesos_reports(string message, int code, string description)
    {
        var exit = TaskStateMapping.Observe("TASK_FAILED", message, null, false).Ended!;
        Assert.Equal(code, exit.ExitCode);
        Assert.Contains(description, exit.Description, StringComparison.Ordinal);
        Assert.False(exit.OutOfMemory);
    }

    [Fact]
    public void A_memory_limitation_is_out_of_memory()
    {
        var exit = TaskStateMapping.Observe("TASK_FAILED", "Memory limit exceeded", "REASON_CONTAINER_LIMITATION_MEMORY", false).Ended!;
        Assert.True(exit.OutOfMemory);
        Assert.Equal(128 + InstanceExit.SigKill, exit.ExitCode);
    }

    [Fact]
    public void Killed_is_stopped_when_asked_and_a_kill_from_outside_otherwise()
    {
        var stopped = TaskStateMapping.Observe("TASK_KILLED", null, null, stopRequested: true).Ended!;
        Assert.Equal(128 + InstanceExit.SigTerm, stopped.ExitCode);
        Assert.StartsWith("stopped", stopped.Description, StringComparison.Ordinal);
        var killed = TaskStateMapping.Observe("TASK_KILLED", null, null, stopRequested: false).Ended!;
        Assert.Equal(128 + InstanceExit.SigKill, killed.ExitCode);
        Assert.StartsWith("killed by Mesos", killed.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Error_is_a_refused_launch_counted_as_the_operators_failure()
    {
        var exit = TaskStateMapping.Observe("TASK_ERROR", "Total resources required exceed offered", "REASON_TASK_INVALID", false).Ended!;
        Assert.Equal(-1, exit.ExitCode);
        Assert.False(exit.HostLost);
        Assert.Contains("Total resources required exceed offered", exit.Description, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("TASK_LOST")]
    [InlineData("TASK_GONE")]
    [InlineData("TASK_GONE_BY_OPERATOR")]
    [InlineData("TASK_UNREACHABLE")]
    [InlineData("TASK_DROPPED")]
    [InlineData("TASK_UNKNOWN")]
    public void States_of_a_lost_agent_are_host_lost(string state)
    {
        var exit = TaskStateMapping.Observe(state, null, "REASON_AGENT_REMOVED", false).Ended!;
        Assert.True(exit.HostLost);
        Assert.True(TaskStateMapping.IsTerminal(state));
    }
}
