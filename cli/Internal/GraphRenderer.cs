using System.Text;
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
        foreach (var edge in OrderedEdges(graph))
        {
            text.Append($"{edge.FromOperator} --{edge.Stream}[{StatusText.Of(edge.Grouping)}]--> {edge.ToOperator}\n");
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
        foreach (var edge in OrderedEdges(graph))
        {
            var label = $"{edge.Stream} [{StatusText.Of(edge.Grouping)}]";
            dot.Append($"  {Quote(edge.FromOperator)} -> {Quote(edge.ToOperator)} [label={Quote(label)}];\n");
        }
        dot.Append("}\n");
        return dot.ToString();
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
