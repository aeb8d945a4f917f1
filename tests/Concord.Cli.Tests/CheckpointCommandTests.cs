using Concord.Cli.Internal;
using Concord.Cli.Internal.Commands;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Spectre.Console;

namespace Concord.Cli.Tests;

/// <summary>`concord checkpoints`, `concord savepoint`, the restore column of `list`, and the deploy file's "delivery".</summary>
public sealed class CheckpointCommandTests : IDisposable
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
        return (code, output.ToString(), error.ToString());
    }

    private static readonly DateTimeOffset Triggered = new(2026, 12, 6, 23, 0, 0, TimeSpan.Zero);

    private static CheckpointInfo Info(ulong id, CheckpointStatus status, bool savepoint = false, string reason = "") => new()
    {
        CheckpointId = id,
        Status = status,
        TriggerUnixMs = Triggered.AddSeconds(id).ToUnixTimeMilliseconds(),
        DurationMs = status == CheckpointStatus.InProgress ? 0 : 42,
        AlignmentMsMax = 7,
        StateBytes = 3 * 1024 * 1024 / 2,
        WrittenBytes = 512,
        Savepoint = savepoint,
        Directory = $"/ck/{(savepoint ? "sp" : "chk")}-{id}",
        AbortReason = reason,
        Acknowledged = status == CheckpointStatus.InProgress ? 1 : 3,
        Participants = 3,
    };

    [Fact]
    public async Task Checkpoints_lists_one_row_each_with_the_abort_reasons_and_what_a_restore_would_use()
    {
        await using var host = await FakeSchedulerHost.StartAsync();
        host.Scheduler.Checkpoints = new ListCheckpointsResponse
        {
            LatestCompletedId = 12,
            Checkpoints =
            {
                Info(13, CheckpointStatus.InProgress),
                Info(12, CheckpointStatus.Completed),
                Info(9, CheckpointStatus.Completed, savepoint: true),
                Info(11, CheckpointStatus.Aborted, reason: "participant counter/1 failed: exited with code 1"),
            },
        };

        var (code, output, _) = await RunAsync("checkpoints", "--scheduler", host.Address);

        Assert.Equal(0, code);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["ID", "STATUS", "TRIGGERED", "(UTC)", "DURATION", "MS", "ALIGNMENT", "MS", "STATE", "WRITTEN", "ACKED", "SAVEPOINT"],
            lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(["13", "in", "progress", "2026-12-06", "23:00:13", "-", "7", "1.5", "MiB", "512", "B", "1/3", "-"], lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(["12", "completed", "2026-12-06", "23:00:12", "42", "7", "1.5", "MiB", "512", "B", "3/3", "-"], lines[2].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.EndsWith("yes", lines[3]);
        Assert.Contains("11 aborted: participant counter/1 failed: exited with code 1", lines);
        Assert.Equal("a failure now restores checkpoint 12", lines[^1]);
    }

    [Fact]
    public async Task Checkpoints_without_any_says_when_they_are_taken()
    {
        await using var host = await FakeSchedulerHost.StartAsync();

        var (code, output, _) = await RunAsync("checkpoints", "--scheduler", host.Address);

        Assert.Equal(0, code);
        Assert.Equal(CheckpointCommands.EmptyMessage + "\n", output);
    }

    [Fact]
    public async Task Savepoint_prints_where_the_completed_savepoint_is()
    {
        await using var host = await FakeSchedulerHost.StartAsync();
        host.Scheduler.Savepoint = Info(5, CheckpointStatus.Completed, savepoint: true);

        var (code, output, _) = await RunAsync("savepoint", "--scheduler", host.Address);

        Assert.Equal(0, code);
        Assert.Equal("savepoint 5 completed in 42 ms (1.5 MiB of state): /ck/sp-5\n", output.ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task A_refused_savepoint_prints_the_schedulers_reason_and_fails()
    {
        await using var host = await FakeSchedulerHost.StartAsync();

        var (code, _, error) = await RunAsync("savepoint", "--scheduler", host.Address);

        Assert.NotEqual(0, code);
        Assert.Contains("no operator with a delivery guarantee is deployed", error);
    }

    [Fact]
    public void List_shows_the_checkpoint_instances_restored_from_only_when_one_did()
    {
        var list = new ListResponse { Operators = { RenderingTests.Operator("counter", 2, 2), RenderingTests.Operator("sink", 1, 1) } };
        var before = Render(list);
        list.Operators[0].Instances[0].RestoredCheckpointId = 12;
        list.Operators[0].Instances[1].RestoredCheckpointId = 12;

        var after = Render(list);

        Assert.DoesNotContain("RESTORED", before);
        Assert.Contains("RESTORED FROM", after);
        Assert.EndsWith("checkpoint 12", after.Split('\n').Single(l => l.StartsWith("counter", StringComparison.Ordinal)).TrimEnd());
        Assert.DoesNotContain("checkpoint", after.Split('\n').Single(l => l.StartsWith("sink", StringComparison.Ordinal)));
    }

    private static string Render(ListResponse list)
    {
        var text = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(text),
            ColorSystem = ColorSystemSupport.NoColors,
            Ansi = AnsiSupport.No,
        });
        console.Profile.Width = 200;
        console.Write(ListRenderer.RenderTable(list));
        return text.ToString().ReplaceLineEndings("\n");
    }

    // ---- deploy file "delivery" ----

    private OperatorSpec Parse(string delivery) =>
        DeployFile.Parse(_dir.Write("op.json", $$"""{"name": "counter", "executable": "python3", "delivery": {{delivery}}}"""));

    [Theory]
    [InlineData("\"at_most_once\"", DeliveryGuarantee.DeliveryAtMostOnce)]
    [InlineData("\"at_least_once\"", DeliveryGuarantee.DeliveryAtLeastOnce)]
    [InlineData("\"exactly_once\"", DeliveryGuarantee.DeliveryExactlyOnce)]
    public void Delivery_is_read_by_its_name(string value, DeliveryGuarantee expected) =>
        Assert.Equal(expected, Parse(value).Delivery);

    [Fact]
    public void Without_delivery_the_operator_has_no_guarantee()
    {
        var spec = DeployFile.Parse(_dir.Write("op.json", """{"name": "counter", "executable": "python3"}"""));

        Assert.Equal(DeliveryGuarantee.DeliveryUnspecified, spec.Delivery);
    }

    [Fact]
    public void A_misspelt_delivery_names_the_closest_and_every_valid_one()
    {
        var error = Assert.Throws<DeployFileException>(() => Parse("\"exactly-once\""));

        Assert.Equal("delivery", Assert.Single(error.Problems).Field);
        Assert.Contains("did you mean \"exactly_once\"?", error.Message);
        Assert.Contains("at_most_once, at_least_once, exactly_once", error.Message);
    }

    [Fact]
    public void A_delivery_of_the_wrong_type_is_named()
    {
        var error = Assert.Throws<DeployFileException>(() => Parse("true"));

        Assert.Contains("delivery: expected a string, got", error.Message);
    }

    [Fact]
    public void The_validator_refuses_a_delivery_value_outside_the_enum()
    {
        var spec = new OperatorSpec { Name = "counter", Executable = "/bin/true", Instances = 1, Delivery = (DeliveryGuarantee)9 };

        var problem = Assert.Single(Contracts.OperatorSpecValidator.Validate(spec));

        Assert.Equal("delivery", problem.Field);
        Assert.Contains("9 is not a delivery guarantee", problem.ToString());
    }
}
