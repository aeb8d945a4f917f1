using Concord.Contracts.DataPlane.V1;
using Concord.Executor.Records;

namespace Concord.Executor.DataPlane.Internal;

/// <summary>Records of one received RecordBatch (as bytes, in the frame they came in), consumed by the pump from <see cref="Offset"/> on.</summary>
internal sealed class InboundItem(RawRecord[] records, InboundChannel source)
{
    public RawRecord[] Records { get; } = records;

    public InboundChannel Source { get; } = source;

    /// <summary>First record the pump has not taken yet.</summary>
    public int Offset { get; set; }

    /// <summary>Not null: a checkpoint barrier received here, in order with the channel's records (<see cref="Records"/> is empty).</summary>
    public Contracts.DataPlane.V1.Barrier? Barrier { get; init; }

    /// <summary>True: an event-time watermark received here, in order with the channel's records (<see cref="Records"/> is empty).</summary>
    public bool IsWatermark { get; init; }

    /// <summary>The watermark's time; a later one of the same channel raises it while the item waits (lock the item).</summary>
    public long WatermarkMs;

    /// <summary>The pump took the watermark: it can no longer be raised (lock the item).</summary>
    public bool WatermarkTaken;
}

/// <summary>
/// Credit accounting of one Push call on the receiving side. The sender's footprint here
/// (credit it holds + records queued) never exceeds the window; records taken by the pump
/// become new credit, coalesced into one Credit message per wake-up of the writer.
/// </summary>
internal sealed class InboundChannel(string description, int windowRows, long windowBytes, Action releaseSlot, TimeProvider time)
{
    private readonly object _lock = new();
    private readonly SemaphoreSlim _grantReady = new(1, 1); // starts set: the initial grant
    private int _creditRows;
    private long _creditBytes;
    private int _grantRows = windowRows;
    private long _grantBytes = windowBytes;
    private int _queuedRows;
    private bool _closed;
    private bool _slotReleased;
    private int _queuedBarriers;
    private long _activeTimestamp = time.GetTimestamp(); // last frame received, or last queued record taken

    /// <summary>Who sends on the channel; set once its ChannelOpen is read (the slot is taken before).</summary>
    public string Description { get; set; } = description;

    /// <summary>ChannelOpen.stream; set with <see cref="Description"/> (checkpoint alignment is per (stream, sender)).</summary>
    public string Stream { get; set; } = "";

    /// <summary>ChannelOpen.sender ("operator/index").</summary>
    public string Sender { get; set; } = "";

    /// <summary>
    /// Counts a received barrier; false when <see cref="ExecutorLimits.InboundBarriersQueuedMax"/>
    /// are queued already (barriers need no credit, so this bounds them).
    /// </summary>
    public bool TryQueueBarrier()
    {
        if (Interlocked.Increment(ref _queuedBarriers) <= ExecutorLimits.InboundBarriersQueuedMax)
        {
            return true;
        }
        Interlocked.Decrement(ref _queuedBarriers);
        return false;
    }

    /// <summary>A queued barrier was taken by the pump's reader.</summary>
    public void BarrierTaken() => Interlocked.Decrement(ref _queuedBarriers);

    /// <summary>The last item this channel queued (its receiving loop's only): a watermark behind nothing else can be raised in place.</summary>
    public InboundItem? LastQueued { get; set; }

    /// <summary>A frame without credit (a watermark) arrived: the channel is not idle.</summary>
    public void Touch()
    {
        lock (_lock)
        {
            _activeTimestamp = time.GetTimestamp();
        }
    }

    /// <summary>
    /// How long the channel has been idle: nothing received and nothing of it queued (a
    /// channel whose records wait for the pump is not idle; its sender waits for credit).
    /// </summary>
    public TimeSpan IdleFor()
    {
        lock (_lock)
        {
            return _queuedRows > 0 ? TimeSpan.Zero : time.GetElapsedTime(_activeTimestamp);
        }
    }

    /// <summary>
    /// Accounts for a received batch. Returns an error message when the sender exceeded its
    /// credit (a protocol violation that fails the call), null when it was within credit.
    /// </summary>
    public string? TryConsume(int rows, long bytes)
    {
        lock (_lock)
        {
            if (rows > _creditRows || bytes > _creditBytes)
            {
                return $"sender {Description} sent {rows} rows / {bytes} bytes but held credit for {_creditRows} rows / {_creditBytes} bytes; a sender must wait for Credit (dataplane.proto)";
            }
            _creditRows -= rows;
            _creditBytes -= bytes;
            _queuedRows += rows;
            _activeTimestamp = time.GetTimestamp();
            return null;
        }
    }

    public void Release(int rows, long bytes)
    {
        bool releaseSlotNow;
        lock (_lock)
        {
            _queuedRows -= rows;
            if (_queuedRows == 0)
            {
                _activeTimestamp = time.GetTimestamp();
            }
            _grantRows += rows;
            _grantBytes += bytes;
            releaseSlotNow = ShouldReleaseSlot();
        }
        if (releaseSlotNow)
        {
            releaseSlot();
        }
        else if (_grantReady.CurrentCount == 0)
        {
            try
            {
                _grantReady.Release();
            }
            catch (SemaphoreFullException)
            {
                // Already signalled by a concurrent release: one wake-up carries both grants.
            }
        }
    }

    /// <summary>Waits until there is credit to grant, then moves it to the sender's side.</summary>
    public async Task<Credit> NextGrantAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            await _grantReady.WaitAsync(cancellationToken).ConfigureAwait(false);
            lock (_lock)
            {
                if (_grantRows == 0 && _grantBytes == 0)
                {
                    continue;
                }
                var credit = new Credit { Rows = _grantRows, Bytes = _grantBytes };
                _creditRows += _grantRows;
                _creditBytes += _grantBytes;
                _grantRows = 0;
                _grantBytes = 0;
                return credit;
            }
        }
    }

    /// <summary>The call ended; the slot is freed once its queued records are consumed.</summary>
    public void Close()
    {
        bool releaseSlotNow;
        lock (_lock)
        {
            _closed = true;
            releaseSlotNow = ShouldReleaseSlot();
        }
        if (releaseSlotNow)
        {
            releaseSlot();
        }
    }

    private bool ShouldReleaseSlot()
    {
        if (_closed && _queuedRows == 0 && !_slotReleased)
        {
            _slotReleased = true;
            return true;
        }
        return false;
    }
}
