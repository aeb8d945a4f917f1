using System.Net;
using System.Text.Json;

namespace Concord.Scheduler.Tests.Dashboard;

/// <summary>GET /ui/api/snapshot and /ui/api/history: the shape the front end reads, and figures from real scrapes.</summary>
public sealed class DashboardSnapshotTests
{
    [Fact]
    public async Task The_snapshot_has_the_operators_their_instances_and_one_stream_per_edge()
    {
        await using var scheduler = await DashboardFixture.StartAsync();
        foreach (var spec in DashboardFixture.WordCount())
        {
            await scheduler.DeployRunningAsync(spec);
        }

        var (status, snapshot) = await DashboardFixture.GetJsonAsync(scheduler.Http(bearer: true), "/ui/api/snapshot");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(snapshot.GetProperty("takenUnixMs").GetInt64() > 0);
        Assert.Equal(scheduler.Address, snapshot.GetProperty("scheduler").GetProperty("address").GetString());
        Assert.Equal(scheduler.Address, snapshot.GetProperty("scheduler").GetProperty("leader").GetString());
        Assert.False(snapshot.GetProperty("scheduler").GetProperty("fromStandby").GetBoolean());
        var operators = snapshot.GetProperty("operators").EnumerateArray().ToDictionary(o => o.GetProperty("name").GetString()!);
        Assert.Equal(["counter", "sink", "source"], operators.Keys.Order());
        var counter = operators["counter"];
        Assert.Equal(1, counter.GetProperty("desired").GetInt32());
        Assert.Equal(1, counter.GetProperty("running").GetInt32());
        Assert.Equal("running", counter.GetProperty("state").GetString());
        Assert.Equal("words", counter.GetProperty("inputs")[0].GetProperty("stream").GetString());
        Assert.Equal("group_by", counter.GetProperty("inputs")[0].GetProperty("grouping").GetString());
        Assert.Equal(["counts"], counter.GetProperty("outputs").EnumerateArray().Select(o => o.GetString()));
        Assert.Equal(JsonValueKind.Null, counter.GetProperty("latencyP99Ms").ValueKind);
        var instance = Assert.Single(counter.GetProperty("instances").EnumerateArray());
        Assert.Equal(0, instance.GetProperty("index").GetInt32());
        Assert.Equal("running", instance.GetProperty("state").GetString());
        foreach (var field in new[] { "host", "restarts", "lastError", "stateSinceUnixMs", "cpuPercent", "memoryBytes", "recordsInPerSec", "recordsOutPerSec", "metricsError" })
        {
            Assert.True(instance.TryGetProperty(field, out _), $"instance has no '{field}'");
        }
        var streams = snapshot.GetProperty("streams").EnumerateArray()
            .Select(s => (s.GetProperty("stream").GetString(), s.GetProperty("from").GetString(), s.GetProperty("to").GetString(), s.GetProperty("grouping").GetString()))
            .Order().ToList();
        Assert.Equal([("counts", "counter", "sink", "shuffle"), ("words", "source", "counter", "group_by")], streams);
        Assert.Equal(JsonValueKind.Null, snapshot.GetProperty("checkpoints").ValueKind);
    }

    [Fact]
    public async Task Rates_latency_cpu_and_memory_come_from_two_consecutive_scrapes_of_the_executors()
    {
        await using var metrics = await FakeExecutorMetrics.StartAsync();
        metrics.Backpressured = true;
        await using var scheduler = await DashboardFixture.StartAsync();
        await scheduler.DeployRunningAsync(SchedulerFixture.Spec("counter", reads: "words", writes: "counts"), _ => metrics.Address);
        await scheduler.DeployRunningAsync(SchedulerFixture.Spec("sink", reads: "counts"));
        await using var events = await EventStreamClient.OpenAsync(scheduler.Http(bearer: true));

        // The first snapshot has no earlier scrape to compare with; a later one has.
        JsonElement counter, snapshot;
        do
        {
            snapshot = await events.NextSnapshotAsync();
            counter = snapshot.GetProperty("operators").EnumerateArray().Single(o => o.GetProperty("name").GetString() == "counter");
        }
        while (counter.GetProperty("recordsInPerSec").GetDouble() == 0);

        Assert.True(counter.GetProperty("recordsOutPerSec").GetDouble() > 0);
        Assert.True(counter.GetProperty("droppedPerSec").GetDouble() > 0);
        // 90 % of the observations under 1 ms, the rest between 10 and 100 ms.
        Assert.InRange(counter.GetProperty("latencyP50Ms").GetDouble(), 0, 1);
        Assert.InRange(counter.GetProperty("latencyP99Ms").GetDouble(), 10, 100);
        Assert.True(counter.GetProperty("backpressured").GetBoolean());
        var instance = counter.GetProperty("instances")[0];
        Assert.Equal("", instance.GetProperty("metricsError").GetString());
        Assert.True(instance.GetProperty("cpuPercent").GetDouble() > 0);
        Assert.Equal(52428800, instance.GetProperty("memoryBytes").GetDouble());
        Assert.True(instance.GetProperty("recordsInPerSec").GetDouble() > 0);
        // The edge carries its producer's rate, and shows the producer stalled on credit.
        var counts = snapshot.GetProperty("streams").EnumerateArray().Single(s => s.GetProperty("stream").GetString() == "counts");
        Assert.Equal(counter.GetProperty("recordsOutPerSec").GetDouble(), counts.GetProperty("recordsPerSec").GetDouble());
        Assert.True(counts.GetProperty("backpressured").GetBoolean());
    }

    [Fact]
    public async Task An_executor_that_cannot_be_scraped_shows_its_error_and_no_figures()
    {
        await using var scheduler = await DashboardFixture.StartAsync();
        // Nothing listens there.
        await scheduler.DeployRunningAsync(SchedulerFixture.Spec("counter"), _ => "127.0.0.1:1");

        var (_, snapshot) = await DashboardFixture.GetJsonAsync(scheduler.Http(bearer: true), "/ui/api/snapshot");

        var instance = snapshot.GetProperty("operators")[0].GetProperty("instances")[0];
        Assert.Contains("scrape of http://127.0.0.1:1/metrics failed", instance.GetProperty("metricsError").GetString());
        Assert.Equal(JsonValueKind.Null, instance.GetProperty("cpuPercent").ValueKind);
        Assert.Equal(JsonValueKind.Null, instance.GetProperty("memoryBytes").ValueKind);
    }

    [Fact]
    public async Task History_keeps_one_point_per_computed_snapshot_per_operator()
    {
        await using var scheduler = await DashboardFixture.StartAsync();
        await scheduler.DeployRunningAsync(SchedulerFixture.Spec("counter"));
        var http = scheduler.Http(bearer: true);
        // Three distinct snapshots: a push may reuse a snapshot computed less than half an
        // interval before (the one sent on connect, when computing it was slow), and a reused
        // snapshot is not a new point.
        const int snapshots = 3;
        const int eventsMax = 4 * snapshots;
        var taken = new HashSet<long>();
        await using (var events = await EventStreamClient.OpenAsync(http))
        {
            for (var i = 0; i < eventsMax && taken.Count < snapshots; i++)
            {
                taken.Add((await events.NextSnapshotAsync()).GetProperty("takenUnixMs").GetInt64());
            }
        }
        Assert.Equal(snapshots, taken.Count);

        var (status, history) = await DashboardFixture.GetJsonAsync(http, "/ui/api/history");

        Assert.Equal(HttpStatusCode.OK, status);
        var points = history.GetProperty("operators").GetProperty("counter").EnumerateArray().ToList();
        // Each snapshot seen is a point; at most a couple more were computed unseen (after the last one read).
        Assert.Subset(points.Select(p => p.GetProperty("t").GetInt64()).ToHashSet(), taken);
        Assert.InRange(points.Count, snapshots, snapshots + 2);
        Assert.All(points, p =>
        {
            Assert.True(p.GetProperty("t").GetInt64() > 0);
            Assert.True(p.TryGetProperty("in", out _));
            Assert.True(p.TryGetProperty("out", out _));
        });
    }
}
