using System.Text;
using Concord.Contracts.Types.V1;
using Concord.EndToEnd.Tests.Harness;
using Concord.KafkaDev;
using Confluent.Kafka;

namespace Concord.Kafka.Tests;

/// <summary>
/// One test's world: a mock Kafka cluster in this process and a real Concord cluster (scheduler
/// process launching executors). Disposing stops both.
/// </summary>
public sealed class KafkaTestBed : IAsyncDisposable
{
    /// <summary>Partitions of test topics: several, so consumer groups really spread them.</summary>
    public const int Partitions = 8;

    /// <summary>Deadline for producing or consuming test records, in seconds.</summary>
    public const int KafkaTimeoutSeconds = 30;

    /// <summary>The test producer's queue bound, in messages: a prefill of a few 100,000 records is produced without waiting (librdkafka's default, 100,000, would refuse it).</summary>
    public const int ProduceQueueMessagesMax = 1_000_000;

    private KafkaTestBed(MockKafkaCluster kafka, Cluster cluster)
    {
        Kafka = kafka;
        Cluster = cluster;
    }

    public MockKafkaCluster Kafka { get; }

    private readonly Dictionary<string, IConsumer<byte[], byte[]>> _offsetReaders = new(StringComparer.Ordinal);

    public Cluster Cluster { get; }

    public string Bootstrap => Kafka.BootstrapServers;

    public static async Task<KafkaTestBed> StartAsync(params string[] topics)
    {
        var kafka = MockKafkaCluster.Start();
        foreach (var topic in topics)
        {
            kafka.CreateTopic(topic, Partitions);
        }
        try
        {
            return new KafkaTestBed(kafka, await Cluster.StartAsync());
        }
        catch
        {
            kafka.Dispose();
            throw;
        }
    }

    /// <summary>Produces each word as key and value; returns the count per word.</summary>
    public Dictionary<string, long> Produce(string topic, IEnumerable<string> words)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        using var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig { BootstrapServers = Bootstrap, LingerMs = 2, QueueBufferingMaxMessages = ProduceQueueMessagesMax }).Build();
        foreach (var word in words)
        {
            var bytes = Encoding.UTF8.GetBytes(word);
            producer.Produce(topic, new Message<byte[], byte[]> { Key = bytes, Value = bytes });
            counts[word] = counts.GetValueOrDefault(word) + 1;
        }
        Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(KafkaTimeoutSeconds)));
        return counts;
    }

    /// <summary>Random words from the word-count dictionary (seeded: a failure can be replayed).</summary>
    public static List<string> RandomWords(int count, int seed)
    {
        var dictionary = File.ReadAllLines(Repo.Dictionary).Where(w => w.Length > 0).Take(200).ToArray();
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => dictionary[random.Next(dictionary.Length)]).ToList();
    }

    /// <summary>Reads <paramref name="count"/> records from the start of <paramref name="topic"/>.</summary>
    public List<(string Key, string Value, long TimestampMs)> Consume(string topic, int count)
    {
        var config = new ConsumerConfig
        {
            BootstrapServers = Bootstrap,
            GroupId = "test-reader-" + Guid.NewGuid().ToString("N"),
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
        };
        config.Set("group.protocol", "consumer");
        using var consumer = new ConsumerBuilder<byte[], byte[]>(config).Build();
        consumer.Subscribe(topic);
        var read = new List<(string, string, long)>();
        var deadline = DateTime.UtcNow.AddSeconds(KafkaTimeoutSeconds);
        while (read.Count < count && DateTime.UtcNow < deadline)
        {
            var result = consumer.Consume(TimeSpan.FromMilliseconds(100));
            if (result is { IsPartitionEOF: false })
            {
                read.Add((result.Message.Key is null ? "" : Encoding.UTF8.GetString(result.Message.Key),
                    Encoding.UTF8.GetString(result.Message.Value), result.Message.Timestamp.UnixTimestampMs));
            }
        }
        consumer.Close();
        return read;
    }

    /// <summary>Offsets committed by <paramref name="group"/> on every partition of <paramref name="topic"/>, summed (a partition with none counts 0).</summary>
    public long CommittedOffsets(string group, string topic)
    {
        // One reader per group for the bed's life: this is polled while the pipeline runs.
        if (!_offsetReaders.TryGetValue(group, out var reader))
        {
            reader = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig { BootstrapServers = Bootstrap, GroupId = group }).Build();
            _offsetReaders[group] = reader;
        }
        return reader.Committed(Enumerable.Range(0, Partitions).Select(p => new TopicPartition(topic, p)), TimeSpan.FromSeconds(KafkaTimeoutSeconds))
            .Sum(c => Math.Max(0, c.Offset.Value));
    }

    /// <summary>The next offset of every partition of <paramref name="topic"/> (its high watermark), by partition.</summary>
    public long[] HighWatermarks(string topic)
    {
        using var reader = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig { BootstrapServers = Bootstrap, GroupId = "test-watermarks" }).Build();
        return [.. Enumerable.Range(0, Partitions).Select(p => reader.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(KafkaTimeoutSeconds)).High.Value)];
    }

    /// <summary>
    /// Every record of <paramref name="topic"/> from the start to its end now (each partition's
    /// end of file), as a plain (read_uncommitted) consumer sees them; also the offsets each
    /// partition's records took up (the high watermark: records plus any control records).
    /// </summary>
    public (List<(string Key, string Value)> Records, long[] Ends) ReadToEnd(string topic)
    {
        var ends = HighWatermarks(topic);
        var config = new ConsumerConfig
        {
            BootstrapServers = Bootstrap,
            GroupId = "test-reader-" + Guid.NewGuid().ToString("N"),
            EnableAutoCommit = false,
            EnablePartitionEof = true,
        };
        using var consumer = new ConsumerBuilder<byte[], byte[]>(config).Build();
        consumer.Assign(Enumerable.Range(0, Partitions).Where(p => ends[p] > 0).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
        var open = Enumerable.Range(0, Partitions).Where(p => ends[p] > 0).ToHashSet();
        var read = new List<(string, string)>();
        var deadline = DateTime.UtcNow.AddSeconds(KafkaTimeoutSeconds);
        while (open.Count > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, $"reading {topic} to its end took more than {KafkaTimeoutSeconds} s (partitions {string.Join(",", open)} still open, {read.Count} records read)");
            var result = consumer.Consume(TimeSpan.FromMilliseconds(100));
            if (result is null)
            {
                continue;
            }
            if (result.IsPartitionEOF || result.Offset.Value + 1 >= ends[result.Partition.Value])
            {
                if (!result.IsPartitionEOF)
                {
                    read.Add((Encoding.UTF8.GetString(result.Message.Key ?? []), Encoding.UTF8.GetString(result.Message.Value ?? [])));
                }
                open.Remove(result.Partition.Value);
                continue;
            }
            read.Add((Encoding.UTF8.GetString(result.Message.Key ?? []), Encoding.UTF8.GetString(result.Message.Value ?? [])));
        }
        consumer.Close();
        return (read, ends);
    }

    /// <summary>
    /// The partitions of <paramref name="topic"/> whose last offset holds a record rather than a
    /// control record (a transaction marker: a consumer skips it and reaches the end without a
    /// message). Empty when every non-empty partition ends with the end of a transaction.
    /// </summary>
    public List<int> PartitionsEndingInARecord(string topic)
    {
        var ends = HighWatermarks(topic);
        var config = new ConsumerConfig
        {
            BootstrapServers = Bootstrap,
            GroupId = "test-reader-" + Guid.NewGuid().ToString("N"),
            EnableAutoCommit = false,
            EnablePartitionEof = true,
        };
        using var consumer = new ConsumerBuilder<byte[], byte[]>(config).Build();
        var recordAtEnd = new List<int>();
        foreach (var partition in Enumerable.Range(0, Partitions).Where(p => ends[p] > 0))
        {
            consumer.Assign(new TopicPartitionOffset(topic, partition, ends[partition] - 1));
            var deadline = DateTime.UtcNow.AddSeconds(KafkaTimeoutSeconds);
            ConsumeResult<byte[], byte[]>? result;
            do
            {
                Assert.True(DateTime.UtcNow < deadline, $"reading the last offset of {topic} [{partition}] took more than {KafkaTimeoutSeconds} s");
                result = consumer.Consume(TimeSpan.FromMilliseconds(100));
            }
            while (result is null);
            if (!result.IsPartitionEOF)
            {
                recordAtEnd.Add(partition);
            }
        }
        consumer.Close();
        return recordAtEnd;
    }

    public OperatorSpec Source(string name, string topic, string stream = "words", int instances = 1, string? group = null, Dictionary<string, string>? extra = null)
    {
        var spec = new OperatorSpec
        {
            Name = name,
            Instances = instances,
            Builtin = new BuiltinOperator { Kind = "kafka-source", Options = { ["topic"] = topic, ["bootstrap"] = Bootstrap, ["stream"] = stream } },
            ExpectedOutputs = { stream },
        };
        if (group is not null)
        {
            spec.Builtin.Options["group"] = group;
        }
        foreach (var (k, v) in extra ?? [])
        {
            spec.Builtin.Options[k] = v;
        }
        return spec;
    }

    public async ValueTask DisposeAsync()
    {
        await Cluster.DisposeAsync();
        foreach (var reader in _offsetReaders.Values)
        {
            reader.Dispose();
        }
        Kafka.Dispose();
    }
}
