using System.CommandLine;
using System.Globalization;
using System.Text;
using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;

namespace Concord.Cli.Internal.Commands;

/// <summary><c>checkpoints</c> and <c>savepoint</c> (docs/guarantees.md, docs/cli.md).</summary>
internal static class CheckpointCommands
{
    public const string EmptyMessage =
        "no checkpoints: they are taken while operators with \"delivery\": \"at_least_once\" or \"exactly_once\" run (docs/guarantees.md)";

    public static void Register(RootCommand root, CliContext ctx, Func<ParseResult, SchedulerConnection> connect,
        Action<Command, Func<ParseResult, CancellationToken, Task<int>>> setAction)
    {
        var checkpoints = new Command("checkpoints", "List the checkpoint in progress, the retained checkpoints and savepoints, and the last aborted ones");
        setAction(checkpoints, async (parse, ct) =>
        {
            using var scheduler = connect(parse);
            return await ListAsync(ctx, scheduler, ct);
        });
        root.Add(checkpoints);

        var savepoint = new Command("savepoint", "Take a savepoint now (a checkpoint kept until deleted by hand) and print where it is");
        setAction(savepoint, async (parse, ct) =>
        {
            using var scheduler = connect(parse);
            return await SavepointAsync(ctx, scheduler, ct);
        });
        root.Add(savepoint);
    }

    public static async Task<int> ListAsync(CliContext ctx, SchedulerConnection scheduler, CancellationToken cancellationToken)
    {
        var list = await scheduler.CallAsync((c, o) => c.ListCheckpointsAsync(new ListCheckpointsRequest(), o), cancellationToken);
        ctx.Out.Write(Render(list));
        return ExitCodes.Success;
    }

    public static async Task<int> SavepointAsync(CliContext ctx, SchedulerConnection scheduler, CancellationToken cancellationToken)
    {
        var response = await scheduler.CallAsync((c, o) => c.TriggerSavepointAsync(new TriggerSavepointRequest(), o),
            CliLimits.CheckpointRpcDeadlineSeconds, cancellationToken);
        var savepoint = response.Savepoint ?? new CheckpointInfo();
        ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"savepoint {savepoint.CheckpointId} completed in {savepoint.DurationMs} ms ({Bytes(savepoint.StateBytes)} of state): {savepoint.Directory}"));
        return ExitCodes.Success;
    }

    /// <summary>One row per checkpoint, in the scheduler's order (in progress, retained, aborted), and the one a restore would use.</summary>
    public static string Render(ListCheckpointsResponse list)
    {
        if (list.Checkpoints.Count == 0)
        {
            return EmptyMessage + "\n";
        }
        var rows = new List<string[]> { new[] { "ID", "STATUS", "TRIGGERED (UTC)", "DURATION MS", "ALIGNMENT MS", "STATE", "WRITTEN", "ACKED", "SAVEPOINT" } };
        foreach (var c in list.Checkpoints)
        {
            rows.Add(
            [
                c.CheckpointId.ToString(CultureInfo.InvariantCulture),
                Status(c),
                DateTimeOffset.FromUnixTimeMilliseconds(c.TriggerUnixMs).ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
                c.Status == CheckpointStatus.InProgress ? "-" : c.DurationMs.ToString(CultureInfo.InvariantCulture),
                c.AlignmentMsMax.ToString(CultureInfo.InvariantCulture),
                Bytes(c.StateBytes),
                Bytes(c.WrittenBytes),
                string.Create(CultureInfo.InvariantCulture, $"{c.Acknowledged}/{c.Participants}"),
                c.Savepoint ? "yes" : "-",
            ]);
        }
        var widths = Enumerable.Range(0, rows[0].Length).Select(i => rows.Max(r => r[i].Length)).ToArray();
        var text = new StringBuilder();
        foreach (var row in rows)
        {
            text.Append(string.Join("   ", row.Select((cell, i) => i == row.Length - 1 ? cell : cell.PadRight(widths[i]))).TrimEnd()).Append('\n');
        }
        foreach (var aborted in list.Checkpoints.Where(c => c.Status == CheckpointStatus.Aborted))
        {
            text.Append(CultureInfo.InvariantCulture, $"{aborted.CheckpointId} aborted: {StatusText.Truncate(aborted.AbortReason, CliLimits.CheckpointReasonCharsMax)}\n");
        }
        text.Append(list.LatestCompletedId == 0
            ? "no completed checkpoint: a failure now restarts the operators with a guarantee empty, their sources from the beginning\n"
            : string.Create(CultureInfo.InvariantCulture, $"a failure now restores checkpoint {list.LatestCompletedId}\n"));
        return text.ToString();
    }

    private static string Status(CheckpointInfo c) => c.Status switch
    {
        CheckpointStatus.InProgress => "in progress",
        CheckpointStatus.Completed => "completed",
        CheckpointStatus.Aborted => "aborted",
        _ => "unknown",
    };

    /// <summary>Bytes in binary units, one decimal: 0 B, 512 B, 1.5 KiB, 3.2 MiB.</summary>
    public static string Bytes(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double value = bytes;
        var unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }
        return unit == 0
            ? string.Create(CultureInfo.InvariantCulture, $"{bytes} B")
            : string.Create(CultureInfo.InvariantCulture, $"{value:0.0} {units[unit]}");
    }
}
