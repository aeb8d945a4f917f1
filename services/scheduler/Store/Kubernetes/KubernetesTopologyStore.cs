using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Leadership;
using Concord.Scheduler.Runtime.Kubernetes;
using Google.Protobuf;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Concord.Scheduler.Store.Kubernetes;

/// <summary>
/// The topology in Kubernetes ConfigMaps (layout: <see cref="KubernetesStoreLayout"/>): one
/// ConfigMap for the topology, one key per operator, and one for the checkpoint records. Every
/// write is a replace of one ConfigMap conditioned on the resourceVersion read with it — the
/// compare-and-set — and carries this scheduler's term in an annotation. The fence: a write is
/// made only when the ConfigMap's term is not newer than this scheduler's, and a new leader
/// writes its term into both ConfigMaps before it acts (<see cref="ClaimAsync"/>), so a deposed
/// leader's late write meets a changed resourceVersion (409 Conflict), re-reads, finds the newer
/// term and fails with <see cref="NotLeaderException"/>.
/// </summary>
/// <remarks>
/// Versions: the topology ConfigMap's revision annotation counts every write; an entry's version
/// is the revision of its last write, so versions only grow and are never reused, deletes
/// included. One ConfigMap holds the whole topology, so a write replaces it whole; it is refused
/// past <see cref="KubernetesLimits.ConfigMapBytesMax"/>, under Kubernetes' 1 MiB per object.
/// </remarks>
public sealed partial class KubernetesTopologyStore : ITopologyStore
{
    private readonly IKubernetes _client;
    private readonly bool _ownsClient;
    private readonly int _pollMs;
    private readonly SemaphoreSlim _writes = new(1, 1);
    private readonly CancellationTokenSource _disposed = new();
    private readonly Lock _lock = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _latest = long.MinValue;
    private Task? _poller;
    private long _term;

    private KubernetesTopologyStore(IKubernetes client, KubernetesStoreLayout layout, long term, bool ownsClient, int pollMs)
    {
        _client = client;
        Layout = layout;
        _term = term;
        _ownsClient = ownsClient;
        _pollMs = pollMs;
    }

    /// <summary>The term of a store whose scheduler does not lead: no write is even sent.</summary>
    public const long NotInOffice = -2;

    public KubernetesStoreLayout Layout { get; }

    /// <summary>The term every write is fenced with; <see cref="NotInOffice"/> while a standby.</summary>
    public long Term => Volatile.Read(ref _term);

    /// <summary>This scheduler took office with <paramref name="term"/>, or (<see cref="NotInOffice"/>) left it: every write refused at once.</summary>
    internal void SetTerm(long term) => Volatile.Write(ref _term, term);

    /// <summary>
    /// A store on <paramref name="layout"/> writing as the leader of <paramref name="term"/>
    /// (<see cref="NotInOffice"/> for a standby). Sends nothing: the ConfigMaps are made by the
    /// first leader's <see cref="ClaimAsync"/>; until then the topology reads as empty.
    /// </summary>
    /// <param name="ownsClient">Dispose <paramref name="client"/> with the store.</param>
    /// <param name="pollMs">How often a watch looks for other processes' changes (<see cref="KubernetesLimits.StorePollMs"/>).</param>
    public static KubernetesTopologyStore Open(IKubernetes client, KubernetesStoreLayout layout, long term, bool ownsClient, int pollMs = KubernetesLimits.StorePollMs)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(layout);
        return new KubernetesTopologyStore(client, layout, term, ownsClient, pollMs);
    }

    /// <summary>
    /// Takes the store for <paramref name="term"/> before the new leader acts: creates the
    /// ConfigMaps when missing and writes the term into both, each conditioned on the
    /// resourceVersion read, so any write a deposed leader read before now fails with 409.
    /// </summary>
    /// <exception cref="NotLeaderException">A ConfigMap already carries a newer term: another scheduler leads.</exception>
    public async Task ClaimAsync(long term, CancellationToken cancellationToken)
    {
        foreach (var name in new[] { Layout.TopologyName, Layout.CheckpointsName })
        {
            for (var attempt = 1; ; attempt++)
            {
                var map = await ReadMapAsync(name, cancellationToken).ConfigureAwait(false);
                try
                {
                    if (map is null)
                    {
                        var created = NewMap(name);
                        SetAnnotation(created, KubernetesStoreLayout.TermAnnotation, term);
                        await Call(token => _client.CoreV1.CreateNamespacedConfigMapAsync(created, Layout.Namespace, cancellationToken: token), cancellationToken)
                            .ConfigureAwait(false);
                        break;
                    }
                    var stored = Annotation(map, KubernetesStoreLayout.TermAnnotation);
                    if (stored > term)
                    {
                        throw new NotLeaderException(term, stored);
                    }
                    SetAnnotation(map, KubernetesStoreLayout.TermAnnotation, term);
                    await Call(token => _client.CoreV1.ReplaceNamespacedConfigMapAsync(map, name, Layout.Namespace, cancellationToken: token), cancellationToken)
                        .ConfigureAwait(false);
                    break;
                }
                catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict && attempt < KubernetesLimits.StoreWriteAttemptsMax)
                {
                    // Created or changed in between (a late write of the deposed leader): read again.
                }
            }
        }
    }

    /// <summary>The newest term either ConfigMap carries (0 when none): a new term must be above it.</summary>
    public async Task<long> HighestTermAsync(CancellationToken cancellationToken)
    {
        var topology = await ReadMapAsync(Layout.TopologyName, cancellationToken).ConfigureAwait(false);
        var checkpoints = await ReadMapAsync(Layout.CheckpointsName, cancellationToken).ConfigureAwait(false);
        return Math.Max(
            topology is null ? 0 : Annotation(topology, KubernetesStoreLayout.TermAnnotation),
            checkpoints is null ? 0 : Annotation(checkpoints, KubernetesStoreLayout.TermAnnotation));
    }

    public async Task<TopologySnapshot> ReadAsync(CancellationToken cancellationToken)
    {
        var map = await ReadMapAsync(Layout.TopologyName, cancellationToken).ConfigureAwait(false);
        if (map is null)
        {
            return new TopologySnapshot(0, []);
        }
        var entries = Entries(map).Values.OrderBy(e => e.Name, StringComparer.Ordinal).ToList();
        return new TopologySnapshot(Annotation(map, KubernetesStoreLayout.RevisionAnnotation), entries);
    }

    public async Task<OperatorEntry?> GetAsync(string name, CancellationToken cancellationToken)
    {
        var key = Key(name);
        var map = await ReadMapAsync(Layout.TopologyName, cancellationToken).ConfigureAwait(false);
        return map?.Data?.TryGetValue(key, out var json) == true ? Parse(name, json) : null;
    }

    public Task<OperatorEntry?> CompareAndSetAsync(
        string name, long expectedVersion, OperatorSpec? spec, OperatorMetadata? metadata, CancellationToken cancellationToken) =>
        CompareAndSetAsync(name, expectedVersion, spec, metadata, newState: false, cancellationToken);

    public async Task<OperatorEntry?> CompareAndSetAsync(
        string name, long expectedVersion, OperatorSpec? spec, OperatorMetadata? metadata, bool newState, CancellationToken cancellationToken)
    {
        TopologyStoreArguments.ThrowIfInvalid(name, spec);
        var key = Key(name);
        cancellationToken.ThrowIfCancellationRequested();
        // One write at a time from this process: its writes would only 409 each other.
        await _writes.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                var term = CheckInOffice();
                var map = await ReadMapAsync(Layout.TopologyName, CancellationToken.None).ConfigureAwait(false) ?? throw Missing(Layout.TopologyName);
                CheckTerm(map, term);
                var entries = Entries(map);
                var current = entries.GetValueOrDefault(name);
                var actual = current?.Version ?? TopologyStoreVersions.Absent;
                if (actual != expectedVersion)
                {
                    throw new TopologyConflictException(name, expectedVersion, actual);
                }
                if (spec is null && current is null)
                {
                    return null;
                }
                var revision = Annotation(map, KubernetesStoreLayout.RevisionAnnotation) + 1;
                OperatorEntry? written = null;
                map.Data ??= new Dictionary<string, string>();
                if (spec is null)
                {
                    map.Data.Remove(key);
                }
                else
                {
                    written = new OperatorEntry(name, spec.Clone(), metadata?.Clone(), revision) { StateSince = newState ? revision : current?.StateSince ?? 0 };
                    map.Data[key] = Serialize(written);
                }
                SetAnnotation(map, KubernetesStoreLayout.RevisionAnnotation, revision);
                SetAnnotation(map, KubernetesStoreLayout.TermAnnotation, term);
                CheckSize(map, $"the topology ConfigMap {Layout.TopologyName}");
                if (await ReplaceAsync(map, attempt).ConfigureAwait(false))
                {
                    Publish(revision);
                    return written;
                }
            }
        }
        finally
        {
            _writes.Release();
        }
    }

    public async IAsyncEnumerable<long> WatchAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
        EnsurePolling();
        var last = long.MinValue;
        while (true)
        {
            Task changed;
            long latest;
            lock (_lock)
            {
                changed = _changed.Task;
                latest = _latest;
            }
            if (last == long.MinValue)
            {
                // The first answer is read now, not taken from the poller: it is the current revision.
                long? current;
                try
                {
                    current = await PollRevisionAsync(linked.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (_disposed.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                {
                    yield break;
                }
                if (current is { } revision)
                {
                    Publish(revision);
                    latest = Math.Max(latest, revision);
                }
                else
                {
                    latest = long.MinValue;
                }
            }
            if (latest > last)
            {
                last = latest;
                yield return latest;
                continue;
            }
            try
            {
                // This process's writes wake the watch at once; others' when the poller sees them.
                await changed.WaitAsync(TimeSpan.FromMilliseconds(last == long.MinValue ? _pollMs : Timeout.Infinite), linked.Token).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
            }
            catch (OperationCanceledException) when (_disposed.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                yield break;
            }
        }
    }

    /// <summary>
    /// One poller per store, however many watches: reads the topology ConfigMap every poll
    /// period while the store is open and publishes a newer revision to every watch.
    /// </summary>
    private void EnsurePolling()
    {
        lock (_lock)
        {
            _poller ??= Task.Run(async () =>
            {
                while (!_disposed.IsCancellationRequested)
                {
                    try
                    {
                        await Task.Delay(_pollMs, _disposed.Token).ConfigureAwait(false);
                        if (await PollRevisionAsync(_disposed.Token).ConfigureAwait(false) is { } revision)
                        {
                            Publish(revision);
                        }
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                }
            });
        }
    }

    /// <summary>A revision seen or written: wakes every watch when it is newer than any before.</summary>
    private void Publish(long revision)
    {
        lock (_lock)
        {
            if (revision <= _latest)
            {
                return;
            }
            _latest = revision;
            _changed.TrySetResult();
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    public async Task<IReadOnlyList<CheckpointRecord>> ReadCheckpointsAsync(CancellationToken cancellationToken) =>
        ParseCheckpoints(await ReadMapAsync(Layout.CheckpointsName, cancellationToken).ConfigureAwait(false));

    public async Task RecordCheckpointAsync(CheckpointRecord completed, IReadOnlyCollection<ulong> forget, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(completed);
        ArgumentNullException.ThrowIfNull(forget);
        await _writes.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                var term = CheckInOffice();
                var map = await ReadMapAsync(Layout.CheckpointsName, CancellationToken.None).ConfigureAwait(false) ?? throw Missing(Layout.CheckpointsName);
                CheckTerm(map, term);
                var checkpoints = ParseCheckpoints(map);
                if (checkpoints.Any(c => c.Id == completed.Id))
                {
                    throw new ArgumentException($"checkpoint {completed.Id} is already recorded", nameof(completed));
                }
                var next = checkpoints.Where(c => !forget.Contains(c.Id)).Append(completed).OrderBy(c => c.Id).ToList();
                map.Data ??= new Dictionary<string, string>();
                map.Data[KubernetesStoreLayout.CheckpointsKey] = StoredJson.WriteCheckpoints(next).ToJsonString();
                SetAnnotation(map, KubernetesStoreLayout.TermAnnotation, term);
                CheckSize(map, $"the checkpoint records (ConfigMap {Layout.CheckpointsName})");
                if (await ReplaceAsync(map, attempt).ConfigureAwait(false))
                {
                    return;
                }
            }
        }
        finally
        {
            _writes.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed.IsCancellationRequested)
        {
            return;
        }
        await _disposed.CancelAsync().ConfigureAwait(false);
        if (_poller is { } poller)
        {
            await poller.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        if (_ownsClient)
        {
            _client.Dispose();
        }
    }

    /// <summary>
    /// Replaces <paramref name="map"/> if its resourceVersion is still the one read; false when
    /// it changed (409: the caller reads again, and a newer term there ends the write).
    /// Written without the caller's token: once sent, a write is reported as it ended.
    /// </summary>
    private async Task<bool> ReplaceAsync(V1ConfigMap map, int attempt)
    {
        try
        {
            await Call(token => _client.CoreV1.ReplaceNamespacedConfigMapAsync(map, map.Metadata.Name, Layout.Namespace, cancellationToken: token), CancellationToken.None)
                .ConfigureAwait(false);
            return true;
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            if (attempt >= KubernetesLimits.StoreWriteAttemptsMax)
            {
                throw new InvalidOperationException(
                    $"ConfigMap {map.Metadata.Name} in namespace {Layout.Namespace} changed under every one of {KubernetesLimits.StoreWriteAttemptsMax} writes in a row; " +
                    "something else writes it constantly (only the leading scheduler should): find it (kubectl get configmap -o yaml, managedFields) and stop it", e);
            }
            return false;
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            throw Missing(map.Metadata.Name);
        }
    }

    private long CheckInOffice()
    {
        var term = Term;
        // Never sent from a standby or a deposed leader: refused before anything leaves.
        return term < 0 ? throw new NotLeaderException(term, -1) : term;
    }

    private static void CheckTerm(V1ConfigMap map, long term)
    {
        var stored = Annotation(map, KubernetesStoreLayout.TermAnnotation);
        if (stored > term)
        {
            throw new NotLeaderException(term, stored);
        }
    }

    private static void CheckSize(V1ConfigMap map, string what)
    {
        var bytes = Encoding.UTF8.GetByteCount(KubernetesJson.Serialize(map));
        if (bytes > KubernetesLimits.ConfigMapBytesMax)
        {
            throw new TopologyTooLargeException(bytes, KubernetesLimits.ConfigMapBytesMax, what,
                "KubernetesLimits.ConfigMapBytesMax, under Kubernetes' limit of 1 MiB per ConfigMap");
        }
    }

    private InvalidOperationException Missing(string name) => new(
        $"ConfigMap {name} is missing in namespace {Layout.Namespace} (deleted by hand?); the leader makes it when it takes office: restart the leading scheduler");

    /// <summary>The revision now (null when the API server did not answer: the watch pauses rather than fails).</summary>
    private async Task<long?> PollRevisionAsync(CancellationToken cancellationToken)
    {
        try
        {
            var map = await ReadMapAsync(Layout.TopologyName, cancellationToken).ConfigureAwait(false);
            return map is null ? 0 : Annotation(map, KubernetesStoreLayout.RevisionAnnotation);
        }
        catch (Exception e) when (e is HttpRequestException or HttpOperationException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    private async Task<V1ConfigMap?> ReadMapAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            return await Call(token => _client.CoreV1.ReadNamespacedConfigMapAsync(name, Layout.Namespace, cancellationToken: token), cancellationToken)
                .ConfigureAwait(false);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>One API call, bounded by <see cref="KubernetesLimits.ApiCallTimeoutMs"/>; a timeout is a <see cref="TimeoutException"/>, not a cancellation.</summary>
    private static async Task<T> Call<T>(Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(KubernetesLimits.ApiCallTimeoutMs);
        try
        {
            return await call(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"the Kubernetes API server did not answer within {KubernetesLimits.ApiCallTimeoutMs} ms (KubernetesLimits.ApiCallTimeoutMs)", e);
        }
    }

    private V1ConfigMap NewMap(string name) => new()
    {
        ApiVersion = "v1",
        Kind = "ConfigMap",
        Metadata = new V1ObjectMeta
        {
            Name = name,
            NamespaceProperty = Layout.Namespace,
            Labels = new Dictionary<string, string>
            {
                [Runtime.Kubernetes.Internal.KubernetesNames.ManagedByLabel] = Runtime.Kubernetes.Internal.KubernetesNames.ManagedByValue,
                [Runtime.Kubernetes.Internal.KubernetesNames.ClusterLabel] = Layout.Cluster,
            },
            Annotations = new Dictionary<string, string> { [KubernetesStoreLayout.RevisionAnnotation] = "0" },
        },
        Data = new Dictionary<string, string>(),
    };

    private static long Annotation(V1ConfigMap map, string key) =>
        map.Metadata?.Annotations?.TryGetValue(key, out var text) == true && long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : 0;

    private static void SetAnnotation(V1ConfigMap map, string key, long value)
    {
        map.Metadata.Annotations ??= new Dictionary<string, string>();
        map.Metadata.Annotations[key] = value.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>A ConfigMap key per operator: the name itself, which must be a valid key.</summary>
    private static string Key(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.Length > KeyCharsMax || !KeyPattern().IsMatch(name) || name is "." or "..")
        {
            throw new ArgumentException(
                $"operator name '{name}' cannot be a ConfigMap key (1..{KeyCharsMax} of letters, digits, '-', '_' and '.', not '.' or '..'); rename the operator", nameof(name));
        }
        return name;
    }

    /// <summary>Kubernetes' limit on a ConfigMap key, in characters.</summary>
    private const int KeyCharsMax = 253;

    [GeneratedRegex("^[-._a-zA-Z0-9]+$", RegexOptions.CultureInvariant)]
    private static partial Regex KeyPattern();

    private Dictionary<string, OperatorEntry> Entries(V1ConfigMap map) =>
        (map.Data ?? new Dictionary<string, string>()).ToDictionary(p => p.Key, p => Parse(p.Key, p.Value), StringComparer.Ordinal);

    private static string Serialize(OperatorEntry entry) =>
        StoredJson.WriteEntry(entry.Name, entry.Version, entry.Spec, entry.Metadata, entry.StateSince).ToJsonString();

    private OperatorEntry Parse(string name, string json)
    {
        try
        {
            var item = JsonNode.Parse(json)!.AsObject();
            var (spec, metadata) = StoredJson.ReadSpecAndMetadata(item);
            if (spec.Name != name)
            {
                throw new InvalidDataException($"its spec is named '{spec.Name}'");
            }
            return new OperatorEntry(name, spec, metadata, item["version"]!.GetValue<long>()) { StateSince = item["state_since"]?.GetValue<long>() ?? 0 };
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or InvalidDataException or InvalidProtocolBufferException or NullReferenceException or FormatException)
        {
            throw new InvalidDataException(
                $"key '{name}' of ConfigMap {Layout.TopologyName} in namespace {Layout.Namespace} is not an operator entry ({e.Message}); fix or remove that key", e);
        }
    }

    private IReadOnlyList<CheckpointRecord> ParseCheckpoints(V1ConfigMap? map)
    {
        if (map?.Data?.TryGetValue(KubernetesStoreLayout.CheckpointsKey, out var json) != true || string.IsNullOrEmpty(json))
        {
            return [];
        }
        try
        {
            return StoredJson.ReadCheckpoints(JsonNode.Parse(json)!.AsArray());
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or NullReferenceException or FormatException)
        {
            throw new InvalidDataException(
                $"key '{KubernetesStoreLayout.CheckpointsKey}' of ConfigMap {Layout.CheckpointsName} in namespace {Layout.Namespace} is not a list of checkpoints ({e.Message}); fix or empty it", e);
        }
    }
}
