using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.Channels;
using Concord.Scheduler.Store.ZooKeeper;
using Concord.ZooKeeper;

namespace Concord.Scheduler.Leadership;

/// <summary>A scheduler as it stands for election: its id and the address others reach it at.</summary>
public sealed record LeaderCandidate(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("address")] string Address);

/// <summary>
/// One term in office: the epoch to fence writes with (<see cref="ZooKeeperTopologyStore.OpenAsync"/>),
/// and a token cancelled when the term ends (the session expired, or was cut off for longer
/// than its timeout, or another scheduler took office).
/// </summary>
public sealed record LeaderTerm(int Epoch, CancellationToken Lost);

public enum LeadershipEventType
{
    /// <summary>This scheduler took office (bumped the epoch).</summary>
    Elected,

    /// <summary>This scheduler is no longer the leader, or will never be (its candidacy ended).</summary>
    Lost,
}

/// <summary>A change of this scheduler's leadership; <see cref="Reason"/> says why, for the log.</summary>
public sealed record LeadershipEvent(LeadershipEventType Type, int Epoch, string Reason);

/// <summary>
/// Leader election among schedulers on ZooKeeper, the recipe of the ZooKeeper documentation:
/// each candidate creates an ephemeral sequential node under <see cref="ZooKeeperLayout.Election"/>
/// (its data: <see cref="LeaderCandidate"/>) and watches only the node just before its own, so
/// a leader's end wakes one successor, not every candidate. The candidate with the lowest node
/// takes office by bumping the epoch node (a setData in one multi with a check that its own
/// node still exists) and keeps the new data version as its fencing token.
/// </summary>
/// <remarks>
/// The term ends — <see cref="LeaderTerm.Lost"/> cancelled and a <see cref="LeadershipEventType.Lost"/>
/// event — when the session expires, when the client has been disconnected for longer than the
/// session timeout (the server has expired the session by then, so another scheduler may lead
/// already, but the client only learns it on reconnecting), when the candidate's node disappears,
/// or when the epoch moves past this term's. An election object ends with its term (or its
/// candidacy): to stand again, dispose it and make a new one (with a new client after an expiry).
/// </remarks>
public sealed class ZooKeeperLeaderElection : IAsyncDisposable
{
    private const string NodePrefix = "n-";

    private readonly ZooKeeperClient _client;
    private readonly ZooKeeperLayout _layout;
    private readonly LeaderCandidate _candidate;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _lost = new();
    private readonly CancellationTokenSource _disposed = new();
    private readonly Channel<LeadershipEvent> _events = Channel.CreateUnbounded<LeadershipEvent>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _monitor;
    private string? _nodePath;
    private int _epoch = -1;
    private int _ended;

    public ZooKeeperLeaderElection(ZooKeeperClient client, ZooKeeperLayout layout, LeaderCandidate candidate, TimeProvider? time = null)
    {
        _client = client;
        _layout = layout;
        _candidate = candidate;
        _time = time ?? TimeProvider.System;
        _monitor = MonitorSessionAsync();
    }

    /// <summary>
    /// Elected and lost, in order: at most one of each per election object, so the channel is
    /// bounded by construction. Completed when the candidacy ends.
    /// </summary>
    public ChannelReader<LeadershipEvent> Events => _events.Reader;

    /// <summary>True while in office.</summary>
    public bool IsLeader => Volatile.Read(ref _epoch) >= 0 && !_lost.IsCancellationRequested;

    /// <summary>Cancelled when the candidacy or the term ends.</summary>
    public CancellationToken Lost => _lost.Token;

    /// <summary>
    /// Stands for election and returns once this scheduler leads. Waits as long as others lead
    /// (bound it with <paramref name="cancellationToken"/>).
    /// </summary>
    /// <exception cref="LeadershipLostException">The candidacy ended (session lost) before winning.</exception>
    public async Task<LeaderTerm> CampaignAsync(CancellationToken cancellationToken)
    {
        if (_nodePath is not null)
        {
            throw new InvalidOperationException("this election object campaigned already; make a new one to stand again");
        }
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _lost.Token);
        try
        {
            await _client.EnsurePathAsync(_layout.Election, linked.Token).ConfigureAwait(false);
            await _client.EnsurePathAsync(_layout.Epoch, linked.Token).ConfigureAwait(false);
            var data = JsonSerializer.SerializeToUtf8Bytes(_candidate);
            _nodePath = (await _client.CreateAsync(_layout.Election + "/" + NodePrefix, data, CreateMode.EphemeralSequential, linked.Token)
                .ConfigureAwait(false)).Path;
            var mine = _nodePath[(_layout.Election.Length + 1)..];
            while (true)
            {
                var candidates = Order(await _client.GetChildrenAsync(_layout.Election, linked.Token).ConfigureAwait(false));
                var index = candidates.IndexOf(mine);
                if (index < 0)
                {
                    throw End($"its election node {_nodePath} is gone (the session ended)");
                }
                if (index == 0)
                {
                    break;
                }
                var predecessor = await _client.ExistsAndWatchAsync(_layout.Election + "/" + candidates[index - 1], linked.Token).ConfigureAwait(false);
                if (predecessor.Value is not null)
                {
                    var change = await predecessor.Changed.WaitAsync(linked.Token).ConfigureAwait(false);
                    if (change.Type is WatchEventType.SessionExpired or WatchEventType.Closed)
                    {
                        throw End("the ZooKeeper session ended while waiting to lead");
                    }
                }
            }
            // Lowest node: take office. The check makes the bump conditional on still holding
            // the node, in one transaction, so a candidate whose session just ended cannot bump.
            var results = await _client.MultiAsync(
                [new ZooKeeperOp.Check(_nodePath, 0), new ZooKeeperOp.SetData(_layout.Epoch, data, ZooKeeperClient.AnyVersion)],
                linked.Token).ConfigureAwait(false);
            var epoch = results[1].Stat!.Version;
            Volatile.Write(ref _epoch, epoch);
            _events.Writer.TryWrite(new LeadershipEvent(LeadershipEventType.Elected, epoch, $"{_candidate.Id} leads with epoch {epoch}"));
            _ = WatchEpochAsync(epoch);
            _ = WatchOwnNodeAsync(_nodePath);
            return new LeaderTerm(epoch, _lost.Token);
        }
        catch (Exception e) when (_lost.IsCancellationRequested && e is OperationCanceledException or ZooKeeperException && !cancellationToken.IsCancellationRequested)
        {
            throw new LeadershipLostException("the candidacy ended before this scheduler could lead: " + LostReason, e);
        }
        catch (ZooKeeperException e) when (e.Code is ZooKeeperError.SessionExpired or ZooKeeperError.InvalidState or ZooKeeperError.Closing)
        {
            throw End($"the ZooKeeper session ended ({e.Code})", e);
        }
    }

    /// <summary>
    /// The leader as its election node says (the lowest candidate), or null when none stands.
    /// What standbys, executors and the CLI use to find where writes go.
    /// </summary>
    public static async Task<LeaderCandidate?> FindLeaderAsync(ZooKeeperClient client, ZooKeeperLayout layout, CancellationToken cancellationToken)
    {
        while (true)
        {
            IReadOnlyList<string> children;
            try
            {
                children = await client.GetChildrenAsync(layout.Election, cancellationToken).ConfigureAwait(false);
            }
            catch (ZooKeeperException e) when (e.Code == ZooKeeperError.NoNode)
            {
                return null;
            }
            var ordered = Order(children);
            if (ordered.Count == 0)
            {
                return null;
            }
            var node = await client.GetAsync(layout.Election + "/" + ordered[0], cancellationToken).ConfigureAwait(false);
            if (node is not null)
            {
                return JsonSerializer.Deserialize<LeaderCandidate>(node.Data);
            }
            // It went between the listing and the read: list again.
        }
    }

    /// <summary>
    /// The leader now (null when none stands), then each time it changes, until
    /// <paramref name="cancellationToken"/> fires or the session ends: how a standby, an agent or
    /// an executor follows the leader to re-register. A lost connection is waited out.
    /// </summary>
    public static async IAsyncEnumerable<LeaderCandidate?> WatchLeaderAsync(ZooKeeperClient client, ZooKeeperLayout layout,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await client.EnsurePathAsync(layout.Election, cancellationToken).ConfigureAwait(false);
        LeaderCandidate? last = null;
        var first = true;
        while (true)
        {
            var (leader, changed) = await LeaderAndWatchAsync(client, layout, cancellationToken).ConfigureAwait(false);
            if (first || leader != last)
            {
                first = false;
                last = leader;
                yield return leader;
            }
            var change = await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
            if (change.Type is WatchEventType.SessionExpired or WatchEventType.Closed)
            {
                yield break;
            }
        }
    }

    /// <summary>The lowest candidate and a watch on the candidates (any change may change the leader).</summary>
    private static async Task<(LeaderCandidate? Leader, Task<WatchEvent> Changed)> LeaderAndWatchAsync(
        ZooKeeperClient client, ZooKeeperLayout layout, CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                var children = await client.GetChildrenAndWatchAsync(layout.Election, cancellationToken).ConfigureAwait(false);
                var ordered = Order(children.Value);
                if (ordered.Count == 0)
                {
                    return (null, children.Changed);
                }
                var node = await client.GetAsync(layout.Election + "/" + ordered[0], cancellationToken).ConfigureAwait(false);
                if (node is not null)
                {
                    return (JsonSerializer.Deserialize<LeaderCandidate>(node.Data), children.Changed);
                }
                // Gone between the listing and the read: the children watch has fired; list again.
            }
            catch (ZooKeeperException e) when (e.Code is ZooKeeperError.ConnectionLoss or ZooKeeperError.OperationTimeout)
            {
                await foreach (var state in client.WatchStateAsync(cancellationToken).ConfigureAwait(false))
                {
                    if (state != ZooKeeperConnectionState.Connecting)
                    {
                        break;
                    }
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed.IsCancellationRequested)
        {
            return;
        }
        await _disposed.CancelAsync().ConfigureAwait(false);
        End("the election was disposed");
        // Step down at once rather than after the session timeout: the next candidate leads now.
        if (_nodePath is { } path && _client.State == ZooKeeperConnectionState.Connected)
        {
            try
            {
                await _client.DeleteAsync(path, ZooKeeperClient.AnyVersion, CancellationToken.None).ConfigureAwait(false);
            }
            catch (ZooKeeperException)
            {
                // Gone already, or the connection went: the session's end removes it.
            }
        }
        try
        {
            await _monitor.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private string LostReason { get; set; } = "";

    /// <summary>Ends the term (or candidacy) once: cancels <see cref="Lost"/> and reports it.</summary>
    private LeadershipLostException End(string reason, Exception? inner = null)
    {
        if (Interlocked.Exchange(ref _ended, 1) == 0)
        {
            LostReason = reason;
            _lost.Cancel();
            _events.Writer.TryWrite(new LeadershipEvent(LeadershipEventType.Lost, Volatile.Read(ref _epoch), reason));
            _events.Writer.TryComplete();
        }
        return new LeadershipLostException("the candidacy ended: " + LostReason, inner);
    }

    /// <summary>Expired, or connecting for longer than the session timeout: the end of the term.</summary>
    private async Task MonitorSessionAsync()
    {
        await Task.Yield();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(_disposed.Token);
        var states = _client.WatchStateAsync(stop.Token).GetAsyncEnumerator(stop.Token);
        Task<bool>? next = null;
        try
        {
            while (true)
            {
                next ??= states.MoveNextAsync().AsTask();
                if (!await next.ConfigureAwait(false))
                {
                    End("the ZooKeeper client was closed");
                    return;
                }
                next = null;
                switch (states.Current)
                {
                    case ZooKeeperConnectionState.Expired:
                        End("the ZooKeeper session expired");
                        return;
                    case ZooKeeperConnectionState.Closed:
                        End("the ZooKeeper client was closed");
                        return;
                    case ZooKeeperConnectionState.Connecting:
                        // The server expires the session after the timeout without hearing
                        // from it; by then another scheduler may lead, so this one stops first.
                        var timeoutMs = Math.Max(_client.SessionTimeoutMs, 1);
                        next = states.MoveNextAsync().AsTask();
                        var timeout = Task.Delay(TimeSpan.FromMilliseconds(timeoutMs), _time, stop.Token);
                        if (await Task.WhenAny(next, timeout).ConfigureAwait(false) == timeout)
                        {
                            End($"disconnected from ZooKeeper for longer than the session timeout ({timeoutMs} ms)");
                            return;
                        }
                        break;
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        finally
        {
            // An async enumerator cannot be disposed with a MoveNext pending: end that first.
            await stop.CancelAsync().ConfigureAwait(false);
            if (next is not null)
            {
                try
                {
                    await next.ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }
            }
            await states.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The epoch moving past this term's means another scheduler took office.</summary>
    private async Task WatchEpochAsync(int epoch)
    {
        try
        {
            while (!_lost.IsCancellationRequested)
            {
                var watched = await _client.GetAndWatchAsync(_layout.Epoch, _lost.Token).ConfigureAwait(false);
                if (watched.Value is null || watched.Value.Stat.Version != epoch)
                {
                    End($"another scheduler took office (epoch {watched.Value?.Stat.Version.ToString() ?? "gone"}, this one's {epoch})");
                    return;
                }
                await watched.Changed.WaitAsync(_lost.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ZooKeeperException or ObjectDisposedException)
        {
            // The session watch ends the term when the session goes; a lost connection is not
            // the end by itself (see MonitorSessionAsync).
            if (e is ZooKeeperException { Code: ZooKeeperError.ConnectionLoss } && !_lost.IsCancellationRequested)
            {
                _ = RetryAfterReconnectAsync(() => WatchEpochAsync(epoch));
            }
        }
    }

    /// <summary>The candidate's own node deleted (by hand, or its session's end) ends the term.</summary>
    private async Task WatchOwnNodeAsync(string path)
    {
        try
        {
            var watched = await _client.ExistsAndWatchAsync(path, _lost.Token).ConfigureAwait(false);
            if (watched.Value is null)
            {
                End($"its election node {path} is gone");
                return;
            }
            var change = await watched.Changed.WaitAsync(_lost.Token).ConfigureAwait(false);
            if (change.Type == WatchEventType.NodeDeleted)
            {
                End($"its election node {path} was deleted");
            }
            else if (change.Type == WatchEventType.NodeDataChanged)
            {
                await WatchOwnNodeAsync(path).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ZooKeeperException or ObjectDisposedException)
        {
            if (e is ZooKeeperException { Code: ZooKeeperError.ConnectionLoss } && !_lost.IsCancellationRequested)
            {
                _ = RetryAfterReconnectAsync(() => WatchOwnNodeAsync(path));
            }
        }
    }

    /// <summary>Waits for the connection to come back (or the term to end), then runs <paramref name="watch"/> again.</summary>
    private async Task RetryAfterReconnectAsync(Func<Task> watch)
    {
        try
        {
            await foreach (var state in _client.WatchStateAsync(_lost.Token).ConfigureAwait(false))
            {
                if (state == ZooKeeperConnectionState.Connected)
                {
                    await watch().ConfigureAwait(false);
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Election node names by their sequence number (the suffix), lowest first.</summary>
    private static List<string> Order(IEnumerable<string> children) =>
        children.Where(c => c.StartsWith(NodePrefix, StringComparison.Ordinal))
            .OrderBy(c => long.TryParse(c.AsSpan(NodePrefix.Length), out var sequence) ? sequence : long.MaxValue)
            .ThenBy(c => c, StringComparer.Ordinal)
            .ToList();
}

/// <summary>The candidacy or term ended; the message says why.</summary>
public sealed class LeadershipLostException(string message, Exception? inner = null) : Exception(message, inner);
