using Concord.Executor.Builtins.Internal;
using Confluent.Kafka;

namespace Concord.Executor.Builtins;

/// <summary>
/// When kafka-source's consumed offsets count as done, in one place so checkpoints can take
/// it over later (docs/kafka.md, "Delivery"). The default, at-most-once-in-the-topology policy:
/// <list type="bullet">
/// <item>an offset is <em>stored</em> once its record has been handed to the topology (routed
/// into the executor's outbound queues: the source's next poll runs only after its previous
/// answer was routed);</item>
/// <item>librdkafka <em>commits</em> stored offsets every <see cref="KafkaLimits.SourceCommitIntervalMs"/>
/// and on partition revocation; shutdown commits synchronously.</item>
/// </list>
/// So a crashed source re-reads at most one commit interval of records, and records in flight
/// inside the topology when a process dies are lost. Not thread-safe: the source serialises calls.
/// </summary>
internal sealed class KafkaCommitPolicy(string topic)
{
    private readonly string _topic = topic;
    // Consumed since the last store.
    private readonly PartitionPositions _consumed = new();
    private readonly List<TopicPartitionOffset> _handed = [];

    /// <summary>Sets the consumer's commit settings: auto-commit of explicitly stored offsets.</summary>
    public static void Configure(ConsumerConfig config)
    {
        config.EnableAutoCommit = true;
        config.EnableAutoOffsetStore = false;
        config.AutoCommitIntervalMs = KafkaLimits.SourceCommitIntervalMs;
    }

    /// <summary>A record was taken from Kafka and put into the answer being built.</summary>
    public void Consumed(int partition, long offset) => _consumed.Consumed(partition, offset);

    /// <summary>
    /// The records consumed so far have been handed to the topology: store their offsets
    /// (the next offset to read, as Kafka expects). Partitions no longer assigned to this
    /// instance are skipped; their new owner reads those records again.
    /// </summary>
    public void HandedOver<TKey, TValue>(IConsumer<TKey, TValue> consumer)
    {
        _handed.Clear();
        _consumed.Drain(this, static (self, partition, next) => self._handed.Add(new TopicPartitionOffset(self._topic, partition, next)));
        foreach (var next in _handed)
        {
            try
            {
                consumer.StoreOffset(next);
            }
            catch (KafkaException e) when (e.Error.Code == ErrorCode.Local_State)
            {
                // Revoked by a rebalance in between: not ours to commit any more.
            }
        }
    }

    /// <summary>The answer being built failed and is never delivered: forget what it consumed, so it is read again.</summary>
    public void Abandon() => _consumed.Clear();

    /// <summary>
    /// On shutdown: everything consumed is being handed over (the executor routes the last
    /// answers while it drains), so store it and commit synchronously. Returns what was committed.
    /// </summary>
    public IReadOnlyList<TopicPartitionOffset> CommitOnShutdown<TKey, TValue>(IConsumer<TKey, TValue> consumer)
    {
        HandedOver(consumer);
        try
        {
            return consumer.Commit();
        }
        catch (KafkaException e) when (e.Error.Code == ErrorCode.Local_NoOffset)
        {
            return []; // nothing new since the last commit
        }
    }
}
