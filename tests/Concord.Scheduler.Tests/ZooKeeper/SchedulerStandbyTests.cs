using Concord.Contracts.Scheduler.V1;
using Concord.Scheduler.Leadership;
using Concord.Scheduler.Runtime;
using Concord.Scheduler.Store.ZooKeeper;
using Concord.ZooKeeper;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using SchedulerClient = Concord.Contracts.Scheduler.V1.Scheduler.SchedulerClient;

namespace Concord.Scheduler.Tests.ZooKeeper;

/// <summary>
/// Two real schedulers in this process with <c>--store zookeeper</c> on one server and fake
/// runtimes (docs/cluster.md "High availability"): the second serves as a standby (reads from
/// the store, writes refused naming the leader); when the first's term ends it stops acting at
/// once (writes refused, its instances left alone even when it is stopped) and the second takes
/// office and runs the stored topology.
/// </summary>
/// <remarks>The schedulers use the default root (/concord), so this class has a server of its own.</remarks>
public sealed class SchedulerStandbyTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TestTimeouts.Step;

    private readonly ZooKeeperServerFixture _server = new();
    private readonly TempDirectory _dir = new();

    public Task InitializeAsync() => _server.InitializeAsync();

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _dir.Dispose();
    }

    private sealed class Node(WebApplication app, SchedulerHome home, GrpcChannel channel, FakeClusterRuntime runtime, string address) : IAsyncDisposable
    {
        public FakeClusterRuntime Runtime => runtime;

        public string Address => address;

        public SchedulerClient Client { get; } = new(channel.Intercept(new SchedulerCallerCredentials(
            app.Services.GetRequiredService<global::Concord.Scheduler.Security.SchedulerSecrets>(), SchedulerAuth.ReadToken(home.Directory))));

        public ILeaderGate Gate => app.Services.GetRequiredService<ILeaderGate>();

        public Internal.SchedulerTerm Term => app.Services.GetRequiredService<Internal.SchedulerTerm>();

        /// <summary>Cancelled once the run asked to end (Program would start the next one).</summary>
        public CancellationToken Stopping => app.Lifetime.ApplicationStopping;

        private bool _stopped;

        public async Task StopAsync()
        {
            if (!_stopped)
            {
                _stopped = true;
                channel.Dispose();
                await app.StopAsync().WaitAsync(Timeout);
                await app.DisposeAsync();
                home.Dispose();
            }
        }

        public async ValueTask DisposeAsync() => await StopAsync();
    }

    private async Task<Node> StartAsync(string name, string? token = null)
    {
        var directory = _dir.Combine(name);
        Directory.CreateDirectory(directory);
        if (token is not null)
        {
            // The schedulers of one cluster share its operator token.
            File.WriteAllText(Path.Combine(directory, Contracts.Credentials.TokenFileName), token);
        }
        var home = SchedulerHome.Acquire(directory);
        var runtime = new FakeClusterRuntime();
        var options = new SchedulerOptions { Home = directory, Port = 0, Store = ZooKeeperStoreBackend.Name, ZooKeeper = _server.Ensemble.ConnectString };
        var app = SchedulerApp.Create(options, home, services => services.AddSingleton<IClusterRuntime>(runtime));
        await app.StartAsync().WaitAsync(Timeout);
        var address = SchedulerHome.ReadInfo(directory)?.Address ?? throw new InvalidOperationException("scheduler.json was not written");
        return new Node(app, home, GrpcChannel.ForAddress(address), runtime, address);
    }

    [Fact]
    public async Task A_standby_serves_reads_refuses_writes_naming_the_leader_and_takes_over_when_the_leaders_term_ends()
    {
        await using var first = await StartAsync("first");
        await Eventually.UntilAsync(() => first.Gate.IsLeader, Timeout, () => "the first scheduler to lead");
        await first.Client.DeployAsync(new DeployRequest { Spec = SchedulerFixture.Spec("a") }).ResponseAsync.WaitAsync(Timeout);
        var launched = await first.Runtime.NextLaunchAsync(Timeout);

        await using var second = await StartAsync("second", SchedulerAuth.ReadToken(_dir.Combine("first")));
        Assert.False(second.Gate.IsLeader);
        var read = await second.Client.ListAsync(new ListRequest()).ResponseAsync.WaitAsync(Timeout);
        Assert.Equal("a", Assert.Single(read.Operators).Spec.Name);
        await Eventually.UntilAsync(() => second.Gate.StandbyMessage.Contains(ILeaderGate.LeaderMarker + first.Address, StringComparison.Ordinal), Timeout,
            () => "the standby to know the leader: " + second.Gate.StandbyMessage);
        var refused = await Assert.ThrowsAsync<RpcException>(() => second.Client.DeployAsync(new DeployRequest { Spec = SchedulerFixture.Spec("b") }).ResponseAsync.WaitAsync(Timeout));
        Assert.Equal((StatusCode.Unavailable, $"this scheduler is a standby; the leader is {first.Address}"), (refused.StatusCode, refused.Status.Detail));

        // The first's term ends: its election node goes (as when its session expires).
        await using (var client = await _server.ConnectAsync())
        {
            var nodes = (await client.GetChildrenAsync(ZooKeeperLayout.Default.Election, default).WaitAsync(Timeout)).Order(StringComparer.Ordinal).ToList();
            await client.DeleteAsync(ZooKeeperLayout.Default.Election + "/" + nodes[0], ZooKeeperClient.AnyVersion, default).WaitAsync(Timeout);
        }
        await Eventually.UntilAsync(() => !first.Gate.IsLeader && second.Gate.IsLeader, Timeout, () => "the second scheduler to lead and the first not");

        // The deposed leader's run ends by itself (Program then starts a fresh one that stands again).
        await Eventually.UntilAsync(() => first.Term.Ended && first.Stopping.IsCancellationRequested, Timeout, () => "the deposed leader's run to end");
        Assert.Contains("epoch", first.Term.Reason, StringComparison.Ordinal);
        Assert.False(second.Term.Ended);
        var deposed = await Assert.ThrowsAsync<RpcException>(() => first.Client.DeployAsync(new DeployRequest { Spec = SchedulerFixture.Spec("c") }).ResponseAsync.WaitAsync(Timeout));
        Assert.Equal(StatusCode.Unavailable, deposed.StatusCode);
        Assert.StartsWith("this scheduler is a standby", deposed.Status.Detail, StringComparison.Ordinal);
        // The new leader runs the stored topology (this fake runtime adopts nothing: it launches).
        Assert.Equal("a", (await second.Runtime.NextLaunchAsync(Timeout)).OperatorName);
        await second.Client.DeployAsync(new DeployRequest { Spec = SchedulerFixture.Spec("b") }).ResponseAsync.WaitAsync(Timeout);
        Assert.Equal("b", (await second.Runtime.NextLaunchAsync(Timeout)).OperatorName);

        // Stopped, the deposed leader leaves its instance for the new leader: it stops nothing.
        await first.StopAsync();
        Assert.False(first.Runtime.Stops.Reader.TryRead(out _));
        Assert.False(launched.Exited.IsCompleted);
    }
}
