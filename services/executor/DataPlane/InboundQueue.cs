using System.Threading.Channels;
using Concord.Executor.DataPlane.Internal;
using Concord.Executor.Records;

namespace Concord.Executor.DataPlane;

/// <summary>
/// Records received from upstream executors, waiting for the batch pump. Bounded in rows and
/// bytes by credit: every channel (at most <see cref="ExecutorLimits.InboundChannelsMax"/>)
/// may hold at most its credit window here, and credit comes back only as the pump takes the
/// records out. The channel's item capacity checks that invariant.
/// </summary>
public sealed class InboundQueue
{
    private readonly Channel<InboundItem> _items;
    private readonly SemaphoreSlim _channelSlots;
    private long _queuedRows;
    private long _queuedBytes;

    public InboundQueue(
        int channelsMax = ExecutorLimits.InboundChannelsMax,
        int channelCreditRows = ExecutorLimits.InboundChannelCreditRows,
        int channelCreditBytes = ExecutorLimits.InboundChannelCreditBytes,
        TimeSpan? channelIdle = null,
        TimeProvider? time = null)
    {
        ChannelIdle = channelIdle ?? TimeSpan.FromMilliseconds(ExecutorLimits.InboundChannelIdleMs);
        Time = time ?? TimeProvider.System;
        ChannelsMax = channelsMax;
        ChannelCreditRows = channelCreditRows;
        ChannelCreditBytes = channelCreditBytes;
        RowsMax = (long)channelsMax * channelCreditRows;
        BytesMax = (long)channelsMax * channelCreditBytes;
        _channelSlots = new SemaphoreSlim(channelsMax, channelsMax);
        // Every record item holds at least one row, so rows bound them; barrier items are bounded per channel;
        // a channel's watermark items are raised in place unless something follows them (EnqueueWatermark).
        _items = Channel.CreateBounded<InboundItem>(new BoundedChannelOptions((int)Math.Min(2 * (RowsMax + (long)channelsMax * ExecutorLimits.InboundBarriersQueuedMax) + channelsMax, int.MaxValue))
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    public int ChannelsMax { get; }

    /// <summary>How long a channel may stay idle before the receiver closes it (<see cref="ExecutorLimits.InboundChannelIdleMs"/>).</summary>
    public TimeSpan ChannelIdle { get; }

    /// <summary>The clock of the idle bound.</summary>
    public TimeProvider Time { get; }

    public int ChannelCreditRows { get; }

    public int ChannelCreditBytes { get; }

    /// <summary>Most rows the queue can hold: channels × window.</summary>
    public long RowsMax { get; }

    /// <summary>Most serialized bytes the queue can hold: channels × window.</summary>
    public long BytesMax { get; }

    /// <summary>Rows queued now (a gauge).</summary>
    public long QueuedRows => Interlocked.Read(ref _queuedRows);

    /// <summary>Serialized bytes queued now (a gauge).</summary>
    public long QueuedBytes => Interlocked.Read(ref _queuedBytes);

    /// <summary>What the pump reads: the queue itself, or the checkpoint alignment in front of it (<see cref="UseGate"/>).</summary>
    internal ChannelReader<InboundItem> Reader => _gate ?? _items.Reader;

    /// <summary>
    /// Puts <paramref name="gate"/> (made from the queue's own reader) between the queue and
    /// the pump, and lets barriers in: called once, before the pump starts, by an executor
    /// that takes part in checkpoints. Without a gate received barriers are dropped (an
    /// at-most-once reader of an operator that takes checkpoints has no use for them).
    /// </summary>
    internal void UseGate(Func<ChannelReader<InboundItem>, ChannelReader<InboundItem>> gate) => _gate = gate(_items.Reader);

    private volatile ChannelReader<InboundItem>? _gate;

    /// <summary>Reserves a channel slot; false when <see cref="ChannelsMax"/> channels are open.</summary>
    internal bool TryOpenChannel(string description, out InboundChannel channel)
    {
        if (!_channelSlots.Wait(0))
        {
            channel = null!;
            return false;
        }
        channel = new InboundChannel(description, ChannelCreditRows, ChannelCreditBytes, () => _channelSlots.Release(), Time);
        return true;
    }

    /// <summary>Adds records that <paramref name="source"/> had credit for.</summary>
    internal void Enqueue(RawRecord[] records, long bytes, InboundChannel source)
    {
        Interlocked.Add(ref _queuedRows, records.Length);
        Interlocked.Add(ref _queuedBytes, bytes);
        var item = new InboundItem(records, source);
        source.LastQueued = item;
        if (!_items.Writer.TryWrite(item))
        {
            // Cannot happen while credit is honoured: each channel is checked before this.
            throw new InvalidOperationException("inbound queue is full although every channel is within its credit: credit accounting is broken");
        }
    }

    /// <summary>
    /// Adds a barrier after the records <paramref name="source"/> queued before it. False when
    /// the channel has <see cref="ExecutorLimits.InboundBarriersQueuedMax"/> queued already.
    /// </summary>
    internal bool EnqueueBarrier(Contracts.DataPlane.V1.Barrier barrier, InboundChannel source)
    {
        if (_gate is null)
        {
            return true;
        }
        if (!source.TryQueueBarrier())
        {
            return false;
        }
        var item = new InboundItem([], source) { Barrier = barrier };
        source.LastQueued = item;
        if (!_items.Writer.TryWrite(item))
        {
            throw new InvalidOperationException("inbound queue is full although every channel is within its barrier bound: accounting is broken");
        }
        return true;
    }

    /// <summary>
    /// Adds an event-time watermark after the records <paramref name="source"/> queued before it.
    /// Watermarks need no credit; one that finds the channel's previous watermark still queued
    /// with nothing behind it raises that one instead, so a channel holds at most one watermark
    /// item more than its record and barrier items (docs/guarantees.md, "Event time").
    /// </summary>
    internal void EnqueueWatermark(long watermarkMs, InboundChannel source)
    {
        source.Touch();
        if (source.LastQueued is { IsWatermark: true } last)
        {
            lock (last)
            {
                if (!last.WatermarkTaken)
                {
                    last.WatermarkMs = Math.Max(last.WatermarkMs, watermarkMs);
                    return;
                }
            }
        }
        var item = new InboundItem([], source) { IsWatermark = true, WatermarkMs = watermarkMs };
        source.LastQueued = item;
        if (!_items.Writer.TryWrite(item))
        {
            throw new InvalidOperationException("inbound queue is full although every channel's watermarks are coalesced: accounting is broken");
        }
    }

    /// <summary>Called by the pump for records it took out; returns their credit to the sender.</summary>
    internal void Release(InboundChannel source, int rows, long bytes)
    {
        Interlocked.Add(ref _queuedRows, -rows);
        Interlocked.Add(ref _queuedBytes, -bytes);
        source.Release(rows, bytes);
    }
}
