using System.Diagnostics;
using System.Text;
using System.Threading.Channels;
using Concord.Executor.Builtins;
using Concord.Executor.Records;

namespace Concord.Kafka.Tests;

/// <summary>
/// An idle kafka-source sleeps in librdkafka's consume and wakes the pump
/// (<see cref="BuiltinSession.WakeTimer"/>) instead of polling on a short timer
/// (<see cref="KafkaLimits.SourceIdleWaitMs"/>); called directly as the executor calls it,
/// against the mock cluster in this process.
/// </summary>
public sealed class KafkaSourceIdleTests : IDisposable
{
    private readonly KafkaSourceBed _bed = new(partitions: 2);
    private readonly Channel<string> _wakes = Channel.CreateUnbounded<string>();

    public void Dispose() => _bed.Dispose();

    /// <summary>A started source whose wake-ups go to <see cref="_wakes"/>.</summary>
    private Task<(KafkaSourceOperator Source, IAsyncEnumerator<RawAnswer> Answers)> StartAsync() =>
        _bed.StartAsync(TimeProvider.System, key => _wakes.Writer.TryWrite(key));

    private Task<RawAnswer> PollAsync(BuiltinSession source, IAsyncEnumerator<RawAnswer> answers) => _bed.TurnAsync(source, answers);

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

            _bed.Produce("b0", "b1", "b2", "b3", "b4");
            var records = new List<string>();
            var deadline = DateTime.UtcNow + KafkaSourceBed.Deadline;
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
