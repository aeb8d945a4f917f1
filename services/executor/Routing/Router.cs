using System.Runtime.InteropServices;
using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;
using Concord.Executor.DataPlane;
using Concord.Executor.DataPlane.Internal;
using Concord.Executor.Records;
using Microsoft.Extensions.Logging;

namespace Concord.Executor.Routing;

/// <summary>
/// Sends what the operator produced to the reading instances, by the current routing table.
/// <see cref="RouteAsync"/> runs on one thread (the answer loop); <see cref="Apply"/> on the
/// scheduler watch; they share only the view reference, swapped atomically.
/// </summary>
public sealed class Router : IAsyncDisposable
{
    private readonly StreamTable _outputs;
    private readonly Func<string, string, int, OutboundChannel> _createChannel;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Metrics.ExecutorMetrics _metrics;
    private readonly int _channelsMax;
    private readonly object _applyLock = new();
    private readonly Dictionary<(string Stream, string Reader, int Index), OutboundChannel> _channels = [];
    private readonly DropCounter[] _dropped;
    private readonly DropCounter[] _tooLarge;
    private readonly TaskCompletionSource _firstTable = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile RoutingTableView<OutboundChannel> _view = RoutingTableView<OutboundChannel>.Empty;

    // The readers of each output stream (by StreamTable index) under _view; null: nobody reads it. Swapped with _view.
    private volatile ReaderRoute<OutboundChannel>[]?[] _readersByStream;
    private long _droppedNoReaderTotal;
    private long _rejectedTooLargeTotal;

    // RouteAsync's per-answer chunks, one per channel (RouteAsync runs on one thread at a time).
    private readonly Dictionary<OutboundChannel, OutboundChunk> _pending = new(ReferenceEqualityComparer.Instance);
    private readonly List<KeyValuePair<OutboundChannel, OutboundChunk>> _flush = [];

    public Router(StreamTable outputs, Func<string, string, int, OutboundChannel> createChannel,
        ILogger logger, TimeProvider time, Metrics.ExecutorMetrics metrics, int channelsMax = ExecutorLimits.OutboundChannelsMax)
    {
        _metrics = metrics;
        _outputs = outputs;
        _readersByStream = new ReaderRoute<OutboundChannel>[]?[outputs.Count];
        _dropped = [.. Enumerable.Range(0, outputs.Count).Select(_ => new DropCounter())];
        _tooLarge = [.. Enumerable.Range(0, outputs.Count).Select(_ => new DropCounter())];
        _createChannel = createChannel;
        _logger = logger;
        _time = time;
        _channelsMax = channelsMax;
    }

    /// <summary>The operator's output streams; produced records name them by index.</summary>
    public StreamTable Outputs => _outputs;

    public long Version => _view.Version;

    /// <summary>Records dropped because no operator reads their stream (concord_records_dropped_total{reason="no_reader"}).</summary>
    public long DroppedNoReaderTotal => Interlocked.Read(ref _droppedNoReaderTotal);

    /// <summary>
    /// Records the operator produced larger than <see cref="ProtocolLimits.RecordBytesMax"/>
    /// (key + value), rejected here at the producing side and counted, while the stream goes on
    /// (concord_records_dropped_total{reason="too_large"}).
    /// </summary>
    public long RejectedTooLargeTotal => Interlocked.Read(ref _rejectedTooLargeTotal);

    /// <summary>Rows waiting in all outbound queues.</summary>
    public int QueuedRows
    {
        get
        {
            lock (_applyLock)
            {
                return _channels.Values.Sum(c => c.QueuedRows);
            }
        }
    }

    /// <summary>
    /// Swaps in <paramref name="table"/>: reuses channels that stay, creates new ones, retargets
    /// all, closes the ones no longer routed to (their queued records are dropped). An
    /// inconsistent table is refused and the previous one stays.
    /// </summary>
    public async Task ApplyAsync(RoutingTable table)
    {
        List<OutboundChannel> removed;
        // Only the streams this operator produces: channels to the readers of other streams
        // would cost the readers inbound channel slots and credit windows for nothing.
        var produced = new RoutingTable { Version = table.Version, KeyGroupCount = table.KeyGroupCount };
        produced.Streams.AddRange(table.Streams.Where(s => _outputs.IndexOf(s.Stream) >= 0));
        table = produced;
        lock (_applyLock)
        {
            var wanted = table.Streams.Sum(s => s.Readers.Sum(r => r.Instances.Count));
            if (wanted > _channelsMax)
            {
                throw new RoutingTableException(
                    $"routing table {table.Version} needs {wanted} outbound channels, more than ExecutorLimits.OutboundChannelsMax ({_channelsMax}); reduce readers or instances");
            }
            var created = new List<OutboundChannel>();
            var used = new HashSet<OutboundChannel>();
            RoutingTableView<OutboundChannel> view;
            try
            {
                view = RoutingTableView<OutboundChannel>.Compile(table, (stream, reader, instance) =>
                {
                    if (!_channels.TryGetValue((stream, reader, instance.Index), out var channel) && !TryFindCreated(created, stream, reader, instance.Index, out channel))
                    {
                        channel = _createChannel(stream, reader, instance.Index);
                        created.Add(channel);
                    }
                    channel.SetTarget(new OutboundTarget(instance.DataAddress, instance.Incarnation));
                    used.Add(channel);
                    return channel;
                });
            }
            catch
            {
                foreach (var channel in created)
                {
                    _ = channel.DisposeAsync().AsTask();
                }
                throw;
            }
            foreach (var channel in created)
            {
                _channels[(channel.Stream, channel.ReaderOperator, channel.InstanceIndex)] = channel;
            }
            removed = _channels.Values.Where(c => !used.Contains(c)).ToList();
            foreach (var channel in removed)
            {
                _channels.Remove((channel.Stream, channel.ReaderOperator, channel.InstanceIndex));
            }
            _readersByStream = [.. _outputs.Names.Select(stream => view.TryGetReaders(stream, out var readers) ? readers : null)];
            _view = view;
        }
        RoutingLog.TableApplied(_logger, table.Version, table.Streams.Count);
        _firstTable.TrySetResult();
        foreach (var channel in removed)
        {
            await channel.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static bool TryFindCreated(List<OutboundChannel> created, string stream, string reader, int index, out OutboundChannel channel)
    {
        channel = created.Find(c => c.Stream == stream && c.ReaderOperator == reader && c.InstanceIndex == index)!;
        return channel is not null;
    }

    /// <summary>
    /// Routes the records of one answer, in order. Waits while an outbound queue is full:
    /// that is how backpressure reaches the pump. A record over the size limit is rejected,
    /// counted and logged, and the rest of the answer is routed. (A record on a stream the
    /// operator does not declare never gets here: the answer's scan refuses it.)
    /// </summary>
    public async ValueTask RouteAsync(RawAnswer done, CancellationToken cancellationToken)
    {
        if (done.Produced.Count == 0)
        {
            return;
        }
        if (!_firstTable.Task.IsCompleted)
        {
            await _firstTable.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        // One volatile read per answer unless `concord tail` is watching (StreamTail).
        _metrics.Tail.Offer(_outputs, done.Produced);
        var readersByStream = _readersByStream;
        var pending = _pending;
        var count = done.Produced.Count;
        try
        {
            for (var p = 0; p < count; p++)
            {
                // By index, not a span: the loop awaits, and the list is not changed while routing.
                var (stream, record) = done.Produced[p];
                if (record.KeyValueBytes > ProtocolLimits.RecordBytesMax)
                {
                    // One bad record must not tear down a stream carrying good ones: reject it here,
                    // before it takes any downstream credit, and say why.
                    CountTooLarge(stream, record.KeyValueBytes);
                    continue;
                }
                var readers = readersByStream[stream];
                if (readers is null)
                {
                    CountDropped(stream);
                    continue;
                }
                foreach (var reader in readers)
                {
                    var slot = reader.Select(record.Key);
                    if (slot >= 0)
                    {
                        // A keyed or round-robin record goes to one of the targets: each chunk gets about its share.
                        await AddAsync(pending, reader.Targets[slot], record, count / reader.Targets.Length, cancellationToken).ConfigureAwait(false);
                    }
                    else
                    {
                        foreach (var target in reader.Targets)
                        {
                            await AddAsync(pending, target, record, count, cancellationToken).ConfigureAwait(false);
                        }
                    }
                }
            }
            // What is left of each channel's chunk, in one step per channel.
            if (pending.Count > 0)
            {
                _flush.AddRange(pending);
                pending.Clear();
                foreach (var (target, chunk) in _flush)
                {
                    await target.EnqueueAsync(chunk, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            pending.Clear();
            _flush.Clear();
        }
    }

    /// <summary>
    /// Adds a record to its channel's chunk of this answer; a chunk that reaches a batch's rows or
    /// bytes is queued at once (waiting for room: backpressure), so chunks stay batch-sized.
    /// </summary>
    private static ValueTask AddAsync(Dictionary<OutboundChannel, OutboundChunk> pending, OutboundChannel target, RawRecord record,
        int expectedRows, CancellationToken cancellationToken)
    {
        if (!pending.TryGetValue(target, out var chunk))
        {
            chunk = new OutboundChunk(Math.Min(expectedRows, ExecutorLimits.BatchRowsMax));
            pending[target] = chunk;
        }
        chunk.Add(record);
        if (chunk.Count < ExecutorLimits.BatchRowsMax && chunk.Bytes < ExecutorLimits.BatchBytesMax)
        {
            return ValueTask.CompletedTask;
        }
        pending.Remove(target);
        return target.EnqueueAsync(chunk, cancellationToken);
    }

    /// <summary>
    /// Queues checkpoint barrier <paramref name="barrier"/> on every outbound channel: every
    /// output stream, reading operator and instance, including channels that carried no
    /// records yet (docs/guarantees.md). Called with no answer being routed, so the barrier
    /// follows every record routed before it on each channel. Waits for the first routing table.
    /// </summary>
    public async Task SendBarrierAsync(Contracts.DataPlane.V1.Barrier barrier, CancellationToken cancellationToken)
    {
        await _firstTable.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        lock (_applyLock)
        {
            foreach (var channel in _channels.Values)
            {
                channel.EnqueueBarrier(barrier);
            }
        }
    }

    /// <summary>
    /// Queues event-time watermark <paramref name="watermarkMs"/> on every outbound channel, as
    /// <see cref="SendBarrierAsync"/> does a barrier, behind every record routed before it.
    /// Before the first routing table there are no channels: a later watermark supersedes it.
    /// </summary>
    public void SendWatermark(long watermarkMs)
    {
        lock (_applyLock)
        {
            foreach (var channel in _channels.Values)
            {
                channel.EnqueueWatermark(watermarkMs);
            }
        }
    }

    /// <summary>Waits (bounded by the token) until every outbound queue is empty.</summary>
    public async Task DrainAsync(CancellationToken cancellationToken)
    {
        while (QueuedRows > 0)
        {
            // Queues expose no "empty" event; poll briefly until the deadline cancels.
            await Task.Delay(TimeSpan.FromMilliseconds(ExecutorLimits.OutboundDrainPollMs), _time, cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        List<OutboundChannel> channels;
        lock (_applyLock)
        {
            channels = [.. _channels.Values];
            _channels.Clear();
            _view = RoutingTableView<OutboundChannel>.Empty;
            _readersByStream = new ReaderRoute<OutboundChannel>[]?[_outputs.Count];
        }
        foreach (var channel in channels)
        {
            await channel.DisposeAsync().ConfigureAwait(false);
        }
    }

    private void CountDropped(int stream)
    {
        Interlocked.Increment(ref _droppedNoReaderTotal);
        _metrics.Dropped(_outputs[stream], "no_reader");
        var counter = _dropped[stream];
        counter.Total++;
        var now = _time.GetUtcNow();
        if (now - counter.LastLogged >= TimeSpan.FromMilliseconds(ExecutorLimits.DroppedLogIntervalMs))
        {
            counter.LastLogged = now;
            RoutingLog.DroppedNoReader(_logger, _outputs[stream], counter.Total);
        }
    }

    private void CountTooLarge(int stream, long bytes)
    {
        Interlocked.Increment(ref _rejectedTooLargeTotal);
        _metrics.Dropped(_outputs[stream], "too_large");
        var counter = _tooLarge[stream];
        counter.Total++;
        var now = _time.GetUtcNow();
        if (now - counter.LastLogged >= TimeSpan.FromMilliseconds(ExecutorLimits.DroppedLogIntervalMs))
        {
            counter.LastLogged = now;
            RoutingLog.RecordTooLarge(_logger, _outputs[stream], bytes, ProtocolLimits.RecordBytesMax, counter.Total);
        }
    }

    private sealed class DropCounter
    {
        public long Total;
        public DateTimeOffset LastLogged = DateTimeOffset.MinValue;
    }
}
