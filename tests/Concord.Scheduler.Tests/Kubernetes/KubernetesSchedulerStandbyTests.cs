using Concord.Contracts.Scheduler.V1;
using Concord.Scheduler.Leadership;
using Concord.Scheduler.Runtime;
using Concord.Scheduler.Store;
using Concord.Scheduler.Store.Kubernetes;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using SchedulerClient = Concord.Contracts.Scheduler.V1.Scheduler.SchedulerClient;

namespace Concord.Scheduler.Tests.Kubernetes;

/// <summary>
/// Two real schedulers in this process with <c>--store kubernetes</c> on
/// <see cref="KubernetesApiServerDouble"/>, a TEST DOUBLE of the API server, and fake runtimes:
/// the second serves as a standby (reads from the ConfigMaps, writes refused naming the leader
/// from the Lease); when the first's renew meets a 409 its term ends at once and its run ends,
/// and the second takes the Lease once it has seen it unrenewed for the full duration, then
/// runs the stored topology. The gate and store are the production classes, given the
/// double's address instead of the in-cluster credentials (the one substitution).
/// </summary>
public sealed class KubernetesSchedulerStandbyTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TestTimeouts.Step;
    private static readonly KubernetesLeaseTiming Timing = new(3_000);
    private static readonly KubernetesStoreLayout Layout = new("streams", "standby");

    private readonly TempDirectory _dir = new();
    private KubernetesApiServerDouble _api = null!;

    public async Task InitializeAsync() => _api = await KubernetesApiServerDouble.StartAsync();

    public async Task DisposeAsync()
    {
        Assert.Empty(_api.Violations);
        await _api.DisposeAsync();
        _dir.Dispose();
    }

    private sealed class Node(WebApplication app, SchedulerHome home, GrpcChannel channel, FakeClusterRuntime runtime, string address) : IAsyncDisposable
    {
        public FakeClusterRuntime Runtime => runtime;

        public string Address => address;

        public SchedulerClient Client { get; } = new(channel.Intercept(new SchedulerCallerCredentials(
            app.Services.GetRequiredService<global::Concord.Scheduler.Security.SchedulerSecrets>(), SchedulerAuth.ReadToken(home.Directory))));

        public KubernetesLeaderGate Gate => (KubernetesLeaderGate)app.Services.GetRequiredService<ILeaderGate>();

        public Internal.SchedulerTerm Term => app.Services.GetRequiredService<Internal.SchedulerTerm>();

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
            File.WriteAllText(Path.Combine(directory, Contracts.Credentials.TokenFileName), token);
        }
        var home = SchedulerHome.Acquire(directory);
        var runtime = new FakeClusterRuntime();
        var options = new SchedulerOptions { Home = directory, Port = 0, Store = KubernetesStoreBackend.Name, LeaseDurationMs = Timing.LeaseDurationMs };
        var app = SchedulerApp.Create(options, home, services =>
        {
            services.AddSingleton<IClusterRuntime>(runtime);
            // What KubernetesStoreBackend does, with the double's address for the credentials.
            services.AddSingleton<ILeaderGate>(_ => new KubernetesLeaderGate(_api.Client(), Layout, name, Timing, NullLogger.Instance, ownsClient: true));
            services.AddSingleton<ITopologyStore>(provider =>
            {
                var store = KubernetesTopologyStore.Open(_api.Client(), Layout, KubernetesTopologyStore.NotInOffice, ownsClient: true);
                ((KubernetesLeaderGate)provider.GetRequiredService<ILeaderGate>()).Attach(store);
                return store;
            });
        });
        await app.StartAsync().WaitAsync(Timeout);
        var address = SchedulerHome.ReadInfo(directory)?.Address ?? throw new InvalidOperationException("scheduler.json was not written");
        return new Node(app, home, GrpcChannel.ForAddress(address), runtime, address);
    }

    [Fact]
    public async Task A_standby_serves_reads_refuses_writes_naming_the_leader_and_takes_over_when_the_leaders_renew_meets_a_conflict()
    {
        await using var first = await StartAsync("first");
        await Eventually.UntilAsync(() => first.Gate.IsLeader, Timeout, () => "the first scheduler to lead");
        await first.Client.DeployAsync(new DeployRequest { Spec = SchedulerFixture.Spec("a") }).ResponseAsync.WaitAsync(Timeout);
        var launched = await first.Runtime.NextLaunchAsync(Timeout);
        Assert.Contains("a", _api.ConfigMap(Layout.TopologyName)!.Data.Keys);

        await using var second = await StartAsync("second", SchedulerAuth.ReadToken(_dir.Combine("first")));
        Assert.False(second.Gate.IsLeader);
        var read = await second.Client.ListAsync(new ListRequest()).ResponseAsync.WaitAsync(Timeout);
        Assert.Equal("a", Assert.Single(read.Operators).Spec.Name);
        await Eventually.UntilAsync(() => second.Gate.StandbyMessage.Contains(ILeaderGate.LeaderMarker + first.Address, StringComparison.Ordinal), Timeout,
            () => "the standby to know the leader: " + second.Gate.StandbyMessage);
        var refused = await Assert.ThrowsAsync<RpcException>(() => second.Client.DeployAsync(new DeployRequest { Spec = SchedulerFixture.Spec("b") }).ResponseAsync.WaitAsync(Timeout));
        Assert.Equal((StatusCode.Unavailable, $"this scheduler is a standby; the leader is {first.Address}"), (refused.StatusCode, refused.Status.Detail));

        // Someone else writes the Lease: the leader's next renew meets 409 and its term ends.
        _api.EditLease(Layout.LeaseName, lease => lease.Metadata.Annotations["edited"] = "by hand");
        await Eventually.UntilAsync(() => first.Term.Ended && first.Stopping.IsCancellationRequested, Timeout, () => "the deposed leader's run to end");
        Assert.Contains("ended", first.Term.Reason, StringComparison.Ordinal);
        Assert.False(first.Gate.IsLeader);
        var deposed = await Assert.ThrowsAsync<RpcException>(() => first.Client.DeployAsync(new DeployRequest { Spec = SchedulerFixture.Spec("c") }).ResponseAsync.WaitAsync(Timeout));
        Assert.Equal(StatusCode.Unavailable, deposed.StatusCode);
        Assert.StartsWith("this scheduler is a standby", deposed.Status.Detail, StringComparison.Ordinal);

        await Eventually.UntilAsync(() => second.Gate.IsLeader, Timeout, () => "the second scheduler to lead");
        Assert.False(second.Term.Ended);
        // The new leader runs the stored topology (this fake runtime adopts nothing: it launches).
        Assert.Equal("a", (await second.Runtime.NextLaunchAsync(Timeout)).OperatorName);
        await second.Client.DeployAsync(new DeployRequest { Spec = SchedulerFixture.Spec("b") }).ResponseAsync.WaitAsync(Timeout);
        Assert.Equal("b", (await second.Runtime.NextLaunchAsync(Timeout)).OperatorName);
        Assert.DoesNotContain("c", _api.ConfigMap(Layout.TopologyName)!.Data.Keys);

        // Stopped, the deposed leader leaves its instance for the new leader: it stops nothing.
        await first.StopAsync();
        Assert.False(first.Runtime.Stops.Reader.TryRead(out _));
        Assert.False(launched.Exited.IsCompleted);
    }
}
