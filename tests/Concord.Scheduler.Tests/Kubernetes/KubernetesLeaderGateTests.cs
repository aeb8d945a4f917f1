using System.Diagnostics;
using System.Net;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Leadership;
using Concord.Scheduler.Store;
using Concord.Scheduler.Store.Kubernetes;
using k8s;
using k8s.Autorest;
using Microsoft.Extensions.Logging.Abstractions;

namespace Concord.Scheduler.Tests.Kubernetes;

/// <summary>
/// Leader election on a Lease (<see cref="KubernetesLeaderGate"/>) and its fencing of the
/// ConfigMap store, against <see cref="KubernetesApiServerDouble"/>, a TEST DOUBLE of the API
/// server (not a cluster). Real time, with short Leases: what is asserted is the order of
/// events (the deposed leader stops before another takes the Lease), not their timing.
/// </summary>
public sealed class KubernetesLeaderGateTests : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TestTimeouts.Step;

    /// <summary>Short enough for a test, long enough that a loaded machine renews in time: margin 1 s, renew deadline 1.4 s, a renew every 280 ms.</summary>
    private static readonly KubernetesLeaseTiming Short = new(2_400);

    /// <summary>For the tests that keep a leader through an outage: renew deadline 4 s, a renew every 800 ms.</summary>
    private static readonly KubernetesLeaseTiming Long = new(6_000);

    private static readonly KubernetesStoreLayout Layout = new("streams", "ha");

    private readonly List<IAsyncDisposable> _owned = [];
    private KubernetesApiServerDouble _api = null!;

    public async Task InitializeAsync() => _api = await KubernetesApiServerDouble.StartAsync();

    public async Task DisposeAsync()
    {
        foreach (var owned in Enumerable.Reverse(_owned))
        {
            await owned.DisposeAsync();
        }
        Assert.Empty(_api.Violations);
        await _api.DisposeAsync();
    }

    private (KubernetesLeaderGate Gate, KubernetesTopologyStore Store) Candidate(string name, KubernetesLeaseTiming? timing = null)
    {
        var gate = new KubernetesLeaderGate(_api.Client(), Layout, name, timing ?? Short, NullLogger.Instance, ownsClient: true);
        var store = KubernetesTopologyStore.Open(_api.Client(), Layout, KubernetesTopologyStore.NotInOffice, ownsClient: true);
        gate.Attach(store);
        _owned.Add(store);
        _owned.Add(gate);
        return (gate, store);
    }

    private static string Address(string name) => $"https://{name}.example:7400";

    private static OperatorSpec Spec(string name, int instances = 1) => new() { Name = name, Executable = "/bin/true", Instances = instances };

    /// <summary>The gate's view of the Lease comes from its own polling: waited for with a deadline.</summary>
    private static async Task UntilAsync(Func<bool> condition, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(deadline.Elapsed < Bound, $"timed out waiting until {what}");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task Of_three_contending_gates_exactly_one_leads_and_the_standbys_name_it()
    {
        var candidates = new[] { Candidate("a"), Candidate("b"), Candidate("c") };
        var campaigns = candidates.Select(c => c.Gate.LeadAsync(Address(c.Gate.Id), default)).ToList();

        var first = await Task.WhenAny(campaigns).WaitAsync(Bound);
        var term = await first;
        var winner = candidates[campaigns.IndexOf(first)];

        // Nobody else takes office while the winner renews: two full Lease durations.
        await Assert.ThrowsAsync<TimeoutException>(() => Task.WhenAny(campaigns.Where(c => c != first)).WaitAsync(TimeSpan.FromMilliseconds(2 * Short.LeaseDurationMs)));
        Assert.True(winner.Gate.IsLeader);
        Assert.False(term.Lost.IsCancellationRequested);
        var lease = _api.Lease(Layout.LeaseName)!;
        Assert.Equal(winner.Gate.Id, lease.Spec.HolderIdentity);
        Assert.Equal(Short.LeaseDurationSeconds, lease.Spec.LeaseDurationSeconds);
        Assert.NotNull(lease.Spec.AcquireTime);
        Assert.NotNull(lease.Spec.RenewTime);
        Assert.Equal(term.Epoch.ToString(System.Globalization.CultureInfo.InvariantCulture), lease.Metadata.Annotations[KubernetesStoreLayout.TermAnnotation]);
        Assert.Equal(Address(winner.Gate.Id), lease.Metadata.Annotations[KubernetesStoreLayout.LeaderAddressAnnotation]);
        // The store was claimed with the term before the gate opened.
        Assert.Equal(term.Epoch.ToString(System.Globalization.CultureInfo.InvariantCulture), _api.ConfigMap(Layout.TopologyName)!.Metadata.Annotations[KubernetesStoreLayout.TermAnnotation]);
        Assert.Equal(term.Epoch, winner.Store.Term);
        foreach (var (gate, store) in candidates.Where(c => c != winner))
        {
            Assert.False(gate.IsLeader);
            await UntilAsync(() => gate.LeaderAddress == Address(winner.Gate.Id), $"standby {gate.Id} names the leader");
            Assert.Contains(ILeaderGate.LeaderMarker + Address(winner.Gate.Id), gate.StandbyMessage);
            await Assert.ThrowsAsync<NotLeaderException>(() => store.CompareAndSetAsync("x", TopologyStoreVersions.Absent, Spec("x"), null, default).WaitAsync(Bound));
        }
        Assert.NotNull(await winner.Store.CompareAndSetAsync("x", TopologyStoreVersions.Absent, Spec("x"), null, default).WaitAsync(Bound));
    }

    [Fact]
    public async Task A_frozen_leader_stops_before_another_takes_the_Lease_and_its_late_write_is_refused()
    {
        var (a, aStore) = Candidate("a");
        var aTerm = await a.LeadAsync(Address("a"), default).WaitAsync(Bound);
        var written = (await aStore.CompareAndSetAsync("op", TopologyStoreVersions.Absent, Spec("op"), null, default).WaitAsync(Bound))!;
        var leaseOfA = _api.Lease(Layout.LeaseName)!;
        var (b, bStore) = Candidate("b");
        var bCampaign = b.LeadAsync(Address("b"), default);
        long aStoppedAt = 0;
        aTerm.Lost.Register(() => aStoppedAt = Stopwatch.GetTimestamp());

        // A's renews stop arriving (a frozen process, or one cut off from the API server).
        _api.HoldLeaseWritesOf("a");
        var bTerm = await bCampaign.WaitAsync(Bound);

        Assert.True(aTerm.Lost.IsCancellationRequested);
        Assert.Contains("renew deadline", a.LostReason);
        var bTookAt = _api.LeaseHolderChanges.Last(c => c.Holder == "b").At;
        Assert.True(aStoppedAt != 0 && aStoppedAt < bTookAt, "the deposed leader must stop acting before the other takes the Lease");
        Assert.True(Stopwatch.GetElapsedTime(aStoppedAt, bTookAt).TotalMilliseconds >= Short.FencingMarginMs / 2.0,
            $"the gap between the two was {Stopwatch.GetElapsedTime(aStoppedAt, bTookAt).TotalMilliseconds} ms, less than half the fencing margin");
        Assert.True(bTerm.Epoch > aTerm.Epoch);
        Assert.True(b.IsLeader);
        Assert.False(a.IsLeader);

        // A's own store refuses at once, sending nothing.
        var fenced = await Assert.ThrowsAsync<NotLeaderException>(() => aStore.CompareAndSetAsync("op", written.Version, Spec("op", 2), null, default).WaitAsync(Bound));
        Assert.Equal(KubernetesTopologyStore.NotInOffice, fenced.Epoch);
        // A write A had sent before it stopped, landing now: a store still writing with A's term.
        await using var late = KubernetesTopologyStore.Open(_api.Client(), Layout, aTerm.Epoch, ownsClient: true);
        var refused = await Assert.ThrowsAsync<NotLeaderException>(() => late.CompareAndSetAsync("op", written.Version, Spec("op", 3), null, default).WaitAsync(Bound));
        Assert.Equal(bTerm.Epoch, refused.CurrentEpoch);
        await Assert.ThrowsAsync<NotLeaderException>(() => late.RecordCheckpointAsync(new CheckpointRecord(1, false, 1, 1, 1, 1, 1, "/checkpoints/chk-1", 1, []), [], default).WaitAsync(Bound));
        Assert.Equal(written, await bStore.GetAsync("op", default).WaitAsync(Bound));
        // A's renew, arriving late with the resourceVersion it read: 409, the Lease stays B's.
        _api.ReleaseLeaseWrites();
        using var client = _api.Client();
        var conflict = await Assert.ThrowsAsync<HttpOperationException>(
            () => client.CoordinationV1.ReplaceNamespacedLeaseAsync(leaseOfA, Layout.LeaseName, Layout.Namespace).WaitAsync(Bound));
        Assert.Equal(HttpStatusCode.Conflict, conflict.Response.StatusCode);
        Assert.Equal("b", _api.Lease(Layout.LeaseName)!.Spec.HolderIdentity);
        Assert.NotNull(await bStore.CompareAndSetAsync("op", written.Version, Spec("op", 4), null, default).WaitAsync(Bound));
    }

    [Fact]
    public async Task A_409_on_renew_ends_the_term_at_once()
    {
        var (a, aStore) = Candidate("a", Long);
        var term = await a.LeadAsync(Address("a"), default).WaitAsync(Bound);
        var lost = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        term.Lost.Register(lost.SetResult);

        // Someone else writes the Lease (kubectl edit, a candidate of another build): its
        // resourceVersion moves, and the next renew meets 409 long before the renew deadline.
        var started = Stopwatch.StartNew();
        _api.EditLease(Layout.LeaseName, lease => lease.Metadata.Annotations["edited"] = "by hand");
        await lost.Task.WaitAsync(Bound);

        Assert.Contains("409 Conflict", a.LostReason);
        Assert.True(started.ElapsedMilliseconds < Long.RenewDeadlineMs, $"stepped down after {started.ElapsedMilliseconds} ms, not on the 409");
        Assert.False(a.IsLeader);
        await Assert.ThrowsAsync<NotLeaderException>(() => aStore.CompareAndSetAsync("x", TopologyStoreVersions.Absent, Spec("x"), null, default).WaitAsync(Bound));
        Assert.Throws<InvalidOperationException>(() => a.LeadAsync(Address("a"), default).GetAwaiter().GetResult());
    }

    [Fact]
    public async Task An_API_server_away_for_less_than_the_renew_deadline_keeps_the_leader_and_away_longer_deposes_it_before_the_standby_leads()
    {
        var (a, _) = Candidate("a", Long);
        var aTerm = await a.LeadAsync(Address("a"), default).WaitAsync(Bound);
        var (b, _) = Candidate("b", Long);
        var bCampaign = b.LeadAsync(Address("b"), default);
        await UntilAsync(() => b.LeaderAddress == Address("a"), "the standby names the leader");

        // Away briefly (a restart of the API server): the standby says so, then names the leader again.
        _api.Unavailable = true;
        await UntilAsync(() => b.StandbyMessage.Contains("cannot read Lease", StringComparison.Ordinal), "the standby reports the API server away");
        _api.Unavailable = false;
        await UntilAsync(() => b.StandbyMessage.Contains(ILeaderGate.LeaderMarker + Address("a"), StringComparison.Ordinal), "the standby names the leader again");
        Assert.True(a.IsLeader);
        Assert.False(bCampaign.IsCompleted);

        // Away for longer than the renew deadline: the leader steps down on its own clock; once
        // the API server is back, the standby takes over (after the full duration it saw no renew).
        var lost = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        aTerm.Lost.Register(lost.SetResult);
        _api.Unavailable = true;
        await lost.Task.WaitAsync(Bound);
        Assert.False(bCampaign.IsCompleted);
        _api.Unavailable = false;
        var bTerm = await bCampaign.WaitAsync(Bound);

        Assert.Contains("renew deadline", a.LostReason);
        Assert.True(bTerm.Epoch > aTerm.Epoch);
        await UntilAsync(() => a.LeaderAddress == Address("b"), "the deposed leader names the new one");
        Assert.Contains(ILeaderGate.LeaderMarker + Address("b"), a.StandbyMessage);
    }

    [Fact]
    public async Task A_disposed_leader_releases_the_Lease_so_a_standby_leads_without_waiting_out_the_duration()
    {
        var (a, _) = Candidate("a", Long);
        var aTerm = await a.LeadAsync(Address("a"), default).WaitAsync(Bound);
        var (b, _) = Candidate("b", Long);
        var bCampaign = b.LeadAsync(Address("b"), default);
        await UntilAsync(() => b.LeaderAddress == Address("a"), "the standby names the leader");

        var released = Stopwatch.StartNew();
        await a.DisposeAsync();
        var bTerm = await bCampaign.WaitAsync(Bound);

        Assert.True(aTerm.Lost.IsCancellationRequested);
        Assert.True(released.ElapsedMilliseconds < Long.LeaseDurationMs, $"took over after {released.ElapsedMilliseconds} ms");
        Assert.True(bTerm.Epoch > aTerm.Epoch);
        Assert.Equal(1, _api.Lease(Layout.LeaseName)!.Spec.LeaseTransitions);
    }

    [Fact]
    public async Task A_Lease_made_anew_still_gets_a_term_above_the_stores()
    {
        // The Lease deleted by hand with the schedulers stopped: the next leader's term must
        // still be above the one the store was last written with, or its writes would be refused.
        await using (var old = KubernetesTopologyStore.Open(_api.Client(), Layout, 7, ownsClient: true))
        {
            await old.ClaimAsync(7, default).WaitAsync(Bound);
        }
        var (a, aStore) = Candidate("a");

        var term = await a.LeadAsync(Address("a"), default).WaitAsync(Bound);

        Assert.Equal(8, term.Epoch);
        Assert.NotNull(await aStore.CompareAndSetAsync("x", TopologyStoreVersions.Absent, Spec("x"), null, default).WaitAsync(Bound));
    }
}
