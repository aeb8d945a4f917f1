using System.Text;
using Concord.Testing.ZooKeeper;

namespace Concord.ZooKeeper.Tests;

/// <summary>The wrapper against a real server: every call goes through the C client.</summary>
public sealed class ZooKeeperClientTests(ZooKeeperServerFixture server) : IClassFixture<ZooKeeperServerFixture>, IAsyncLifetime
{
    /// <summary>Session timeout of the test clients, in ms: short, so expiry tests are quick, and above the server's minimum.</summary>
    private const int SessionTimeoutMs = 2_000;

    private static readonly TimeSpan Timeout = TestTimeouts.Step;

    private readonly string _root = $"/t-{Guid.NewGuid():N}";
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
        var client = await ZooKeeperClient.ConnectAsync(
            new ZooKeeperClientOptions { ConnectString = connectString ?? server.Ensemble.ConnectString, SessionTimeoutMs = SessionTimeoutMs },
            default).WaitAsync(Timeout);
        _disposables.Add(client);
        return client;
    }

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    [Fact]
    public async Task Create_get_set_and_delete_compare_data_versions()
    {
        var zk = await ConnectAsync();
        await zk.EnsurePathAsync(_root, default).WaitAsync(Timeout);
        var path = _root + "/node";

        var created = await zk.CreateAsync(path, Bytes("one"), CreateMode.Persistent, default).WaitAsync(Timeout);
        var read = await zk.GetAsync(path, default).WaitAsync(Timeout);
        var set = await zk.SetAsync(path, Bytes("two"), 0, default).WaitAsync(Timeout);
        var staleSet = await Assert.ThrowsAsync<ZooKeeperException>(() => zk.SetAsync(path, Bytes("three"), 0, default).WaitAsync(Timeout));
        var staleDelete = await Assert.ThrowsAsync<ZooKeeperException>(() => zk.DeleteAsync(path, 0, default).WaitAsync(Timeout));
        var again = await Assert.ThrowsAsync<ZooKeeperException>(() => zk.CreateAsync(path, [], CreateMode.Persistent, default).WaitAsync(Timeout));
        var orphan = await Assert.ThrowsAsync<ZooKeeperException>(() => zk.CreateAsync(_root + "/missing/child", [], CreateMode.Persistent, default).WaitAsync(Timeout));
        var afterSet = await zk.GetAsync(path, default).WaitAsync(Timeout);
        await zk.DeleteAsync(path, 1, default).WaitAsync(Timeout);

        Assert.Equal((path, 0), (created.Path, created.Stat.Version));
        Assert.Equal("one", Encoding.UTF8.GetString(read!.Data));
        Assert.Equal(created.Stat, read.Stat);
        Assert.Equal(1, set.Version);
        Assert.True(set.Mzxid > created.Stat.Mzxid);
        Assert.Equal(ZooKeeperError.BadVersion, staleSet.Code);
        Assert.Contains("re-read and retry", staleSet.Message);
        Assert.Equal(ZooKeeperError.BadVersion, staleDelete.Code);
        Assert.Equal(ZooKeeperError.NodeExists, again.Code);
        Assert.Equal(ZooKeeperError.NoNode, orphan.Code);
        Assert.Contains("create it first", orphan.Message);
        Assert.Equal(("two", set), (Encoding.UTF8.GetString(afterSet!.Data), afterSet.Stat));
        Assert.Null(await zk.GetAsync(path, default).WaitAsync(Timeout));
        Assert.Null(await zk.ExistsAsync(path, default).WaitAsync(Timeout));
        Assert.Equal(ZooKeeperError.NoNode,
            (await Assert.ThrowsAsync<ZooKeeperException>(() => zk.GetChildrenAsync(path, default).WaitAsync(Timeout))).Code);
    }

    [Fact]
    public async Task Empty_data_and_data_at_the_limit_come_back_exactly_and_more_is_refused_before_sending()
    {
        var zk = await ConnectAsync();
        await zk.EnsurePathAsync(_root, default).WaitAsync(Timeout);
        var large = new byte[ZooKeeperLimits.NodeDataBytesMax];
        Random.Shared.NextBytes(large);

        await zk.CreateAsync(_root + "/empty", [], CreateMode.Persistent, default).WaitAsync(Timeout);
        await zk.CreateAsync(_root + "/large", large, CreateMode.Persistent, default).WaitAsync(Timeout);
        var tooLarge = await Assert.ThrowsAsync<ArgumentException>(() => zk.SetAsync(_root + "/large", new byte[ZooKeeperLimits.NodeDataBytesMax + 1], -1, default));

        Assert.Empty((await zk.GetAsync(_root + "/empty", default).WaitAsync(Timeout))!.Data);
        Assert.Equal(large, (await zk.GetAsync(_root + "/large", default).WaitAsync(Timeout))!.Data);
        Assert.Contains("NodeDataBytesMax", tooLarge.Message);
        await Assert.ThrowsAsync<ArgumentException>(() => zk.GetAsync("relative", default));
        await Assert.ThrowsAsync<ArgumentException>(() => zk.GetAsync(_root + "/", default));
    }

    [Fact]
    public async Task Sequential_ephemerals_get_increasing_names_and_disappear_when_their_session_closes()
    {
        var owner = await ConnectAsync();
        var observer = await ConnectAsync();
        await owner.EnsurePathAsync(_root, default).WaitAsync(Timeout);

        var created = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            created.Add((await owner.CreateAsync(_root + "/n-", Bytes($"{i}"), CreateMode.EphemeralSequential, default).WaitAsync(Timeout)).Path);
        }
        var persistent = await owner.CreateAsync(_root + "/keep", [], CreateMode.Persistent, default).WaitAsync(Timeout);
        var before = await observer.GetChildrenAndWatchAsync(_root, default).WaitAsync(Timeout);
        var ephemeral = await observer.ExistsAsync(created[0], default).WaitAsync(Timeout);

        await owner.DisposeAsync();

        Assert.Equal(WatchEventType.NodeChildrenChanged, (await before.Changed.WaitAsync(Timeout)).Type);
        Assert.Equal(created.Select(p => p[(_root.Length + 1)..]).Append("keep").Order(StringComparer.Ordinal), before.Value.Order(StringComparer.Ordinal));
        Assert.Equal(created.Order(StringComparer.Ordinal), created);
        Assert.All(created, p => Assert.Matches(@"/n-\d{10}$", p));
        Assert.NotEqual(0, ephemeral!.EphemeralOwner);
        Assert.Equal(0, persistent.Stat.EphemeralOwner);
        // All the session's ephemerals go in one transaction: one change leaves only "keep".
        Assert.Equal(["keep"], await observer.GetChildrenAsync(_root, default).WaitAsync(Timeout));
        Assert.Equal(ZooKeeperConnectionState.Closed, owner.State);
    }

    [Fact]
    public async Task Watches_fire_once_with_what_happened_to_the_node()
    {
        var zk = await ConnectAsync();
        var other = await ConnectAsync();
        await zk.EnsurePathAsync(_root, default).WaitAsync(Timeout);
        var path = _root + "/watched";

        var absent = await zk.ExistsAndWatchAsync(path, default).WaitAsync(Timeout);
        var absentData = await zk.GetAndWatchAsync(_root + "/later", default).WaitAsync(Timeout);
        var children = await zk.GetChildrenAndWatchAsync(_root, default).WaitAsync(Timeout);
        Assert.False(absent.Changed.IsCompleted);
        await other.CreateAsync(path, Bytes("a"), CreateMode.Persistent, default).WaitAsync(Timeout);
        var createdEvent = await absent.Changed.WaitAsync(Timeout);
        var childEvent = await children.Changed.WaitAsync(Timeout);

        var data = await zk.GetAndWatchAsync(path, default).WaitAsync(Timeout);
        await other.SetAsync(path, Bytes("b"), 0, default).WaitAsync(Timeout);
        var changedEvent = await data.Changed.WaitAsync(Timeout);

        var again = await zk.GetAndWatchAsync(path, default).WaitAsync(Timeout);
        await other.DeleteAsync(path, 1, default).WaitAsync(Timeout);
        var deletedEvent = await again.Changed.WaitAsync(Timeout);
        await other.CreateAsync(_root + "/later", [], CreateMode.Persistent, default).WaitAsync(Timeout);

        Assert.Null(absent.Value);
        Assert.Null(absentData.Value);
        Assert.Equal(new WatchEvent(WatchEventType.NodeCreated, path), createdEvent);
        Assert.Equal(new WatchEvent(WatchEventType.NodeChildrenChanged, _root), childEvent);
        Assert.Equal("a", Encoding.UTF8.GetString(data.Value!.Data));
        Assert.Equal(new WatchEvent(WatchEventType.NodeDataChanged, path), changedEvent);
        Assert.Equal("b", Encoding.UTF8.GetString(again.Value!.Data));
        Assert.Equal(new WatchEvent(WatchEventType.NodeDeleted, path), deletedEvent);
        Assert.Equal(WatchEventType.NodeCreated, (await absentData.Changed.WaitAsync(Timeout)).Type);
    }

    [Fact]
    public async Task A_multi_whose_check_fails_changes_nothing_and_one_whose_check_holds_applies_every_operation()
    {
        var zk = await ConnectAsync();
        await zk.EnsurePathAsync(_root, default).WaitAsync(Timeout);
        var epoch = await zk.CreateAsync(_root + "/epoch", [], CreateMode.Persistent, default).WaitAsync(Timeout);
        await zk.CreateAsync(_root + "/set", Bytes("old"), CreateMode.Persistent, default).WaitAsync(Timeout);
        await zk.CreateAsync(_root + "/gone", [], CreateMode.Persistent, default).WaitAsync(Timeout);
        await zk.SetAsync(_root + "/epoch", [], ZooKeeperClient.AnyVersion, default).WaitAsync(Timeout);
        ZooKeeperOp[] Ops(int epochVersion) =>
        [
            new ZooKeeperOp.Check(_root + "/epoch", epochVersion),
            new ZooKeeperOp.Create(_root + "/new-", Bytes("n"), CreateMode.PersistentSequential),
            new ZooKeeperOp.SetData(_root + "/set", Bytes("new"), 0),
            new ZooKeeperOp.Delete(_root + "/gone", 0),
        ];

        var fenced = await Assert.ThrowsAsync<ZooKeeperMultiException>(() => zk.MultiAsync(Ops(epoch.Stat.Version), default).WaitAsync(Timeout));
        var childrenAfterFenced = await zk.GetChildrenAsync(_root, default).WaitAsync(Timeout);
        var setAfterFenced = await zk.GetAsync(_root + "/set", default).WaitAsync(Timeout);
        var results = await zk.MultiAsync(Ops(epoch.Stat.Version + 1), default).WaitAsync(Timeout);

        Assert.Equal((ZooKeeperError.BadVersion, 0), (fenced.Code, fenced.FailedIndex));
        Assert.Contains("check of operation 0", fenced.Message);
        Assert.Equal(["epoch", "gone", "set"], childrenAfterFenced.Order(StringComparer.Ordinal));
        Assert.Equal("old", Encoding.UTF8.GetString(setAfterFenced!.Data));
        Assert.All(results, r => Assert.Equal(ZooKeeperError.Ok, r.Error));
        Assert.Matches($"^{_root}/new-\\d{{10}}$", results[1].CreatedPath);
        var setStat = results[2].Stat!;
        Assert.Equal(1, setStat.Version);
        Assert.Equal(setStat, (await zk.GetAsync(_root + "/set", default).WaitAsync(Timeout))!.Stat);
        Assert.Null(await zk.ExistsAsync(_root + "/gone", default).WaitAsync(Timeout));
    }

    [Fact]
    public async Task A_multi_failing_at_a_later_operation_names_it_and_applies_nothing()
    {
        var zk = await ConnectAsync();
        await zk.EnsurePathAsync(_root, default).WaitAsync(Timeout);
        await zk.CreateAsync(_root + "/exists", [], CreateMode.Persistent, default).WaitAsync(Timeout);

        var error = await Assert.ThrowsAsync<ZooKeeperMultiException>(() => zk.MultiAsync(
            [new ZooKeeperOp.Create(_root + "/a", [], CreateMode.Persistent), new ZooKeeperOp.Create(_root + "/exists", [], CreateMode.Persistent)],
            default).WaitAsync(Timeout));

        Assert.Equal((ZooKeeperError.NodeExists, 1), (error.Code, error.FailedIndex));
        Assert.Null(await zk.ExistsAsync(_root + "/a", default).WaitAsync(Timeout));
    }

    [Fact]
    public async Task A_multi_of_no_or_too_many_operations_is_refused_before_sending()
    {
        var zk = await ConnectAsync();
        var check = new ZooKeeperOp.Check("/", 0);

        var none = await Assert.ThrowsAsync<ArgumentException>(() => zk.MultiAsync([], default));
        var many = await Assert.ThrowsAsync<ArgumentException>(() => zk.MultiAsync(Enumerable.Repeat<ZooKeeperOp>(check, ZooKeeperLimits.MultiOpsMax + 1).ToList(), default));

        Assert.Contains("MultiOpsMax", none.Message);
        Assert.Contains("MultiOpsMax", many.Message);
        Assert.Equal(ZooKeeperLimits.MultiOpsMax, (await zk.MultiAsync(Enumerable.Repeat<ZooKeeperOp>(check, ZooKeeperLimits.MultiOpsMax).ToList(), default).WaitAsync(Timeout)).Count);
    }

    [Fact]
    public async Task A_cut_connection_is_reported_as_connecting_and_after_the_session_timeout_as_expired_on_reconnect()
    {
        var target = server.Ensemble.Servers[0];
        await using var proxy = new TcpProxy(target.Host, target.ClientPort);
        var cut = await ConnectAsync(proxy.Address);
        var observer = await ConnectAsync();
        await cut.EnsurePathAsync(_root, default).WaitAsync(Timeout);
        var ephemeral = await cut.CreateAsync(_root + "/mine", [], CreateMode.Ephemeral, default).WaitAsync(Timeout);
        var pendingWatch = await cut.ExistsAndWatchAsync(_root + "/never", default).WaitAsync(Timeout);
        var gone = await observer.ExistsAndWatchAsync(ephemeral.Path, default).WaitAsync(Timeout);
        using var cancel = new CancellationTokenSource(TestTimeouts.Process);
        await using var states = cut.WatchStateAsync(cancel.Token).GetAsyncEnumerator(cancel.Token);
        Assert.True(await states.MoveNextAsync());
        Assert.Equal(ZooKeeperConnectionState.Connected, states.Current);

        proxy.Cut();
        Assert.True(await states.MoveNextAsync());
        var whileCut = states.Current;
        // The server expires the session once it hears nothing for the session timeout: its
        // ephemeral goes, which another client sees.
        Assert.Equal(WatchEventType.NodeDeleted, (await gone.Changed.WaitAsync(TestTimeouts.Process)).Type);
        Assert.False(pendingWatch.Changed.IsCompleted, "a watch ended while the client could not know its session was gone");
        proxy.Restore();
        var afterRestore = new List<ZooKeeperConnectionState>();
        do
        {
            Assert.True(await states.MoveNextAsync(), "the state stream ended");
            afterRestore.Add(states.Current);
        }
        while (afterRestore[^1] != ZooKeeperConnectionState.Expired);

        Assert.Equal(ZooKeeperConnectionState.Connecting, whileCut);
        Assert.Equal(ZooKeeperConnectionState.Expired, afterRestore[^1]);
        Assert.DoesNotContain(ZooKeeperConnectionState.Connected, afterRestore);
        Assert.Equal(ZooKeeperConnectionState.Expired, cut.State);
        Assert.Equal(WatchEventType.SessionExpired, (await pendingWatch.Changed.WaitAsync(Timeout)).Type);
        var error = await Assert.ThrowsAsync<ZooKeeperException>(() => cut.GetAsync(_root, default).WaitAsync(Timeout));
        Assert.Contains("open a new client", error.Message);
    }

    [Fact]
    public async Task Connecting_to_no_server_fails_within_the_timeout_naming_the_servers_and_the_fix()
    {
        var port = ZooKeeperEnsemble.FreePort(System.Net.IPAddress.Loopback);

        var error = await Assert.ThrowsAsync<ZooKeeperException>(() => ZooKeeperClient.ConnectAsync(
            new ZooKeeperClientOptions { ConnectString = $"127.0.0.1:{port}", ConnectTimeoutMs = 1_000 }, default).WaitAsync(Timeout));

        Assert.Equal($"ZooKeeper at 127.0.0.1:{port} not reachable within 1000 ms; check --zookeeper and that the servers run", error.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("localhost")]
    [InlineData("127.0.0.1:0")]
    [InlineData("127.0.0.1:2181,nohost")]
    public async Task A_malformed_connect_string_is_refused_before_connecting(string connectString)
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() => ZooKeeperClient.ConnectAsync(
            new ZooKeeperClientOptions { ConnectString = connectString }, default).WaitAsync(Timeout));

        Assert.Contains("HOST:PORT", error.Message);
    }

    [Fact]
    public async Task The_state_stream_starts_connected_and_ends_closed_at_dispose_and_pending_watches_end_closed()
    {
        var zk = await ConnectAsync();
        // The server grants what was asked, inside its min..max.
        Assert.Equal(SessionTimeoutMs, zk.SessionTimeoutMs);
        var watch = await zk.ExistsAndWatchAsync(_root + "/never", default).WaitAsync(Timeout);
        using var cancel = new CancellationTokenSource(Timeout);
        var seen = new List<ZooKeeperConnectionState>();
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reading = Task.Run(async () =>
        {
            await foreach (var state in zk.WatchStateAsync(cancel.Token))
            {
                seen.Add(state);
                first.TrySetResult();
            }
        });
        // The reader subscribes on another thread: dispose only once it has the state it started
        // with, or it may subscribe after the dispose and start at Closed.
        await first.Task.WaitAsync(Timeout);

        await zk.DisposeAsync();
        await reading.WaitAsync(Timeout);

        Assert.Equal(ZooKeeperConnectionState.Connected, seen[0]);
        Assert.Equal(ZooKeeperConnectionState.Closed, seen[^1]);
        Assert.Equal(WatchEventType.Closed, (await watch.Changed.WaitAsync(Timeout)).Type);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => zk.GetAsync("/", default));
    }
}
