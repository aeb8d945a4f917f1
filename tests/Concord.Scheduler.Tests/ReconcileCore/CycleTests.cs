using Concord.Contracts.Types.V1;
using Concord.Scheduler.Reconcile;
using Concord.Scheduler.Reconcile.Core;
using static Concord.Scheduler.Tests.ReconcileCore.ReconcileCoreDriver;

namespace Concord.Scheduler.Tests.ReconcileCore;

/// <summary>
/// Cycles: an operator whose streams close a loop deadlocks the topology under backpressure, so
/// the core refuses it at deploy, at replace and at its first registration, naming the loop,
/// unless its deploy file sets "allow_cycles".
/// </summary>
public sealed class CycleTests
{
    private const string WordCountLoop = "counts → loop → words → counter → counts";

    private readonly ReconcileCoreDriver _driver = new();

    private static ReconcileException Refused(Action action)
    {
        var error = Assert.Throws<ReconcileException>(action);
        Assert.Equal(ReconcileErrorKind.FailedPrecondition, error.Kind);
        return error;
    }

    private void DeployWordCount()
    {
        foreach (var spec in new[] { Spec("sink", reads: "counts"), Spec("counter", reads: "words", writes: "counts"), Spec("source", writes: "words") })
        {
            _driver.Deploy(spec);
        }
        foreach (var instance in _driver.Launches.ToList())
        {
            _driver.Register(instance);
        }
    }

    [Fact]
    public void A_deploy_that_closes_a_cycle_is_refused_naming_the_loop_and_nothing_changes()
    {
        DeployWordCount();
        var launches = _driver.Launches.Count;

        var error = Refused(() => _driver.Core.PlanDeploy(Spec("loop", reads: "counts", writes: "words")));

        Assert.Contains($"operator 'loop' would close a cycle: {WordCountLoop}", error.Message);
        Assert.Contains("\"allow_cycles\": true", error.Message);
        Assert.Empty(_driver.Core.TakeActions());
        Assert.Equal(launches, _driver.Launches.Count);
        Assert.DoesNotContain(_driver.Core.List(), o => o.Spec.Name == "loop");
    }

    [Fact]
    public void An_operator_reading_its_own_output_is_a_loop_of_one()
    {
        var error = Refused(() => _driver.Core.PlanDeploy(Spec("echo", reads: "words", writes: "words")));

        Assert.Contains("would close a cycle: words → echo → words", error.Message);
    }

    [Fact]
    public void A_deploy_file_that_allows_cycles_is_deployed()
    {
        DeployWordCount();
        var spec = Spec("loop", reads: "counts", writes: "words");
        spec.AllowCycles = true;

        _driver.Deploy(spec);

        Assert.Contains(_driver.Launches, l => l.OperatorName == "loop");
    }

    [Fact]
    public void A_chain_and_a_fan_in_are_not_cycles()
    {
        DeployWordCount();

        _driver.Deploy(Spec("second-source", writes: "words"));
        _driver.Deploy(Spec("audit", reads: "counts", writes: "audited"));

        Assert.Contains(_driver.Core.List(), o => o.Spec.Name == "audit");
    }

    [Fact]
    public void The_first_registration_whose_metadata_closes_a_cycle_is_refused_and_the_loop_is_never_routed()
    {
        DeployWordCount();
        _driver.Deploy(Spec("loop")); // A user operator whose deploy file declares no streams.
        var loop = _driver.Launches.Single(l => l.OperatorName == "loop");
        var metadata = new OperatorMetadata { Name = "loop", Inputs = { new InputStream { Name = "counts" } }, Outputs = { "words" } };

        var error = Refused(() => _driver.Register(loop, metadata));
        _driver.Exit(loop);

        Assert.Contains($"would close a cycle: {WordCountLoop}", error.Message);
        var status = _driver.Status("loop");
        Assert.Null(status.Metadata);
        Assert.Contains("would close a cycle", status.Instances.Single().LastError);
        Assert.DoesNotContain(_driver.Routing.Streams.Single(s => s.Stream == "counts").Readers, r => r.OperatorName == "loop");
    }

    [Fact]
    public void A_replace_that_drops_allow_cycles_from_an_operator_in_a_loop_is_refused()
    {
        DeployWordCount();
        var allowed = Spec("loop", reads: "counts", writes: "words");
        allowed.AllowCycles = true;
        _driver.Deploy(allowed);
        _driver.Register(_driver.Launches.Single(l => l.OperatorName == "loop"));

        var error = Refused(() => _driver.Core.PrepareReplace(Spec("loop", reads: "counts", writes: "words")));

        Assert.Contains($"the new version of 'loop' would close a cycle: {WordCountLoop}", error.Message);
        Assert.Empty(_driver.Core.TakeActions());
    }

    [Fact]
    public void The_shortest_loop_is_named_from_the_stream_the_operator_reads()
    {
        var others = new[]
        {
            new StreamNode("a", ["x"], ["y"]),
            new StreamNode("b", ["y"], ["z"]),
            new StreamNode("c", ["z"], ["w"]),
            new StreamNode("d", ["y"], ["w"]),
        };

        var loop = Reconcile.Core.ReconcileCore.FindCycle(new StreamNode("e", ["w"], ["x"]), others);

        Assert.Equal("w → e → x → a → y → d → w", loop);
        Assert.Null(Reconcile.Core.ReconcileCore.FindCycle(new StreamNode("e", ["w"], ["v"]), others));
    }
}
