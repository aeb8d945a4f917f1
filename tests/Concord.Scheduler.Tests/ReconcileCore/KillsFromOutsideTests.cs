using Concord.Contracts.Scheduler.V1;
using Concord.Scheduler.Reconcile;
using Concord.Scheduler.Reconcile.Core;
using static Concord.Scheduler.Tests.ReconcileCore.ReconcileCoreDriver;

namespace Concord.Scheduler.Tests.ReconcileCore;

/// <summary>
/// docs/operations.md, "Kills from outside": an executor or operator killed by a signal the
/// scheduler did not send restarts at once and does not count toward crash-looping; the
/// operator's own failures keep the back-off.
/// </summary>
public sealed class KillsFromOutsideTests
{
    private readonly ReconcileCoreDriver _driver = new();

    private FakeInstance DeployRunning()
    {
        _driver.Deploy(Spec("counter"));
        var instance = _driver.Launches[^1];
        _driver.Register(instance);
        return instance;
    }

    private TimeSpan LastRestartDelay() => Assert.IsType<ArmTimer>(_driver.Actions.Last(a => a is ArmTimer { Event: BackoffElapsed })).Delay;

    [Theory]
    [InlineData(128 + 9)]
    [InlineData(128 + 15)]
    [InlineData(0)]
    public void Executors_killed_from_outside_again_and_again_restart_at_once_and_never_crash_loop(int code)
    {
        DeployRunning();
        for (var kill = 1; kill <= 2 * SchedulerLimits.CrashLoopFailuresMin; kill++)
        {
            _driver.Exit(_driver.Launches[^1], code);

            Assert.Equal(InstanceState.Failed, _driver.Status("counter").Instances.Single().State);
            Assert.Equal(TimeSpan.FromMilliseconds(SchedulerLimits.ExternalKillRestartDelayMs), LastRestartDelay());
            _driver.Advance(TimeSpan.Zero);
            _driver.Register(_driver.Launches[^1]);
        }

        var status = _driver.Status("counter");
        Assert.Equal(InstanceState.Running, status.Instances.Single().State);
        Assert.Equal(2 * SchedulerLimits.CrashLoopFailuresMin, status.Instances.Single().Restarts);
        Assert.Contains("from outside the scheduler", status.LastError);
    }

    [Fact]
    public void An_operator_the_executor_reports_killed_by_a_signal_restarts_at_once()
    {
        var instance = DeployRunning();
        _driver.Core.ReportFailure(new ReportFailureRequest
        {
            OperatorName = "counter",
            InstanceIndex = 0,
            Incarnation = instance.Incarnation,
            Message = "the operator process was killed by signal 9 (exit code 137) while running",
            OperatorSignal = 9,
        });

        _driver.Exit(instance, code: 1);

        Assert.Equal(TimeSpan.Zero, LastRestartDelay());
        Assert.StartsWith("the operator process was killed by signal 9", _driver.Status("counter").LastError);
        Assert.Contains("from outside the scheduler", _driver.Status("counter").LastError);
    }

    [Fact]
    public void The_operators_own_failures_keep_the_back_off_after_kills_from_outside()
    {
        var instance = DeployRunning();
        _driver.Exit(instance, code: 137);
        _driver.Advance(TimeSpan.Zero);
        var relaunched = _driver.Launches[^1];
        _driver.Core.ReportFailure(new ReportFailureRequest
        {
            OperatorName = "counter",
            InstanceIndex = 0,
            Incarnation = relaunched.Incarnation,
            Message = "the operator reported a fatal error: boom",
        });

        _driver.Exit(relaunched, code: 1);

        Assert.Equal(RestartBackoff.DelayFor(1), LastRestartDelay());
        Assert.DoesNotContain("from outside", _driver.Status("counter").LastError);
    }

    [Fact]
    public void The_OOM_killer_and_the_starting_timeout_are_not_kills_from_outside()
    {
        var instance = DeployRunning();
        _driver.Exit(instance, code: 137, outOfMemory: true);
        Assert.Equal(RestartBackoff.DelayFor(1), LastRestartDelay());

        _driver.Advance(RestartBackoff.DelayFor(1));
        var unregistered = _driver.Launches[^1];
        _driver.Advance(TimeSpan.FromMilliseconds(SchedulerLimits.StartingTimeoutMs));
        _driver.Exit(unregistered, code: 143);

        // A failure with the back-off (the first one has left the crash-loop window meanwhile), not an immediate restart.
        Assert.Equal(RestartBackoff.DelayFor(1), LastRestartDelay());
        Assert.Contains($"did not register within {SchedulerLimits.StartingTimeoutMs} ms", _driver.Status("counter").LastError);
    }

    [Fact]
    public void Past_the_bound_kills_from_outside_count_as_failures_again()
    {
        DeployRunning();
        for (var kill = 1; kill <= SchedulerLimits.ExternalKillsInWindowMax; kill++)
        {
            _driver.Exit(_driver.Launches[^1], code: 137);
            _driver.Advance(TimeSpan.Zero);
        }

        _driver.Exit(_driver.Launches[^1], code: 137);

        Assert.Equal(RestartBackoff.DelayFor(1), LastRestartDelay());
    }
}
