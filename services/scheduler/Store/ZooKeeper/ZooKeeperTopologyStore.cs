using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json.Nodes;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Leadership;
using Concord.ZooKeeper;
using Google.Protobuf;

namespace Concord.Scheduler.Store.ZooKeeper;

/// <summary>
/// The topology in ZooKeeper (layout: <see cref="ZooKeeperLayout"/>), shared by every scheduler
/// of a cluster. An entry's version is the zxid of its last write (its mzxid), so versions are
/// never reused; every write is one multi-op that (1) checks the epoch node still has the
/// version this scheduler took office with — the fence: a deposed leader's write fails as a
/// whole with <see cref="NotLeaderException"/> — (2) creates or sets the entry with the data
/// version read with it — the compare-and-set — and (3) touches the revision node, whose
/// mzxid (the same zxid) is the store revision and whose watch drives <see cref="WatchAsync"/>.
/// </summary>
/// <remarks>
/// A delete writes empty data instead of removing the node: a node's data version then only
/// ever grows, so a compare read before a delete and re-create can never match the new
/// incarnation (ZooKeeper's check only compares data versions, which a re-created node would
/// start again from 0). The cost is one empty node per name ever deployed, bounded by
/// <see cref="ZooKeeperLimits.ChildrenMax"/>.
/// </remarks>
public sealed class ZooKeeperTopologyStore : ITopologyStore
{
    private readonly ZooKeeperClient _client;
    private readonly bool _ownsClient;
    private readonly CancellationTokenSource _disposed = new();

    private ZooKeeperTopologyStore(ZooKeeperClient client, ZooKeeperLayout layout, int epoch, bool ownsClient)
    {
        _client = client;
        Layout = layout;
        _epoch = epoch;
        _ownsClient = ownsClient;
    }

    public ZooKeeperLayout Layout { get; }

    /// <summary>
    /// The epoch (data version of the epoch node) every write of this store is fenced with;
    /// <see cref="NotInOffice"/> while this scheduler is a standby (every write refused).
    /// </summary>
    public int Epoch => Volatile.Read(ref _epoch);

    /// <summary>The epoch of a store whose scheduler does not lead: no write is even sent.</summary>
    public const int NotInOffice = -2;

    private int _epoch;

    /// <summary>
    /// This scheduler took office with <paramref name="epoch"/> (writes are fenced with it from
    /// now on) or, with <see cref="NotInOffice"/>, left it (every write refused at once).
    /// </summary>
    internal void SetEpoch(int epoch) => Volatile.Write(ref _epoch, epoch);

    /// <summary>
    /// Opens the store at <paramref name="layout"/>, creating its nodes when missing, writing as
    /// the leader of <paramref name="epoch"/> (<see cref="LeaderTerm.Epoch"/>).
    /// </summary>
    /// <param name="ownsClient">Dispose <paramref name="client"/> with the store.</param>
    public static async Task<ZooKeeperTopologyStore> OpenAsync(ZooKeeperClient client, ZooKeeperLayout layout, int epoch, bool ownsClient,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(layout);
        // Empty structural nodes only: creating them changes no entry, so it needs no fence.
        foreach (var path in new[] { layout.Operators, layout.Revision, layout.Checkpoints, layout.Epoch })
        {
            await client.EnsurePathAsync(path, cancellationToken).ConfigureAwait(false);
        }
        return new ZooKeeperTopologyStore(client, layout, epoch, ownsClient);
    }

    public async Task<TopologySnapshot> ReadAsync(CancellationToken cancellationToken)
    {
        // The revision first: every entry read after it is at least as new, and the snapshot's
        // revision is the largest seen, so it covers every version in it.
        var revision = await RevisionAsync(cancellationToken).ConfigureAwait(false);
        var names = await ReadRetryingAsync(() => _client.GetChildrenAsync(Layout.Operators, cancellationToken), cancellationToken).ConfigureAwait(false);
        var entries = await Task.WhenAll(names.Select(name => GetAsync(name, cancellationToken))).ConfigureAwait(false);
        var present = entries.OfType<OperatorEntry>().OrderBy(e => e.Name, StringComparer.Ordinal).ToList();
        return new TopologySnapshot(Math.Max(revision, present.Count == 0 ? 0 : present.Max(e => e.Version)), present);
    }

    public async Task<OperatorEntry?> GetAsync(string name, CancellationToken cancellationToken)
    {
        CheckName(name);
        var node = await ReadRetryingAsync(() => _client.GetAsync(Layout.Operator(name), cancellationToken), cancellationToken).ConfigureAwait(false);
        return node is null || node.Data.Length == 0 ? null : Parse(name, node);
    }

    public Task<OperatorEntry?> CompareAndSetAsync(
        string name, long expectedVersion, OperatorSpec? spec, OperatorMetadata? metadata, CancellationToken cancellationToken) =>
        CompareAndSetAsync(name, expectedVersion, spec, metadata, newState: false, cancellationToken);

    public async Task<OperatorEntry?> CompareAndSetAsync(
        string name, long expectedVersion, OperatorSpec? spec, OperatorMetadata? metadata, bool newState, CancellationToken cancellationToken)
    {
        TopologyStoreArguments.ThrowIfInvalid(name, spec);
        CheckName(name);
        cancellationToken.ThrowIfCancellationRequested();
        var path = Layout.Operator(name);
        for (var attempt = 1; ; attempt++)
        {
            var node = await ReadRetryingAsync(() => _client.GetAsync(path, cancellationToken), cancellationToken).ConfigureAwait(false);
            var actual = node is null || node.Data.Length == 0 ? TopologyStoreVersions.Absent : node.Stat.Mzxid;
            if (actual != expectedVersion)
            {
                throw new TopologyConflictException(name, expectedVersion, actual);
            }
            if (spec is null && actual == TopologyStoreVersions.Absent)
            {
                return null;
            }
            // The version of a write is its zxid, known only once it is done: a new state is
            // stored as "since this entry's own version" and resolved when read.
            var keptStateSince = actual == TopologyStoreVersions.Absent ? 0 : Parse(name, node!).StateSince;
            var data = spec is null ? [] : Serialize(name, spec, metadata, newState ? StateSinceOwnVersion : keptStateSince);
            if (data.Length > ZooKeeperLimits.NodeDataBytesMax)
            {
                throw new TopologyTooLargeException(data.Length, ZooKeeperLimits.NodeDataBytesMax, $"the entry of operator '{name}'",
                    "ZooKeeperLimits.NodeDataBytesMax, under ZooKeeper's 1 MiB node limit");
            }
            ZooKeeperOp write = node is null
                ? new ZooKeeperOp.Create(path, data)
                : new ZooKeeperOp.SetData(path, data, node.Stat.Version);
            long version;
            try
            {
                var results = await WriteFencedAsync([write, new ZooKeeperOp.SetData(Layout.Revision, [], ZooKeeperClient.AnyVersion)]).ConfigureAwait(false);
                // Both writes are one transaction: the revision node's new mzxid is the entry's.
                version = results[2].Stat!.Mzxid;
            }
            catch (ZooKeeperMultiException e) when (e.FailedIndex == 1 && e.Code is ZooKeeperError.BadVersion or ZooKeeperError.NodeExists or ZooKeeperError.NoNode
                && attempt < SchedulerLimits.ZooKeeperStoreWriteAttemptsMax)
            {
                // Someone wrote the entry between the read and the write: the re-read reports
                // the conflict with the version found (or, if it is gone again, retries).
                continue;
            }
            catch (ZooKeeperException e) when (IsLostAnswer(e) && attempt < SchedulerLimits.ZooKeeperStoreWriteAttemptsMax)
            {
                // The answer was lost, not necessarily the write (a server went, ZooKeeper
                // elected a new leader): once reconnected, the entry says which. Exactly our
                // bytes at a new version: it landed. Still at the version read: it did not, so
                // the next try sends it again. Anything else is someone else's write.
                await Task.Delay(SchedulerLimits.ZooKeeperStoreRetryDelayMs, cancellationToken).ConfigureAwait(false);
                var after = await ReadRetryingAsync(() => _client.GetAsync(path, cancellationToken), cancellationToken).ConfigureAwait(false);
                var afterVersion = after is null || after.Data.Length == 0 ? TopologyStoreVersions.Absent : after.Stat.Mzxid;
                if (afterVersion == expectedVersion)
                {
                    continue;
                }
                if (after is null || !after.Data.AsSpan().SequenceEqual(data))
                {
                    throw new TopologyConflictException(name, expectedVersion, afterVersion);
                }
                version = after.Stat.Mzxid;
            }
            return spec is null ? null : new OperatorEntry(name, spec.Clone(), metadata?.Clone(), version) { StateSince = newState ? version : keptStateSince };
        }
    }

    public async IAsyncEnumerable<long> WatchAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
        var last = long.MinValue;
        while (true)
        {
            var watched = await WatchRevisionAsync(linked.Token).ConfigureAwait(false);
            var revision = watched.Value?.Stat.Mzxid ?? 0;
            if (revision > last)
            {
                last = revision;
                yield return revision;
            }
            WatchEvent change;
            try
            {
                change = await watched.Changed.WaitAsync(linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_disposed.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                yield break;
            }
            if (change.Type is WatchEventType.Closed or WatchEventType.SessionExpired)
            {
                yield break;
            }
        }
    }

    /// <summary>
    /// The revision node with a watch. A lost connection is waited out (the library reconnects
    /// and sets its watches again): a watcher sees a pause, not an error.
    /// </summary>
    private async Task<Watched<ZNodeData?>> WatchRevisionAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                return await _client.GetAndWatchAsync(Layout.Revision, cancellationToken).ConfigureAwait(false);
            }
            catch (ZooKeeperException e) when (e.Code is ZooKeeperError.ConnectionLoss or ZooKeeperError.OperationTimeout)
            {
                await foreach (var state in _client.WatchStateAsync(cancellationToken).ConfigureAwait(false))
                {
                    if (state != ZooKeeperConnectionState.Connecting)
                    {
                        break;
                    }
                }
            }
        }
    }

    public async Task<IReadOnlyList<CheckpointRecord>> ReadCheckpointsAsync(CancellationToken cancellationToken)
    {
        var node = await ReadRetryingAsync(() => _client.GetAsync(Layout.Checkpoints, cancellationToken), cancellationToken).ConfigureAwait(false);
        return ParseCheckpoints(node);
    }

    public async Task RecordCheckpointAsync(CheckpointRecord completed, IReadOnlyCollection<ulong> forget, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(completed);
        for (var attempt = 1; ; attempt++)
        {
            var node = await ReadRetryingAsync(() => _client.GetAsync(Layout.Checkpoints, cancellationToken), cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"{Layout.Checkpoints} is missing in ZooKeeper at {_client.ConnectString}; restart the scheduler to create it");
            var checkpoints = ParseCheckpoints(node);
            if (checkpoints.Any(c => c.Id == completed.Id))
            {
                throw new ArgumentException($"checkpoint {completed.Id} is already recorded", nameof(completed));
            }
            var next = checkpoints.Where(c => !forget.Contains(c.Id)).Append(completed).OrderBy(c => c.Id).ToList();
            var data = Encoding.UTF8.GetBytes(StoredJson.WriteCheckpoints(next).ToJsonString());
            if (data.Length > ZooKeeperLimits.NodeDataBytesMax)
            {
                throw new TopologyTooLargeException(data.Length, ZooKeeperLimits.NodeDataBytesMax, "the checkpoint records",
                    "ZooKeeperLimits.NodeDataBytesMax, under ZooKeeper's 1 MiB node limit");
            }
            try
            {
                // Not a topology change: the revision node is left alone.
                await WriteFencedAsync([new ZooKeeperOp.SetData(Layout.Checkpoints, data, node.Stat.Version)]).ConfigureAwait(false);
                return;
            }
            catch (ZooKeeperMultiException e) when (e.FailedIndex == 1 && e.Code == ZooKeeperError.BadVersion
                && attempt < SchedulerLimits.ZooKeeperStoreWriteAttemptsMax)
            {
                // Another writer recorded one in between: merge with it.
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
        if (_ownsClient)
        {
            await _client.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Runs <paramref name="writes"/> after a check of the epoch, as one transaction; results
    /// are indexed with the check at 0. Written without a cancellation token: once sent, a write
    /// is reported as it ended, not abandoned half-way in the caller's view.
    /// </summary>
    private async Task<IReadOnlyList<ZooKeeperOpResult>> WriteFencedAsync(IReadOnlyList<ZooKeeperOp> writes)
    {
        var epoch = Epoch;
        if (epoch < 0)
        {
            // A version of -1 would match any epoch in ZooKeeper's check: a standby never sends one.
            throw new NotLeaderException(epoch, -1);
        }
        if (_client.State != ZooKeeperConnectionState.Connected)
        {
            // Sent now, a write could sit in a server's log and be committed once the quorum
            // returns, after its caller was told it failed: not sending it is the only way to
            // say for sure that nothing changed.
            throw new ZooKeeperUnreachableException(_client.ConnectString);
        }
        try
        {
            return await _client.MultiAsync([new ZooKeeperOp.Check(Layout.Epoch, epoch), .. writes], CancellationToken.None).ConfigureAwait(false);
        }
        catch (ZooKeeperMultiException e) when (e.FailedIndex == 0)
        {
            var current = await _client.ExistsAsync(Layout.Epoch, CancellationToken.None).ConfigureAwait(false);
            throw new NotLeaderException(epoch, current?.Version ?? -1);
        }
    }

    /// <summary>A lost connection or a timeout: the call's outcome is unknown, the session may well live on.</summary>
    private static bool IsLostAnswer(ZooKeeperException e) => e.Code is ZooKeeperError.ConnectionLoss or ZooKeeperError.OperationTimeout;

    /// <summary>
    /// A read, tried again while the connection is lost (a server went, or the ensemble is
    /// electing its leader, which drops every client for a moment): reads change nothing, so a
    /// lost answer is simply asked again, up to <see cref="SchedulerLimits.ZooKeeperStoreReadAttemptsMax"/> times.
    /// </summary>
    private static async Task<T> ReadRetryingAsync<T>(Func<Task<T>> read, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await read().ConfigureAwait(false);
            }
            catch (ZooKeeperException e) when (IsLostAnswer(e) && attempt < SchedulerLimits.ZooKeeperStoreReadAttemptsMax)
            {
                await Task.Delay(SchedulerLimits.ZooKeeperStoreRetryDelayMs, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task<long> RevisionAsync(CancellationToken cancellationToken) =>
        (await ReadRetryingAsync(() => _client.ExistsAsync(Layout.Revision, cancellationToken), cancellationToken).ConfigureAwait(false))?.Mzxid
        ?? throw new InvalidOperationException($"{Layout.Revision} is missing in ZooKeeper at {_client.ConnectString}; restart the scheduler to create it");

    /// <summary>Names become one path segment: nothing that would make another path (or none).</summary>
    private static void CheckName(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name is "." or ".." || name.Contains('/') || name.Any(char.IsControl))
        {
            throw new ArgumentException($"operator name '{name}' cannot be a ZooKeeper node name (no '/', control characters, '.' or '..')", nameof(name));
        }
    }

    /// <summary>Stored "state_since" of an entry whose state starts at its own write (ITopologyStore's newState).</summary>
    private const long StateSinceOwnVersion = -1;

    // No "version": the node's zxid is the entry's version.
    private static byte[] Serialize(string name, OperatorSpec spec, OperatorMetadata? metadata, long stateSince) =>
        Encoding.UTF8.GetBytes(StoredJson.WriteEntry(name, version: null, spec, metadata, stateSince).ToJsonString());

    private OperatorEntry Parse(string name, ZNodeData node)
    {
        try
        {
            var item = JsonNode.Parse(node.Data)!.AsObject();
            var (spec, metadata) = StoredJson.ReadSpecAndMetadata(item);
            if (spec.Name != name)
            {
                throw new InvalidDataException($"its spec is named '{spec.Name}'");
            }
            var stateSince = item["state_since"]?.GetValue<long>() ?? 0;
            return new OperatorEntry(name, spec, metadata, node.Stat.Mzxid) { StateSince = stateSince == StateSinceOwnVersion ? node.Stat.Mzxid : stateSince };
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or InvalidDataException or InvalidProtocolBufferException or NullReferenceException)
        {
            throw new InvalidDataException(
                $"{Layout.Operator(name)} in ZooKeeper at {_client.ConnectString} is not an operator entry ({e.Message}); fix or delete that node", e);
        }
    }

    private IReadOnlyList<CheckpointRecord> ParseCheckpoints(ZNodeData? node)
    {
        if (node is null || node.Data.Length == 0)
        {
            return [];
        }
        try
        {
            return StoredJson.ReadCheckpoints(JsonNode.Parse(node.Data)!.AsArray());
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or NullReferenceException or FormatException)
        {
            throw new InvalidDataException(
                $"{Layout.Checkpoints} in ZooKeeper at {_client.ConnectString} is not a list of checkpoints ({e.Message}); fix or empty that node", e);
        }
    }
}
