using Concord.Cli;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;

namespace Concord.Cli.Tests;

/// <summary>`concord replace --drop-state` and `concord deploy --replace --drop-state` (docs/cli.md).</summary>
public sealed class ReplaceDropStateTests : IDisposable
{
    private static readonly TimeSpan CommandTimeout = TestTimeouts.Process;

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private async Task<(int ExitCode, string Out, string Err)> RunAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        string? Lookup(string name) => name == "CONCORD_HOME" ? _dir.Path : null;
        var code = await ConcordCli.RunAsync(args, output, error, Lookup, interactive: false, TimeProvider.System).WaitAsync(CommandTimeout);
        return (code, output.ToString().ReplaceLineEndings("\n"), error.ToString().ReplaceLineEndings("\n"));
    }

    private static async Task<FakeSchedulerHost> StartWithCounterAsync(DeliveryGuarantee delivery)
    {
        var host = await FakeSchedulerHost.StartAsync();
        await host.Scheduler.Deploy(new DeployRequest { Spec = new OperatorSpec { Name = "counter", Executable = "python3", Instances = 2, Delivery = delivery } }, null!);
        return host;
    }

    private string CounterFile() =>
        _dir.Write("counter.json", """{"name": "counter", "executable": "python3", "args": ["v2"], "instances": 2, "delivery": "exactly_once"}""");

    [Fact]
    public async Task Replace_with_drop_state_sends_it_and_says_what_the_restart_does()
    {
        await using var host = await StartWithCounterAsync(DeliveryGuarantee.DeliveryExactlyOnce);

        var (code, output, _) = await RunAsync("replace", "--drop-state", CounterFile(), "--scheduler", host.Address);

        Assert.Equal(0, code);
        var request = Assert.Single(host.Scheduler.Replaces);
        Assert.True(request.DropState);
        Assert.Equal(["v2"], request.Spec.Args);
        Assert.Contains("replaced 'counter' (2 instances) by a restart: every operator with a delivery guarantee restarts from the last completed checkpoint, " +
                        "'counter' as the new version with empty state; `concord list` shows them starting", output);
        Assert.DoesNotContain("routing moved", output);
    }

    [Fact]
    public async Task Deploy_replace_takes_drop_state_too()
    {
        await using var host = await StartWithCounterAsync(DeliveryGuarantee.DeliveryExactlyOnce);

        var (code, output, _) = await RunAsync("deploy", "--replace", "--drop-state", CounterFile(), "--scheduler", host.Address);

        Assert.Equal(0, code);
        Assert.True(Assert.Single(host.Scheduler.Replaces).DropState);
        Assert.Contains("by a restart", output);
    }

    [Fact]
    public async Task Replace_without_drop_state_does_not_send_it_and_reports_the_rolling_replace()
    {
        await using var host = await StartWithCounterAsync(DeliveryGuarantee.DeliveryAtMostOnce);
        var file = _dir.Write("counter.json", """{"name": "counter", "executable": "python3", "instances": 2}""");

        var (code, output, _) = await RunAsync("replace", file, "--scheduler", host.Address);

        Assert.Equal(0, code);
        Assert.False(Assert.Single(host.Scheduler.Replaces).DropState);
        Assert.Contains("replaced 'counter' (2 instances): routing moved after 5 ms, old instances stopped after 9 ms", output);
    }

    [Fact]
    public async Task Replace_without_drop_state_of_an_operator_with_a_guarantee_says_it_kept_the_state_and_the_checkpoint()
    {
        await using var host = await StartWithCounterAsync(DeliveryGuarantee.DeliveryExactlyOnce);

        var (code, output, _) = await RunAsync("replace", CounterFile(), "--scheduler", host.Address);

        Assert.Equal(0, code);
        Assert.False(Assert.Single(host.Scheduler.Replaces).DropState);
        Assert.Contains("replacing 'counter' keeping its state: a checkpoint, then a restart of every operator with a delivery guarantee from it", output);
        Assert.Contains($"replaced 'counter' (2 instances) by a restart keeping its state: every operator with a delivery guarantee restarted from checkpoint " +
                        $"{FakeScheduler.ReplaceRestoredCheckpointId}, 'counter' as the new version; it ran after 5 ms", output);
        Assert.DoesNotContain("empty state", output);
    }

    [Fact]
    public async Task A_replace_rolled_back_because_the_new_version_refuses_the_state_fails_with_the_schedulers_reason()
    {
        await using var host = await StartWithCounterAsync(DeliveryGuarantee.DeliveryExactlyOnce);
        const string Reason = "replace of 'counter' failed and was rolled back: the old version is stored again and every operator with a delivery guarantee " +
                              "restarts from checkpoint 7, 'counter' with its state, so nothing is lost. new instance counter/0 failed before every new instance ran: " +
                              "checkpoint 7 holds state 'count' of 'counter' that this version does not declare (it declares 'total'); declare it in metadata() states " +
                              "(a new version may add state names, not drop or rename one), or replace with --drop-state to start it with empty state (docs/live-changes.md)";
        host.Scheduler.RefuseReplaceWith = new Grpc.Core.Status(Grpc.Core.StatusCode.FailedPrecondition, Reason);

        var (code, output, error) = await RunAsync("replace", CounterFile(), "--scheduler", host.Address);

        Assert.NotEqual(0, code);
        Assert.Contains(Reason, error);
        Assert.DoesNotContain("replaced 'counter'", output);
    }

    [Fact]
    public async Task Drop_state_without_replace_is_a_usage_error_naming_the_fix()
    {
        var (code, _, error) = await RunAsync("deploy", "--drop-state", CounterFile(), "--scheduler", "http://127.0.0.1:1");

        Assert.NotEqual(0, code);
        Assert.Contains("--drop-state only applies to a replace; add --replace (or use `concord replace --drop-state FILE`)", error);
    }
}
