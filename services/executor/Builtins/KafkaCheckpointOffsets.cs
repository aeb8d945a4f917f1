using Concord.Executor.Builtins.Internal;
using Confluent.Kafka;

namespace Concord.Executor.Builtins;

/// <summary>
/// kafka-source's positions when it takes part in checkpoints (delivery at_least_once or
/// exactly_once; docs/kafka.md, "Delivery with checkpoints"). The checkpoint is the truth:
/// partitions are assigned by the instance index (partition p to instance p mod instances, no
/// group rebalancing, so a partition's records are read by one instance only), the snapshot is
/// the next offset to read per partition, a restore seeks there, and offsets are committed to
/// Kafka only when a checkpoint that covers them completes (for visibility: lag tools, and a
/// deploy without a checkpoint). Not thread-safe: the source serialises calls.
/// </summary>
internal sealed class KafkaCheckpointOffsets(string topic, int instanceIndex, int instances)
{
    // Next offset to read per partition this instance owns and has a position for.
    private readonly SortedDictionary<int, long> _next = [];
    // What each snapshot taken and not yet completed or aborted held, by checkpoint id.
    private readonly SortedDictionary<ulong, TopicPartitionOffset[]> _taken = [];
    private SortedDictionary<int, long>? _restored;
    // Consumed since the last fold into _next (per record: an array store, not a sorted-dictionary insert).
    private readonly PartitionPositions _pending = new();

    /// <summary>Sets the consumer's commit settings: nothing committed or stored by librdkafka itself.</summary>
    public static void Configure(ConsumerConfig config)
    {
        config.EnableAutoCommit = false;
        config.EnableAutoOffsetStore = false;
    }

    /// <summary>The partitions of a topic with <paramref name="partitions"/> partitions that this instance reads.</summary>
    public IReadOnlyList<int> Owned(int partitions) =>
        [.. Enumerable.Range(0, partitions).Where(p => p % instances == instanceIndex % instances)];

    /// <summary>
    /// Where to start each owned partition: the restored position, else the group's committed
    /// offset (<see cref="Offset.Stored"/>, which falls back to option start).
    /// </summary>
    public List<TopicPartitionOffset> Assignment(int partitions)
    {
        var assignment = new List<TopicPartitionOffset>();
        foreach (var partition in Owned(partitions))
        {
            if (_restored is not null && _restored.TryGetValue(partition, out var next))
            {
                _next[partition] = next;
                assignment.Add(new TopicPartitionOffset(topic, partition, next));
            }
            else
            {
                assignment.Add(new TopicPartitionOffset(topic, partition, Offset.Stored));
            }
        }
        return assignment;
    }

    /// <summary>A record was taken from Kafka and put into the answer being built.</summary>
    public void Consumed(int partition, long offset) => _pending.Consumed(partition, offset);

    /// <summary>Moves the positions consumed since the last fold into <see cref="_next"/>.</summary>
    private void Fold() => _pending.Drain(_next, static (next, partition, offset) => next[partition] = offset);

    /// <summary>Barrier reached: every record consumed is in an answer already routed, so the positions are the snapshot.</summary>
    public byte[] Snapshot(ulong checkpointId)
    {
        Fold();
        _taken[checkpointId] = [.. _next.Select(p => new TopicPartitionOffset(topic, p.Key, p.Value))];
        return PositionSnapshot.Write(_next, KafkaSourceOperator.Kind);
    }

    /// <summary>
    /// The union of every old instance's positions (a partition moved by a rescale takes the
    /// furthest one), kept for the partitions this instance owns when it assigns.
    /// </summary>
    public void Restore(IReadOnlyDictionary<int, byte[]> snapshots)
    {
        var all = new SortedDictionary<int, long>();
        foreach (var snapshot in snapshots.Values)
        {
            foreach (var (partition, next) in PositionSnapshot.Read(snapshot, KafkaSourceOperator.Kind))
            {
                all[partition] = Math.Max(next, all.GetValueOrDefault(partition));
            }
        }
        _restored = all;
        _pending.Clear();
        _next.Clear();
        _taken.Clear();
    }

    /// <summary>The offsets to commit now that <paramref name="checkpointId"/> completed (its own snapshot's, the latest covered); forgets it and older ones.</summary>
    public IReadOnlyList<TopicPartitionOffset> Completed(ulong checkpointId)
    {
        TopicPartitionOffset[] offsets = [];
        foreach (var id in _taken.Keys.Where(id => id <= checkpointId).ToList())
        {
            offsets = _taken[id];
            _taken.Remove(id);
        }
        return offsets;
    }

    public void Aborted(ulong checkpointId) => _taken.Remove(checkpointId);
}
