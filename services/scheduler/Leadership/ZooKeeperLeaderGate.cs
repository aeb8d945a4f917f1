using Concord.Scheduler.Store.ZooKeeper;
using Concord.ZooKeeper;
using Microsoft.Extensions.Logging;

namespace Concord.Scheduler.Leadership;

/// <summary>
/// The gate of <c>--store zookeeper</c>: the scheduler serves at once as a standby, stands for
/// election (<see cref="ZooKeeperLeaderElection"/>) once it knows its address, and opens the gate
/// when it takes office: the store's writes are fenced with the term's epoch from then on. When
/// the term ends the gate closes at once (the store refuses writes before sending any) and the
/// scheduler stays a standby naming the new leader; it stands again only after a restart (one
/// term per process: the reconcile state of a term is not reset in place).
/// </summary>
public sealed partial class ZooKeeperLeaderGate : ILeaderGate, IAsyncDisposable
{
    private readonly ZooKeeperClient _client;
    private readonly ZooKeeperLayout _layout;
    private readonly string _id;
    private readonly ILogger? _logger;
    private readonly CancellationTokenSource _disposed = new();
    private readonly Lock _lock = new();
    private ZooKeeperTopologyStore? _store;
    private ZooKeeperLeaderElection? _election;
    private LeaderCandidate? _leader;
    private Task? _watch;
    private Task? _events;
    private int _termEpoch = ZooKeeperTopologyStore.NotInOffice;

    private ZooKeeperLeaderGate(ZooKeeperClient client, ZooKeeperLayout layout, string id, ILogger? logger)
    {
        _client = client;
        _layout = layout;
        _id = id;
        _logger = logger;
        _watch = FollowLeaderAsync();
    }

    /// <summary>Connects to the ensemble at <paramref name="connectString"/> (blocks until the session is up).</summary>
    public static async Task<ZooKeeperLeaderGate> ConnectAsync(string connectString, ZooKeeperLayout layout, string id, int sessionTimeoutMs,
        ILogger? logger, CancellationToken cancellationToken)
    {
        var client = await ZooKeeperClient.ConnectAsync(
            new ZooKeeperClientOptions { ConnectString = connectString, SessionTimeoutMs = sessionTimeoutMs }, cancellationToken).ConfigureAwait(false);
        return new ZooKeeperLeaderGate(client, layout, id, logger);
    }

    /// <summary>The session this scheduler stands and stores with (owned by the gate).</summary>
    public ZooKeeperClient Client => _client;

    public bool Elects => true;

    public bool IsLeader => _election is { IsLeader: true };

    public CancellationToken TermLost => _election?.Lost ?? CancellationToken.None;

    /// <summary>The leader as last seen in ZooKeeper (null when none stands or not known yet).</summary>
    public LeaderCandidate? Leader => Volatile.Read(ref _leader);

    public string? LeaderAddress => Leader?.Address;

    public string StandbyMessage =>
        _client.State != ZooKeeperConnectionState.Connected
            ? $"{Hosting.LeaderRedirect.StandbyPrefix} and cannot reach ZooKeeper at {_client.ConnectString} (servers down, or no quorum): no change can be made until it can; running instances keep running"
            : Leader is { } leader && leader.Id != _id
                ? $"{Hosting.LeaderRedirect.StandbyPrefix}; {ILeaderGate.LeaderMarker}{leader.Address}"
                : $"{Hosting.LeaderRedirect.StandbyPrefix} and no scheduler leads right now (an election is under way); retry in a few seconds";

    /// <summary>The store whose writes this gate fences: it writes with the term's epoch while in office, never otherwise.</summary>
    internal void Attach(ZooKeeperTopologyStore store)
    {
        lock (_lock)
        {
            _store = store;
            store.SetEpoch(IsLeader ? _termEpoch : ZooKeeperTopologyStore.NotInOffice);
        }
    }

    public async Task<LeaderTerm> LeadAsync(string address, CancellationToken cancellationToken)
    {
        var candidate = new LeaderCandidate(_id, address);
        var election = new ZooKeeperLeaderElection(_client, _layout, candidate);
        lock (_lock)
        {
            if (_election is not null)
            {
                throw new InvalidOperationException("this scheduler stood for election already; restart it to stand again");
            }
            _election = election;
        }
        if (_logger is not null)
        {
            LogCampaign(_logger, candidate.Id, address, _client.ConnectString);
            _events = LogEventsAsync(election, _logger);
        }
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
        var term = await election.CampaignAsync(linked.Token).ConfigureAwait(false);
        lock (_lock)
        {
            _termEpoch = term.Epoch;
            _store?.SetEpoch(term.Epoch);
        }
        // Runs inside the cancellation of the term (synchronously, before anyone sees it ended):
        // the store refuses writes from the instant the term is over.
        term.Lost.Register(() =>
        {
            lock (_lock)
            {
                _store?.SetEpoch(ZooKeeperTopologyStore.NotInOffice);
            }
        });
        return term;
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed.IsCancellationRequested)
        {
            return;
        }
        await _disposed.CancelAsync().ConfigureAwait(false);
        if (_election is { } election)
        {
            await election.DisposeAsync().ConfigureAwait(false);
        }
        foreach (var task in new[] { _watch, _events })
        {
            if (task is not null)
            {
                await task.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
        await _client.DisposeAsync().ConfigureAwait(false);
        _disposed.Dispose();
    }

    /// <summary>Keeps <see cref="Leader"/> current, for the standby's refusals.</summary>
    private async Task FollowLeaderAsync()
    {
        await Task.Yield();
        try
        {
            await foreach (var leader in ZooKeeperLeaderElection.WatchLeaderAsync(_client, _layout, _disposed.Token).ConfigureAwait(false))
            {
                Volatile.Write(ref _leader, leader);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ZooKeeperException or ObjectDisposedException)
        {
            // Disposed, or the session ended: the refusals then say no leader is known.
            Volatile.Write(ref _leader, null);
        }
    }

    private static async Task LogEventsAsync(ZooKeeperLeaderElection election, ILogger logger)
    {
        await foreach (var change in election.Events.ReadAllAsync().ConfigureAwait(false))
        {
            if (change.Type == LeadershipEventType.Elected)
            {
                LogElected(logger, change.Epoch);
            }
            else
            {
                LogLost(logger, change.Epoch, change.Reason);
            }
        }
    }

    [LoggerMessage(EventId = 420, Level = LogLevel.Information, Message = "Standing for election as {Candidate} ({Address}) on ZooKeeper {Servers}; serving as a standby until it leads")]
    private static partial void LogCampaign(ILogger logger, string candidate, string address, string servers);

    [LoggerMessage(EventId = 421, Level = LogLevel.Information, Message = "Leading with epoch {Epoch}")]
    private static partial void LogElected(ILogger logger, int epoch);

    [LoggerMessage(EventId = 422, Level = LogLevel.Error, Message = "No longer the leader (epoch {Epoch}): {Reason}; this scheduler stopped acting at once and is a standby now (restart it to stand again)")]
    private static partial void LogLost(ILogger logger, int epoch, string reason);
}
