using System.Diagnostics;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Leadership;
using Concord.Scheduler.Store;
using Concord.Scheduler.Store.ZooKeeper;
using Concord.Testing.ZooKeeper;
using Concord.ZooKeeper;

namespace Concord.Scheduler.Tests.ZooKeeper;

/// <summary>Election and fencing against a real server: who leads, when a term ends, and that a deposed leader writes nothing.</summary>
public sealed class ZooKeeperLeaderElectionTests(ZooKeeperServerFixture server) : IClassFixture<ZooKeeperServerFixture>, IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TestTimeouts.Step;

    private readonly ZooKeeperLayout _layout = ZooKeeperServerFixture.NewLayout();
    private readonly List<IAsyncDisposable> _disposables = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var disposable in Enumerable.Reverse(_disposables))
        {
            await disposable.DisposeAsync();
        }
    }

    private async Task<ZooKeeperClient> ConnectAsync(string? connectString = null)
    {
        var client = await server.ConnectAsync(connectString);
        _disposables.Add(client);
        return client;
    }

    private ZooKeeperLeaderElection Candidate(ZooKeeperClient client, string id)
    {
        var election = new ZooKeeperLeaderElection(client, _layout, new LeaderCandidate(id, $"10.0.0.{id.Length}:7400/{id}"));
        _disposables.Add(election);
        return election;
    }

    private static async Task WhenCancelledAsync(CancellationToken token, TimeSpan timeout)
    {
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = token.Register(() => cancelled.TrySetResult());
        await cancelled.Task.WaitAsync(timeout);
    }

    private static OperatorSpec Spec(string name, int instances = 1) => new() { Name = name, Executable = "/bin/true", Instances = instances };

    private static async Task<List<LeadershipEvent>> EventsAsync(ZooKeeperLeaderElection election)
    {
        var events = new List<LeadershipEvent>();
        await foreach (var e in election.Events.ReadAllAsync().WithCancellation(new CancellationTokenSource(Timeout).Token))
        {
            events.Add(e);
        }
        return events;
    }

    [Fact]
    public async Task The_first_candidate_leads_the_second_waits_and_leads_with_a_higher_epoch_when_the_first_session_ends()
    {
        var first = Candidate(await ConnectAsync(), "a");
        var clientB = await ConnectAsync();
        var second = Candidate(clientB, "b");

        var firstTerm = await first.CampaignAsync(default).WaitAsync(Timeout);
        var secondCampaign = second.CampaignAsync(default);
        // The second's node exists once it lists itself behind the first: it finds the first as leader.
        var leaderWhileFirst = await ZooKeeperLeaderElection.FindLeaderAsync(clientB, _layout, default).WaitAsync(Timeout);
        await Eventually.UntilAsync(
            async () => (await clientB.GetChildrenAsync(_layout.Election, default)).Count == 2, Timeout, () => "the second candidate's node");
        Assert.False(secondCampaign.IsCompleted);
        Assert.False(second.IsLeader);

        var stopwatch = Stopwatch.StartNew();
        await first.DisposeAsync();
        var secondTerm = await secondCampaign.WaitAsync(Timeout);
        stopwatch.Stop();

        Assert.Equal(new LeaderCandidate("a", "10.0.0.1:7400/a"), leaderWhileFirst);
        Assert.True(secondTerm.Epoch > firstTerm.Epoch);
        Assert.True(firstTerm.Lost.IsCancellationRequested);
        Assert.False(secondTerm.Lost.IsCancellationRequested);
        Assert.True(second.IsLeader);
        Assert.Equal(new LeaderCandidate("b", "10.0.0.1:7400/b"), await ZooKeeperLeaderElection.FindLeaderAsync(clientB, _layout, default).WaitAsync(Timeout));
        Assert.Equal(
            [(LeadershipEventType.Elected, firstTerm.Epoch), (LeadershipEventType.Lost, firstTerm.Epoch)],
            (await EventsAsync(first)).Select(e => (e.Type, e.Epoch)));
        // A step-down hands over at once, not after a session timeout.
        Assert.True(stopwatch.ElapsedMilliseconds < ZooKeeperServerFixture.SessionTimeoutMs, $"handover took {stopwatch.ElapsedMilliseconds} ms");
    }

    [Fact]
    public async Task A_leader_cut_off_loses_office_within_its_session_timeout_the_other_leads_and_the_old_store_is_fenced_off()
    {
        var target = server.Ensemble.Servers[0];
        await using var proxy = new TcpProxy(target.Host, target.ClientPort);
        var oldClient = await ConnectAsync(proxy.Address);
        var old = Candidate(oldClient, "old");
        var oldTerm = await old.CampaignAsync(default).WaitAsync(Timeout);
        // The old leader's store on a connection of its own that stays up: the fence must hold
        // by the epoch alone, whatever the state of the old leader's session.
        var oldStore = await ZooKeeperTopologyStore.OpenAsync(await ConnectAsync(), _layout, oldTerm.Epoch, ownsClient: false, default).WaitAsync(Timeout);
        _disposables.Add(oldStore);
        var before = (await oldStore.CompareAndSetAsync("counter", TopologyStoreVersions.Absent, Spec("counter"), null, default).WaitAsync(Timeout))!;
        var next = Candidate(await ConnectAsync(), "next");
        var nextCampaign = next.CampaignAsync(default);

        var stopwatch = Stopwatch.StartNew();
        proxy.Cut();
        await WhenCancelledAsync(oldTerm.Lost, TestTimeouts.Process);
        var lostAfterMs = stopwatch.ElapsedMilliseconds;
        var nextTerm = await nextCampaign.WaitAsync(TestTimeouts.Process);
        var ledAfterMs = stopwatch.ElapsedMilliseconds;

        var fenced = await Assert.ThrowsAsync<NotLeaderException>(
            () => oldStore.CompareAndSetAsync("counter", before.Version, Spec("counter", 9), null, default).WaitAsync(Timeout));
        var fencedCreate = await Assert.ThrowsAsync<NotLeaderException>(
            () => oldStore.CompareAndSetAsync("other", TopologyStoreVersions.Absent, Spec("other"), null, default).WaitAsync(Timeout));
        var fencedCheckpoint = await Assert.ThrowsAsync<NotLeaderException>(
            () => oldStore.RecordCheckpointAsync(new CheckpointRecord(1, false, 0, 0, 0, 0, 0, "/c/chk-1", 1, []), [], default).WaitAsync(Timeout));
        await using var nextStore = await ZooKeeperTopologyStore.OpenAsync(await ConnectAsync(), _layout, nextTerm.Epoch, ownsClient: false, default);
        var snapshot = await nextStore.ReadAsync(default).WaitAsync(Timeout);
        var written = await nextStore.CompareAndSetAsync("counter", before.Version, Spec("counter", 2), null, default).WaitAsync(Timeout);

        // Lost once the session timeout passed without a connection (not before), and the
        // next leads once the server expired the session (the same timeout, from its side).
        Assert.InRange(lostAfterMs, ZooKeeperServerFixture.SessionTimeoutMs * 2 / 3, ZooKeeperServerFixture.SessionTimeoutMs + TestTimeouts.StepSeconds * 1000);
        Assert.True(nextTerm.Epoch > oldTerm.Epoch);
        Assert.Equal($"this scheduler is no longer the leader (epoch {oldTerm.Epoch}, current {nextTerm.Epoch}); writes go to the leader", fenced.Message);
        Assert.Equal((oldTerm.Epoch, nextTerm.Epoch), (fencedCreate.Epoch, fencedCreate.CurrentEpoch));
        Assert.Equal(nextTerm.Epoch, fencedCheckpoint.CurrentEpoch);
        Assert.Equal([before], snapshot.Operators);
        Assert.Empty(await nextStore.ReadCheckpointsAsync(default).WaitAsync(Timeout));
        Assert.Equal(2, written!.Spec.Instances);
        var lost = (await EventsAsync(old)).Last();
        Assert.Equal(LeadershipEventType.Lost, lost.Type);
        Assert.Contains("longer than the session timeout", lost.Reason);
        Assert.True(ledAfterMs >= lostAfterMs || nextTerm.Epoch > oldTerm.Epoch);
    }

    [Fact]
    public async Task Deleting_the_leaders_election_node_ends_its_term_and_the_next_candidate_takes_office()
    {
        var client = await ConnectAsync();
        var first = Candidate(client, "a");
        var firstTerm = await first.CampaignAsync(default).WaitAsync(Timeout);
        var second = Candidate(await ConnectAsync(), "b");
        var secondCampaign = second.CampaignAsync(default);
        await Eventually.UntilAsync(async () => (await client.GetChildrenAsync(_layout.Election, default)).Count == 2, Timeout, () => "the second candidate's node");
        var firstNode = (await client.GetChildrenAsync(_layout.Election, default)).Order(StringComparer.Ordinal).First();

        await client.DeleteAsync($"{_layout.Election}/{firstNode}", ZooKeeperClient.AnyVersion, default).WaitAsync(Timeout);

        await WhenCancelledAsync(firstTerm.Lost, Timeout);
        var secondTerm = await secondCampaign.WaitAsync(Timeout);
        Assert.True(secondTerm.Epoch > firstTerm.Epoch);
        Assert.False(first.IsLeader);
        Assert.Contains("deleted", (await EventsAsync(first)).Last().Reason);
    }

    [Fact]
    public async Task A_follower_of_the_leader_sees_none_then_each_leader_in_turn()
    {
        var observer = await ConnectAsync();
        using var cancel = new CancellationTokenSource(TestTimeouts.Process);
        await using var leaders = ZooKeeperLeaderElection.WatchLeaderAsync(observer, _layout, cancel.Token).GetAsyncEnumerator(cancel.Token);
        Assert.True(await leaders.MoveNextAsync());
        var none = leaders.Current;

        var first = Candidate(await ConnectAsync(), "a");
        await first.CampaignAsync(default).WaitAsync(Timeout);
        Assert.True(await leaders.MoveNextAsync());
        var firstSeen = leaders.Current;
        var second = Candidate(await ConnectAsync(), "bb");
        var secondCampaign = second.CampaignAsync(default);
        await first.DisposeAsync();
        await secondCampaign.WaitAsync(Timeout);
        Assert.True(await leaders.MoveNextAsync());
        var secondSeen = leaders.Current;

        Assert.Null(none);
        Assert.Equal(new LeaderCandidate("a", "10.0.0.1:7400/a"), firstSeen);
        // A candidate joining behind the leader changes nothing: the next one seen is the next leader.
        Assert.Equal(new LeaderCandidate("bb", "10.0.0.2:7400/bb"), secondSeen);
    }

    [Fact]
    public async Task Without_candidates_there_is_no_leader()
    {
        var client = await ConnectAsync();

        Assert.Null(await ZooKeeperLeaderElection.FindLeaderAsync(client, _layout, default).WaitAsync(Timeout));
    }
}
