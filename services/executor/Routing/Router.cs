using Concord.Contracts;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Scheduler.V1;
using Concord.Executor.DataPlane;
using Concord.Executor.DataPlane.Internal;
using Microsoft.Extensions.Logging;

namespace Concord.Executor.Routing;

/// <summary>
/// Sends what the operator produced to the reading instances, by the current routing table.
/// <see cref="RouteAsync"/> runs on one thread (the answer loop); <see cref="Apply"/> on the
/// scheduler watch; they share only the view reference, swapped atomically.
/// </summary>
public sealed class Router : IAsyncDisposable
{
    private readonly IReadOnlySet<string> _outputs;
    private readonly Func<string, string, int, OutboundChannel> _createChannel;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly int _channelsMax;
    private readonly object _applyLock = new();
    private readonly Dictionary<(string Stream, string Reader, int Index), OutboundChannel> _channels = [];
    private readonly Dictionary<string, DropCounter> _dropped = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DropCounter> _tooLarge = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _firstTable = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile RoutingTableView<OutboundChannel> _view = RoutingTableView<OutboundChannel>.Empty;
    private long _droppedNoReaderTotal;
    private long _rejectedTooLargeTotal;

    // RouteAsync's per-answer chunks, one per channel (RouteAsync runs on one thread at a time).
    private readonly Dictionary<OutboundChannel, OutboundChunk> _pending = new(ReferenceEqualityComparer.Instance);
    private readonly List<KeyValuePair<OutboundChannel, OutboundChunk>> _flush = [];

    public Router(IReadOnlySet<string> outputs, Func<string, string, int, OutboundChannel> createChannel,
        ILogger logger, TimeProvider time, int channelsMax = ExecutorLimits.OutboundChannelsMax)
    {
        _outputs = outputs;
        _createChannel = createChannel;
        _logger = logger;
        _time = time;
        _channelsMax = channelsMax;
    }

    /// <summary>Completes when the first routing table has been applied; routing waits for it.</summary>
    public Task FirstTable => _firstTable.Task;

    public long Version => _view.Version;

    /// <summary>Records dropped because no operator reads their stream (concord_records_dropped_total{reason="no_reader"}).</summary>
    public long DroppedNoReaderTotal => Interlocked.Read(ref _droppedNoReaderTotal);

    /// <summary>
    /// Records the operator produced larger than <see cref="ProtocolLimits.RecordBytesMax"/>
    /// (key + value), rejected here at the producing side and counted, while the stream goes on
    /// (concord_records_rejected_total{reason="too_large"}).
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
        produced.Streams.AddRange(table.Streams.Where(s => _outputs.Contains(s.Stream)));
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
    /// that is how backpressure reaches the pump. Throws <see cref="OperatorProtocolException"/>
    /// for a record on a stream the operator does not declare; a record over the size limit is
    /// rejected, counted and logged instead, and the rest of the answer is routed.
    /// </summary>
    public async ValueTask RouteAsync(BatchDone done, CancellationToken cancellationToken)
    {
        if (done.Produced.Count == 0)
        {
            return;
        }
        if (!_firstTable.Task.IsCompleted)
        {
            await _firstTable.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        var view = _view;
        var pending = _pending;
        try
        {
            // The stream name is parsed anew for every record: check and look it up only when it changes.
            string? stream = null;
            ReaderRoute<OutboundChannel>[]? readers = null;
            foreach (var produced in done.Produced)
            {
                var record = produced.Record ?? throw new OperatorProtocolException(
                    $"the operator produced to stream '{produced.Stream}' without a record in batch {done.Seq}; ProducedRecord.record is required");
                if (!string.Equals(produced.Stream, stream, StringComparison.Ordinal))
                {
                    if (!_outputs.Contains(produced.Stream))
                    {
                        throw new OperatorProtocolException(
                            $"the operator produced to stream '{produced.Stream}', which is not among its metadata outputs [{string.Join(", ", _outputs)}]; add it to metadata() outputs (the SDK should have refused this)");
                    }
                    stream = produced.Stream;
                    readers = view.TryGetReaders(stream, out var found) ? found : null;
                }
                var keyValueBytes = record.Key.Length + record.Value.Length;
                if (keyValueBytes > ProtocolLimits.RecordBytesMax)
                {
                    // One bad record must not tear down a stream carrying good ones: reject it here,
                    // before it takes any downstream credit, and say why.
                    CountTooLarge(produced.Stream, keyValueBytes);
                    continue;
                }
                if (readers is null)
                {
                    CountDropped(produced.Stream);
                    continue;
                }
                var size = record.CalculateSize();
                foreach (var reader in readers)
                {
                    var slot = reader.Select(record.Key.Span);
                    if (slot >= 0)
                    {
                        await AddAsync(pending, reader.Targets[slot], record, size, done.Produced.Count, cancellationToken).ConfigureAwait(false);
                    }
                    else
                    {
                        foreach (var target in reader.Targets)
                        {
                            await AddAsync(pending, target, record, size, done.Produced.Count, cancellationToken).ConfigureAwait(false);
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
    private static ValueTask AddAsync(Dictionary<OutboundChannel, OutboundChunk> pending, OutboundChannel target, Concord.Contracts.Types.V1.Record record, int size,
        int answerRows, CancellationToken cancellationToken)
    {
        if (!pending.TryGetValue(target, out var chunk))
        {
            chunk = new OutboundChunk(Math.Min(answerRows, ExecutorLimits.BatchRowsMax));
            pending[target] = chunk;
        }
        chunk.Add(record, size);
        if (chunk.Count < ExecutorLimits.BatchRowsMax && chunk.Bytes < ExecutorLimits.BatchBytesMax)
        {
            return ValueTask.CompletedTask;
        }
        pending.Remove(target);
        return target.EnqueueAsync(chunk, cancellationToken);
    }

    /// <summary>Waits (bounded by the token) until every outbound queue is empty.</summary>
    public async Task DrainAsync(CancellationToken cancellationToken)
    {
        while (QueuedRows > 0)
        {
            // Queues expose no "empty" event; poll briefly until the deadline cancels.
            await Task.Delay(TimeSpan.FromMilliseconds(10), _time, cancellationToken).ConfigureAwait(false);
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
        }
        foreach (var channel in channels)
        {
            await channel.DisposeAsync().ConfigureAwait(false);
        }
    }

    private void CountDropped(string stream)
    {
        Interlocked.Increment(ref _droppedNoReaderTotal);
        Metrics.ExecutorMetrics.Dropped(stream, "no_reader");
        if (!_dropped.TryGetValue(stream, out var counter))
        {
            counter = new DropCounter();
            _dropped[stream] = counter;
        }
        counter.Total++;
        var now = _time.GetUtcNow();
        if (now - counter.LastLogged >= TimeSpan.FromMilliseconds(ExecutorLimits.DroppedLogIntervalMs))
        {
            counter.LastLogged = now;
            RoutingLog.DroppedNoReader(_logger, stream, counter.Total);
        }
    }

    private void CountTooLarge(string stream, int bytes)
    {
        Interlocked.Increment(ref _rejectedTooLargeTotal);
        if (!_tooLarge.TryGetValue(stream, out var counter))
        {
            counter = new DropCounter();
            _tooLarge[stream] = counter;
        }
        counter.Total++;
        var now = _time.GetUtcNow();
        if (now - counter.LastLogged >= TimeSpan.FromMilliseconds(ExecutorLimits.DroppedLogIntervalMs))
        {
            counter.LastLogged = now;
            RoutingLog.RecordTooLarge(_logger, stream, bytes, ProtocolLimits.RecordBytesMax, counter.Total);
        }
    }

    private sealed class DropCounter
    {
        public long Total;
        public DateTimeOffset LastLogged = DateTimeOffset.MinValue;
    }
}
