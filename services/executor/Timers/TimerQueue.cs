using System.Text;
using Concord.Contracts.Operator.V1;
using Concord.Executor.State;
using Concord.Executor.Timers.Internal;
using Google.Protobuf;

namespace Concord.Executor.Timers;

/// <summary>
/// Pending operator timers: one per (state key, timer key, time domain), fired in
/// (time, key, state key) order. Setting one again replaces its time. Processing-time timers
/// fire on the clock (<see cref="TakeDue"/>), event-time timers on the watermark
/// (<see cref="TakeDueEventTime"/>). With a backend, every change is written under
/// <see cref="IKeyedStateBackend.TimersNamespace"/> with its state key, so a snapshot of the
/// backend holds the timers and <see cref="RestoreFrom"/> rebuilds the queue from one. Not
/// thread-safe: the batch pump owns it (and serializes the backend's use under the same lock).
/// </summary>
/// <remarks>
/// A replaced timer leaves a stale entry in its heap (cheaper than removing from the middle);
/// stale entries are skipped when popped and the heaps are rebuilt when they outnumber the live
/// ones, so memory stays proportional to the pending timers. State keys are held as Latin-1
/// strings (one char per byte), so they compare and hash by content and order like bytes.
/// </remarks>
public sealed class TimerQueue
{
    private readonly Dictionary<string, Dictionary<TimerName, long>> _byStateKey = new(StringComparer.Ordinal);
    private readonly PriorityQueue<TimerId, TimerId> _processing = new(TimerOrder.Instance);
    private readonly PriorityQueue<TimerId, TimerId> _eventTime = new(TimerOrder.Instance);
    private readonly int _pendingMax;
    private IKeyedStateBackend? _backend;
    private int _count;

    /// <param name="backend">Where timers are kept durable; null: in memory only.</param>
    public TimerQueue(int pendingMax = ExecutorLimits.TimersPendingMax, IKeyedStateBackend? backend = null)
    {
        _pendingMax = pendingMax;
        _backend = backend;
    }

    /// <summary>Timers pending now (both domains).</summary>
    public int Count => _count;

    /// <summary>Time of the earliest pending processing-time timer, ms since the Unix epoch; null when none is pending.</summary>
    public long? NextDueMs => Peek(_processing);

    /// <summary>Time of the earliest pending event-time timer; null when none is pending.</summary>
    public long? NextEventTimeDueMs => Peek(_eventTime);

    /// <summary>Sets or replaces the processing-time timer of <paramref name="key"/> with no state key.</summary>
    public void Set(string key, long timeMs) => Set([], key, timeMs, TimeDomain.Processing);

    /// <summary>Sets or replaces the timer (<paramref name="stateKey"/>, <paramref name="key"/>, <paramref name="domain"/>).</summary>
    public void Set(ReadOnlySpan<byte> stateKey, string key, long timeMs, TimeDomain domain)
    {
        if (key.Length > ExecutorLimits.TimerKeyCharsMax)
        {
            throw new OperatorProtocolException(
                $"the operator set a timer with a key of {key.Length} characters; keys are limited to {ExecutorLimits.TimerKeyCharsMax} (ExecutorLimits.TimerKeyCharsMax): use a shorter key");
        }
        domain = domain == TimeDomain.Event ? TimeDomain.Event : TimeDomain.Processing;
        var sk = stateKey.IsEmpty ? "" : Encoding.Latin1.GetString(stateKey);
        var name = new TimerName(key, domain);
        if (!_byStateKey.TryGetValue(sk, out var timers))
        {
            timers = [];
            _byStateKey[sk] = timers;
        }
        if (timers.TryGetValue(name, out var existing))
        {
            if (existing == timeMs)
            {
                return;
            }
        }
        else
        {
            if (_count >= _pendingMax)
            {
                if (timers.Count == 0)
                {
                    _byStateKey.Remove(sk);
                }
                throw new OperatorProtocolException(
                    $"the operator has {_count} timers pending, the limit (ExecutorLimits.TimersPendingMax); timers are one per key: reuse keys or let timers fire");
            }
            _count++;
        }
        timers[name] = timeMs;
        var id = new TimerId(timeMs, key, sk, domain);
        HeapOf(domain).Enqueue(id, id);
        Persist(sk, timers);
        if (_processing.Count + _eventTime.Count > 2 * _count + 1024)
        {
            Rebuild();
        }
    }

    public void Apply(IEnumerable<TimerSet> sets)
    {
        foreach (var set in sets)
        {
            Set(set.StateKey.Span, set.Key, set.TimeUnixMs, set.Domain);
        }
    }

    /// <summary>True when a processing-time timer is due at <paramref name="nowMs"/>.</summary>
    public bool HasDue(long nowMs) => NextDueMs is { } next && next <= nowMs;

    /// <summary>Removes the processing-time timers due at <paramref name="nowMs"/> and adds them to <paramref name="into"/> in time order.</summary>
    public int TakeDue(long nowMs, ICollection<TimerFired> into, int max = int.MaxValue) => Take(_processing, nowMs, into, max);

    /// <summary>
    /// Removes the event-time timers due at watermark <paramref name="watermarkMs"/> (time ≤
    /// watermark) and adds them to <paramref name="into"/> in time order. The seam for event
    /// time: whoever tracks the input watermark calls it when cutting a batch.
    /// </summary>
    public int TakeDueEventTime(long watermarkMs, ICollection<TimerFired> into, int max = int.MaxValue) => Take(_eventTime, watermarkMs, into, max);

    /// <summary>
    /// Replaces every pending timer with those stored in <paramref name="backend"/> (after it was
    /// restored from a checkpoint) and keeps the queue durable in it from now on.
    /// </summary>
    /// <exception cref="InvalidDataException">A stored timer entry is not in the timers format.</exception>
    public void RestoreFrom(IKeyedStateBackend backend)
    {
        _backend = backend;
        _byStateKey.Clear();
        _processing.Clear();
        _eventTime.Clear();
        _count = 0;
        foreach (var (stateKey, value) in backend.Entries(IKeyedStateBackend.TimersNamespace))
        {
            var sk = Encoding.Latin1.GetString(stateKey);
            var timers = TimerCodec.Decode(value);
            if (timers.Count == 0)
            {
                continue;
            }
            _byStateKey[sk] = timers;
            foreach (var (name, time) in timers)
            {
                var id = new TimerId(time, name.Key, sk, name.Domain);
                HeapOf(name.Domain).Enqueue(id, id);
                _count++;
            }
        }
    }

    private int Take(PriorityQueue<TimerId, TimerId> heap, long upToMs, ICollection<TimerFired> into, int max)
    {
        var taken = 0;
        while (taken < max && heap.TryPeek(out var id, out _) && id.TimeMs <= upToMs)
        {
            heap.Dequeue();
            if (!IsLive(id, out var timers))
            {
                continue; // replaced or already fired
            }
            timers.Remove(new TimerName(id.Key, id.Domain));
            _count--;
            if (timers.Count == 0)
            {
                _byStateKey.Remove(id.StateKey);
            }
            Persist(id.StateKey, timers);
            var fired = new TimerFired { Key = id.Key, TimeUnixMs = id.TimeMs };
            if (id.StateKey.Length > 0)
            {
                fired.StateKey = ByteString.CopyFrom(Encoding.Latin1.GetBytes(id.StateKey));
            }
            if (id.Domain == TimeDomain.Event)
            {
                fired.Domain = TimeDomain.Event;
            }
            into.Add(fired);
            taken++;
        }
        return taken;
    }

    private void Persist(string stateKey, Dictionary<TimerName, long> timers)
    {
        if (_backend is null)
        {
            return;
        }
        var key = Encoding.Latin1.GetBytes(stateKey);
        try
        {
            if (timers.Count == 0)
            {
                _backend.Clear(key, IKeyedStateBackend.TimersNamespace);
            }
            else
            {
                _backend.Set(key, IKeyedStateBackend.TimersNamespace, TimerCodec.Encode(timers));
            }
        }
        catch (StateLimitException e)
        {
            throw new OperatorFailedException($"storing the operator's timers failed: {e.Message}", e);
        }
    }

    private bool IsLive(TimerId id, out Dictionary<TimerName, long> timers) =>
        _byStateKey.TryGetValue(id.StateKey, out timers!)
        && timers.TryGetValue(new TimerName(id.Key, id.Domain), out var current) && current == id.TimeMs;

    private long? Peek(PriorityQueue<TimerId, TimerId> heap)
    {
        while (heap.TryPeek(out var id, out _))
        {
            if (IsLive(id, out _))
            {
                return id.TimeMs;
            }
            heap.Dequeue();
        }
        return null;
    }

    private PriorityQueue<TimerId, TimerId> HeapOf(TimeDomain domain) => domain == TimeDomain.Event ? _eventTime : _processing;

    private void Rebuild()
    {
        _processing.Clear();
        _eventTime.Clear();
        foreach (var (sk, timers) in _byStateKey)
        {
            foreach (var (name, time) in timers)
            {
                var id = new TimerId(time, name.Key, sk, name.Domain);
                HeapOf(name.Domain).Enqueue(id, id);
            }
        }
    }

    private readonly record struct TimerId(long TimeMs, string Key, string StateKey, TimeDomain Domain);

    private sealed class TimerOrder : IComparer<TimerId>
    {
        public static readonly TimerOrder Instance = new();

        public int Compare(TimerId x, TimerId y)
        {
            var c = x.TimeMs.CompareTo(y.TimeMs);
            if (c != 0)
            {
                return c;
            }
            c = string.CompareOrdinal(x.Key, y.Key);
            return c != 0 ? c : string.CompareOrdinal(x.StateKey, y.StateKey);
        }
    }
}
