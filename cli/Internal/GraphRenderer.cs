using System.Text;
using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;

namespace Concord.Cli.Internal;

/// <summary>Renders the topology of a <see cref="GraphResponse"/> as text or Graphviz DOT; pure functions.</summary>
internal static class GraphRenderer
{
    /// <summary>
    /// One line per edge (<c>source --words[group_by]--&gt; counter</c>), then streams that
    /// lack a reader or a producer, then operators with no stream at all.
    /// </summary>
    public static string RenderText(GraphResponse graph)
    {
        if (graph.Operators.Count == 0 && graph.Edges.Count == 0)
        {
            return "no operators deployed; deploy one with `concord deploy FILE.json`\n";
        }
        var text = new StringBuilder();
        var loops = CycleEdges(graph);
        foreach (var edge in OrderedEdges(graph))
        {
            var mark = loops.Contains(edge) ? CycleMark : "";
            text.Append($"{edge.FromOperator} --{edge.Stream}[{StatusText.Of(edge.Grouping)}]--> {edge.ToOperator}{mark}\n");
        }
        foreach (var op in graph.Operators.OrderBy(o => o.Spec.Name, StringComparer.Ordinal))
        {
            var name = op.Spec.Name;
            foreach (var output in StatusText.Outputs(op))
            {
                if (!graph.Edges.Any(e => e.FromOperator == name && e.Stream == output))
                {
                    text.Append($"{name} --{output}--> (no reader: records are dropped)\n");
                }
            }
            foreach (var input in StatusText.Inputs(op))
            {
                if (!graph.Edges.Any(e => e.ToOperator == name && e.Stream == input.Name))
                {
                    text.Append($"(no producer) --{input.Name}[{StatusText.Of(input.Grouping)}]--> {name}\n");
                }
            }
            if (StatusText.Outputs(op).Count == 0 && StatusText.Inputs(op).Count == 0
                && !graph.Edges.Any(e => e.FromOperator == name || e.ToOperator == name))
            {
                text.Append($"{name} (no streams)\n");
            }
        }
        if (loops.Count > 0)
        {
            text.Append(CycleNote + "\n");
        }
        return text.ToString();
    }

    /// <summary>A Graphviz digraph: operators as boxes labelled with running/desired, streams as labelled edges.</summary>
    public static string RenderDot(GraphResponse graph)
    {
        var dot = new StringBuilder();
        dot.Append("digraph concord {\n");
        dot.Append("  rankdir=LR;\n");
        dot.Append("  node [shape=box, fontname=\"Helvetica\"];\n");
        dot.Append("  edge [fontname=\"Helvetica\"];\n");
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var op in graph.Operators)
        {
            names.Add(op.Spec.Name);
        }
        foreach (var edge in graph.Edges)
        {
            names.Add(edge.FromOperator);
            names.Add(edge.ToOperator);
        }
        foreach (var name in names)
        {
            var op = graph.Operators.FirstOrDefault(o => o.Spec.Name == name);
            var label = op is null
                ? name
                : $"{name}\\n{StatusText.RunningCount(op)}/{op.Instances.Count} {StatusText.Aggregate(op)}";
            dot.Append($"  {Quote(name)} [label={Quote(label, escapeBackslash: false)}];\n");
        }
        var loops = CycleEdges(graph);
        foreach (var edge in OrderedEdges(graph))
        {
            var label = $"{edge.Stream} [{StatusText.Of(edge.Grouping)}]";
            dot.Append($"  {Quote(edge.FromOperator)} -> {Quote(edge.ToOperator)} [label={Quote(label + (loops.Contains(edge) ? CycleMark : ""))}{(loops.Contains(edge) ? DotCycleStyle : "")}];\n");
        }
        dot.Append("}\n");
        return dot.ToString();
    }

    /// <summary>Appended to the label of an edge that is part of a loop.</summary>
    public const string CycleMark = " (cycle)";

    /// <summary>DOT attributes of an edge in a loop, so the loop stands out in the picture.</summary>
    public const string DotCycleStyle = ", color=\"red\", fontcolor=\"red\", penwidth=2";

    /// <summary>The last line of the text graph when it has a loop.</summary>
    public const string CycleNote =
        "edges marked (cycle) form a loop: records going round it can deadlock the topology under backpressure (deployed with \"allow_cycles\": true)";

    /// <summary>
    /// The edges that lie on a loop: those whose reader can reach their producer again (an
    /// operator reading its own output is a loop of one).
    /// </summary>
    public static HashSet<StreamEdge> CycleEdges(GraphResponse graph)
    {
        var next = graph.Edges.GroupBy(e => e.FromOperator, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Select(e => e.ToOperator).Distinct(StringComparer.Ordinal).ToList(), StringComparer.Ordinal);
        bool Reaches(string from, string to)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal) { from };
            var pending = new Stack<string>([from]);
            while (pending.TryPop(out var at))
            {
                if (at == to)
                {
                    return true;
                }
                foreach (var reader in next.GetValueOrDefault(at) ?? [])
                {
                    if (seen.Add(reader))
                    {
                        pending.Push(reader);
                    }
                }
            }
            return false;
        }
        return graph.Edges.Where(e => Reaches(e.ToOperator, e.FromOperator)).ToHashSet();
    }

    private static IEnumerable<StreamEdge> OrderedEdges(GraphResponse graph) =>
        graph.Edges
            .OrderBy(e => e.FromOperator, StringComparer.Ordinal)
            .ThenBy(e => e.Stream, StringComparer.Ordinal)
            .ThenBy(e => e.ToOperator, StringComparer.Ordinal);

    private static string Quote(string text, bool escapeBackslash = true)
    {
        var escaped = escapeBackslash ? text.Replace("\\", "\\\\", StringComparison.Ordinal) : text;
        return "\"" + escaped.Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
    }
}
