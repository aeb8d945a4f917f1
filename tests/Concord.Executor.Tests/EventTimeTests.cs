using Concord.Contracts.Operator.V1;
using Concord.Executor.DataPlane;
using Concord.Executor.DataPlane.Internal;
using Concord.Executor.Records;
using Concord.Executor.Session;
using Concord.Executor.Timers;
using Microsoft.Extensions.Time.Testing;
using static Concord.Executor.Tests.TestSupport;

namespace Concord.Executor.Tests;

/// <summary>Event time in the executor (docs/guarantees.md, "Event time"): watermarks, event-time timers, late records.</summary>
public class EventTimeTests
{
    private static readonly TimeSpan Idle = TimeSpan.FromSeconds(10);
    private readonly FakeTimeProvider _time = new(DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000));

    private Watermarks Reader(TimeSpan? grace = null) => new(_time, isSource: false, inputIdle: Idle, startupGrace: grace ?? TimeSpan.Zero);

    [Fact]
    public void The_input_watermark_is_the_minimum_over_the_channels_and_never_decreases()
    {
        var w = Reader();
        Assert.Equal(0, w.InputMs);
        w.ObserveRecords("words", "a/0");
        Assert.False(w.ObserveWatermark("words", "b/0", 2_000), "a/0 sent records but no watermark yet: it holds the watermark back");
        Assert.Equal(0, w.InputMs);

        Assert.True(w.ObserveWatermark("words", "a/0", 1_500));
        Assert.Equal(1_500, w.InputMs);
        Assert.True(w.ObserveWatermark("words", "a/0", 3_000));
        Assert.Equal(2_000, w.InputMs); // b/0 is now the slowest
        Assert.False(w.ObserveWatermark("words", "b/0", 1_000), "a channel's watermark never goes back");
        Assert.Equal(2_000, w.InputMs);
        // The same sender on another stream is another input.
        w.ObserveWatermark("other", "a/0", 2_500);
        w.ObserveWatermark("words", "b/0", 4_000);
        Assert.Equal(2_500, w.InputMs);
    }

    [Fact]
    public void A_silent_channel_stops_holding_the_watermark_back_after_the_idle_bound()
    {
        var w = Reader();
        w.ObserveRecords("words", "b/0"); // never sends a watermark
        w.ObserveWatermark("words", "a/0", 1_000);
        Assert.Equal(0, w.InputMs);

        _time.Advance(Idle - TimeSpan.FromMilliseconds(1));
        w.ObserveWatermark("words", "a/0", 5_000);
        Assert.False(w.Refresh());
        Assert.Equal(0, w.InputMs);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(w.Refresh(), "b/0 has been silent for the idle bound");
        Assert.Equal(5_000, w.InputMs);

        // It counts again from its next frame.
        w.ObserveRecords("words", "b/0");
        w.ObserveWatermark("words", "a/0", 9_000);
        Assert.Equal(5_000, w.InputMs);
    }

    [Fact]
    public void When_every_channel_is_idle_their_last_watermarks_still_count()
    {
        var w = Reader(grace: Idle); // the grace ends when the only sender is idle already
        w.ObserveWatermark("words", "a/0", 2_000);
        w.ObserveWatermark("words", "b/0", 3_000);
        _time.Advance(Idle);
        Assert.True(w.Refresh());
        Assert.Equal(2_000, w.InputMs);
        w.ObserveWatermark("words", "b/0", 4_000); // b/0 active again: a/0 (idle) no longer holds it back
        Assert.Equal(4_000, w.InputMs);
    }

    [Fact]
    public void The_watermark_stays_unknown_for_the_startup_grace_so_late_senders_can_appear()
    {
        var w = Reader(grace: TimeSpan.FromSeconds(2));
        w.ObserveWatermark("words", "a/0", 1_000);
        Assert.Equal(0, w.InputMs);
        _time.Advance(TimeSpan.FromSeconds(1));
        w.ObserveWatermark("words", "b/0", 800); // appears within the grace: it counts
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(w.Refresh());
        Assert.Equal(800, w.InputMs);
    }

    [Fact]
    public void A_reader_forwards_a_batch_watermark_only_after_the_batch_is_routed()
    {
        var w = Reader();
        var forwarded = new List<long>();
        w.Forward = forwarded.Add;
        w.ObserveWatermark("words", "a/0", 1_000);
        Assert.Equal(1_000, w.BatchCut(1));
        w.ObserveWatermark("words", "a/0", 2_000);
        Assert.Equal(2_000, w.BatchCut(2));
        w.ForwardWhenIdle();
        Assert.Empty(forwarded); // batches in flight: their records must leave first

        w.Routed(1, RawAnswer.From(new BatchDone { Seq = 1 }, new StreamTable([])));
        Assert.Equal([1_000L], forwarded);
        w.Routed(2, RawAnswer.From(new BatchDone { Seq = 2 }, new StreamTable([])));
        w.ObserveWatermark("words", "a/0", 3_000);
        w.ForwardWhenIdle();
        w.ForwardWhenIdle();
        Assert.Equal([1_000L, 2_000, 3_000], forwarded);
    }

    [Fact]
    public async Task A_source_sends_the_largest_event_time_produced_minus_the_out_of_orderness_every_interval()
    {
        var w = new Watermarks(_time, isSource: true, outOfOrdernessMs: 100);
        var forwarded = new List<long>();
        w.Forward = forwarded.Add;
        var decided = System.Threading.Channels.Channel.CreateUnbounded<bool>();
        w.Advanced = () => decided.Writer.TryWrite(true);
        using var stop = new CancellationTokenSource();
        var loop = w.RunSourceAsync(stop.Token);
        var outputs = new StreamTable(["out"]);

        w.Routed(1, RawAnswer.From(Produced(1_000, 1_500, 1_200), outputs));
        Assert.False(decided.Reader.TryRead(out _), "nothing before the interval");
        _time.Advance(TimeSpan.FromMilliseconds(ExecutorLimits.WatermarkIntervalMs));
        await decided.Reader.ReadAsync().AsTask().WaitAsync(Bound);
        // Decided, not sent: the pump first makes it the clock (the source's own event-time
        // timers it passes fire), then it leaves behind their output.
        Assert.Empty(forwarded);
        Assert.True(w.Refresh());
        Assert.Equal(1_400, w.InputMs);
        w.ForwardWhenIdle();
        Assert.Equal([1_400L], forwarded);

        // Nothing new (or only older records): no watermark is decided again.
        w.Routed(2, RawAnswer.From(Produced(1_100), outputs));
        _time.Advance(TimeSpan.FromMilliseconds(ExecutorLimits.WatermarkIntervalMs));
        Assert.False(w.EmitSourceWatermark());
        Assert.False(w.Refresh());
        w.Routed(3, RawAnswer.From(Produced(2_000), outputs));
        _time.Advance(TimeSpan.FromMilliseconds(ExecutorLimits.WatermarkIntervalMs));
        await decided.Reader.ReadAsync().AsTask().WaitAsync(Bound);
        Assert.True(w.Refresh());
        w.ForwardWhenIdle();
        Assert.Equal([1_400L, 1_900], forwarded);
        Assert.Equal(1_900, w.ForwardedMs);

        await stop.CancelAsync();
        // The loop ends within the bound: by the cancelled delay, or normally when the stop lands
        // between a delay and the loop's check (both are a clean stop).
        var ended = await Xunit.Record.ExceptionAsync(() => loop.WaitAsync(Bound));
        Assert.True(ended is null or OperationCanceledException, $"the watermark loop did not stop cleanly: {ended}");
    }

    [Fact]
    public async Task A_source_fires_its_own_event_time_timers_on_the_watermark_it_decides_and_sends_that_watermark_behind_their_output()
    {
        var queue = new InboundQueue(channelsMax: 4, channelCreditRows: 100, channelCreditBytes: 100_000);
        var timers = new TimerQueue();
        var metrics = TestTelemetry.Metrics();
        var pump = new BatchPump(new ScriptedSession("out"), queue, null, timers, _time, metrics, TestTelemetry.Tracing(metrics),
            new BatchPumpOptions { BatchRowsMax = 100, BatchLinger = TimeSpan.FromMilliseconds(1) });
        var w = new Watermarks(_time, isSource: true, outOfOrdernessMs: 0);
        var forwarded = System.Threading.Channels.Channel.CreateUnbounded<long>();
        w.Forward = ms => forwarded.Writer.TryWrite(ms);
        pump.EventTime = w;
        timers.Set([], "window", 1_000, TimeDomain.Event);
        timers.Set([], "later", 5_000, TimeDomain.Event);
        var outputs = new StreamTable(["out"]);

        // The pump waits with nothing due; the source's records (init's answer) reach 1,500.
        var assembling = pump.AssembleAsync(CancellationToken.None);
        w.Routed(0, RawAnswer.From(Produced(1_200, 1_500), outputs));
        Assert.False(assembling.IsCompleted);
        Assert.True(w.EmitSourceWatermark()); // the interval's decision wakes the pump

        var batch = await assembling.WaitAsync(Bound);
        var fired = Assert.Single(batch.TimersFired);
        Assert.Equal(("window", 1_000L, TimeDomain.Event), (fired.Key, fired.TimeUnixMs, fired.Domain));
        Assert.Equal(1, timers.Count); // "later" waits for the source's watermark to reach it
        Assert.False(forwarded.Reader.TryRead(out _), "the watermark went downstream ahead of the output of the timer it fired");
        Assert.Equal(1_500, w.BatchCut(1)); // the batch carries the source's own watermark
        w.Routed(1, RawAnswer.From(new BatchDone { Seq = 1 }, outputs));
        Assert.Equal(1_500, await forwarded.Reader.ReadAsync().AsTask().WaitAsync(Bound));

        // Past the last timer: it fires the same way.
        w.Routed(2, RawAnswer.From(Produced(6_000), outputs));
        Assert.True(w.EmitSourceWatermark());
        var last = Assert.Single((await pump.AssembleAsync(CancellationToken.None).WaitAsync(Bound)).TimersFired);
        Assert.Equal(("later", 5_000L), (last.Key, last.TimeUnixMs));
        Assert.Equal(0, timers.Count);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_event_time_timer_restored_from_a_checkpoint_fires_once_the_new_watermark_passes_it(bool source)
    {
        // Watermarks are not in a checkpoint (docs/guarantees.md, "Event time"): a restored
        // executor starts with no watermark, and its restored event-time timers wait for the one
        // made again from the replayed records — a reader's from its inputs, a source's from its
        // own output.
        using var dir = new TempDirectory();
        var checkpoint = dir.Combine("checkpoints", "chk-7");
        using (var before = StateBackend())
        {
            var set = new TimerQueue(backend: before);
            set.Set(System.Text.Encoding.UTF8.GetBytes("a"), "window", 1_000, TimeDomain.Event);
            set.Set(System.Text.Encoding.UTF8.GetBytes("b"), "window", 3_000, TimeDomain.Event);
            using var snapshot = before.Snapshot(7);
            await snapshot.WriteAsync(checkpoint, "op", 0, CancellationToken.None).WaitAsync(Bound);
        }
        using var backend = StateBackend();
        var timers = new TimerQueue(backend: backend);
        Assert.Equal(7UL, Concord.Executor.Checkpoints.RestoreAtStart.Restore(checkpoint, "op", backend, null, timers.RestoreFrom,
            Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance));
        Assert.Equal(2, timers.Count);

        var queue = new InboundQueue(channelsMax: 4, channelCreditRows: 100, channelCreditBytes: 100_000);
        var metrics = TestTelemetry.Metrics();
        var pump = new BatchPump(new ScriptedSession("out"), queue, null, timers, _time, metrics, TestTelemetry.Tracing(metrics),
            new BatchPumpOptions { BatchRowsMax = 100, BatchLinger = TimeSpan.FromMilliseconds(1) });
        var w = source ? new Watermarks(_time, isSource: true, outOfOrdernessMs: 0) : Reader();
        pump.EventTime = w;
        Assert.Equal(0, w.InputMs); // no watermark came back with the state
        var outputs = new StreamTable(["out"]);
        var input = source ? null : Channel(queue, "up/0");

        // The replay reaches event time 2,000: a's timer (1,000) fires, b's (3,000) waits.
        Watermark(2_000);
        var first = Assert.Single((await pump.AssembleAsync(CancellationToken.None).WaitAsync(Bound)).TimersFired);
        Assert.Equal(("a", 1_000L), (first.StateKey.ToStringUtf8(), first.TimeUnixMs));
        Assert.Equal(1, timers.Count);

        Watermark(3_000);
        var second = Assert.Single((await pump.AssembleAsync(CancellationToken.None).WaitAsync(Bound)).TimersFired);
        Assert.Equal(("b", 3_000L), (second.StateKey.ToStringUtf8(), second.TimeUnixMs));
        Assert.Equal(0, timers.Count);

        void Watermark(long ms)
        {
            if (source)
            {
                // The restored source replays records up to event time ms; its interval decides the watermark.
                w.Routed(0, RawAnswer.From(Produced(ms), outputs));
                Assert.True(w.EmitSourceWatermark());
            }
            else
            {
                queue.EnqueueWatermark(ms, input!);
            }
        }
    }

    private static Concord.Executor.State.MemoryStateBackend StateBackend() =>
        new(Contracts.ProtocolLimits.KeyGroupCount, (0, Contracts.ProtocolLimits.KeyGroupCount), 1 << 20);

    [Fact]
    public void Out_of_orderness_comes_from_the_spec()
    {
        Assert.Equal(ExecutorLimits.WatermarkOutOfOrdernessMsDefault, Watermarks.OutOfOrdernessFor(new Contracts.Types.V1.OperatorSpec()));
        Assert.Equal(250, Watermarks.OutOfOrdernessFor(new Contracts.Types.V1.OperatorSpec { WatermarkOutOfOrdernessMs = 250 }));
    }

    [Fact]
    public async Task The_pump_fires_event_time_timers_when_the_watermark_passes_them_and_counts_late_records()
    {
        var queue = new InboundQueue(channelsMax: 4, channelCreditRows: 100, channelCreditBytes: 100_000);
        var timers = new TimerQueue();
        var metrics = TestTelemetry.Metrics();
        var pump = new BatchPump(new ScriptedSession(), queue, null, timers, _time, metrics, TestTelemetry.Tracing(metrics),
            new BatchPumpOptions { BatchRowsMax = 100, BatchLinger = TimeSpan.FromMilliseconds(1) });
        var w = Reader();
        pump.EventTime = w;
        timers.Set([], "window", 1_000, TimeDomain.Event);
        timers.Set([], "later", 5_000, TimeDomain.Event);
        var a = Channel(queue, "a/0");
        var b = Channel(queue, "b/0");

        Send(queue, b, ("x", 500));
        queue.EnqueueWatermark(2_000, a);
        var first = await pump.AssembleAsync(CancellationToken.None).WaitAsync(Bound);
        Assert.Single(first.Records);
        Assert.Empty(first.TimersFired); // b/0 has sent no watermark: the input watermark is unknown
        Assert.Equal(0, w.InputMs);

        queue.EnqueueWatermark(1_200, b);
        var second = await pump.AssembleAsync(CancellationToken.None).WaitAsync(Bound);
        Assert.Empty(second.Records);
        var fired = Assert.Single(second.TimersFired);
        Assert.Equal(("window", 1_000L, TimeDomain.Event), (fired.Key, fired.TimeUnixMs, fired.Domain));
        Assert.Equal(1_200, w.InputMs);
        Assert.Equal(1, timers.Count); // "later" waits for the watermark

        // Records below the input watermark are late: counted, and processed all the same.
        Send(queue, b, ("late", 1_100), ("on-time", 1_200), ("late-too", 0));
        var third = await pump.AssembleAsync(CancellationToken.None).WaitAsync(Bound);
        Assert.Equal(["late", "on-time", "late-too"], third.Records.Select(r => r.KeyString()));
        Assert.Equal(2, metrics.LateRecords.WithLabels("words").Value);
    }

    [Fact]
    public void A_batch_carries_its_watermark_on_the_wire()
    {
        var batch = new RawBatch { Seq = 3, WatermarkUnixMs = 1_700_000_000_123 };
        batch.Add(Raw("k"));
        var bytes = new byte[batch.SerializedSize];
        batch.WriteTo(bytes);
        var parsed = ExecutorMessage.Parser.ParseFrom(bytes).ProcessBatch;
        Assert.Equal(1_700_000_000_123, parsed.WatermarkUnixMs);
        Assert.Equal(batch.ToProcessBatch(), parsed);
    }

    [Fact]
    public void Watermarks_of_a_channel_queued_behind_nothing_else_are_raised_in_place()
    {
        var queue = new InboundQueue(channelsMax: 2, channelCreditRows: 100, channelCreditBytes: 100_000);
        var a = Channel(queue, "a/0");
        queue.EnqueueWatermark(1_000, a);
        queue.EnqueueWatermark(2_000, a);
        Send(queue, a, ("k", 2_000));
        queue.EnqueueWatermark(3_000, a);

        Assert.True(queue.Reader.TryRead(out var w1));
        Assert.Equal((true, 2_000L), (w1.IsWatermark, w1.WatermarkMs));
        Assert.True(queue.Reader.TryRead(out var records));
        Assert.False(records.IsWatermark);
        Assert.True(queue.Reader.TryRead(out var w2));
        Assert.Equal(3_000, w2.WatermarkMs);
        Assert.False(queue.Reader.TryRead(out _));
    }

    private static BatchDone Produced(params long[] eventTimes)
    {
        var done = new BatchDone { Seq = 1 };
        done.Produced.AddRange(eventTimes.Select(t => new ProducedRecord { Stream = "out", Record = new ConcordRecord { Key = Google.Protobuf.ByteString.CopyFromUtf8("k"), EventTimeUnixMs = t } }));
        return done;
    }

    private static InboundChannel Channel(InboundQueue queue, string sender)
    {
        Assert.True(queue.TryOpenChannel(sender, out var channel));
        channel.Stream = "words";
        channel.Sender = sender;
        Assert.True(channel.NextGrantAsync(CancellationToken.None).IsCompletedSuccessfully);
        return channel;
    }

    private static void Send(InboundQueue queue, InboundChannel channel, params (string Key, long EventTimeMs)[] records)
    {
        var raw = records.Select(r => RawRecord.From(new ConcordRecord { Key = Google.Protobuf.ByteString.CopyFromUtf8(r.Key), EventTimeUnixMs = r.EventTimeMs })).ToArray();
        long bytes = raw.Sum(r => (long)r.Length);
        Assert.Null(channel.TryConsume(raw.Length, bytes));
        queue.Enqueue(raw, bytes, channel);
    }
}
