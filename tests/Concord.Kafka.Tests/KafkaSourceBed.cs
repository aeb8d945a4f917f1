using System.Text;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.Builtins;
using Concord.Executor.Metrics;
using Concord.Executor.Records;
using Concord.KafkaDev;
using Confluent.Kafka;

namespace Concord.Kafka.Tests;

/// <summary>
/// A kafka-source called directly, as the executor's pump calls it, against a mock cluster in
/// this process with one topic, <c>words</c>: the test drives its turns (<see cref="TurnAsync"/>)
/// and reads its answers. Disposing removes the cluster and the source's work directory.
/// </summary>
internal sealed class KafkaSourceBed : IDisposable
{
    public const string Topic = "words";

    /// <summary>Bound on a producer flush and on a test's wait for the prefetch to catch up.</summary>
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(KafkaTestBed.KafkaTimeoutSeconds);

    private readonly MockKafkaCluster _kafka = MockKafkaCluster.Start();
    private readonly string _work = Directory.CreateTempSubdirectory("kafka-source-").FullName;
    private readonly int _partitions;
    private ulong _seq;

    public KafkaSourceBed(int partitions)
    {
        _partitions = partitions;
        _kafka.CreateTopic(Topic, partitions);
    }

    /// <summary>
    /// Starts a source (at least once, partitions by index: no group join to wait for) with
    /// <paramref name="options"/> on top of topic and bootstrap, on <paramref name="time"/>; its
    /// wake-ups go to <paramref name="wake"/>. Returns it with its answers, Init's already read.
    /// </summary>
    public async Task<(KafkaSourceOperator Source, IAsyncEnumerator<RawAnswer> Answers)> StartAsync(
        TimeProvider time, Action<string>? wake = null, IReadOnlyDictionary<string, string>? options = null)
    {
        var spec = new OperatorSpec
        {
            Name = "source",
            Instances = 1,
            Delivery = DeliveryGuarantee.DeliveryAtLeastOnce,
            Builtin = new BuiltinOperator { Kind = "kafka-source", Options = { ["topic"] = Topic, ["bootstrap"] = _kafka.BootstrapServers } },
            ExpectedOutputs = { Topic },
        };
        foreach (var (name, value) in options ?? new Dictionary<string, string>())
        {
            spec.Builtin.Options[name] = value;
        }
        var source = (KafkaSourceOperator)BuiltinOperators.Create(spec, _work, 0, time, new ExecutorMetrics());
        source.WakeTimer = wake;
        await source.StartAsync(new Init(), CancellationToken.None).WaitAsync(TestTimeouts.Process);
        var answers = source.ReadAnswersAsync(CancellationToken.None).GetAsyncEnumerator();
        Assert.True(await answers.MoveNextAsync().AsTask().WaitAsync(TestTimeouts.Step));
        return (source, answers);
    }

    /// <summary>One turn of the source (its "poll" timer fired, as the pump sends it) and its answer.</summary>
    public async Task<RawAnswer> TurnAsync(BuiltinSession source, IAsyncEnumerator<RawAnswer> answers)
    {
        await source.SendAsync(new RawBatch(0) { Seq = ++_seq, TimersFired = { new TimerFired { Key = "poll" } } }, CancellationToken.None).AsTask().WaitAsync(TestTimeouts.Process);
        Assert.True(await answers.MoveNextAsync().AsTask().WaitAsync(TestTimeouts.Process));
        return answers.Current;
    }

    /// <summary>Writes one record per key (key = value), round-robin over the partitions, and waits until all are acknowledged.</summary>
    public void Produce(params string[] keys)
    {
        using var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig { BootstrapServers = _kafka.BootstrapServers, LingerMs = 1 }).Build();
        for (var i = 0; i < keys.Length; i++)
        {
            var bytes = Encoding.UTF8.GetBytes(keys[i]);
            producer.Produce(new TopicPartition(Topic, i % _partitions), new Message<byte[], byte[]> { Key = bytes, Value = bytes });
        }
        Assert.Equal(0, producer.Flush(Deadline));
    }

    public void Dispose()
    {
        _kafka.Dispose();
        Directory.Delete(_work, recursive: true);
    }
}
