using Concord.Contracts;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Scheduler.V1;
using Concord.Executor.DataPlane;
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
    private readonly TaskCompletionSource _firstTable = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile RoutingTableView<OutboundChannel> _view = RoutingTableView<OutboundChannel>.Empty;
    private long _droppedNoReaderTotal;

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
    /// for a record the operator should never have produced.
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
        foreach (var produced in done.Produced)
        {
            var record = produced.Record ?? throw new OperatorProtocolException(
                $"the operator produced to stream '{produced.Stream}' without a record in batch {done.Seq}; ProducedRecord.record is required");
            if (!_outputs.Contains(produced.Stream))
            {
                throw new OperatorProtocolException(
                    $"the operator produced to stream '{produced.Stream}', which is not among its metadata outputs [{string.Join(", ", _outputs)}]; add it to metadata() outputs (the SDK should have refused this)");
            }
            var keyValueBytes = record.Key.Length + record.Value.Length;
            if (keyValueBytes > ProtocolLimits.RecordBytesMax)
            {
                throw new OperatorProtocolException(
                    $"the operator produced a record of {keyValueBytes} bytes (key + value) to '{produced.Stream}'; the limit is {ProtocolLimits.RecordBytesMax} (ProtocolLimits.RecordBytesMax): put large payloads in a blob store and send a reference");
            }
            if (!view.TryGetReaders(produced.Stream, out var readers))
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
                    await reader.Targets[slot].EnqueueAsync(record, size, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    foreach (var target in reader.Targets)
                    {
                        await target.EnqueueAsync(record, size, cancellationToken).ConfigureAwait(false);
                    }
                }
            }
        }
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

    private sealed class DropCounter
    {
        public long Total;
        public DateTimeOffset LastLogged = DateTimeOffset.MinValue;
    }
}
