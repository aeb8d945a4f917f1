using System.Runtime.InteropServices;
using Concord.KafkaDev.Internal;

namespace Concord.KafkaDev;

/// <summary>
/// librdkafka's in-memory mock Kafka cluster, hosted in this process: real Kafka protocol over
/// TCP on 127.0.0.1, reachable by other processes while this object lives. A development and
/// test broker only: nothing is persisted and each partition keeps at most 5 MiB or 100,000
/// message sets, silently dropping the oldest (librdkafka's limits, not ours).
/// </summary>
public sealed unsafe class MockKafkaCluster : IDisposable
{
    private readonly Lock _lock = new();
    private nint _host;
    private nint _cluster;

    private MockKafkaCluster(nint host, nint cluster, string bootstrap)
    {
        _host = host;
        _cluster = cluster;
        BootstrapServers = bootstrap;
    }

    /// <summary>The bootstrap.servers string of the cluster (comma-separated host:port).</summary>
    public string BootstrapServers { get; }

    /// <summary>Starts a cluster of <paramref name="brokers"/> brokers with immediate group rebalances.</summary>
    public static MockKafkaCluster Start(int brokers = KafkaDevLimits.BrokersDefault)
    {
        if (brokers is < 1 or > KafkaDevLimits.BrokersMax)
        {
            throw new ArgumentOutOfRangeException(nameof(brokers), brokers, $"use 1..{KafkaDevLimits.BrokersMax} brokers");
        }
        var f = RdKafkaMockNative.Get();
        var host = RdKafkaMockNative.NewHostHandle();
        var cluster = f.ClusterNew(host, brokers);
        if (cluster == 0)
        {
            f.Destroy(host);
            throw new InvalidOperationException("rd_kafka_mock_cluster_new failed (could it bind 127.0.0.1?)");
        }
        // A new consumer group would otherwise wait for more members before its first assignment.
        f.GroupInitialRebalanceDelayMs(cluster, 0);
        var bootstrap = Marshal.PtrToStringUTF8((nint)f.ClusterBootstraps(cluster))
            ?? throw new InvalidOperationException("rd_kafka_mock_cluster_bootstraps returned nothing");
        return new MockKafkaCluster(host, cluster, bootstrap);
    }

    /// <summary>Creates <paramref name="topic"/> with <paramref name="partitions"/> partitions (replication 1).</summary>
    public void CreateTopic(string topic, int partitions)
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        if (partitions is < 1 or > KafkaDevLimits.PartitionsMax)
        {
            throw new ArgumentOutOfRangeException(nameof(partitions), partitions, $"use 1..{KafkaDevLimits.PartitionsMax} partitions");
        }
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_cluster == 0, this);
            fixed (byte* name = RdKafkaMockNative.Utf8(topic))
            {
                var error = RdKafkaMockNative.Get().TopicCreate(_cluster, name, partitions, 1);
                if (error != 0)
                {
                    throw new InvalidOperationException($"creating topic '{topic}' failed: {RdKafkaMockNative.ErrorName(error)}");
                }
            }
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_cluster == 0)
            {
                return;
            }
            var f = RdKafkaMockNative.Get();
            f.ClusterDestroy(_cluster);
            f.Destroy(_host);
            _cluster = 0;
            _host = 0;
        }
    }
}
