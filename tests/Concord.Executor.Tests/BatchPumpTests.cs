using Concord.Contracts.Operator.V1;
using Concord.Executor.DataPlane;
using Concord.Executor.Session;
using Concord.Executor.Timers;
using static Concord.Executor.Tests.TestSupport;

namespace Concord.Executor.Tests;

public class BatchPumpTests
{
    private static readonly TimeSpan Linger = TimeSpan.FromMilliseconds(1);
    private readonly WaitWatchingTimeProvider _time = new(DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000));
    private readonly InboundQueue _queue = new(channelsMax: 4, channelCreditRows: 100, channelCreditBytes: 100_000);
    private readonly TimerQueue _timers = new();
    private readonly ScriptedSession _session = new();

    private BatchPump Pump(int rows = 4, int bytes = 1 << 20, int inFlight = 8) => new(_session, _queue, null, _timers, _time, TestTelemetry.Metrics(), TestTelemetry.Tracing(),
        new BatchPumpOptions { BatchRowsMax = rows, BatchBytesMax = bytes, BatchLinger = Linger, MaxBatchesInFlight = inFlight });

    private static ConcordRecord[] Records(int n) => Enumerable.Range(0, n).Select(i => Record($"k{i}")).ToArray();

    [Fact]
    public async Task Full_batch_flushes_without_waiting_for_the_linger()
    {
        var pump = Pump(rows: 4);
        Push(_queue, Records(10));

        var first = pump.AssembleAsync(CancellationToken.None);
        Assert.True(first.IsCompleted);
        Assert.Equal(["k0", "k1", "k2", "k3"], (await first).Records.Select(r => r.Key.ToStringUtf8()));
        Assert.Equal(4, (await pump.AssembleAsync(CancellationToken.None).WaitAsync(Bound)).Records.Count);
        // Taking records out of the queue returns their credit.
        Assert.Equal(2, _queue.QueuedRows);
    }

    [Fact]
    public async Task Partial_batch_goes_at_once_when_the_operator_has_nothing_in_flight()
    {
        var pump = Pump(rows: 4);
        Push(_queue, Records(2));

        var assembling = pump.AssembleAsync(CancellationToken.None);

        Assert.True(assembling.IsCompleted, "an idle operator gets what is there without waiting for the linger");
        var batch = await assembling;
        Assert.Equal(2, batch.Records.Count);
        Assert.Empty(batch.TimersFired);
    }

    [Fact]
    public async Task Partial_batch_waits_while_a_batch_is_in_flight_until_the_linger_or_the_answer()
    {
        var pump = Pump(rows: 4);
        using var stop = new CancellationTokenSource();
        var answers = pump.RunAnswerLoopAsync(stop.Token);
        var sends = pump.RunSendLoopAsync(stop.Token, stop.Token);
        await _session.Answers.Writer.WriteAsync(new BatchDone { Seq = 0 });
        Push(_queue, Records(1));
        var first = await _session.Sent.Reader.ReadAsync().AsTask().WaitAsync(Bound);
        Assert.Single(first.Records); // idle operator: at once

        // Batch 1 is unanswered: the next records linger — the pump arms the linger's timer and
        // waits on fake time, which does not move...
        var lingering = _time.TimerArmedAsync(Linger);
        Push(_queue, Records(2));
        var second = _session.Sent.Reader.ReadAsync().AsTask();
        await lingering.WaitAsync(Bound);
        Assert.False(second.IsCompleted, "a partial batch for a busy operator waits for the linger");
        // ...until the linger ends.
        _time.Advance(Linger);
        Assert.Equal(2, (await second.WaitAsync(Bound)).Records.Count);

        // And an answer that leaves the operator idle sends what waits at once.
        lingering = _time.TimerArmedAsync(Linger);
        Push(_queue, Records(3));
        var third = _session.Sent.Reader.ReadAsync().AsTask();
        await lingering.WaitAsync(Bound);
        Assert.False(third.IsCompleted);
        await _session.Answers.Writer.WriteAsync(new BatchDone { Seq = 1 });
        await _session.Answers.Writer.WriteAsync(new BatchDone { Seq = 2 });
        Assert.Equal(3, (await third.WaitAsync(Bound)).Records.Count);

        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Task.WhenAll(sends, answers).WaitAsync(Bound));
    }

    [Fact]
    public async Task Byte_bound_flushes_a_batch_before_the_row_bound()
    {
        var records = Records(10);
        var pump = Pump(rows: 100, bytes: 3 * records[0].CalculateSize());
        Push(_queue, records);

        var batch = await pump.AssembleAsync(CancellationToken.None).WaitAsync(Bound);
        Assert.Equal(3, batch.Records.Count);
    }

    [Fact]
    public async Task Due_timers_are_sent_alone_when_no_records_wait()
    {
        var pump = Pump();
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        _timers.Set("later", now + 20);
        _timers.Set("sooner", now + 10);

        var assembling = pump.AssembleAsync(CancellationToken.None);
        Assert.False(assembling.IsCompleted);
        _time.Advance(TimeSpan.FromMilliseconds(10));
        var batch = await assembling.WaitAsync(Bound);
        Assert.Empty(batch.Records);
        Assert.Equal("sooner", Assert.Single(batch.TimersFired).Key);
        Assert.Equal(1, _timers.Count);
    }

    [Fact]
    public async Task FireTimerNow_wakes_a_waiting_pump_with_the_timer_due_before_its_time()
    {
        // A built-in that sleeps on an outside event (kafka-source's idle watch) wakes the pump this way.
        var pump = Pump();
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        _timers.Set("poll", now + 60_000);

        var assembling = pump.AssembleAsync(CancellationToken.None);
        Assert.False(assembling.IsCompleted);
        pump.FireTimerNow("poll");
        var batch = await assembling.WaitAsync(Bound); // no clock advance: the wake-up alone ends the wait
        Assert.Empty(batch.Records);
        var fired = Assert.Single(batch.TimersFired);
        Assert.Equal(("poll", now), (fired.Key, fired.TimeUnixMs));
        Assert.Equal(0, _timers.Count);
    }

    [Fact]
    public async Task Due_timers_ride_along_after_the_records_of_a_batch()
    {
        var pump = Pump(rows: 2);
        _timers.Set("t", _time.GetUtcNow().ToUnixTimeMilliseconds());
        Push(_queue, Records(2));

        var batch = await pump.AssembleAsync(CancellationToken.None).WaitAsync(Bound);
        Assert.Equal(2, batch.Records.Count);
        Assert.Equal("t", Assert.Single(batch.TimersFired).Key);
    }

    [Fact]
    public async Task Unanswered_batches_are_bounded_by_max_batches_in_flight()
    {
        var pump = Pump(rows: 1, inFlight: 2);
        Push(_queue, Records(5));
        // The pump is held as it sends batch 2; released, it runs on this thread to its next wait.
        var sendingSecond = new SyncPoint();
        _session.BeforeSend = batch => batch.Seq == 2 ? sendingSecond.WaitToContinue() : Task.CompletedTask;
        using var stop = new CancellationTokenSource();
        var answers = pump.RunAnswerLoopAsync(stop.Token);
        var sends = pump.RunSendLoopAsync(stop.Token, stop.Token);
        await _session.Answers.Writer.WriteAsync(new BatchDone { Seq = 0 });

        await sendingSecond.WaitForSyncPointAsync(Bound);
        sendingSecond.Continue();
        var b1 = await _session.Sent.Reader.ReadAsync().AsTask().WaitAsync(Bound);
        var b2 = await _session.Sent.Reader.ReadAsync().AsTask().WaitAsync(Bound);
        Assert.Equal([1UL, 2UL], new[] { b1.Seq, b2.Seq });
        // Records are waiting, but two batches are unanswered: the pump went on to wait for a
        // slot, and nothing more went out.
        var third = _session.Sent.Reader.ReadAsync().AsTask();
        Assert.False(third.IsCompleted);
        Assert.Equal(2, pump.InFlight);

        await _session.Answers.Writer.WriteAsync(new BatchDone { Seq = 1 });
        Assert.Equal(3UL, (await third.WaitAsync(Bound)).Seq);

        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => sends.WaitAsync(Bound));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => answers.WaitAsync(Bound));
    }

    [Fact]
    public async Task Answer_out_of_seq_order_is_a_protocol_error()
    {
        var pump = Pump(rows: 1);
        Push(_queue, Records(3));
        using var stop = new CancellationTokenSource();
        var answers = pump.RunAnswerLoopAsync(stop.Token);
        var sends = pump.RunSendLoopAsync(stop.Token, stop.Token);
        await _session.Answers.Writer.WriteAsync(new BatchDone { Seq = 0 });
        await _session.Sent.Reader.ReadAsync().AsTask().WaitAsync(Bound);
        await _session.Sent.Reader.ReadAsync().AsTask().WaitAsync(Bound);

        await _session.Answers.Writer.WriteAsync(new BatchDone { Seq = 2 });
        var e = await Assert.ThrowsAsync<OperatorProtocolException>(() => answers.WaitAsync(Bound));
        Assert.Contains("batch 2 but batch 1 was due", e.Message);
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => sends.WaitAsync(Bound));
    }

    [Fact]
    public async Task Timers_set_in_an_answer_fire_in_a_later_batch()
    {
        var pump = Pump();
        using var stop = new CancellationTokenSource();
        var answers = pump.RunAnswerLoopAsync(stop.Token);
        var sends = pump.RunSendLoopAsync(stop.Token, stop.Token);
        var due = _time.GetUtcNow().ToUnixTimeMilliseconds() + 5;
        await _session.Answers.Writer.WriteAsync(new BatchDone { Seq = 0, TimersSet = { new TimerSet { Key = "tick", TimeUnixMs = due } } });
        await pump.InitAnswered.WaitAsync(Bound);
        Assert.Equal(1, pump.TimersPending);

        _time.Advance(TimeSpan.FromMilliseconds(5));
        var batch = await _session.Sent.Reader.ReadAsync().AsTask().WaitAsync(Bound);
        var fired = Assert.Single(batch.TimersFired);
        Assert.Equal(("tick", due), (fired.Key, fired.TimeUnixMs));
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Task.WhenAll(sends, answers).WaitAsync(Bound));
    }
}
