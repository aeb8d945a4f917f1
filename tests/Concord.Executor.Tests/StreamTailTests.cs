using System.Text;
using Concord.Executor.Records;
using Concord.Executor.Tracing;
using Google.Protobuf;

namespace Concord.Executor.Tests;

public sealed class StreamTailTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(10);

    private static List<RawProduced> Produced(int stream, int count, int first = 0) =>
        [.. Enumerable.Range(first, count).Select(i => new RawProduced(stream, RawRecord.From(new Concord.Contracts.Types.V1.Record
        {
            Key = ByteString.CopyFromUtf8($"k{i}"),
            Value = ByteString.CopyFromUtf8($"v{i}"),
        })))];

    [Fact]
    public async Task Nothing_is_copied_until_a_tail_is_asked_for()
    {
        var tail = new StreamTail();
        tail.Offer(new StreamTable(["words"]), Produced(0, 10));
        Assert.False(tail.Armed);
        var taken = await tail.TakeAsync("words", 5, waitMs: 0, CancellationToken.None).WaitAsync(Step);
        Assert.Empty(taken);
    }

    [Fact]
    public async Task Keeps_the_newest_records_per_stream_up_to_the_bound_oldest_first()
    {
        var tail = new StreamTail();
        var outputs = new StreamTable(["words", "other"]);
        Assert.Empty(await tail.TakeAsync("words", 1, waitMs: 0, CancellationToken.None).WaitAsync(Step)); // arms it
        tail.Offer(outputs, Produced(0, ExecutorLimits.TailRecordsMax + 50));
        tail.Offer(outputs, Produced(1, 3));

        var all = await tail.TakeAsync("words", ExecutorLimits.TailRecordsMax * 2, waitMs: 0, CancellationToken.None).WaitAsync(Step);
        Assert.Equal(ExecutorLimits.TailRecordsMax, all.Count);
        Assert.Equal("k50", Encoding.UTF8.GetString(all[0].Key));
        Assert.Equal($"v{ExecutorLimits.TailRecordsMax + 49}", Encoding.UTF8.GetString(all[^1].Value));
        Assert.True(all.Zip(all.Skip(1)).All(p => p.First.Seq < p.Second.Seq));

        var last = await tail.TakeAsync("words", 2, waitMs: 0, CancellationToken.None).WaitAsync(Step);
        Assert.Equal(["k148", "k149"], last.Select(r => Encoding.UTF8.GetString(r.Key)));
        Assert.Equal(3, (await tail.TakeAsync("other", 10, waitMs: 0, CancellationToken.None).WaitAsync(Step)).Count);
    }

    [Fact]
    public async Task Cuts_long_values_and_says_so()
    {
        var tail = new StreamTail();
        tail.Add("s", "k"u8, new byte[ExecutorLimits.TailValueBytesMax + 1]);
        tail.Add("s", "k"u8, new byte[ExecutorLimits.TailValueBytesMax]);
        var taken = await tail.TakeAsync("s", 2, waitMs: 0, CancellationToken.None).WaitAsync(Step);
        Assert.Equal(ExecutorLimits.TailValueBytesMax, taken[0].Value.Length);
        Assert.True(taken[0].ValueTruncated);
        Assert.False(taken[1].ValueTruncated);
    }

    [Fact]
    public async Task A_waiting_take_answers_when_records_arrive()
    {
        var tail = new StreamTail();
        var waiting = tail.TakeAsync("words", 3, waitMs: 60_000, CancellationToken.None);
        Assert.True(tail.Armed);
        tail.Offer(new StreamTable(["words"]), Produced(0, 3));
        var taken = await waiting.WaitAsync(Step);
        Assert.Equal(3, taken.Count);
    }
}
