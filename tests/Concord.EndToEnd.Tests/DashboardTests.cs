using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Concord.EndToEnd.Tests.Harness;

namespace Concord.EndToEnd.Tests;

/// <summary>
/// The web dashboard's JSON API (docs/dashboard.md) against a real scheduler process running
/// the word count: what the page shows and does, without the browser.
/// </summary>
public class DashboardTests
{
    private static readonly TimeSpan FlowTimeout = TestTimeouts.Flow;

    [Fact]
    public async Task The_word_count_shows_three_operators_two_streams_with_rates_and_scale_and_kill_take_effect()
    {
        await using var cluster = await Cluster.StartAsync();
        var output = Path.Combine(cluster.Home, "counts.csv");
        await cluster.DeployAsync(Specs.Sink(output));
        await cluster.DeployAsync(Specs.Counter(instances: 1));
        await cluster.DeployAsync(Specs.Source(rate: 5_000));
        using var http = new HttpClient
        {
            BaseAddress = new Uri(cluster.Address),
            DefaultRequestVersion = HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = TestTimeouts.Step,
        };

        // Unauthenticated: refused.
        using (var refused = await http.GetAsync("/ui/api/snapshot"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", SchedulerAuth.ReadToken(cluster.Home));

        // Both edges carry records once they flow (rates from two scrapes of the executors).
        var snapshot = await Eventually.UntilAsync(async () =>
        {
            var s = await SnapshotAsync(http);
            return s.GetProperty("streams").EnumerateArray().Count(e => e.GetProperty("recordsPerSec").GetDouble() > 0) == 2 ? (object)s : null;
        }, FlowTimeout, () => $"two streams with a non-zero rate\n{cluster.InstanceLogs("source")}");
        var view = (JsonElement)snapshot;
        Assert.Equal(["counter", "sink", "source"], Names(view));
        Assert.Equal([("counts", "counter", "sink"), ("words", "source", "counter")],
            view.GetProperty("streams").EnumerateArray().Select(e => (e.GetProperty("stream").GetString(), e.GetProperty("from").GetString(), e.GetProperty("to").GetString())).Order());
        var counter = view.GetProperty("operators").EnumerateArray().Single(o => o.GetProperty("name").GetString() == "counter");
        // A .NET apphost says nothing about its language; a file-less guess stays empty rather than wrong.
        Assert.Equal("", counter.GetProperty("language").GetString());
        Assert.True(counter.GetProperty("recordsInPerSec").GetDouble() > 0);
        Assert.True(counter.GetProperty("instances")[0].GetProperty("memoryBytes").GetDouble() > 0);

        // Scale from the dashboard: 3/3 running.
        var (scaleStatus, scaled) = await PostAsync(http, "/ui/api/scale", """{"operator": "counter", "instances": 3}""");
        Assert.True(scaleStatus == HttpStatusCode.OK, scaled);
        await Eventually.UntilAsync(async () =>
        {
            var c = (await SnapshotAsync(http)).GetProperty("operators").EnumerateArray().Single(o => o.GetProperty("name").GetString() == "counter");
            return c.GetProperty("running").GetInt32() == 3 && c.GetProperty("desired").GetInt32() == 3;
        }, FlowTimeout, () => $"counter at 3/3\n{cluster.InstanceLogs("counter")}");

        // Kill from the dashboard: gone.
        var (killStatus, killed) = await PostAsync(http, "/ui/api/kill", """{"operator": "source"}""");
        Assert.True(killStatus == HttpStatusCode.OK, killed);
        await Eventually.UntilAsync(async () => !Names(await SnapshotAsync(http)).Contains("source"), FlowTimeout, () => "source gone from the snapshot");
    }

    private static async Task<JsonElement> SnapshotAsync(HttpClient http)
    {
        var text = await http.GetStringAsync("/ui/api/snapshot");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private static List<string> Names(JsonElement snapshot) =>
        snapshot.GetProperty("operators").EnumerateArray().Select(o => o.GetProperty("name").GetString()!).Order().ToList();

    private static async Task<(HttpStatusCode, string)> PostAsync(HttpClient http, string path, string json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Add("X-Concord-Dashboard", "1");
        using var response = await http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }
}
