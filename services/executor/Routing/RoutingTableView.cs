using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.Routing.Internal;

namespace Concord.Executor.Routing;

/// <summary>A routing table the scheduler sent is not usable (ranges, counts); the previous table stays.</summary>
public sealed class RoutingTableException(string message) : Exception(message);

/// <summary>
/// An immutable, compiled routing table: per stream, per reader, the instances with a target
/// of type <typeparamref name="T"/> each (an outbound channel in the executor, anything in
/// tests). Swapped as a whole when a new table arrives.
/// </summary>
public sealed class RoutingTableView<T>
{
    private readonly Dictionary<string, ReaderRoute<T>[]> _streams;

    private RoutingTableView(long version, Dictionary<string, ReaderRoute<T>[]> streams)
    {
        Version = version;
        _streams = streams;
    }

    public static RoutingTableView<T> Empty { get; } = new(-1, new Dictionary<string, ReaderRoute<T>[]>(StringComparer.Ordinal));

    public long Version { get; }

    /// <summary>Every target in the table.</summary>
    public IEnumerable<T> Targets => _streams.Values.SelectMany(r => r).SelectMany(r => r.Targets);

    /// <summary>
    /// Compiles <paramref name="table"/>, binding every (stream, reader, instance) to a target.
    /// Throws <see cref="RoutingTableException"/> when the table is inconsistent.
    /// </summary>
    public static RoutingTableView<T> Compile(RoutingTable table, Func<string, string, ReaderInstance, T> bind)
    {
        var keyGroupCount = table.KeyGroupCount == 0 ? ProtocolLimits.KeyGroupCount : table.KeyGroupCount;
        if (keyGroupCount < 1 || keyGroupCount > ExecutorLimits.RoutingKeyGroupsMax)
        {
            throw new RoutingTableException($"routing table {table.Version} has key_group_count {table.KeyGroupCount}");
        }
        var streams = new Dictionary<string, ReaderRoute<T>[]>(StringComparer.Ordinal);
        foreach (var stream in table.Streams)
        {
            var readers = new List<ReaderRoute<T>>();
            foreach (var reader in stream.Readers)
            {
                if (reader.Instances.Count == 0)
                {
                    continue;
                }
                var description = $"routing table {table.Version}, stream {stream.Stream}, reader {reader.OperatorName}";
                var instances = reader.Instances.OrderBy(i => i.Index).ToArray();
                Partitioner partitioner = reader.Grouping switch
                {
                    Grouping.GroupBy => new GroupByPartitioner(instances, keyGroupCount, description),
                    Grouping.Broadcast => BroadcastPartitioner.Instance,
                    _ => new ShufflePartitioner(instances.Length),
                };
                var targets = instances.Select(i => bind(stream.Stream, reader.OperatorName, i)).ToArray();
                readers.Add(new ReaderRoute<T>(reader.OperatorName, reader.Grouping, instances, targets, partitioner));
            }
            if (readers.Count > 0)
            {
                if (!streams.TryAdd(stream.Stream, [.. readers]))
                {
                    throw new RoutingTableException($"routing table {table.Version} lists stream {stream.Stream} twice");
                }
            }
        }
        return new RoutingTableView<T>(table.Version, streams);
    }

    /// <summary>The readers of <paramref name="stream"/>; false when nobody reads it.</summary>
    public bool TryGetReaders(string stream, out ReaderRoute<T>[] readers) => _streams.TryGetValue(stream, out readers!);

    /// <summary>
    /// Adds the targets one record with <paramref name="key"/> on <paramref name="stream"/>
    /// goes to. Returns false when the stream has no readers.
    /// </summary>
    public bool Select(string stream, ReadOnlySpan<byte> key, List<T> into)
    {
        if (!_streams.TryGetValue(stream, out var readers))
        {
            return false;
        }
        foreach (var reader in readers)
        {
            var slot = reader.Select(key);
            if (slot >= 0)
            {
                into.Add(reader.Targets[slot]);
            }
            else
            {
                into.AddRange(reader.Targets);
            }
        }
        return true;
    }
}

/// <summary>One reading operator of a stream: its instances (ordered by index) and their targets.</summary>
public sealed class ReaderRoute<T>
{
    private readonly Partitioner _partitioner;

    internal ReaderRoute(string operatorName, Grouping grouping, ReaderInstance[] instances, T[] targets, Partitioner partitioner)
    {
        OperatorName = operatorName;
        Grouping = grouping;
        Instances = instances;
        Targets = targets;
        _partitioner = partitioner;
    }

    public string OperatorName { get; }

    public Grouping Grouping { get; }

    public IReadOnlyList<ReaderInstance> Instances { get; }

    public T[] Targets { get; }

    /// <summary>Slot in <see cref="Targets"/> for <paramref name="key"/>, or -1 for all (broadcast).</summary>
    public int Select(ReadOnlySpan<byte> key) => _partitioner.Select(key);
}
