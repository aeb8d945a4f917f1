using System.Globalization;
using System.Net;
using Concord.Scheduler.Runtime.Kubernetes;
using Concord.Scheduler.Store.Kubernetes;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace Concord.Scheduler.Leadership;

/// <summary>
/// The timing of a Lease: its duration, and what follows from it. The renew deadline is
/// shorter than the duration by the fencing margin (<see cref="KubernetesLimits.LeaseFencingMarginMsMin"/>),
/// so a leader that cannot renew stops acting before any standby may take over.
/// </summary>
public sealed record KubernetesLeaseTiming(int LeaseDurationMs)
{
    public static KubernetesLeaseTiming Default { get; } = new(KubernetesLimits.LeaseDurationMsDefault);

    /// <summary>How much sooner the leader stops than a standby may start, in ms.</summary>
    public int FencingMarginMs => Math.Max(KubernetesLimits.LeaseFencingMarginMsMin, LeaseDurationMs / KubernetesLimits.LeaseFencingMarginDivisor);

    /// <summary>A leader whose last successful renew started this long ago (its own monotonic clock) stops acting, in ms.</summary>
    public int RenewDeadlineMs => LeaseDurationMs - FencingMarginMs;

    /// <summary>Time between renews of the leader and between looks at the Lease of a standby, in ms.</summary>
    public int RetryPeriodMs => Math.Max(1, RenewDeadlineMs / KubernetesLimits.LeaseRenewAttemptsPerDeadline);

    /// <summary>The Lease's <c>spec.leaseDurationSeconds</c>: the duration rounded up to whole seconds.</summary>
    public int LeaseDurationSeconds => (LeaseDurationMs + 999) / 1000;
}

/// <summary>
/// The gate of <c>--store kubernetes</c>: leadership through a <c>coordination.k8s.io/v1</c> Lease,
/// taken and renewed with optimistic concurrency (a replace conditioned on the resourceVersion
/// read; 409 Conflict means another scheduler won). The scheduler serves at once as a standby
/// that follows the Lease (its holder and the leader-address annotation) and stands for
/// election once it knows its address. In office, it renews every <see cref="KubernetesLeaseTiming.RetryPeriodMs"/>;
/// when its last successful renew started more than <see cref="KubernetesLeaseTiming.RenewDeadlineMs"/>
/// ago by its own monotonic clock, or a renew meets a 409 or a deleted Lease, the term ends and
/// the gate closes at once (the store refuses writes before sending any). A standby takes the
/// Lease only once it has seen it unchanged for the full duration by its own clock, later than
/// the leader stopped by at least the fencing margin: no clocks are compared, only their rates
/// are assumed close (docs/kubernetes.md, "High availability with a Lease").
/// </summary>
/// <remarks>
/// The term (fencing token) is an annotation of the Lease, one above both the previous holder's
/// and the store's newest (<see cref="KubernetesTopologyStore.HighestTermAsync"/>); the store is
/// claimed with it (<see cref="KubernetesTopologyStore.ClaimAsync"/>) before <see cref="LeadAsync"/>
/// returns. One term per gate, as with ZooKeeper: a deposed scheduler rejoins as a new run.
/// </remarks>
public sealed partial class KubernetesLeaderGate : ILeaderGate, IAsyncDisposable
{
    private readonly IKubernetes _client;
    private readonly KubernetesStoreLayout _layout;
    private readonly string _id;
    private readonly KubernetesLeaseTiming _timing;
    private readonly TimeProvider _time;
    private readonly ILogger? _logger;
    private readonly bool _ownsClient;
    private readonly CancellationTokenSource _disposed = new();
    private readonly CancellationTokenSource _lost = new();
    private readonly Lock _lock = new();
    private readonly Task _follow;
    private KubernetesTopologyStore? _store;
    private LeaderCandidate? _leader;
    private string? _unreachable;
    private int _standing;
    private int _ended;
    private long _term = KubernetesTopologyStore.NotInOffice;
    private V1Lease? _held;
    private long _renewStarted;
    private Task? _renew;

    /// <param name="id">This candidate's holderIdentity: unique per gate (a new one per run).</param>
    /// <param name="ownsClient">Dispose <paramref name="client"/> with the gate.</param>
    public KubernetesLeaderGate(IKubernetes client, KubernetesStoreLayout layout, string id, KubernetesLeaseTiming timing,
        ILogger? logger, TimeProvider? time = null, bool ownsClient = false)
    {
        _client = client;
        _layout = layout;
        _id = id;
        _timing = timing;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _ownsClient = ownsClient;
        _follow = FollowLeaseAsync();
    }

    /// <summary>This candidate's holderIdentity.</summary>
    public string Id => _id;

    /// <summary>Where the Lease and the store's ConfigMaps are.</summary>
    public KubernetesStoreLayout Layout => _layout;

    public KubernetesLeaseTiming Timing => _timing;

    public bool Elects => true;

    public bool IsLeader => Volatile.Read(ref _term) >= 0 && !_lost.IsCancellationRequested;

    public CancellationToken TermLost => _lost.Token;

    /// <summary>Why the term ended (null while it has not).</summary>
    public string? LostReason { get; private set; }

    /// <summary>The holder of the Lease as last seen (null when none holds it, or not known yet).</summary>
    public LeaderCandidate? Leader => Volatile.Read(ref _leader);

    public string? LeaderAddress => Leader?.Address;

    public string StandbyMessage =>
        Volatile.Read(ref _unreachable) is { } problem
            ? $"{Hosting.LeaderRedirect.StandbyPrefix} and cannot read Lease {_layout.LeaseName} in namespace {_layout.Namespace} ({problem}): no change can be made until the API server answers; running instances keep running"
            : Leader is { } leader && leader.Id != _id
                ? $"{Hosting.LeaderRedirect.StandbyPrefix}; {ILeaderGate.LeaderMarker}{leader.Address}"
                : $"{Hosting.LeaderRedirect.StandbyPrefix} and no scheduler leads right now (an election is under way); retry in a few seconds";

    /// <summary>The store whose writes this gate fences: it writes with the term while in office, never otherwise.</summary>
    internal void Attach(KubernetesTopologyStore store)
    {
        lock (_lock)
        {
            _store = store;
            store.SetTerm(IsLeader ? Volatile.Read(ref _term) : KubernetesTopologyStore.NotInOffice);
        }
    }

    public async Task<LeaderTerm> LeadAsync(string address, CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _standing, 1) == 1)
        {
            throw new InvalidOperationException("this scheduler stood for election already; restart it to stand again");
        }
        if (_logger is not null)
        {
            LogCampaign(_logger, _id, address, _layout.LeaseName, _layout.Namespace);
        }
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
        var observed = new Observation(null, 0);
        while (true)
        {
            linked.Token.ThrowIfCancellationRequested();
            try
            {
                var (acquired, seen) = await TryAcquireAsync(address, observed, linked.Token).ConfigureAwait(false);
                observed = seen;
                if (acquired)
                {
                    break;
                }
            }
            catch (Exception e) when (IsTransient(e) && !linked.IsCancellationRequested)
            {
                // The API server is away: keep standing; the Lease is read afresh next time.
            }
            catch (HttpOperationException e)
            {
                throw new InvalidOperationException($"cannot take Lease {_layout.LeaseName} in namespace {_layout.Namespace}: {Describe(e)}", e);
            }
            await Task.Delay(TimeSpan.FromMilliseconds(_timing.RetryPeriodMs), _time, linked.Token).ConfigureAwait(false);
        }
        var term = Volatile.Read(ref _term);
        _renew = RenewAsync();
        try
        {
            if (_store is { } store)
            {
                // Before acting: any write a deposed leader read before now meets a new resourceVersion.
                await store.ClaimAsync(term, linked.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is NotLeaderException or HttpOperationException or InvalidOperationException or OperationCanceledException || IsTransient(e))
        {
            End($"could not claim the store for term {term} ({(e is HttpOperationException h ? Describe(h) : e.Message)})");
            throw new LeadershipLostException("the term ended before this scheduler could act: " + LostReason, e);
        }
        lock (_lock)
        {
            // End closes the store under the same lock: once ended, it stays closed.
            if (Volatile.Read(ref _ended) == 0)
            {
                _store?.SetTerm(term);
            }
        }
        if (_lost.IsCancellationRequested)
        {
            throw new LeadershipLostException("the term ended before this scheduler could act: " + LostReason);
        }
        if (_logger is not null)
        {
            LogElected(_logger, term);
        }
        return new LeaderTerm((int)term, _lost.Token);
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed.IsCancellationRequested)
        {
            return;
        }
        var wasLeader = IsLeader;
        End("the gate was disposed");
        await _disposed.CancelAsync().ConfigureAwait(false);
        foreach (var task in new[] { _follow, _renew })
        {
            if (task is not null)
            {
                await task.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
        if (wasLeader && Volatile.Read(ref _held) is { } held)
        {
            // Step down at once rather than after the duration: the gate is closed already, so a
            // standby may take the Lease now (client-go's ReleaseOnCancel).
            held.Spec.HolderIdentity = null;
            held.Spec.LeaseDurationSeconds = 1;
            try
            {
                using var timeout = new CancellationTokenSource(KubernetesLimits.ApiCallTimeoutMs);
                await _client.CoordinationV1.ReplaceNamespacedLeaseAsync(held, _layout.LeaseName, _layout.Namespace, cancellationToken: timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpOperationException or HttpRequestException or OperationCanceledException)
            {
                // Taken already (409), or the API server is away: the Lease expires by itself.
            }
        }
        if (_ownsClient)
        {
            _client.Dispose();
        }
    }

    /// <summary>What a candidate saw of the Lease: its resourceVersion and when (monotonic), to time its expiry by its own clock.</summary>
    private readonly record struct Observation(string? ResourceVersion, long SeenAt);

    /// <summary>One look at the Lease: takes it if absent, free or expired (by this candidate's own clock since it last changed).</summary>
    private async Task<(bool Acquired, Observation Seen)> TryAcquireAsync(string address, Observation observed, CancellationToken cancellationToken)
    {
        var lease = await ReadLeaseAsync(cancellationToken).ConfigureAwait(false);
        var storeTerm = _store is { } store ? await store.HighestTermAsync(cancellationToken).ConfigureAwait(false) : 0;
        var started = _time.GetTimestamp();
        if (lease is null)
        {
            var term = storeTerm + 1;
            var created = new V1Lease
            {
                ApiVersion = "coordination.k8s.io/v1",
                Kind = "Lease",
                Metadata = new V1ObjectMeta
                {
                    Name = _layout.LeaseName,
                    NamespaceProperty = _layout.Namespace,
                    Labels = new Dictionary<string, string>
                    {
                        [Runtime.Kubernetes.Internal.KubernetesNames.ManagedByLabel] = Runtime.Kubernetes.Internal.KubernetesNames.ManagedByValue,
                        [Runtime.Kubernetes.Internal.KubernetesNames.ClusterLabel] = _layout.Cluster,
                    },
                },
                Spec = new V1LeaseSpec { LeaseTransitions = 0 },
            };
            Hold(created, address, term, DateTime.UtcNow, acquired: true);
            try
            {
                var made = await Call(token => _client.CoordinationV1.CreateNamespacedLeaseAsync(created, _layout.Namespace, cancellationToken: token), cancellationToken)
                    .ConfigureAwait(false);
                TookOffice(made, term, started);
                return (true, observed);
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
            {
                return (false, observed);
            }
        }
        var now = started;
        var seen = lease.Metadata.ResourceVersion == observed.ResourceVersion ? observed : new Observation(lease.Metadata.ResourceVersion, now);
        var holder = lease.Spec?.HolderIdentity;
        // The longer of ours and the Lease's: replicas started with different durations stay safe.
        var durationMs = Math.Max(_timing.LeaseDurationMs, (lease.Spec?.LeaseDurationSeconds ?? 0) * 1000L);
        // Unchanged since this candidate first saw it, for the whole duration by its own clock.
        var expired = lease.Metadata.ResourceVersion == observed.ResourceVersion && _time.GetElapsedTime(observed.SeenAt, now).TotalMilliseconds >= durationMs;
        if (!string.IsNullOrEmpty(holder) && holder != _id && !expired)
        {
            return (false, seen);
        }
        var previousTerm = TermOf(lease);
        var nextTerm = holder == _id && previousTerm > 0 ? previousTerm : Math.Max(previousTerm, storeTerm) + 1;
        lease.Spec ??= new V1LeaseSpec();
        if (holder != _id)
        {
            lease.Spec.LeaseTransitions = (lease.Spec.LeaseTransitions ?? 0) + 1;
        }
        Hold(lease, address, nextTerm, DateTime.UtcNow, acquired: holder != _id);
        try
        {
            var taken = await Call(token => _client.CoordinationV1.ReplaceNamespacedLeaseAsync(lease, _layout.LeaseName, _layout.Namespace, cancellationToken: token), cancellationToken)
                .ConfigureAwait(false);
            TookOffice(taken, nextTerm, started);
            return (true, seen);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode is HttpStatusCode.Conflict or HttpStatusCode.NotFound)
        {
            // Another candidate won (or the Lease went): look again next period.
            return (false, seen);
        }
    }

    private void Hold(V1Lease lease, string address, long term, DateTime now, bool acquired)
    {
        lease.Spec.HolderIdentity = _id;
        lease.Spec.LeaseDurationSeconds = _timing.LeaseDurationSeconds;
        lease.Spec.RenewTime = now;
        if (acquired || lease.Spec.AcquireTime is null)
        {
            lease.Spec.AcquireTime = now;
        }
        lease.Metadata.Annotations ??= new Dictionary<string, string>();
        lease.Metadata.Annotations[KubernetesStoreLayout.TermAnnotation] = term.ToString(CultureInfo.InvariantCulture);
        lease.Metadata.Annotations[KubernetesStoreLayout.LeaderAddressAnnotation] = address;
    }

    private void TookOffice(V1Lease lease, long term, long started)
    {
        Volatile.Write(ref _held, lease);
        Volatile.Write(ref _renewStarted, started);
        Volatile.Write(ref _term, term);
        Volatile.Write(ref _leader, new LeaderCandidate(_id, lease.Metadata.Annotations[KubernetesStoreLayout.LeaderAddressAnnotation]));
    }

    /// <summary>
    /// Renews every retry period, and ends the term when the renew deadline passes since the
    /// start of the last successful renew — whether or not a call is still hanging — or when a
    /// renew meets a 409 (the Lease changed: someone else may hold it) or a 404.
    /// </summary>
    private async Task RenewAsync()
    {
        await Task.Yield();
        var deadline = DeadlineAsync();
        try
        {
            while (!_lost.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(_timing.RetryPeriodMs), _time, _lost.Token).ConfigureAwait(false);
                var held = Volatile.Read(ref _held)!;
                var started = _time.GetTimestamp();
                held.Spec.RenewTime = DateTime.UtcNow;
                try
                {
                    // No longer than what is left of the deadline: a renew landing after it would not count.
                    var leftMs = _timing.RenewDeadlineMs - _time.GetElapsedTime(Volatile.Read(ref _renewStarted), started).TotalMilliseconds;
                    using var call = CancellationTokenSource.CreateLinkedTokenSource(_lost.Token);
                    call.CancelAfter(TimeSpan.FromMilliseconds(Math.Clamp(leftMs, 1, KubernetesLimits.ApiCallTimeoutMs)));
                    var renewed = await _client.CoordinationV1.ReplaceNamespacedLeaseAsync(held, _layout.LeaseName, _layout.Namespace, cancellationToken: call.Token)
                        .ConfigureAwait(false);
                    if (renewed.Spec?.HolderIdentity != _id)
                    {
                        End("the Lease was renewed but names another holder");
                        return;
                    }
                    Volatile.Write(ref _held, renewed);
                    Volatile.Write(ref _renewStarted, started);
                }
                catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
                {
                    End($"a renew of Lease {_layout.LeaseName} met 409 Conflict: it was changed by someone else, who may hold it now");
                    return;
                }
                catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
                {
                    End($"Lease {_layout.LeaseName} was deleted");
                    return;
                }
                catch (Exception e) when ((IsTransient(e) || e is OperationCanceledException) && !_lost.IsCancellationRequested)
                {
                    // Tried again next period; the deadline decides when to give up.
                }
            }
        }
        catch (OperationCanceledException) when (_lost.IsCancellationRequested)
        {
        }
        await deadline.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    /// <summary>Ends the term when the renew deadline passes: the leader's own clock, no call needed.</summary>
    private async Task DeadlineAsync()
    {
        try
        {
            while (!_lost.IsCancellationRequested)
            {
                var sinceMs = _time.GetElapsedTime(Volatile.Read(ref _renewStarted)).TotalMilliseconds;
                var leftMs = _timing.RenewDeadlineMs - sinceMs;
                if (leftMs <= 0)
                {
                    End($"could not renew Lease {_layout.LeaseName} within the renew deadline ({_timing.RenewDeadlineMs} ms, {_timing.FencingMarginMs} ms before the Lease expires)");
                    return;
                }
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Ceiling(leftMs)), _time, _lost.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Ends the term (or candidacy) once: closes the gate synchronously, then tells the log.</summary>
    private void End(string reason)
    {
        if (Interlocked.Exchange(ref _ended, 1) == 1)
        {
            return;
        }
        var term = Volatile.Read(ref _term);
        LostReason = reason;
        lock (_lock)
        {
            // Closed before anyone hears the term ended (TermLost's callbacks run newest first).
            _store?.SetTerm(KubernetesTopologyStore.NotInOffice);
        }
        _lost.Cancel();
        if (term >= 0 && _logger is not null)
        {
            LogLost(_logger, term, reason);
        }
    }

    /// <summary>Keeps <see cref="Leader"/> current, for the standby's refusals and redirects.</summary>
    private async Task FollowLeaseAsync()
    {
        await Task.Yield();
        while (!_disposed.IsCancellationRequested)
        {
            try
            {
                var lease = await ReadLeaseAsync(_disposed.Token).ConfigureAwait(false);
                Volatile.Write(ref _unreachable, null);
                var holder = lease?.Spec?.HolderIdentity;
                Volatile.Write(ref _leader, string.IsNullOrEmpty(holder)
                    ? null
                    : new LeaderCandidate(holder, (lease!.Metadata.Annotations is { } annotations && annotations.TryGetValue(KubernetesStoreLayout.LeaderAddressAnnotation, out var address) ? address : "")));
            }
            catch (Exception e) when ((IsTransient(e) || e is HttpOperationException) && !_disposed.IsCancellationRequested)
            {
                Volatile.Write(ref _unreachable, Describe(e));
            }
            catch (OperationCanceledException)
            {
                return;
            }
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(_timing.RetryPeriodMs), _time, _disposed.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task<V1Lease?> ReadLeaseAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await Call(token => _client.CoordinationV1.ReadNamespacedLeaseAsync(_layout.LeaseName, _layout.Namespace, cancellationToken: token), cancellationToken)
                .ConfigureAwait(false);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>An API failure for a message: a refused permission names the fix.</summary>
    private static string Describe(Exception e) => e switch
    {
        HttpOperationException { Response.StatusCode: HttpStatusCode.Forbidden } =>
            "403 Forbidden: the scheduler's ServiceAccount may not get, create or update leases (coordination.k8s.io) or configmaps; apply deploy/kubernetes/rbac.yaml",
        HttpOperationException h => $"{(int)h.Response.StatusCode} {h.Response.ReasonPhrase}",
        _ => e.Message,
    };

    private static long TermOf(V1Lease lease) =>
        lease.Metadata?.Annotations?.TryGetValue(KubernetesStoreLayout.TermAnnotation, out var text) == true
        && long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var term) ? term : 0;

    /// <summary>A failure that says nothing about who leads: the API server away, slow, or overloaded.</summary>
    private static bool IsTransient(Exception e) =>
        e is HttpRequestException or TimeoutException
        || e is HttpOperationException h && ((int)h.Response.StatusCode >= 500 || h.Response.StatusCode == HttpStatusCode.TooManyRequests);

    /// <summary>One API call, bounded by <see cref="KubernetesLimits.ApiCallTimeoutMs"/>; a timeout is a <see cref="TimeoutException"/>.</summary>
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
            throw new TimeoutException($"the Kubernetes API server did not answer within {KubernetesLimits.ApiCallTimeoutMs} ms", e);
        }
    }

    [LoggerMessage(EventId = 430, Level = LogLevel.Information, Message = "Standing for election as {Candidate} ({Address}) on Lease {Lease} in namespace {Namespace}; serving as a standby until it leads")]
    private static partial void LogCampaign(ILogger logger, string candidate, string address, string lease, string @namespace);

    [LoggerMessage(EventId = 431, Level = LogLevel.Information, Message = "Leading with term {Term} (Lease)")]
    private static partial void LogElected(ILogger logger, long term);

    [LoggerMessage(EventId = 432, Level = LogLevel.Error, Message = "No longer the leader (term {Term}): {Reason}; this scheduler stopped acting at once and is a standby now")]
    private static partial void LogLost(ILogger logger, long term, string reason);
}
