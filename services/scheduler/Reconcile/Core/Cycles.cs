using Concord.Contracts.Types.V1;

namespace Concord.Scheduler.Reconcile.Core;

/// <summary>One operator's streams, as routing sees them, for the cycle check.</summary>
internal sealed record StreamNode(string Name, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs);

/// <summary>
/// Cycles: an operator whose outputs reach back to its own inputs through other operators. Every
/// hop has a bounded queue that backpressures its sender, so records going round a loop fill the
/// queues and each sender waits on the next: the topology deadlocks (in about a second at the
/// demo's rates). Such an operator is refused at deploy (declared streams), at replace, and at
/// the first registration (a user operator's streams are known only from its metadata), unless
/// its deploy file opts in with "allow_cycles": true.
/// </summary>
internal sealed partial class ReconcileCore
{
    /// <summary>
    /// The loop that <paramref name="candidate"/> would close among <paramref name="others"/>
    /// (operators with the candidate's name are ignored: it replaces them), written as
    /// <c>counts → loop → words → counter → counts</c> from the stream the candidate reads; null
    /// when there is none. The shortest loop is named, and ties are broken by name so the message
    /// is the same every time.
    /// </summary>
    public static string? FindCycle(StreamNode candidate, IEnumerable<StreamNode> others)
    {
        var nodes = others.Where(o => o.Name != candidate.Name).Append(candidate)
            .ToDictionary(o => o.Name, StringComparer.Ordinal);
        var readers = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var node in nodes.Values.OrderBy(n => n.Name, StringComparer.Ordinal))
        {
            foreach (var input in node.Inputs.Distinct(StringComparer.Ordinal))
            {
                if (!readers.TryGetValue(input, out var list))
                {
                    readers[input] = list = [];
                }
                list.Add(node.Name);
            }
        }
        // Breadth first from the candidate along "produces a stream that X reads": the first
        // time the candidate is reached again closes the shortest loop.
        var cameFrom = new Dictionary<string, (string Operator, string Stream)>(StringComparer.Ordinal);
        var frontier = new Queue<string>();
        frontier.Enqueue(candidate.Name);
        while (frontier.TryDequeue(out var current))
        {
            foreach (var stream in nodes[current].Outputs.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
            {
                foreach (var reader in readers.GetValueOrDefault(stream) ?? [])
                {
                    if (reader == candidate.Name)
                    {
                        return Describe(candidate.Name, current, stream, cameFrom);
                    }
                    if (cameFrom.TryAdd(reader, (current, stream)))
                    {
                        frontier.Enqueue(reader);
                    }
                }
            }
        }
        return null;
    }

    private static string Describe(string candidate, string last, string closing, Dictionary<string, (string Operator, string Stream)> cameFrom)
    {
        // Walk back from the last operator to the candidate, then read it forwards.
        var hops = new List<(string Stream, string Operator)>();
        for (var at = last; at != candidate; at = cameFrom[at].Operator)
        {
            hops.Add((cameFrom[at].Stream, at));
        }
        hops.Reverse();
        return string.Join(" → ", new[] { closing, candidate }
            .Concat(hops.SelectMany(h => new[] { h.Stream, h.Operator }))
            .Append(closing));
    }

    /// <summary>
    /// Refuses <paramref name="spec"/> when the streams it would route with (<paramref name="metadata"/>
    /// if given, else those its deploy file declares) close a cycle, unless it allows cycles.
    /// </summary>
    private void RefuseCycle(OperatorSpec spec, OperatorMetadata? metadata, string when)
    {
        if (CycleMessage(spec, metadata, when) is { } message)
        {
            throw new ReconcileException(ReconcileErrorKind.FailedPrecondition, message);
        }
    }

    private string? CycleMessage(OperatorSpec spec, OperatorMetadata? metadata, string when)
    {
        if (spec.AllowCycles)
        {
            return null;
        }
        var loop = FindCycle(NodeOf(spec.Name, spec, metadata), _operators.Values.Select(o => NodeOf(o.Name, o.Entry.Spec, o.Entry.Metadata)));
        return loop is null
            ? null
            : $"{when} '{spec.Name}' would close a cycle: {loop}. Records going round a loop fill its queues and every operator " +
              "in it waits on the next (the topology deadlocks); change the operator's inputs or outputs, or, if the loop is meant " +
              "and bounded, set \"allow_cycles\": true in its deploy file";
    }

    private static StreamNode NodeOf(string name, OperatorSpec spec, OperatorMetadata? metadata)
    {
        var (inputs, outputs) = RoutingOperator.StreamsOf(spec, metadata);
        return new StreamNode(name, inputs.Select(i => i.Name).ToList(), outputs);
    }
}
