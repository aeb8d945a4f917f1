using System.Diagnostics;
using System.Text;
using System.Threading.Channels;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.Builtins;
using Concord.Executor.Metrics;
using Concord.Executor.Records;
using Concord.KafkaDev;
using Confluent.Kafka;

namespace Concord.Kafka.Tests;

/// <summary>
/// An idle kafka-source sleeps in librdkafka's consume and wakes the pump
/// (<see cref="BuiltinSession.WakeTimer"/>) instead of polling on a short timer
/// (<see cref="KafkaLimits.SourceIdleWaitMs"/>); called directly as the executor calls it,
/// against the mock cluster in this process.
/// </summary>
public sealed class KafkaSourceIdleTests : IDisposable
{
    private const int Partitions = 2;
    private readonly MockKafkaCluster _kafka = MockKafkaCluster.Start();
    private readonly string _work = Directory.CreateTempSubdirectory("kafka-idle-").FullName;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(KafkaTestBed.KafkaTimeoutSeconds);
    private readonly Channel<string> _wakes = Channel.CreateUnbounded<string>();
    private ulong _seq;

    public KafkaSourceIdleTests() => _kafka.CreateTopic("words", Partitions);

    public void Dispose()
    {
        _kafka.Dispose();
        Directory.Delete(_work, recursive: true);
    }

    /// <summary>A started source (partitions by index: no group join to wait for) whose wake-ups go to <see cref="_wakes"/>.</summary>
    private async Task<(KafkaSourceOperator Source, IAsyncEnumerator<RawAnswer> Answers)> StartAsync()
    {
        var spec = new OperatorSpec
        {
            Name = "source",
            Instances = 1,
            Delivery = DeliveryGuarantee.DeliveryAtLeastOnce,
            Builtin = new BuiltinOperator { Kind = "kafka-source", Options = { ["topic"] = "words", ["bootstrap"] = _kafka.BootstrapServers } },
            ExpectedOutputs = { "words" },
        };
        var source = (KafkaSourceOperator)BuiltinOperators.Create(spec, _work, 0, TimeProvider.System, new ExecutorMetrics());
        source.WakeTimer = key => _wakes.Writer.TryWrite(key);
        await source.StartAsync(new Init(), CancellationToken.None).WaitAsync(TestTimeouts.Process);
        var answers = source.ReadAnswersAsync(CancellationToken.None).GetAsyncEnumerator();
        Assert.True(await answers.MoveNextAsync().AsTask().WaitAsync(TestTimeouts.Step));
        return (source, answers);
    }

    private async Task<RawAnswer> PollAsync(BuiltinSession source, IAsyncEnumerator<RawAnswer> answers)
    {
        await source.SendAsync(new RawBatch(0) { Seq = ++_seq, TimersFired = { new TimerFired { Key = "poll" } } }, CancellationToken.None).AsTask().WaitAsync(TestTimeouts.Process);
        Assert.True(await answers.MoveNextAsync().AsTask().WaitAsync(TestTimeouts.Process));
        return answers.Current;
    }

    /// <summary>
    /// Polls until an answer sets no poll timer: the source watches now. Records polled meanwhile
    /// go to <paramref name="records"/>; without it there must be none (an empty topic).
    /// </summary>
    private async Task PollUntilWatchingAsync(BuiltinSession source, IAsyncEnumerator<RawAnswer> answers, List<string>? records = null)
    {
        // 1, 2, 4, 8, 10 ms back-off after the last records, then the watch: a handful of polls.
        for (var polls = 0; polls < 20; polls++)
        {
            var answer = await PollAsync(source, answers);
            if (records is null)
            {
                Assert.Empty(answer.Produced);
            }
            else
            {
                records.AddRange(Keys(answer));
            }
            if (answer.TimersSet.Count == 0)
            {
                return;
            }
            var next = Assert.Single(answer.TimersSet);
            Assert.Equal("poll", next.Key);
            Assert.InRange(next.TimeUnixMs - DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), long.MinValue, KafkaLimits.SourceIdlePollMsMax);
        }
        Assert.Fail("the source kept polling an empty topic on a timer instead of watching");
    }

    private static IEnumerable<string> Keys(RawAnswer answer) => answer.Produced.Select(p => Encoding.UTF8.GetString(p.Record.Key));

    private void Produce(params string[] keys)
    {
        using var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig { BootstrapServers = _kafka.BootstrapServers, LingerMs = 1 }).Build();
        for (var i = 0; i < keys.Length; i++)
        {
            var bytes = Encoding.UTF8.GetBytes(keys[i]);
            producer.Produce(new TopicPartition("words", i % Partitions), new Message<byte[], byte[]> { Key = bytes, Value = bytes });
        }
        Assert.Equal(0, producer.Flush(Deadline));
    }

    [Fact]
    public async Task Idle_source_sets_no_timer_and_wakes_the_pump_when_its_watch_ends_and_emits_what_the_watch_read_exactly_once()
    {
        var (source, answers) = await StartAsync();
        try
        {
            await PollUntilWatchingAsync(source, answers);
            // Nothing arrives: the watch still ends with a wake-up within its bound (the idle source's turn).
            var quiet = Stopwatch.StartNew();
            Assert.Equal("poll", await _wakes.Reader.ReadAsync().AsTask().WaitAsync(TestTimeouts.Step));
            Assert.True(quiet.ElapsedMilliseconds >= KafkaLimits.SourceIdleWaitMs / 2,
                $"the watch woke the pump after {quiet.ElapsedMilliseconds} ms with nothing to read; it should sleep up to {KafkaLimits.SourceIdleWaitMs} ms");
            var answer = await PollAsync(source, answers);
            Assert.Empty(answer.Produced);
            Assert.Empty(answer.TimersSet); // still idle: watching again

            Produce("b0", "b1", "b2", "b3", "b4");
            var records = new List<string>();
            var deadline = DateTime.UtcNow + Deadline;
            while (records.Count < 5 && DateTime.UtcNow < deadline)
            {
                // Only a wake-up gives the source its turn, as in the executor once the topic is idle.
                Assert.Equal("poll", await _wakes.Reader.ReadAsync().AsTask().WaitAsync(TestTimeouts.Step));
                answer = await PollAsync(source, answers);
                records.AddRange(Keys(answer));
                if (answer.TimersSet.Count > 0)
                {
                    // Records came: it polls on its timer again until the topic is empty once more.
                    await PollUntilWatchingAsync(source, answers, records);
                }
            }
            Assert.Equal(["b0", "b1", "b2", "b3", "b4"], records.Order());
        }
        finally
        {
            await answers.DisposeAsync();
            await source.DisposeAsync();
        }
    }

    [Fact]
    public async Task Stopping_a_watching_source_waits_for_the_watch_and_closes_within_its_bounds()
    {
        var (source, answers) = await StartAsync();
        await PollUntilWatchingAsync(source, answers);
        var stop = Stopwatch.StartNew();
        await source.DisposeAsync().AsTask().WaitAsync(TestTimeouts.Process);
        Assert.True(source.Exited.IsCompleted);
        Assert.InRange(stop.ElapsedMilliseconds, 0, KafkaLimits.SourceIdleWaitMs + KafkaLimits.CloseTimeoutMs);
        await answers.DisposeAsync();
    }
}
