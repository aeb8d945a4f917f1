using System.Net;
using Concord.Contracts.Scheduler.V1;
using Concord.Scheduler.Leadership;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;

namespace Concord.Scheduler.Tests.Dashboard;

/// <summary>Scale, kill, logs and traces from the dashboard: the reconciler's own checks and messages, and a standby's refusal.</summary>
public sealed class DashboardActionsTests
{
    [Fact]
    public async Task Scale_launches_the_new_instances_and_the_next_snapshot_shows_them()
    {
        await using var scheduler = await DashboardFixture.StartAsync();
        await scheduler.DeployRunningAsync(SchedulerFixture.Spec("counter"));
        var http = await scheduler.LoggedInAsync();

        var (status, body) = await DashboardFixture.PostAsync(http, "/ui/api/scale", new { @operator = "counter", instances = 3 });
        await scheduler.RegisterAsync(await scheduler.Runtime.NextLaunchAsync(DashboardFixture.Timeout));
        await scheduler.RegisterAsync(await scheduler.Runtime.NextLaunchAsync(DashboardFixture.Timeout));
        await using var events = await EventStreamClient.OpenAsync(http);
        var counter = (await events.NextSnapshotAsync()).GetProperty("operators")[0];

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("'counter' scaled to 3 instance(s)", body.GetProperty("message").GetString());
        Assert.Equal(3, counter.GetProperty("desired").GetInt32());
        Assert.Equal(3, counter.GetProperty("running").GetInt32());
        Assert.Equal(3, counter.GetProperty("instances").GetArrayLength());
    }

    [Fact]
    public async Task A_bad_scale_gets_the_same_message_as_the_grpc_api()
    {
        await using var scheduler = await DashboardFixture.StartAsync();
        await scheduler.DeployRunningAsync(SchedulerFixture.Spec("counter"));
        var http = scheduler.Http(bearer: true);

        var (rangeStatus, range) = await DashboardFixture.PostAsync(http, "/ui/api/scale", new { @operator = "counter", instances = 0 });
        var (unknownStatus, unknown) = await DashboardFixture.PostAsync(http, "/ui/api/scale", new { @operator = "nope", instances = 2 });
        var grpcRange = await Assert.ThrowsAsync<RpcException>(() => scheduler.Client.ScaleAsync(new ScaleRequest { Name = "counter", Instances = 0 }).ResponseAsync);
        var grpcUnknown = await Assert.ThrowsAsync<RpcException>(() => scheduler.Client.ScaleAsync(new ScaleRequest { Name = "nope", Instances = 2 }).ResponseAsync);

        Assert.Equal(HttpStatusCode.BadRequest, rangeStatus);
        Assert.Equal(grpcRange.Status.Detail, range.GetProperty("error").GetString());
        Assert.StartsWith("instances: 0 is out of range", range.GetProperty("error").GetString());
        Assert.Equal(HttpStatusCode.NotFound, unknownStatus);
        Assert.Equal(StatusCode.NotFound, grpcUnknown.StatusCode);
        Assert.Equal(grpcUnknown.Status.Detail, unknown.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Kill_removes_the_operator_from_the_snapshot_and_its_history()
    {
        await using var scheduler = await DashboardFixture.StartAsync();
        await scheduler.DeployRunningAsync(SchedulerFixture.Spec("counter"));
        await scheduler.DeployRunningAsync(SchedulerFixture.Spec("sink"));
        var http = scheduler.Http(bearer: true);
        var (_, before) = await DashboardFixture.GetJsonAsync(http, "/ui/api/snapshot");
        var (_, historyBefore) = await DashboardFixture.GetJsonAsync(http, "/ui/api/history");

        var (status, body) = await DashboardFixture.PostAsync(http, "/ui/api/kill", new { @operator = "counter" });
        await using var events = await EventStreamClient.OpenAsync(http);
        // The first event may be the snapshot from before the kill (reused within an interval).
        var names = new List<string?>();
        for (var i = 0; i < 2; i++)
        {
            names = (await events.NextSnapshotAsync()).GetProperty("operators").EnumerateArray().Select(o => o.GetProperty("name").GetString()).ToList();
        }
        var (_, history) = await DashboardFixture.GetJsonAsync(http, "/ui/api/history");

        Assert.Equal(2, before.GetProperty("operators").GetArrayLength());
        Assert.True(historyBefore.GetProperty("operators").TryGetProperty("counter", out _));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("'counter' killed", body.GetProperty("message").GetString());
        Assert.Equal(["sink"], names);
        Assert.False(history.GetProperty("operators").TryGetProperty("counter", out _));
        Assert.True(history.GetProperty("operators").TryGetProperty("sink", out _));
    }

    [Fact]
    public async Task Logs_of_an_unknown_operator_are_404_and_lines_out_of_range_400()
    {
        await using var scheduler = await DashboardFixture.StartAsync();
        await scheduler.DeployRunningAsync(SchedulerFixture.Spec("counter"));
        var http = scheduler.Http(bearer: true);

        var (unknownStatus, unknown) = await DashboardFixture.GetJsonAsync(http, "/ui/api/logs?operator=nope");
        var (rangeStatus, range) = await DashboardFixture.GetJsonAsync(http, "/ui/api/logs?operator=counter&lines=201");
        var (okStatus, ok) = await DashboardFixture.GetJsonAsync(http, "/ui/api/logs?operator=counter&lines=10");
        var (tracesStatus, traces) = await DashboardFixture.GetJsonAsync(http, "/ui/api/traces?limit=5");
        var (traceStatus, trace) = await DashboardFixture.GetJsonAsync(http, "/ui/api/traces/not-hex");

        Assert.Equal(HttpStatusCode.NotFound, unknownStatus);
        Assert.Contains("operator 'nope' is not deployed; deployed: counter", unknown.GetProperty("error").GetString());
        Assert.Equal(HttpStatusCode.BadRequest, rangeStatus);
        Assert.Contains("use 1..200", range.GetProperty("error").GetString());
        Assert.Equal(HttpStatusCode.OK, okStatus);
        Assert.Equal(0, ok.GetProperty("lines").GetArrayLength()); // the fake runtime writes no log
        Assert.Equal(HttpStatusCode.OK, tracesStatus);
        Assert.Equal(0, traces.GetProperty("traces").GetArrayLength());
        Assert.Equal(HttpStatusCode.BadRequest, traceStatus);
        Assert.Contains("is not 32 hex digits", trace.GetProperty("error").GetString());
    }

    [Fact]
    public async Task A_standby_serves_the_snapshot_naming_the_leader_and_answers_actions_with_503_naming_it()
    {
        const string leader = "http://10.203.1.2:7400";
        await using var scheduler = await DashboardFixture.StartAsync(configure: services => services.AddSingleton<ILeaderGate>(new StandbyGate(leader)));
        var http = scheduler.Http(bearer: true);

        var (snapshotStatus, snapshot) = await DashboardFixture.GetJsonAsync(http, "/ui/api/snapshot");
        var (scaleStatus, scale) = await DashboardFixture.PostAsync(http, "/ui/api/scale", new { @operator = "counter", instances = 2 });
        var (killStatus, kill) = await DashboardFixture.PostAsync(http, "/ui/api/kill", new { @operator = "counter" });

        Assert.Equal(HttpStatusCode.OK, snapshotStatus);
        Assert.Equal(leader, snapshot.GetProperty("scheduler").GetProperty("leader").GetString());
        Assert.True(snapshot.GetProperty("scheduler").GetProperty("fromStandby").GetBoolean());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, scaleStatus);
        Assert.Contains(leader, scale.GetProperty("error").GetString());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, killStatus);
        Assert.Contains(leader, kill.GetProperty("error").GetString());
    }

    /// <summary>A gate that never takes office: the scheduler stays a standby of <paramref name="leader"/>.</summary>
    private sealed class StandbyGate(string leader) : ILeaderGate
    {
        public bool Elects => true;

        public bool IsLeader => false;

        public CancellationToken TermLost => CancellationToken.None;

        public string StandbyMessage => $"this scheduler is a standby; the leader is {leader}";

        public string? LeaderAddress => leader;

        public async Task<LeaderTerm> LeadAsync(string address, CancellationToken cancellationToken)
        {
            await Task.Delay(System.Threading.Timeout.Infinite, cancellationToken);
            throw new OperationCanceledException(cancellationToken);
        }
    }
}
