using Concord.Executor.DataPlane;
using Concord.Executor.DataPlane.Internal;
using Concord.Executor.Internal;
using Concord.Executor.Records;
using Concord.Executor.Routing;
using Concord.Executor.Timers;

namespace Concord.Executor.Session;

/// <summary>Batch sizes and pipelining depth of a <see cref="BatchPump"/>; defaults from <see cref="ExecutorLimits"/>.</summary>
public sealed record BatchPumpOptions
{
    public int BatchRowsMax { get; init; } = ExecutorLimits.BatchRowsMax;

    public int BatchBytesMax { get; init; } = ExecutorLimits.BatchBytesMax;

    public TimeSpan BatchLinger { get; init; } = TimeSpan.FromMilliseconds(ExecutorLimits.BatchLingerMs);

    public int MaxBatchesInFlight { get; init; } = ExecutorLimits.BatchesInFlightMax;

    /// <summary>How long the operator may take to answer a batch (<see cref="ExecutorLimits.BatchAnswerTimeoutMs"/>).</summary>
    public TimeSpan BatchAnswerTimeout { get; init; } = TimeSpan.FromMilliseconds(ExecutorLimits.BatchAnswerTimeoutMs);
}

/// <summary>
/// Moves records from the inbound queue into ProcessBatch messages and answers into the
/// router. Two loops: <see cref="RunSendLoopAsync"/> assembles a batch when it is full, has
/// lingered, or timers are due, with at most MaxBatchesInFlight unanswered;
/// <see cref="RunAnswerLoopAsync"/> checks answers come in seq order, routes what they
/// produced and records the timers they set. A slow router holds answers, which holds the
/// in-flight slots, which stops the send loop, which stops granting credit upstream.
/// </summary>
public sealed class BatchPump
{
    /// <summary>Longest single wait: <see cref="ExecutorLimits.BatchPumpWaitMsMax"/>.</summary>
    private static readonly TimeSpan LongestWait = TimeSpan.FromMilliseconds(ExecutorLimits.BatchPumpWaitMsMax);

    private readonly IOperatorSession _session;
    private readonly InboundQueue _inbound;
    private readonly Router? _router;
    private readonly TimerQueue _timers;
    private readonly TimeProvider _time;
    private readonly BatchPumpOptions _options;
    private readonly SemaphoreSlim _inFlight;
    private readonly AsyncSignal _timersChanged = new();
    private Watermarks? _eventTime;
    private readonly AsyncSignal _answered = new(); // an answer came back: the operator may be idle now
    private readonly TaskCompletionSource _initAnswered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Metrics.BatchTelemetry _telemetry;
    private readonly Metrics.ExecutorMetrics _metrics;
    private readonly KeyedStateSession? _state; // null: the operator declares no state, and the pump runs as it always did
    private InboundItem? _pending;
    private readonly Queue<RawRecord> _carry = new(); // records a stateful batch was cut before (their states did not fit): they go first in the next
    private Task _timersWait = Task.CompletedTask; // AssembleAsync's pending timers wake-up, kept across calls
    private Task _answeredWait = Task.CompletedTask; // and its pending answer wake-up
    private Task _checkpointWait = Task.CompletedTask; // and its pending checkpoint wake-up
    private static readonly Task NeverCompletes = new TaskCompletionSource().Task; // the checkpoint wake-up of a pump without checkpoints
    private long _lastSentSeq;
    private long _lastAnsweredSeq;
    private readonly long[] _sentTimestamps; // when each batch in flight was sent, at seq % MaxBatchesInFlight
    private readonly long _startTimestamp; // Init's answer (seq 0) is due from here

    public BatchPump(IOperatorSession session, InboundQueue inbound, Router? router, TimerQueue timers, TimeProvider time,
        Metrics.ExecutorMetrics metrics, Tracing.ExecutorTracing tracing, BatchPumpOptions? options = null, KeyedStateSession? state = null)
    {
        _state = state;
        _metrics = metrics;
        _session = session;
        _inbound = inbound;
        _router = router;
        _timers = timers;
        _time = time;
        _options = options ?? new BatchPumpOptions();
        _telemetry = new Metrics.BatchTelemetry(session.Outputs, metrics, tracing);
        _inFlight = new SemaphoreSlim(_options.MaxBatchesInFlight, _options.MaxBatchesInFlight);
        _sentTimestamps = new long[_options.MaxBatchesInFlight];
        _startTimestamp = time.GetTimestamp();
    }

    /// <summary>Unanswered batches now.</summary>
    public int InFlight => (int)(Interlocked.Read(ref _lastSentSeq) - Interlocked.Read(ref _lastAnsweredSeq));

    /// <summary>Timers pending now.</summary>
    public int TimersPending
    {
        get
        {
            lock (_timers)
            {
                return _timers.Count;
            }
        }
    }

    /// <summary>
    /// Checkpoints of this executor (docs/guarantees.md), or null when it takes none. Set before
    /// the loops start. When it has work due the send loop stops cutting batches, waits until
    /// every batch is answered and routed, and lets it run (snapshot, barrier forwarding).
    /// </summary>
    public Checkpoints.CheckpointParticipant? Checkpoints { get; set; }

    /// <summary>
    /// Event time of this executor (docs/guarantees.md, "Event time"), or null without it. Set
    /// before the loops start: the pump feeds it the watermarks it takes, fires event-time timers
    /// on its clock (a reader's input watermark, a source's own) and tells it when answers are
    /// routed (Timers/Watermarks.cs). A source's newly decided watermark wakes the pump.
    /// </summary>
    public Watermarks? EventTime
    {
        get => _eventTime;
        set
        {
            _eventTime = value;
            if (value is not null)
            {
                value.Advanced = _timersChanged.Set;
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="action"/> while the pump is not touching the state backend: the send
    /// loop reads states and the answer loop applies mutations and timer changes under this lock,
    /// so a checkpoint's synchronous snapshot of the backend must be taken inside it.
    /// </summary>
    public T WithStateLocked<T>(Func<T> action)
    {
        lock (_timers)
        {
            return action();
        }
    }

    /// <summary>
    /// Makes the processing-time timer <paramref name="key"/> (no state key) due now and wakes
    /// the pump: how a built-in that sleeps on an outside event (kafka-source waiting for
    /// messages, <see cref="Builtins.BuiltinSession.WakeTimer"/>) gets its next turn without
    /// polling on a short timer. Safe from any thread; a timer already due stays due.
    /// </summary>
    public void FireTimerNow(string key)
    {
        var nowMs = _time.GetUtcNow().ToUnixTimeMilliseconds();
        lock (_timers)
        {
            _timers.Set(key, nowMs);
        }
        _timersChanged.Set();
    }

    /// <summary>Completes once BatchDone{0} (init's products) has been routed.</summary>
    public Task InitAnswered => _initAnswered.Task;

    /// <summary>
    /// Sends batches until <paramref name="cancellationToken"/> is cancelled. Starts after the
    /// answer to Init. A write already under way is not cancelled by it (cancelling a gRPC write
    /// aborts the whole call, and the operator would see its session torn down instead of a
    /// Shutdown); only <paramref name="abortWrites"/> does that.
    /// </summary>
    public async Task RunSendLoopAsync(CancellationToken cancellationToken, CancellationToken abortWrites)
    {
        await _initAnswered.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        while (true)
        {
            // Records carried over were taken before the barrier: they go before the snapshot.
            if (Checkpoints is { WorkDue: true } checkpoints && _carry.Count == 0)
            {
                await WaitAllAnsweredAsync(cancellationToken).ConfigureAwait(false);
                await checkpoints.RunDueWorkAsync(cancellationToken).ConfigureAwait(false);
            }
            await _inFlight.WaitAsync(cancellationToken).ConfigureAwait(false);
            var batch = await AssembleAsync(cancellationToken).ConfigureAwait(false);
            if (batch.Records.Count == 0 && batch.TimersFired.Count == 0)
            {
                // Cut short for a checkpoint before anything was taken: nothing to send.
                _inFlight.Release();
                continue;
            }
            // The send time is in its slot before the seq counts as sent (RunLivenessAsync reads it).
            var seq = Interlocked.Read(ref _lastSentSeq) + 1;
            Volatile.Write(ref _sentTimestamps[seq % _sentTimestamps.Length], _time.GetTimestamp());
            batch.Seq = (ulong)Interlocked.Increment(ref _lastSentSeq);
            batch.WatermarkUnixMs = EventTime?.BatchCut(batch.Seq) ?? 0;
            _telemetry.Sent(batch);
            await _session.SendAsync(batch, abortWrites).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Reads answers until the session ends. Returns normally when the operator completed the
    /// session (after Shutdown); throws when it broke the protocol.
    /// </summary>
    public async Task RunAnswerLoopAsync(CancellationToken cancellationToken)
    {
        ulong expected = 0;
        await foreach (var done in _session.ReadAnswersAsync(cancellationToken).ConfigureAwait(false))
        {
            if (done.Seq != expected)
            {
                throw new OperatorProtocolException(
                    $"the operator answered batch {done.Seq} but batch {expected} was due; BatchDone must answer batches in seq order (operator.proto)");
            }
            if (expected > (ulong)Interlocked.Read(ref _lastSentSeq))
            {
                throw new OperatorProtocolException(
                    $"the operator answered batch {done.Seq}, which was never sent; BatchDone answers a ProcessBatch (or Init, seq 0)");
            }
            _telemetry.Answered(done);
            if (_state is not null)
            {
                // Before routing: a record downstream never leaves ahead of the state change that made it.
                lock (_timers)
                {
                    _state.Apply(done);
                }
            }
            if (_router is not null)
            {
                await _metrics.Backpressure(_router.RouteAsync(done, cancellationToken)).ConfigureAwait(false);
            }
            EventTime?.Routed(expected, done);
            if (done.TimersSet.Count > 0)
            {
                lock (_timers)
                {
                    _timers.Apply(done.TimersSet);
                }
                _timersChanged.Set();
            }
            if (expected == 0)
            {
                _initAnswered.TrySetResult();
            }
            else
            {
                Interlocked.Exchange(ref _lastAnsweredSeq, (long)expected);
                _inFlight.Release();
                _answered.Set();
            }
            expected++;
        }
    }

    /// <summary>Waits until every batch sent has been answered and its records routed (the answer loop releases a slot after routing).</summary>
    private async Task WaitAllAnsweredAsync(CancellationToken cancellationToken)
    {
        while (InFlight > 0)
        {
            if (_answeredWait.IsCompleted)
            {
                _answeredWait = _answered.WaitAsync(cancellationToken);
            }
            await _answeredWait.ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Fails with an <see cref="OperatorFailedException"/> when the oldest unanswered batch
    /// (Init's, seq 0, first) has waited <see cref="BatchPumpOptions.BatchAnswerTimeout"/>: a
    /// hung operator must fail its instance, not stall the pipeline behind it. One timer at a
    /// time, armed for the oldest batch's deadline (or a whole timeout while none is out), so
    /// the data path pays one timestamp per batch.
    /// </summary>
    public async Task RunLivenessAsync(CancellationToken cancellationToken)
    {
        var timeout = _options.BatchAnswerTimeout;
        while (true)
        {
            TimeSpan waited;
            long seq;
            if (!_initAnswered.Task.IsCompleted)
            {
                seq = 0;
                waited = _time.GetElapsedTime(_startTimestamp);
            }
            else
            {
                var answered = Interlocked.Read(ref _lastAnsweredSeq);
                if (Interlocked.Read(ref _lastSentSeq) <= answered)
                {
                    // Nothing out: a batch sent from now on is due a whole timeout later at the earliest.
                    await Task.Delay(timeout, _time, cancellationToken).ConfigureAwait(false);
                    continue;
                }
                seq = answered + 1;
                waited = _time.GetElapsedTime(Volatile.Read(ref _sentTimestamps[seq % _sentTimestamps.Length]));
            }
            if (waited >= timeout)
            {
                throw new OperatorFailedException(
                    $"operator did not answer batch {seq} within {timeout.TotalMilliseconds:0} ms; it is hung or far too slow. Make it answer faster, or raise the bound with env {ExecutorLimits.BatchAnswerTimeoutVariable} in the deploy file ({ExecutorLimits.BatchAnswerTimeoutMsMin}..{ExecutorLimits.BatchAnswerTimeoutMsMax} ms, default {ExecutorLimits.BatchAnswerTimeoutMs})");
            }
            await Task.Delay(WholeMilliseconds(timeout - waited), _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Builds the next batch: returns when it is full; when it has records and the operator has
    /// nothing to do (no batch in flight: waiting would only add latency); when it has waited
    /// the linger (the operator is busy, so a fuller batch costs nothing); or — with no
    /// records — when timers are due. Due timers ride along in every batch.
    /// </summary>
    /// <remarks>
    /// Why not the linger alone: timers here fire at the kernel's tick (4 ms measured on the
    /// 2-core VMs, for a 1 ms Task.Delay), so a linger-only pump added ~4 ms per hop at any
    /// rate. Now a batch waits only while its operator is busy, and goes the moment an answer
    /// shows the operator idle; under load the in-flight batches keep batches full.
    /// </remarks>
    internal async Task<RawBatch> AssembleAsync(CancellationToken cancellationToken)
    {
        // Sized for what is queued now (a timer-only batch holds no records); it grows if more arrive while it lingers.
        var batch = new RawBatch((int)Math.Clamp(_inbound.QueuedRows + _carry.Count, 0, _options.BatchRowsMax));
        long bytes = 0;
        while (_carry.TryDequeue(out var carried))
        {
            // At most one batch's worth (it was cut from one), so it fits the bounds again.
            batch.Add(carried);
            bytes += carried.Length;
        }
        DateTimeOffset? lingerUntil = null;
        Task dataTask = Task.CompletedTask;
        using var waitStop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            while (true)
            {
                var full = Fill(batch, ref bytes);
                if (Checkpoints is { WorkDue: true })
                {
                    // Records taken so far precede the barrier: they go now; the rest waits for the snapshot.
                    if (_state is not null)
                    {
                        lock (_timers)
                        {
                            batch = _state.Attach(batch, _carry);
                        }
                    }
                    return batch;
                }
                var now = _time.GetUtcNow();
                var nowMs = now.ToUnixTimeMilliseconds();
                long? nextTimerMs;
                bool eventTimersDue;
                lock (_timers)
                {
                    nextTimerMs = _timers.NextDueMs;
                    eventTimersDue = EventTimersDue();
                }
                var timersDue = nextTimerMs <= nowMs || eventTimersDue;
                if (batch.Records.Count > 0 && lingerUntil is null)
                {
                    lingerUntil = now + _options.BatchLinger;
                }
                var operatorIdle = InFlight == 0;
                if (full || (batch.Records.Count > 0 && operatorIdle) || (lingerUntil is { } until && now >= until) || (batch.Records.Count == 0 && timersDue))
                {
                    lock (_timers)
                    {
                        if (_state is null)
                        {
                            _timers.TakeDue(nowMs, batch.TimersFired);
                            TakeDueEventTimers(batch, int.MaxValue);
                        }
                        else
                        {
                            // Under the timers' lock: the backend's other user (mutations, timer writes) holds it too.
                            _timers.TakeDue(nowMs, batch.TimersFired, _state.TimersPerBatchMax);
                            TakeDueEventTimers(batch, _state.TimersPerBatchMax);
                            batch = _state.Attach(batch, _carry);
                        }
                    }
                    return batch;
                }

                if (batch.Records.Count == 0 && operatorIdle)
                {
                    // Nothing taken and nothing in flight: the input watermark may go downstream now.
                    EventTime?.ForwardWhenIdle();
                }

                // Wait for whichever comes first: records, the linger deadline, the next timer,
                // or a newly set timer. At most one pending wait of each kind (see OutboundChannel).
                var wait = LongestWait;
                if (lingerUntil is { } l)
                {
                    wait = Min(wait, l - now);
                }
                if (nextTimerMs is { } t)
                {
                    wait = Min(wait, TimeSpan.FromMilliseconds(t - nowMs));
                }
                if (dataTask.IsCompleted)
                {
                    dataTask = _inbound.Reader.WaitToReadAsync(waitStop.Token).AsTask();
                }
                // The timers wait outlives this call and is reused until it completes: a wait
                // cancelled at the end of every assembly once lost the Set that raced its
                // cancellation (a rate-limited generator slept LongestWait with a timer due;
                // AsyncSignal's remarks). A wait that is never abandoned cannot lose one.
                if (_timersWait.IsCompleted)
                {
                    _timersWait = _timersChanged.WaitAsync(cancellationToken);
                }
                if (_answeredWait.IsCompleted)
                {
                    _answeredWait = _answered.WaitAsync(cancellationToken);
                }
                if (Checkpoints is { } checkpoints && _checkpointWait.IsCompleted)
                {
                    _checkpointWait = checkpoints.WaitWorkDueAsync(cancellationToken);
                }
                var delay = Task.Delay(WholeMilliseconds(wait), _time, waitStop.Token);
                await Task.WhenAny(dataTask, _timersWait, _answeredWait, Checkpoints is null ? NeverCompletes : _checkpointWait, delay).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                if (dataTask.IsCompleted && !await ((Task<bool>)dataTask).ConfigureAwait(false))
                {
                    // The inbound queue never completes while the pump runs; guard against a busy loop.
                    await delay.ConfigureAwait(false);
                }
            }
        }
        finally
        {
            // Ends the pending waits of this call (their results are not needed any more).
            await waitStop.CancelAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Moves queued records into <paramref name="batch"/>; true when the batch is full.</summary>
    private bool Fill(RawBatch batch, ref long bytes)
    {
        var records = batch.Records;
        while (records.Count < _options.BatchRowsMax && bytes < _options.BatchBytesMax)
        {
            if (_pending is null && !_inbound.Reader.TryRead(out _pending))
            {
                return false;
            }
            var item = _pending;
            if (item.IsWatermark || EventTime is not null)
            {
                if (EventTimeTake(item))
                {
                    _pending = null;
                    continue;
                }
            }
            var start = item.Offset;
            long taken = 0;
            var i = start;
            var itemRecords = item.Records;
            for (; i < itemRecords.Length; i++)
            {
                var size = itemRecords[i].Length;
                if (records.Count >= _options.BatchRowsMax || (bytes + size > _options.BatchBytesMax && records.Count > 0))
                {
                    break;
                }
                batch.Add(itemRecords[i]);
                bytes += size;
                taken += size;
            }
            item.Offset = i;
            _inbound.Release(item.Source, i - start, taken);
            if (i == itemRecords.Length)
            {
                _pending = null;
            }
            else
            {
                return true; // the item did not fit: the batch is full
            }
        }
        return true;
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    /// <summary>
    /// Event time's part of taking <paramref name="item"/>: true when it was a watermark (taken
    /// whole; without event time it is dropped); for records, marks their channel active and
    /// counts those below the input watermark as late (they are processed all the same).
    /// </summary>
    private bool EventTimeTake(InboundItem item)
    {
        var source = item.Source;
        if (item.IsWatermark)
        {
            long watermarkMs;
            lock (item)
            {
                item.WatermarkTaken = true;
                watermarkMs = item.WatermarkMs;
            }
            EventTime?.ObserveWatermark(source.Stream, source.Sender, watermarkMs);
            return true;
        }
        if (item.Offset > 0)
        {
            return false; // the rest of an item taken in part: counted when it was first taken
        }
        var eventTime = EventTime!;
        eventTime.ObserveRecords(source.Stream, source.Sender);
        var inputMs = eventTime.InputMs;
        if (inputMs > 0)
        {
            var late = 0;
            var records = item.Records;
            for (var i = 0; i < records.Length; i++)
            {
                if (records[i].EventTimeUnixMs < inputMs)
                {
                    late++;
                }
            }
            _metrics.Late(source.Stream, late);
        }
        return false;
    }

    /// <summary>True when an event-time timer is due at the input watermark (which this also refreshes). Under the timers' lock.</summary>
    private bool EventTimersDue()
    {
        if (EventTime is not { } eventTime)
        {
            return false;
        }
        eventTime.Refresh();
        return _timers.NextEventTimeDueMs is { } next && eventTime.InputMs > 0 && next <= eventTime.InputMs;
    }

    /// <summary>Adds the event-time timers due at the input watermark, up to <paramref name="timersMax"/> in the batch. Under the timers' lock.</summary>
    private void TakeDueEventTimers(RawBatch batch, int timersMax)
    {
        if (EventTime is { InputMs: > 0 } eventTime && batch.TimersFired.Count < timersMax)
        {
            _timers.TakeDueEventTime(eventTime.InputMs, batch.TimersFired, timersMax - batch.TimersFired.Count);
        }
    }

    /// <summary>
    /// A wait rounded up to whole milliseconds: Task.Delay truncates to whole milliseconds, so a
    /// wait of 0.3 ms would complete at once and the loop would spin until the deadline (seen:
    /// every executor at 20–40 % CPU for 5,000 records/s).
    /// </summary>
    internal static TimeSpan WholeMilliseconds(TimeSpan wait) =>
        wait <= TimeSpan.Zero ? TimeSpan.Zero : TimeSpan.FromMilliseconds(Math.Ceiling(wait.TotalMilliseconds));

}
