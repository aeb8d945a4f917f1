using Concord.Executor.Records;

namespace Concord.Executor.Timers;

/// <summary>
/// Event time of one executor (docs/guarantees.md, "Event time"): the watermark a source makes
/// from the event times it produced, and a reader's input watermark — the minimum over its
/// input channels. Either is the executor's event-time clock (<see cref="InputMs"/>): it fires
/// the event-time timers, marks a reader's late records and is forwarded downstream once
/// everything cut before it — records and timer fires — has been routed.
/// </summary>
/// <remarks>
/// Thread use: the pump's send loop observes inputs and cuts batches, its answer loop reports
/// routed answers, and a source's <see cref="RunSourceAsync"/> decides; one lock orders them, and
/// <see cref="Forward"/> (the router, which only queues) is called under it, so watermarks leave
/// in increasing order.
/// </remarks>
public sealed class Watermarks
{
    private readonly object _lock = new();
    private readonly TimeProvider _time;
    private readonly TimeSpan _inputIdle;
    private readonly TimeSpan _startupGrace;
    private readonly Dictionary<(string Stream, string Sender), Input> _inputs = [];
    private readonly Queue<(ulong Seq, long WatermarkMs)> _cut = new(); // batches in flight and their input watermark, at most BatchesInFlightMax
    private long _inputMs; // 0: not known yet
    private long _forwardedMs;
    private long _maxProducedMs = long.MinValue;
    private long _sourceDecidedMs; // a source's watermark decided at its last interval; the pump's Refresh makes it the clock
    private long? _firstInputTimestamp;

    /// <param name="isSource">The executor reads no stream: it makes its watermark from what it produces.</param>
    /// <param name="outOfOrdernessMs">A source's bound on out-of-order event times (<c>watermark_out_of_orderness_ms</c>).</param>
    /// <param name="inputIdle">How long an input may stay silent and still hold the watermark back (<see cref="ExecutorLimits.WatermarkInputIdleMs"/>).</param>
    /// <param name="startupGrace">How long after the first input the watermark stays unknown, so senders not heard from yet can appear (default: <paramref name="inputIdle"/>).</param>
    public Watermarks(TimeProvider time, bool isSource, long outOfOrdernessMs = ExecutorLimits.WatermarkOutOfOrdernessMsDefault, TimeSpan? inputIdle = null,
        TimeSpan? startupGrace = null)
    {
        _time = time;
        IsSource = isSource;
        OutOfOrdernessMs = outOfOrdernessMs;
        _inputIdle = inputIdle ?? TimeSpan.FromMilliseconds(ExecutorLimits.WatermarkInputIdleMs);
        _startupGrace = startupGrace ?? _inputIdle;
    }

    /// <summary>The bound for a spec: its <c>watermark_out_of_orderness_ms</c>, or the default.</summary>
    public static long OutOfOrdernessFor(Contracts.Types.V1.OperatorSpec spec) =>
        spec.WatermarkOutOfOrdernessMs > 0 ? spec.WatermarkOutOfOrdernessMs : ExecutorLimits.WatermarkOutOfOrdernessMsDefault;

    public bool IsSource { get; }

    public long OutOfOrdernessMs { get; }

    /// <summary>Where output watermarks go, in increasing order (the router's outbound channels); set before the pump starts.</summary>
    public Action<long>? Forward { get; set; }

    /// <summary>
    /// Wakes the pump when a source has decided a new watermark (set by the pump): its
    /// <see cref="Refresh"/> then makes it the clock, fires the event-time timers it passes, and
    /// forwards it behind their output.
    /// </summary>
    public Action? Advanced { get; set; }

    /// <summary>
    /// The event-time clock, ms since the Unix epoch; 0 while not known. A reader's input
    /// watermark; a source's own watermark once the pump has taken it (<see cref="Refresh"/>).
    /// </summary>
    public long InputMs => Volatile.Read(ref _inputMs);

    /// <summary>The last watermark sent downstream; 0 before the first.</summary>
    public long ForwardedMs
    {
        get
        {
            lock (_lock)
            {
                return _forwardedMs;
            }
        }
    }

    /// <summary>Input channels holding the input watermark back now (tests, diagnostics).</summary>
    public int InputsTracked
    {
        get
        {
            lock (_lock)
            {
                return _inputs.Count;
            }
        }
    }

    // ---- reader: the pump's send loop ------------------------------------------------------

    /// <summary>
    /// A watermark taken from input channel (<paramref name="stream"/>, <paramref name="sender"/>),
    /// in order with its records. True when the input watermark advanced.
    /// </summary>
    public bool ObserveWatermark(string stream, string sender, long watermarkMs)
    {
        lock (_lock)
        {
            var input = Touch(stream, sender);
            // A channel's watermark never decreases (dataplane.proto); a sender that breaks that cannot move it back.
            input.WatermarkMs = Math.Max(input.WatermarkMs ?? long.MinValue, watermarkMs);
            return Recompute();
        }
    }

    /// <summary>
    /// Records taken from (<paramref name="stream"/>, <paramref name="sender"/>): the channel is
    /// active, and from its first frame on it holds the input watermark back until it sends
    /// one of its own (or goes idle).
    /// </summary>
    public void ObserveRecords(string stream, string sender)
    {
        lock (_lock)
        {
            Touch(stream, sender);
        }
    }

    /// <summary>
    /// Forgets inputs idle for longer than the idle bound and recomputes; a source takes the
    /// watermark it decided last. True when the clock advanced. The pump calls it whenever it
    /// looks for work (at least every <see cref="ExecutorLimits.BatchPumpWaitMsMax"/>), on its
    /// send loop, so the clock never moves between taking due timers and cutting their batch.
    /// </summary>
    public bool Refresh()
    {
        lock (_lock)
        {
            if (IsSource)
            {
                if (_sourceDecidedMs <= _inputMs)
                {
                    return false;
                }
                Volatile.Write(ref _inputMs, _sourceDecidedMs);
                return true;
            }
            return Recompute();
        }
    }

    /// <summary>Batch <paramref name="seq"/> was cut with the current clock; returns it (ProcessBatch.watermark_unix_ms).</summary>
    public long BatchCut(ulong seq)
    {
        lock (_lock)
        {
            _cut.Enqueue((seq, _inputMs));
            return _inputMs;
        }
    }

    /// <summary>
    /// Nothing is in flight and nothing was taken since the last batch: every record before the
    /// clock, and every timer fire it made due, has been routed, so it may go downstream now.
    /// </summary>
    public void ForwardWhenIdle()
    {
        lock (_lock)
        {
            if (_cut.Count == 0)
            {
                ForwardLocked(_inputMs);
            }
        }
    }

    // ---- both: the pump's answer loop --------------------------------------------------------

    /// <summary>
    /// The answer to batch <paramref name="seq"/> was routed: the watermark the batch was cut
    /// with is forwarded (its records, its timer fires, and what they produced, are now ahead of
    /// it on every channel); a source also notes the largest event time produced.
    /// </summary>
    public void Routed(ulong seq, RawAnswer done)
    {
        if (IsSource)
        {
            var max = long.MinValue;
            var produced = done.Produced;
            for (var i = 0; i < produced.Count; i++)
            {
                max = Math.Max(max, produced[i].Record.EventTimeUnixMs);
            }
            if (max > long.MinValue)
            {
                lock (_lock)
                {
                    _maxProducedMs = Math.Max(_maxProducedMs, max);
                }
            }
        }
        lock (_lock)
        {
            var watermark = 0L;
            while (_cut.TryPeek(out var cut) && cut.Seq <= seq)
            {
                watermark = Math.Max(watermark, _cut.Dequeue().WatermarkMs);
            }
            ForwardLocked(watermark);
        }
    }

    // ---- source ------------------------------------------------------------------------------

    /// <summary>
    /// Decides the source's next watermark — the largest event time of the records routed so far
    /// minus the out-of-orderness — when it advanced, and wakes the pump (<see cref="Advanced"/>).
    /// Not sent from here: the pump makes it the clock (<see cref="Refresh"/>), so the source's
    /// own event-time timers it passes fire first, and it leaves behind their output
    /// (<see cref="Routed"/>, <see cref="ForwardWhenIdle"/>). True when one was decided.
    /// </summary>
    public bool EmitSourceWatermark()
    {
        lock (_lock)
        {
            if (!IsSource || _maxProducedMs == long.MinValue)
            {
                return false;
            }
            var next = _maxProducedMs - OutOfOrdernessMs;
            // 0 and below mean "not known" on the wire (ProcessBatch.watermark_unix_ms).
            if (next <= 0 || next <= Math.Max(_sourceDecidedMs, _inputMs))
            {
                return false;
            }
            _sourceDecidedMs = next;
        }
        Advanced?.Invoke();
        return true;
    }

    /// <summary>A source's generator: <see cref="EmitSourceWatermark"/> every <see cref="ExecutorLimits.WatermarkIntervalMs"/>.</summary>
    public async Task RunSourceAsync(CancellationToken cancellationToken)
    {
        if (!IsSource)
        {
            return;
        }
        var interval = TimeSpan.FromMilliseconds(ExecutorLimits.WatermarkIntervalMs);
        while (!cancellationToken.IsCancellationRequested)
        {
            await Task.Delay(interval, _time, cancellationToken).ConfigureAwait(false);
            EmitSourceWatermark();
        }
    }

    private bool ForwardLocked(long watermarkMs)
    {
        // 0 and below mean "not known" on the wire (ProcessBatch.watermark_unix_ms).
        if (watermarkMs <= _forwardedMs || watermarkMs <= 0)
        {
            return false;
        }
        _forwardedMs = watermarkMs;
        Forward?.Invoke(watermarkMs);
        return true;
    }

    private Input Touch(string stream, string sender)
    {
        var now = _time.GetTimestamp();
        _firstInputTimestamp ??= now;
        if (!_inputs.TryGetValue((stream, sender), out var input))
        {
            input = new Input();
            _inputs[(stream, sender)] = input;
        }
        input.ActiveTimestamp = now;
        return input;
    }

    /// <summary>
    /// The input watermark, never decreasing: the minimum over the inputs that are not idle;
    /// when every input is idle, the minimum of their last watermarks (a watermark stays a valid
    /// promise however long its sender is silent). It stays where it is while an active input
    /// has sent no watermark yet, and for the startup grace after the first input appeared (a
    /// sender not heard from yet is unknown, and one that connects late must not find its
    /// records all late).
    /// </summary>
    private bool Recompute()
    {
        if (_firstInputTimestamp is not { } first || _time.GetElapsedTime(first) < _startupGrace)
        {
            return false;
        }
        long? activeMin = null;
        long? idleMin = null;
        var anyActive = false;
        foreach (var input in _inputs.Values)
        {
            if (_time.GetElapsedTime(input.ActiveTimestamp) >= _inputIdle)
            {
                if (input.WatermarkMs is { } idleWatermark)
                {
                    idleMin = idleMin is { } m ? Math.Min(m, idleWatermark) : idleWatermark;
                }
                continue;
            }
            if (input.WatermarkMs is not { } watermark)
            {
                return false;
            }
            anyActive = true;
            activeMin = activeMin is { } a ? Math.Min(a, watermark) : watermark;
        }
        if (_inputs.Count > ExecutorLimits.InboundChannelsMax)
        {
            // Senders come and go (rescales): beyond one per channel slot, forget the idle ones.
            foreach (var channel in _inputs.Where(i => _time.GetElapsedTime(i.Value.ActiveTimestamp) >= _inputIdle).Select(i => i.Key).ToList())
            {
                _inputs.Remove(channel);
            }
        }
        var next = anyActive ? activeMin : idleMin;
        if (next is not { } advanced || advanced <= _inputMs)
        {
            return false;
        }
        Volatile.Write(ref _inputMs, advanced);
        return true;
    }

    private sealed class Input
    {
        public long? WatermarkMs;
        public long ActiveTimestamp;
    }
}
