using Concord.Scheduler.Reconcile.Core;
using static Concord.Scheduler.Tests.ReconcileCore.ReconcileCoreDriver;

namespace Concord.Scheduler.Tests.ReconcileCore;

/// <summary>
/// Instances the topology no longer wants (kill, scale down, replace) have their working state
/// removed once they have stopped, never before; a failing one keeps its log.
/// </summary>
public sealed class ForgetInstanceTests
{
    private readonly ReconcileCoreDriver _driver = new();

    private List<FakeInstance> DeployRunning(Concord.Contracts.Types.V1.OperatorSpec spec)
    {
        _driver.Deploy(spec);
        var instances = _driver.Launches.Where(l => l.OperatorName == spec.Name).ToList();
        foreach (var instance in instances)
        {
            _driver.Register(instance);
        }
        return instances;
    }

    private List<ReconcileAction> Forgets() => _driver.Actions.Where(a => a is ForgetInstance or ForgetOperator).ToList();

    [Fact]
    public void Kill_forgets_each_instance_after_its_exit_and_the_operator_after_the_last()
    {
        var instances = DeployRunning(Spec("counter", instances: 2));

        _driver.Kill("counter");
        var forgetsBeforeExit = Forgets();
        _driver.Exit(instances[0], code: 0);
        var forgetsAfterFirstExit = Forgets();
        _driver.Exit(instances[1], code: 0);

        Assert.Empty(forgetsBeforeExit);
        Assert.Equal([new ForgetInstance("counter", 0, 0, KeepLog: false)], forgetsAfterFirstExit);
        Assert.Equal(
            [new ForgetInstance("counter", 0, 0, KeepLog: false), new ForgetInstance("counter", 1, 0, KeepLog: false), new ForgetOperator("counter")],
            Forgets());
    }

    [Fact]
    public void Scale_down_forgets_the_removed_instance_after_it_drained_and_keeps_the_operator()
    {
        var instances = DeployRunning(Spec("counter", instances: 2, reads: "words"));

        _driver.Scale("counter", 1);
        var forgetsBeforeExit = Forgets();
        _driver.Exit(instances[1], code: 0);

        Assert.Empty(forgetsBeforeExit);
        Assert.Equal([new ForgetInstance("counter", 1, 0, KeepLog: false)], Forgets());
    }

    [Fact]
    public void Killing_a_failed_instance_forgets_it_at_once_and_keeps_its_log()
    {
        var instance = DeployRunning(Spec("counter")).Single();
        _driver.Exit(instance, code: 3);

        _driver.Kill("counter");

        Assert.Empty(_driver.Stops);
        Assert.Equal([new ForgetInstance("counter", 0, 0, KeepLog: true), new ForgetOperator("counter")], Forgets());
    }

    [Fact]
    public void A_redeploy_after_kill_launches_only_after_the_old_directory_was_forgotten()
    {
        var old = DeployRunning(Spec("counter")).Single();
        _driver.Kill("counter");
        _driver.Deploy(Spec("counter"));

        _driver.Exit(old, code: 0);

        var forget = _driver.Actions.FindIndex(a => a is ForgetInstance);
        var relaunch = _driver.Actions.FindLastIndex(a => a is LaunchInstance);
        Assert.InRange(forget, 0, relaunch - 1);
        Assert.DoesNotContain(_driver.Actions, a => a is ForgetOperator); // Deployed again: its directory stays.
    }

    [Fact]
    public void Scheduler_shutdown_forgets_nothing()
    {
        var instance = DeployRunning(Spec("counter")).Single();

        _driver.Core.StopAll();
        _driver.Run();
        _driver.Exit(instance, code: 0);

        Assert.Empty(Forgets());
    }
}
