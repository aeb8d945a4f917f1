using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;

namespace Concord.Scheduler.Reconcile;

/// <summary>One desired instance as routing sees it; empty address while not running.</summary>
public sealed record RoutingInstance(int Index, string DataAddress, string Incarnation);

/// <summary>One deployed operator as routing sees it.</summary>
/// <param name="Inputs">What it reads: its recorded metadata, or the spec's expected inputs until an instance registers.</param>
/// <param name="Outputs">What it may produce: likewise.</param>
/// <param name="Instances">One per desired instance, ordered by index.</param>
public sealed record RoutingOperator(string Name, IReadOnlyList<InputStream> Inputs, IReadOnlyList<string> Outputs, IReadOnlyList<RoutingInstance> Instances)
{
    /// <summary>Streams read and produced, from recorded metadata when there is some, else from the spec.</summary>
    public static (IReadOnlyList<InputStream> Inputs, IReadOnlyList<string> Outputs) StreamsOf(OperatorSpec spec, OperatorMetadata? metadata) =>
        metadata is not null
            ? (metadata.Inputs, metadata.Outputs)
            : (spec.ExpectedInputs, spec.ExpectedOutputs);
}

/// <summary>Pure functions from the topology to the routing table and the graph.</summary>
public static class RoutingTableBuilder
{
    /// <summary>
    /// The routing table: per stream that has readers (ordered by stream), every reader
    /// (ordered by name) with its grouping and one entry per desired instance; group_by
    /// readers get the key-group range each instance owns.
    /// </summary>
    public static RoutingTable Build(IEnumerable<RoutingOperator> operators, long version)
    {
        var table = new RoutingTable { Version = version, KeyGroupCount = ProtocolLimits.KeyGroupCount };
        var readersByStream = new SortedDictionary<string, List<Reader>>(StringComparer.Ordinal);
        foreach (var op in operators.OrderBy(o => o.Name, StringComparer.Ordinal))
        {
            foreach (var input in op.Inputs)
            {
                var grouping = input.Grouping == Grouping.Unspecified ? Grouping.Shuffle : input.Grouping;
                var reader = new Reader { OperatorName = op.Name, Grouping = grouping };
                foreach (var instance in op.Instances)
                {
                    var entry = new ReaderInstance
                    {
                        Index = instance.Index,
                        DataAddress = instance.DataAddress,
                        Incarnation = instance.DataAddress.Length > 0 ? instance.Incarnation : "",
                    };
                    if (grouping == Grouping.GroupBy)
                    {
                        (entry.KeyGroupStart, entry.KeyGroupEnd) = KeyGroups.RangeOf(instance.Index, op.Instances.Count);
                    }
                    reader.Instances.Add(entry);
                }
                if (!readersByStream.TryGetValue(input.Name, out var readers))
                {
                    readersByStream[input.Name] = readers = [];
                }
                readers.Add(reader);
            }
        }
        foreach (var (stream, readers) in readersByStream)
        {
            var route = new StreamRoute { Stream = stream };
            route.Readers.AddRange(readers);
            table.Streams.Add(route);
        }
        return table;
    }

    /// <summary>One edge per (stream, producer, reader), ordered by stream, producer, reader.</summary>
    public static IReadOnlyList<StreamEdge> Edges(IEnumerable<RoutingOperator> operators)
    {
        var list = operators.OrderBy(o => o.Name, StringComparer.Ordinal).ToList();
        var edges = new List<StreamEdge>();
        foreach (var stream in list.SelectMany(o => o.Outputs).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            foreach (var producer in list.Where(o => o.Outputs.Contains(stream, StringComparer.Ordinal)))
            {
                foreach (var reader in list)
                {
                    foreach (var input in reader.Inputs.Where(i => i.Name == stream))
                    {
                        edges.Add(new StreamEdge
                        {
                            Stream = stream,
                            FromOperator = producer.Name,
                            ToOperator = reader.Name,
                            Grouping = input.Grouping == Grouping.Unspecified ? Grouping.Shuffle : input.Grouping,
                        });
                    }
                }
            }
        }
        return edges;
    }

    /// <summary>Whether two tables route the same way (everything but the version).</summary>
    public static bool SameRoutes(RoutingTable a, RoutingTable b) =>
        a.KeyGroupCount == b.KeyGroupCount && a.Streams.Equals(b.Streams);
}
