using System.Text;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor;
using Concord.Executor.Builtins;
using Concord.Executor.Metrics;
using Concord.Executor.Records;
using Concord.KafkaDev;
using Confluent.Kafka;
using Microsoft.Extensions.Time.Testing;

namespace Concord.Kafka.Tests;

/// <summary>
/// kafka-source option <c>rate</c> (records/s per instance): a token bucket on the source's own
/// clock, so the test moves a fake clock and counts what each turn emits. Called directly as the
/// executor calls it, against the mock cluster in this process.
/// </summary>
public sealed class KafkaSourceRateTests : IDisposable
{
    private const int Rate = 1000;
    private const int Prefilled = 2000;
    private readonly MockKafkaCluster _kafka = MockKafkaCluster.Start();
    private readonly string _work = Directory.CreateTempSubdirectory("kafka-rate-").FullName;
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UnixEpoch.AddYears(56));
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(KafkaTestBed.KafkaTimeoutSeconds);
    private ulong _seq;

    public KafkaSourceRateTests() => _kafka.CreateTopic("words", 1);

    public void Dispose()
    {
        _kafka.Dispose();
        Directory.Delete(_work, recursive: true);
    }

    private async Task<RawAnswer> TurnAsync(BuiltinSession source, IAsyncEnumerator<RawAnswer> answers)
    {
        await source.SendAsync(new RawBatch(0) { Seq = ++_seq, TimersFired = { new TimerFired { Key = "poll" } } }, CancellationToken.None).AsTask().WaitAsync(TestTimeouts.Process);
        Assert.True(await answers.MoveNextAsync().AsTask().WaitAsync(TestTimeouts.Process));
        return answers.Current;
    }

    /// <summary>Turns at the frozen fake time until the allowance is spent (a turn emits nothing); returns what they emitted.</summary>
    private async Task<int> SpendAsync(BuiltinSession source, IAsyncEnumerator<RawAnswer> answers, int allowance)
    {
        var emitted = 0;
        // The prefetch may lag the first turns (real time): poll until the allowance is reached, bounded.
        var deadline = DateTime.UtcNow + Deadline;
        while (emitted < allowance && DateTime.UtcNow < deadline)
        {
            emitted += (await TurnAsync(source, answers)).Produced.Count;
        }
        var spent = await TurnAsync(source, answers);
        Assert.Empty(spent.Produced);
        // Spent: the next turn is one tick away on the source's clock, not now.
        Assert.Equal(_time.GetUtcNow().ToUnixTimeMilliseconds() + ExecutorLimits.SourceRateTickMs, Assert.Single(spent.TimersSet).TimeUnixMs);
        return emitted;
    }

    [Fact]
    public async Task A_rate_limits_what_the_source_reads_to_the_time_elapsed_and_a_stall_to_one_burst()
    {
        using (var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig { BootstrapServers = _kafka.BootstrapServers, LingerMs = 1 }).Build())
        {
            for (var i = 0; i < Prefilled; i++)
            {
                var word = Encoding.UTF8.GetBytes($"w{i}");
                producer.Produce("words", new Message<byte[], byte[]> { Key = word, Value = word });
            }
            Assert.Equal(0, producer.Flush(Deadline));
        }
        var spec = new OperatorSpec
        {
            Name = "source",
            Instances = 1,
            Delivery = DeliveryGuarantee.DeliveryAtLeastOnce,
            Builtin = new BuiltinOperator { Kind = "kafka-source", Options = { ["topic"] = "words", ["bootstrap"] = _kafka.BootstrapServers, ["rate"] = $"{Rate}" } },
            ExpectedOutputs = { "words" },
        };
        var source = (KafkaSourceOperator)BuiltinOperators.Create(spec, _work, 0, _time, new ExecutorMetrics());
        await source.StartAsync(new Init(), CancellationToken.None).WaitAsync(TestTimeouts.Process);
        var answers = source.ReadAnswersAsync(CancellationToken.None).GetAsyncEnumerator();
        try
        {
            Assert.True(await answers.MoveNextAsync().AsTask().WaitAsync(TestTimeouts.Step));
            // No time has passed on the source's clock: nothing is allowed yet.
            Assert.Equal(0, await SpendAsync(source, answers, allowance: 0));

            _time.Advance(TimeSpan.FromMilliseconds(50));
            Assert.Equal(Rate * 50 / 1000, await SpendAsync(source, answers, allowance: Rate * 50 / 1000));

            // A long stall (backpressure, a restore) allows one burst, not the whole stall's worth.
            _time.Advance(TimeSpan.FromSeconds(1));
            var burst = Rate * ExecutorLimits.SourceRateBurstMs / 1000;
            Assert.Equal(burst, await SpendAsync(source, answers, allowance: burst));
            Assert.Equal(Rate * 50 / 1000 + burst, source.Records);
        }
        finally
        {
            await answers.DisposeAsync();
            await source.DisposeAsync();
        }
    }
}
