using System.Text;
using Concord.Testing.ZooKeeper;

namespace Concord.ZooKeeper.Tests;

/// <summary>A three-server ensemble: losing one server (the leader) is no loss for a client.</summary>
public sealed class QuorumTests
{
    /// <summary>Pause between retries of a call that lost its connection while the ensemble elects a leader, in ms.</summary>
    private const int RetryPauseMs = 100;

    private static readonly TimeSpan Timeout = TestTimeouts.Step;

    [Fact]
    public async Task A_client_keeps_reading_and_writing_when_the_ensemble_leader_stops()
    {
        await using var ensemble = await ZooKeeperEnsemble.StartAsync(3);
        await using var zk = await ZooKeeperClient.ConnectAsync(
            new ZooKeeperClientOptions { ConnectString = ensemble.ConnectString, SessionTimeoutMs = 4_000 }, default).WaitAsync(Timeout);
        var created = await zk.CreateAsync("/quorum", Encoding.UTF8.GetBytes("before"), CreateMode.Persistent, default).WaitAsync(Timeout);
        var session = await zk.CreateAsync("/session", [], CreateMode.Ephemeral, default).WaitAsync(Timeout);
        var leader = Assert.Single(ensemble.Servers, s => s.Mode == "leader");

        await leader.StopAsync();

        // The two left elect a new leader; until then calls fail with a lost connection, which
        // the caller retries (another process's state: polled with a deadline).
        var deadline = DateTime.UtcNow + TestTimeouts.Process;
        ZNodeStat? written = null;
        while (written is null)
        {
            try
            {
                written = await zk.SetAsync("/quorum", Encoding.UTF8.GetBytes("after"), created.Stat.Version, default).WaitAsync(Timeout);
            }
            catch (ZooKeeperException e) when (e.Code is ZooKeeperError.ConnectionLoss or ZooKeeperError.OperationTimeout && DateTime.UtcNow < deadline)
            {
                await Task.Delay(RetryPauseMs);
            }
        }
        var survivor = ensemble.Servers.First(s => s != leader);
        await using var direct = await ZooKeeperClient.ConnectAsync(
            new ZooKeeperClientOptions { ConnectString = survivor.ClientAddress }, default).WaitAsync(Timeout);

        Assert.Equal("after", Encoding.UTF8.GetString((await direct.GetAsync("/quorum", default).WaitAsync(Timeout))!.Data));
        Assert.Equal(1, written.Version);
        // The session lived through it: its ephemeral is still there.
        Assert.Equal(session.Stat.EphemeralOwner, (await direct.ExistsAsync("/session", default).WaitAsync(Timeout))!.EphemeralOwner);
        Assert.NotEqual(ZooKeeperConnectionState.Expired, zk.State);
    }
}
