using Concord.Executor;
using Concord.Executor.Builtins;
using Concord.Executor.Records;
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
    private readonly KafkaSourceBed _bed = new(partitions: 1);
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UnixEpoch.AddYears(56));

    public void Dispose() => _bed.Dispose();

    /// <summary>Turns at the frozen fake time until the allowance is spent (a turn emits nothing); returns what they emitted.</summary>
    private async Task<int> SpendAsync(BuiltinSession source, IAsyncEnumerator<RawAnswer> answers, int allowance)
    {
        var emitted = 0;
        // The prefetch may lag the first turns (real time): poll until the allowance is reached, bounded.
        var deadline = DateTime.UtcNow + KafkaSourceBed.Deadline;
        while (emitted < allowance && DateTime.UtcNow < deadline)
        {
            emitted += (await _bed.TurnAsync(source, answers)).Produced.Count;
        }
        var spent = await _bed.TurnAsync(source, answers);
        Assert.Empty(spent.Produced);
        // Spent: the next turn is one tick away on the source's clock, not now.
        Assert.Equal(_time.GetUtcNow().ToUnixTimeMilliseconds() + ExecutorLimits.SourceRateTickMs, Assert.Single(spent.TimersSet).TimeUnixMs);
        return emitted;
    }

    [Fact]
    public async Task A_rate_limits_what_the_source_reads_to_the_time_elapsed_and_a_stall_to_one_burst()
    {
        _bed.Produce([.. Enumerable.Range(0, Prefilled).Select(i => $"w{i}")]);
        var (source, answers) = await _bed.StartAsync(_time, options: new Dictionary<string, string> { ["rate"] = $"{Rate}" });
        try
        {
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
