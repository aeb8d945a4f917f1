using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;

namespace Concord.Scheduler.Reconcile;

/// <summary>
/// Hands the newest routing table to every WatchRouting stream. Each watcher has a queue of
/// <see cref="SchedulerLimits.WatcherQueueTablesMax"/> that drops the oldest table, so a slow
/// watcher skips straight to the newest table and never holds memory for the others.
/// </summary>
public sealed class RoutingHub
{
    private readonly Lock _lock = new();
    private readonly HashSet<Channel<RoutingTable>> _watchers = [];
    private RoutingTable _current = new() { Version = 0, KeyGroupCount = ProtocolLimits.KeyGroupCount };

    /// <summary>The newest table.</summary>
    public RoutingTable Current
    {
        get
        {
            lock (_lock)
            {
                return _current;
            }
        }
    }

    /// <summary>Open watch streams.</summary>
    public int WatcherCount
    {
        get
        {
            lock (_lock)
            {
                return _watchers.Count;
            }
        }
    }

    /// <summary>Makes <paramref name="table"/> current and queues it for every watcher.</summary>
    public void Publish(RoutingTable table)
    {
        lock (_lock)
        {
            _current = table;
            foreach (var watcher in _watchers)
            {
                watcher.Writer.TryWrite(table);
            }
        }
    }

    /// <summary>The current table at once, then each newer one, until cancelled.</summary>
    public async IAsyncEnumerable<RoutingTable> WatchAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var channel = Channel.CreateBounded<RoutingTable>(new BoundedChannelOptions(SchedulerLimits.WatcherQueueTablesMax)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
            SingleWriter = false,
        });
        lock (_lock)
        {
            channel.Writer.TryWrite(_current);
            _watchers.Add(channel);
        }
        try
        {
            await foreach (var table in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                yield return table;
            }
        }
        finally
        {
            lock (_lock)
            {
                _watchers.Remove(channel);
            }
        }
    }
}
