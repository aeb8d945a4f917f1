using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Concord.Contracts.Scheduler.V1;
using Concord.Scheduler.Checkpoints;
using Concord.Scheduler.Observability;
using Concord.Scheduler.Reconcile;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Logging;

namespace Concord.Scheduler.Dashboard.Internal;

/// <summary>
/// The one producer of dashboard snapshots. A snapshot is computed at most once per interval
/// whatever the number of dashboards (a scrape of every running executor, as `concord top`
/// does, plus list, graph and checkpoints), serialised once, and the same bytes are handed to
/// every event-stream subscriber. The push loop runs only while someone subscribes. Each
/// subscriber has a one-slot drop-oldest buffer: a slow browser skips snapshots, it never
/// queues them. The history ring (one point per computation per operator) is kept here too.
/// </summary>
internal sealed partial class DashboardFeed(
    Reconciler reconciler,
    ObservabilityQueries queries,
    CheckpointCoordinator checkpoints,
    Leadership.ILeaderGate gate,
    IServer server,
    SchedulerOptions options,
    SchedulerTls tls,
    DashboardTuning tuning,
    ILogger<DashboardFeed> logger) : IAsyncDisposable
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private static readonly byte[] EventPrefix = "event: snapshot\ndata: "u8.ToArray();
    private static readonly byte[] EventSuffix = "\n\n"u8.ToArray();

    private readonly SemaphoreSlim _compute = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _lock = new();
    private readonly HashSet<Subscriber> _subscribers = [];
    private readonly Dictionary<string, Queue<HistoryPoint>> _history = new(StringComparer.Ordinal);
    private Task? _producer;
    private Published? _latest;
    private (GetInstanceMetricsResponse Scrape, long Tick)? _previousScrape;
    private string? _address;
    private int _computations;

    /// <summary>A computed snapshot, its event-stream bytes, and when (Environment.TickCount64) it was computed.</summary>
    public sealed record Published(DashboardSnapshot Snapshot, byte[] EventBytes, long Tick);

    /// <summary>Snapshots computed so far (tests: the cost must not grow with subscribers).</summary>
    public int Computations => Volatile.Read(ref _computations);

    public int SubscriberCount
    {
        get
        {
            lock (_lock)
            {
                return _subscribers.Count;
            }
        }
    }

    /// <summary>The push loop while it runs, else null (tests await its end once nobody listens).</summary>
    public Task? Producer
    {
        get
        {
            lock (_lock)
            {
                return _producer is { IsCompleted: false } running ? running : null;
            }
        }
    }

    /// <summary>The most snapshots any subscriber has waiting (tests: never above <see cref="DashboardLimits.EventStreamBufferSnapshots"/>).</summary>
    public int MaxPending
    {
        get
        {
            lock (_lock)
            {
                return _subscribers.Count == 0 ? 0 : _subscribers.Max(s => s.Pending);
            }
        }
    }

    /// <summary>
    /// The latest snapshot if younger than <paramref name="maxAge"/>, else a new one (one
    /// computation at a time; concurrent callers share it).
    /// </summary>
    public async Task<Published> CurrentAsync(TimeSpan maxAge, CancellationToken cancellationToken)
    {
        if (Fresh(maxAge) is { } fresh)
        {
            return fresh;
        }
        await _compute.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return Fresh(maxAge) ?? await ComputeAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _compute.Release();
        }
    }

    private Published? Fresh(TimeSpan maxAge) =>
        Volatile.Read(ref _latest) is { } latest && Environment.TickCount64 - latest.Tick < maxAge.TotalMilliseconds ? latest : null;

    private async Task<Published> ComputeAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _computations);
        var operators = await reconciler.ListAsync(cancellationToken).ConfigureAwait(false);
        var graph = await reconciler.GraphAsync(cancellationToken).ConfigureAwait(false);
        var scrape = await queries.InstanceMetricsAsync(new GetInstanceMetricsRequest(), cancellationToken).ConfigureAwait(false);
        var tick = Environment.TickCount64;
        var before = _previousScrape is { } previous && tick - previous.Tick <= DashboardLimits.RateBaselineAgeMaxMs ? previous.Scrape : null;
        _previousScrape = (scrape, tick);
        ListCheckpointsResponse? checkpointList = null;
        if (SnapshotBuilder.HasGuarantee(operators) && !reconciler.IsStandby)
        {
            try
            {
                checkpointList = await checkpoints.ListAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (ReconcileException e)
            {
                // A term ending meanwhile: the snapshot goes out without checkpoints.
                LogCheckpointsUnavailable(e.Message);
            }
        }
        var address = Address();
        var scheduler = new SchedulerView(address, gate.LeaderAddress ?? address, reconciler.IsStandby);
        var snapshot = SnapshotBuilder.Build(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), scheduler, operators, graph.Edges, before, scrape, checkpointList);
        Record(snapshot);
        var json = JsonSerializer.SerializeToUtf8Bytes(snapshot, Json);
        var bytes = new byte[EventPrefix.Length + json.Length + EventSuffix.Length];
        EventPrefix.CopyTo(bytes, 0);
        json.CopyTo(bytes, EventPrefix.Length);
        EventSuffix.CopyTo(bytes, EventPrefix.Length + json.Length);
        var published = new Published(snapshot, bytes, tick);
        Volatile.Write(ref _latest, published);
        return published;
    }

    /// <summary>This scheduler's address as clients dial it (as scheduler.json says).</summary>
    private string Address()
    {
        if (_address is { } known)
        {
            return known;
        }
        var bound = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault();
        if (bound is null)
        {
            return "";
        }
        var port = options.AdvertisePort ?? new Uri(bound).Port;
        return _address = $"{tls.Scheme}://{Hosting.NetworkAddress.Format(options.AdvertisedHost, port)}";
    }

    // ================================ history ================================

    private void Record(DashboardSnapshot snapshot)
    {
        lock (_history)
        {
            var names = snapshot.Operators.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
            foreach (var gone in _history.Keys.Where(n => !names.Contains(n)).ToList())
            {
                _history.Remove(gone); // killed: its history goes with it
            }
            foreach (var op in snapshot.Operators)
            {
                if (!_history.TryGetValue(op.Name, out var ring))
                {
                    _history[op.Name] = ring = new Queue<HistoryPoint>();
                }
                while (ring.Count >= DashboardLimits.HistoryPointsMax)
                {
                    ring.Dequeue();
                }
                ring.Enqueue(new HistoryPoint(snapshot.TakenUnixMs, op.RecordsInPerSec, op.RecordsOutPerSec));
            }
        }
    }

    public Dictionary<string, HistoryPoint[]> History()
    {
        lock (_history)
        {
            return _history.ToDictionary(h => h.Key, h => h.Value.ToArray(), StringComparer.Ordinal);
        }
    }

    // ================================ subscribers ================================

    /// <summary>A new subscriber, or null when <see cref="DashboardLimits.EventStreamsMax"/> are open. Starts the push loop if idle.</summary>
    public Subscriber? Subscribe()
    {
        lock (_lock)
        {
            if (_subscribers.Count >= DashboardLimits.EventStreamsMax || _stopping.IsCancellationRequested)
            {
                return null;
            }
            var subscriber = new Subscriber();
            _subscribers.Add(subscriber);
            if (_producer is null or { IsCompleted: true })
            {
                _producer = Task.Run(ProduceAsync);
            }
            return subscriber;
        }
    }

    public void Unsubscribe(Subscriber subscriber)
    {
        lock (_lock)
        {
            _subscribers.Remove(subscriber);
        }
        subscriber.Complete();
    }

    private async Task ProduceAsync()
    {
        // Half an interval: a snapshot a page load computed just before is reused, not repeated.
        var reuse = tuning.PushInterval / 2;
        while (true)
        {
            try
            {
                await Task.Delay(tuning.PushInterval, _stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            Subscriber[] targets;
            lock (_lock)
            {
                if (_subscribers.Count == 0)
                {
                    _producer = null; // idle until the next subscriber
                    return;
                }
                targets = [.. _subscribers];
            }
            Published published;
            try
            {
                published = await CurrentAsync(reuse, _stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // Whatever went wrong (a term ending, ZooKeeper without quorum...), the next
                // interval tries again; the dashboards keep the last snapshot meanwhile.
                LogSnapshotFailed(e.Message);
                continue;
            }
            foreach (var subscriber in targets)
            {
                subscriber.Offer(published.EventBytes);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        Task? producer;
        lock (_lock)
        {
            producer = _producer;
            foreach (var subscriber in _subscribers)
            {
                subscriber.Complete();
            }
        }
        if (producer is not null)
        {
            await producer.ConfigureAwait(false);
        }
        // _stopping is not disposed: a late Subscribe during shutdown still reads its token.
    }

    /// <summary>One event stream's buffer: <see cref="DashboardLimits.EventStreamBufferSnapshots"/> slot, the newest wins.</summary>
    public sealed class Subscriber
    {
        private readonly Channel<byte[]> _buffer = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(DashboardLimits.EventStreamBufferSnapshots)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
            SingleWriter = true,
        });

        public ChannelReader<byte[]> Reader => _buffer.Reader;

        /// <summary>Snapshots waiting to be written (at most <see cref="DashboardLimits.EventStreamBufferSnapshots"/>).</summary>
        public int Pending => _buffer.Reader.Count;

        public void Offer(byte[] eventBytes) => _buffer.Writer.TryWrite(eventBytes);

        public void Complete() => _buffer.Writer.TryComplete();
    }

    [LoggerMessage(EventId = 1700, Level = LogLevel.Warning, Message = "Dashboard snapshot failed, retrying next interval: {Reason}")]
    private partial void LogSnapshotFailed(string reason);

    [LoggerMessage(EventId = 1701, Level = LogLevel.Debug, Message = "Dashboard snapshot without checkpoints: {Reason}")]
    private partial void LogCheckpointsUnavailable(string reason);
}

/// <summary>The dashboard's timing; a singleton tests replace to run faster than <see cref="DashboardLimits.PushIntervalMs"/>.</summary>
internal sealed class DashboardTuning
{
    public TimeSpan PushInterval { get; init; } = TimeSpan.FromMilliseconds(DashboardLimits.PushIntervalMs);

    public TimeSpan KeepAlive { get; init; } = TimeSpan.FromMilliseconds(DashboardLimits.KeepAliveMs);

    public TimeSpan SnapshotReuse { get; init; } = TimeSpan.FromMilliseconds(DashboardLimits.SnapshotReuseMs);
}
