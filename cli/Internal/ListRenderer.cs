using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;
using Google.Protobuf;
using Spectre.Console;

namespace Concord.Cli.Internal;

/// <summary>Renders <c>concord list</c> as a table for people or protobuf JSON for scripts.</summary>
internal static class ListRenderer
{
    private static readonly JsonFormatter Json = new(JsonFormatter.Settings.Default.WithIndentation("  "));

    public const string EmptyMessage = "no operators deployed; deploy one with `concord deploy FILE.json`";

    /// <summary>The ListResponse in the protobuf JSON mapping (camelCase fields, enum names).</summary>
    public static string RenderJson(ListResponse list) => Json.Format(list) + "\n";

    /// <summary>
    /// Which scheduler leads, under the table, when schedulers stand for election (docs/cluster.md);
    /// null for a scheduler that always leads.
    /// </summary>
    public static string? LeaderLine(ListResponse list, string answeredBy) =>
        (list.Leader.Length > 0, list.FromStandby) switch
        {
            (true, false) => $"leader: {list.Leader}",
            (true, true) => $"leader: {list.Leader} (not reachable from here; answered by the standby {answeredBy}, which does not know the instances' states)",
            (false, true) => $"leader: none right now (an election is under way; answered by the standby {answeredBy}, which does not know the instances' states)",
            _ => null,
        };

    public static Table RenderTable(ListResponse list)
    {
        var table = new Table().Border(TableBorder.None);
        table.AddColumn("OPERATOR");
        table.AddColumn(new TableColumn("INSTANCES").RightAligned());
        table.AddColumn("STATE");
        table.AddColumn("INPUTS");
        table.AddColumn("OUTPUTS");
        table.AddColumn(new TableColumn("RESTARTS").RightAligned());
        table.AddColumn("LAST ERROR");
        // Only once some instance restored from a checkpoint (docs/guarantees.md): most topologies never do.
        var restored = list.Operators.Any(o => o.Instances.Any(i => i.RestoredCheckpointId != 0));
        if (restored)
        {
            table.AddColumn("RESTORED FROM");
        }
        // Only where instances run on several hosts (the agents runtime, docs/cluster.md): the host of each instance, by index.
        var hosts = list.Operators.Any(o => o.Instances.Any(i => i.Host.Length > 0));
        if (hosts)
        {
            table.AddColumn("HOSTS");
        }
        foreach (var column in table.Columns)
        {
            // No borders (like kubectl), so columns need a wider gap than the default single space.
            column.Padding = new Padding(0, 0, 3, 0);
        }
        foreach (var op in list.Operators.OrderBy(o => o.Spec.Name, StringComparer.Ordinal))
        {
            var state = StatusText.Aggregate(op);
            var colour = state switch
            {
                "running" => "green",
                "failed" or "crash-looping" => "red",
                _ => "yellow",
            };
            var cells = new List<Spectre.Console.Rendering.IRenderable>
            {
                new Text(op.Spec.Name),
                new Text($"{StatusText.RunningCount(op)}/{op.Instances.Count}"),
                new Markup($"[{colour}]{Markup.Escape(state)}[/]"),
                new Text(Join(StatusText.Inputs(op).Select(StatusText.Describe))),
                new Text(Join(StatusText.Outputs(op))),
                new Text(op.Instances.Sum(i => i.Restarts).ToString(System.Globalization.CultureInfo.InvariantCulture)),
                new Text(StatusText.Truncate(StatusText.LastError(op), CliLimits.ListErrorCharsMax)),
            };
            if (restored)
            {
                cells.Add(new Text(Join(op.Instances.Where(i => i.RestoredCheckpointId != 0).Select(i => i.RestoredCheckpointId).Distinct().Order()
                    .Select(id => "checkpoint " + id.ToString(System.Globalization.CultureInfo.InvariantCulture)))));
            }
            if (hosts)
            {
                cells.Add(new Text(Join(op.Instances.OrderBy(i => i.Index).Select(i => i.Host.Length > 0 ? i.Host : "-"))));
            }
            table.AddRow(cells);
        }
        return table;
    }

    private static string Join(IEnumerable<string> items)
    {
        var text = string.Join(", ", items);
        return text.Length == 0 ? "-" : text;
    }
}
