using System.Threading.Channels;
using Concord.Contracts.Scheduler.V1;
using Concord.Executor.DataPlane.Internal;
using Concord.Executor.Internal;

namespace Concord.Executor.Checkpoints.Internal;

/// <summary>
/// Stands between the inbound queue and the batch pump (<see cref="DataPlane.InboundQueue.UseGate"/>)
/// and keeps the checkpoint alignment (docs/guarantees.md, protocol step 4). It sees every item in
/// the order the pump takes them, so a barrier is met exactly after the records its channel sent
/// before it. With alignment (exactly_once) a channel that delivered barrier n is blocked: its
/// later items are set aside, not handed to the pump and so not released, which is also why its
/// credit is not renewed. When every channel of <see cref="BeginCheckpoint.Inputs"/> has delivered
/// n (or a source receives its begin) n is <see cref="Due"/>: nothing more is handed out until
/// <see cref="Snapshotted"/> or <see cref="Abort"/>, which give the set-aside items back first,
/// in their order.
/// </summary>
internal sealed class BarrierAligner(ChannelReader<InboundItem> queue, bool align, TimeProvider time, Action onDue) : ChannelReader<InboundItem>
{
    private readonly Lock _lock = new();
    private readonly SortedDictionary<ulong, Alignment> _alignments = [];
    private readonly Dictionary<(string Stream, string Sender), ulong> _blockedBy = [];
    private readonly Dictionary<(string Stream, string Sender), Queue<InboundItem>> _held = [];
    private readonly Queue<InboundItem> _released = new();
    private readonly AsyncSignal _releasedSignal = new();
    private ulong _lastDone; // highest checkpoint snapshotted or aborted here: its barriers are stale
    private AlignedCheckpoint? _due;

    /// <summary>The checkpoint whose snapshot is due now (all its barriers in, or a source's begin), or null.</summary>
    public AlignedCheckpoint? Due
    {
        get
        {
            lock (_lock)
            {
                return _due;
            }
        }
    }

    /// <summary>Items of blocked channels set aside now (a gauge for tests and logs).</summary>
    public int HeldItems
    {
        get
        {
            lock (_lock)
            {
                return _held.Values.Sum(q => q.Count);
            }
        }
    }

    /// <summary>Channels blocked now.</summary>
    public IReadOnlyCollection<(string Stream, string Sender)> Blocked
    {
        get
        {
            lock (_lock)
            {
                return [.. _blockedBy.Keys];
            }
        }
    }

    /// <summary>The coordinator began <paramref name="begin"/>: a source's snapshot is due now; a reader's when its barriers are in.</summary>
    public void Begin(BeginCheckpoint begin)
    {
        lock (_lock)
        {
            if (begin.CheckpointId <= _lastDone)
            {
                return;
            }
            // The coordinator runs one checkpoint at a time, so a begin of n means every earlier one
            // ended: snapshotted here, aborted, or cut off by a scheduler that died during it (whose
            // abort never comes: the next scheduler does not know it). A channel still blocked by one
            // of those would hold n's barrier behind it until n timed out, and every later one too.
            foreach (var stale in _alignments.Keys.Where(id => id < begin.CheckpointId && _due?.Begin.CheckpointId != id).ToList())
            {
                ForgetLocked(stale);
            }
            var alignment = Track(begin.CheckpointId);
            alignment.Begin = begin;
            if (begin.Inputs.Count == 0)
            {
                alignment.FirstBarrier ??= time.GetTimestamp();
            }
            CheckComplete(alignment);
        }
    }

    /// <summary>The snapshot of the due checkpoint was taken and its barrier forwarded: resume and unblock.</summary>
    public void Snapshotted(ulong checkpointId) => Forget(checkpointId);

    /// <summary>The checkpoint will not complete: drop its alignment and give blocked channels back.</summary>
    public void Abort(ulong checkpointId) => Forget(checkpointId);

    public override bool TryRead(out InboundItem item)
    {
        lock (_lock)
        {
            while (_due is null)
            {
                if (!_released.TryDequeue(out var next) && !queue.TryRead(out next))
                {
                    break;
                }
                var channel = (next.Source.Stream, next.Source.Sender);
                if (_blockedBy.ContainsKey(channel))
                {
                    Held(channel).Enqueue(next);
                    continue;
                }
                if (next.Barrier is { } barrier)
                {
                    next.Source.BarrierTaken();
                    OnBarrier(channel, barrier.CheckpointId);
                    continue;
                }
                item = next;
                return true;
            }
        }
        item = null!;
        return false;
    }

    public override async ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default)
    {
        // Both waits end with this call, so neither outlives it to take a later wake-up (AsyncSignal).
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            while (true)
            {
                Task released;
                lock (_lock)
                {
                    if (_due is null && _released.Count > 0)
                    {
                        return true;
                    }
                    released = _releasedSignal.WaitAsync(stop.Token);
                }
                // Items of blocked channels make this true too; TryRead sets them aside, and the
                // next wait finds the queue empty.
                var queued = queue.WaitToReadAsync(stop.Token).AsTask();
                await Task.WhenAny(queued, released).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                if (queued.IsCompleted)
                {
                    return await queued.ConfigureAwait(false);
                }
            }
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
        }
    }

    private void OnBarrier((string Stream, string Sender) channel, ulong checkpointId)
    {
        if (checkpointId <= _lastDone)
        {
            return; // aborted or done here already (a late or replayed barrier)
        }
        var alignment = Track(checkpointId);
        alignment.FirstBarrier ??= time.GetTimestamp();
        alignment.Arrived.Add(channel);
        if (align)
        {
            // Held even before the begin arrives: what the channel sends next belongs to the next checkpoint.
            _blockedBy[channel] = checkpointId;
        }
        CheckComplete(alignment);
    }

    private void CheckComplete(Alignment alignment)
    {
        if (_due is not null || alignment.Begin is not { } begin || !begin.Inputs.All(i => alignment.Arrived.Contains((i.Stream, i.Sender))))
        {
            return;
        }
        var alignmentMs = begin.Inputs.Count == 0 || !align ? 0 : (long)time.GetElapsedTime(alignment.FirstBarrier!.Value).TotalMilliseconds;
        _due = new AlignedCheckpoint(begin, alignment.FirstBarrier!.Value, alignmentMs);
        onDue();
    }

    private Alignment Track(ulong checkpointId)
    {
        if (_alignments.TryGetValue(checkpointId, out var alignment))
        {
            return alignment;
        }
        alignment = new Alignment();
        _alignments[checkpointId] = alignment;
        if (_alignments.Count > ExecutorLimits.CheckpointsTrackedMax)
        {
            // The oldest cannot be completing any more (the coordinator runs one at a time): let go of it.
            var oldest = _alignments.Keys.First();
            ForgetLocked(oldest);
        }
        return alignment;
    }

    private void Forget(ulong checkpointId)
    {
        lock (_lock)
        {
            ForgetLocked(checkpointId);
        }
    }

    private void ForgetLocked(ulong checkpointId)
    {
        _alignments.Remove(checkpointId);
        if (_due?.Begin.CheckpointId == checkpointId)
        {
            _due = null;
        }
        _lastDone = Math.Max(_lastDone, checkpointId);
        // Barriers of checkpoints before this one can no longer complete either.
        foreach (var stale in _alignments.Keys.Where(id => id < checkpointId).ToList())
        {
            _alignments.Remove(stale);
        }
        var released = false;
        foreach (var (channel, blockedAt) in _blockedBy.ToList())
        {
            if (blockedAt > checkpointId)
            {
                continue;
            }
            _blockedBy.Remove(channel);
            if (_held.Remove(channel, out var items))
            {
                // Given back before anything newer in the queue; TryRead meets them again in
                // order, so a later barrier among them blocks the channel again.
                while (items.TryDequeue(out var item))
                {
                    _released.Enqueue(item);
                }
                released = true;
            }
        }
        if (released)
        {
            _releasedSignal.Set();
        }
        // A later checkpoint that became complete while this one was due (a source's next begin).
        foreach (var alignment in _alignments.Values)
        {
            CheckComplete(alignment);
        }
    }

    private Queue<InboundItem> Held((string Stream, string Sender) channel)
    {
        if (!_held.TryGetValue(channel, out var items))
        {
            items = new Queue<InboundItem>();
            _held[channel] = items;
        }
        return items;
    }

    private sealed class Alignment
    {
        public BeginCheckpoint? Begin;
        public long? FirstBarrier;
        public readonly HashSet<(string Stream, string Sender)> Arrived = [];
    }
}

/// <param name="Started">Timestamp (TimeProvider) of the first barrier, or of the begin for a source.</param>
/// <param name="AlignmentMs">First to last barrier of the aligned inputs; 0 for sources and at-least-once.</param>
internal sealed record AlignedCheckpoint(BeginCheckpoint Begin, long Started, long AlignmentMs);
