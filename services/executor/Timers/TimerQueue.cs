using Concord.Contracts.Operator.V1;

namespace Concord.Executor.Timers;

/// <summary>
/// Pending operator timers: one per key, fired in (time, key) order. Setting a key again
/// replaces its time. Not thread-safe: the batch pump owns it.
/// </summary>
/// <remarks>
/// A replaced timer leaves a stale entry in the heap (cheaper than removing from the middle);
/// stale entries are skipped when popped and the heap is rebuilt when they outnumber the live
/// ones, so memory stays proportional to the pending timers.
/// </remarks>
public sealed class TimerQueue
{
    private readonly Dictionary<string, long> _due = new(StringComparer.Ordinal);
    private readonly PriorityQueue<string, (long TimeMs, string Key)> _heap = new(TimeThenKey.Instance);
    private readonly int _pendingMax;

    public TimerQueue(int pendingMax = ExecutorLimits.TimersPendingMax)
    {
        _pendingMax = pendingMax;
    }

    /// <summary>Timers pending now.</summary>
    public int Count => _due.Count;

    /// <summary>Time of the earliest pending timer, ms since the Unix epoch; null when none is pending.</summary>
    public long? NextDueMs
    {
        get
        {
            DropStaleHead();
            return _heap.TryPeek(out _, out var p) ? p.TimeMs : null;
        }
    }

    /// <summary>Sets or replaces the timer of <paramref name="key"/>.</summary>
    public void Set(string key, long timeMs)
    {
        if (key.Length > ExecutorLimits.TimerKeyCharsMax)
        {
            throw new OperatorProtocolException(
                $"the operator set a timer with a key of {key.Length} characters; keys are limited to {ExecutorLimits.TimerKeyCharsMax} (ExecutorLimits.TimerKeyCharsMax): use a shorter key");
        }
        if (_due.TryGetValue(key, out var existing) && existing == timeMs)
        {
            return;
        }
        if (!_due.ContainsKey(key) && _due.Count >= _pendingMax)
        {
            throw new OperatorProtocolException(
                $"the operator has {_due.Count} timers pending, the limit (ExecutorLimits.TimersPendingMax); timers are one per key: reuse keys or let timers fire");
        }
        _due[key] = timeMs;
        _heap.Enqueue(key, (timeMs, key));
        if (_heap.Count > 2 * _due.Count + 1024)
        {
            Rebuild();
        }
    }

    public void Apply(IEnumerable<TimerSet> sets)
    {
        foreach (var set in sets)
        {
            Set(set.Key, set.TimeUnixMs);
        }
    }

    /// <summary>True when a timer is due at <paramref name="nowMs"/>.</summary>
    public bool HasDue(long nowMs) => NextDueMs is { } next && next <= nowMs;

    /// <summary>Removes the timers due at <paramref name="nowMs"/> and adds them to <paramref name="into"/> in time order.</summary>
    public int TakeDue(long nowMs, ICollection<TimerFired> into, int max = int.MaxValue)
    {
        var taken = 0;
        while (taken < max && _heap.TryPeek(out var key, out var p) && p.TimeMs <= nowMs)
        {
            _heap.Dequeue();
            if (!_due.TryGetValue(key, out var current) || current != p.TimeMs)
            {
                continue; // replaced or already fired
            }
            _due.Remove(key);
            into.Add(new TimerFired { Key = key, TimeUnixMs = p.TimeMs });
            taken++;
        }
        return taken;
    }

    private void DropStaleHead()
    {
        while (_heap.TryPeek(out var key, out var p) && (!_due.TryGetValue(key, out var current) || current != p.TimeMs))
        {
            _heap.Dequeue();
        }
    }

    private void Rebuild()
    {
        _heap.Clear();
        foreach (var (key, time) in _due)
        {
            _heap.Enqueue(key, (time, key));
        }
    }

    private sealed class TimeThenKey : IComparer<(long TimeMs, string Key)>
    {
        public static readonly TimeThenKey Instance = new();

        public int Compare((long TimeMs, string Key) x, (long TimeMs, string Key) y)
        {
            var c = x.TimeMs.CompareTo(y.TimeMs);
            return c != 0 ? c : string.CompareOrdinal(x.Key, y.Key);
        }
    }
}
