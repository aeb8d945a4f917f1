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
/// <remarks>
/// It also knows which table each watcher has taken (written to its stream), so a change that
/// routes away from instances can wait until every sender has been told before stopping them
/// (<see cref="WaitDeliveredAsync"/>). Until the first table is published (version 0), a
/// watcher gets nothing: a scheduler re-adopting executors after a restart holds every table
/// back until they have registered, so nobody is told that its peers have no address.
/// </remarks>
public sealed class RoutingHub
{
    private readonly Lock _lock = new();
    private readonly HashSet<Watcher> _watchers = [];
    private RoutingTable _current = new() { Version = 0, KeyGroupCount = ProtocolLimits.KeyGroupCount };
    private TaskCompletionSource _delivered = NewSignal();

    /// <summary>The newest table; version 0 until the first is published.</summary>
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
                watcher.Queue.Writer.TryWrite(table);
            }
        }
    }

    /// <summary>
    /// Completes when every watcher open now has taken a table of at least
    /// <paramref name="version"/> (or has gone), or after <paramref name="timeout"/>, whichever
    /// is first. Returns whether all had taken it.
    /// </summary>
    public async Task<bool> WaitDeliveredAsync(long version, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + timeout;
        while (true)
        {
            Task signal;
            lock (_lock)
            {
                if (_watchers.All(w => w.Delivered >= version))
                {
                    return true;
                }
                signal = _delivered.Task;
            }
            var left = deadline - time.GetUtcNow();
            if (left <= TimeSpan.Zero)
            {
                return false;
            }
            try
            {
                await signal.WaitAsync(left, time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return false;
            }
        }
    }

    /// <summary>The current table at once (once there is one), then each newer one, until cancelled.</summary>
    public async IAsyncEnumerable<RoutingTable> WatchAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var watcher = new Watcher(Channel.CreateBounded<RoutingTable>(new BoundedChannelOptions(SchedulerLimits.WatcherQueueTablesMax)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
            SingleWriter = false,
        }));
        lock (_lock)
        {
            if (_current.Version > 0)
            {
                watcher.Queue.Writer.TryWrite(_current);
            }
            // A new watcher has not taken anything yet, but it will get the current table
            // first: waiting for it to "take" an older version would only wait for nothing.
            watcher.Delivered = _current.Version;
            _watchers.Add(watcher);
        }
        try
        {
            await foreach (var table in watcher.Queue.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                yield return table;
                // The consumer came back for the next one: this table is written to its stream.
                lock (_lock)
                {
                    watcher.Delivered = Math.Max(watcher.Delivered, table.Version);
                    SignalLocked();
                }
            }
        }
        finally
        {
            lock (_lock)
            {
                _watchers.Remove(watcher);
                SignalLocked();
            }
        }
    }

    private void SignalLocked()
    {
        _delivered.TrySetResult();
        _delivered = NewSignal();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private sealed class Watcher(Channel<RoutingTable> queue)
    {
        public Channel<RoutingTable> Queue { get; } = queue;

        /// <summary>Newest table version written to this watcher's stream.</summary>
        public long Delivered { get; set; }
    }
}
