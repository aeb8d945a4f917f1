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

    private KafkaTestBed(MockKafkaCluster kafka, Cluster cluster)
    {
        Kafka = kafka;
        Cluster = cluster;
    }

    public MockKafkaCluster Kafka { get; }

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
        using var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig { BootstrapServers = Bootstrap, LingerMs = 2 }).Build();
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
        Kafka.Dispose();
    }
}
