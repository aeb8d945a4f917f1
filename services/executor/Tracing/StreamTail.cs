using Concord.Executor.Records;

namespace Concord.Executor.Tracing;

/// <summary>One record as <c>/tail</c> shows it: copies of its key and value, the value cut at <see cref="ExecutorLimits.TailValueBytesMax"/>.</summary>
public sealed record TailedRecord(string Stream, byte[] Key, byte[] Value, bool ValueTruncated, ulong Seq);

/// <summary>
/// The last records produced on each output stream, for <c>concord tail</c>. It costs nothing
/// until someone asks: <see cref="Offer"/> reads one volatile field per answer and returns,
/// unless a tail was asked for in the last <see cref="ExecutorLimits.TailArmedMs"/>; then it
/// copies at most the last <see cref="ExecutorLimits.TailRecordsMax"/> records of the answer
/// (one answer's worth, never more), so the data path stays O(1) per batch.
/// </summary>
public sealed class StreamTail(TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly object _lock = new();
    private readonly Dictionary<string, Queue<TailedRecord>> _rings = new(StringComparer.Ordinal);
    private long _armedUntilMs = long.MinValue;
    private ulong _seq;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private long NowMs => _time.GetTimestamp() * 1000 / _time.TimestampFrequency;

    /// <summary>True while someone has asked for a tail recently.</summary>
    public bool Armed => NowMs < Volatile.Read(ref _armedUntilMs);

    /// <summary>Keeps the last records of one routed answer when armed (the router calls it once per answer).</summary>
    public void Offer(StreamTable outputs, List<RawProduced> produced)
    {
        if (produced.Count == 0 || !Armed)
        {
            return;
        }
        var from = Math.Max(0, produced.Count - ExecutorLimits.TailRecordsMax);
        TaskCompletionSource changed;
        lock (_lock)
        {
            for (var i = from; i < produced.Count; i++)
            {
                var (stream, record) = produced[i];
                Add(outputs[stream], record.Key, record.Value);
            }
            changed = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
    }

    /// <summary>Adds one record (tests, and <see cref="Offer"/> under the lock).</summary>
    public void Add(string stream, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        lock (_lock)
        {
            if (!_rings.TryGetValue(stream, out var ring))
            {
                _rings[stream] = ring = new Queue<TailedRecord>(ExecutorLimits.TailRecordsMax);
            }
            if (ring.Count == ExecutorLimits.TailRecordsMax)
            {
                ring.Dequeue();
            }
            var cut = value.Length > ExecutorLimits.TailValueBytesMax;
            ring.Enqueue(new TailedRecord(stream,
                key[..Math.Min(key.Length, ExecutorLimits.TailValueBytesMax)].ToArray(),
                (cut ? value[..ExecutorLimits.TailValueBytesMax] : value).ToArray(), cut, ++_seq));
        }
    }

    /// <summary>
    /// Arms the tail and returns the newest <paramref name="count"/> records of
    /// <paramref name="stream"/>, oldest first, waiting up to <paramref name="waitMs"/> for that
    /// many to arrive (an idle stream answers with what there is).
    /// </summary>
    public async Task<List<TailedRecord>> TakeAsync(string stream, int count, int waitMs, CancellationToken cancellationToken)
    {
        count = Math.Clamp(count, 1, ExecutorLimits.TailRecordsMax);
        Volatile.Write(ref _armedUntilMs, NowMs + ExecutorLimits.TailArmedMs);
        var deadline = NowMs + waitMs;
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                var ring = _rings.GetValueOrDefault(stream);
                if ((ring?.Count ?? 0) >= count || NowMs >= deadline)
                {
                    return ring is null ? [] : ring.Skip(Math.Max(0, ring.Count - count)).ToList();
                }
                changed = _changed.Task;
            }
            try
            {
                await changed.WaitAsync(TimeSpan.FromMilliseconds(Math.Max(1, deadline - NowMs)), _time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Deadline reached: the next pass answers with what there is.
            }
        }
    }
}
