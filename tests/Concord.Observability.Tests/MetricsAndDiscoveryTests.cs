extern alias scheduler;
using System.Globalization;
using System.Text.Json;
using Concord.EndToEnd.Tests.Harness;
using scheduler::Concord.Scheduler.Observability;

namespace Concord.Observability.Tests;

/// <summary>Every executor and the scheduler serve /metrics; the scheduler lists the executors for Prometheus.</summary>
[Collection(ClusterCollection.Name)]
public sealed class MetricsAndDiscoveryTests(ObservabilityCluster fixture)
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    [Fact]
    public async Task Service_discovery_lists_every_running_executor_with_operator_and_instance_labels()
    {
        var groups = await TargetsAsync();

        var executors = groups.Where(g => g.Labels.GetValueOrDefault("component") == "executor")
            .Select(g => $"{g.Labels["operator"]}/{g.Labels["instance"]}").Order().ToList();
        Assert.Equal(["counter/0", "counter/1", "sink/0", "source/0"], executors);
        Assert.Contains(groups, g => g.Labels.GetValueOrDefault("component") == "scheduler" && g.Targets.Single() == fixture.SchedulerMetricsAddress);
        var list = await fixture.Cluster.Client.ListAsync(new(), fixture.Cluster.Call());
        var counter0 = list.Operators.Single(o => o.Spec.Name == "counter").Instances[0];
        Assert.Equal(counter0.MetricsAddress, groups.Single(g => g.Labels.GetValueOrDefault("operator") == "counter" && g.Labels["instance"] == "0").Targets.Single());
    }

    [Fact]
    public async Task A_counter_executor_exports_the_catalogue_with_operator_instance_and_stream_labels()
    {
        var target = (await TargetsAsync()).Single(g => g.Labels.GetValueOrDefault("operator") == "counter" && g.Labels["instance"] == "0").Targets.Single();

        var text = await Http.GetStringAsync($"http://{target}/metrics");

        Assert.True(Sample(text, "concord_records_in_total", "stream=\"words\",operator=\"counter\",instance=\"0\"") > 0, text);
        Assert.True(Sample(text, "concord_records_out_total", "stream=\"counts\",operator=\"counter\",instance=\"0\"") > 0, text);
        Assert.True(Sample(text, "concord_batch_duration_seconds_count", "operator=\"counter\",instance=\"0\"") > 0, text);
        Assert.True(Sample(text, "concord_end_to_end_latency_seconds_count", "stream=\"words\",operator=\"counter\",instance=\"0\"") > 0, text);
        Assert.True(Sample(text, "concord_operator_cpu_seconds_total", "operator=\"counter\",instance=\"0\"") > 0, text);
        Assert.True(Sample(text, "concord_operator_resident_memory_bytes", "operator=\"counter\",instance=\"0\"") > 1_000_000, text);
        Assert.True(Sample(text, "concord_inbound_queue_rows_max", "operator=\"counter\",instance=\"0\"") > 0, text);
        foreach (var name in new[] { "concord_inbound_queue_rows", "concord_outbound_queue_rows", "concord_backpressure_seconds_total", "concord_executor_start_time_seconds" })
        {
            Assert.Contains($"\n{name}{{", "\n" + text);
        }
    }

    [Fact]
    public async Task The_scheduler_exports_operators_instances_by_state_deploys_and_restarts()
    {
        var text = await Http.GetStringAsync($"http://{fixture.SchedulerMetricsAddress}/metrics");

        Assert.Equal(3, Sample(text, "concord_operators", ""));
        Assert.Equal(2, Sample(text, "concord_instances", "operator=\"counter\",state=\"running\""));
        Assert.Equal(0, Sample(text, "concord_instances", "operator=\"counter\",state=\"failed\""));
        Assert.True(Sample(text, "concord_deploys_total", "") >= 3, text);
        Assert.Equal(0, Sample(text, "concord_restarts_total", "operator=\"sink\",instance=\"0\""));
    }

    [Fact]
    public async Task Scheduler_json_records_the_metrics_address_and_it_serves_prometheus_text()
    {
        using var info = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(fixture.Cluster.Home, "scheduler.json")));
        var address = info.RootElement.GetProperty("metricsAddress").GetString();

        using var response = await Http.GetAsync($"http://{address}/metrics");

        Assert.True(response.IsSuccessStatusCode);
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType);
    }

    private async Task<List<TargetGroup>> TargetsAsync()
    {
        // Instances are running once the fixture starts; SD shows them from then on.
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://{fixture.SchedulerMetricsAddress}/prometheus/targets");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", SchedulerAuth.ReadToken(fixture.Cluster.Home));
        using var response = await Http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        var json = await response.Content.ReadAsStringAsync();
        return JsonSerializer.Deserialize<List<TargetGroup>>(json)!;
    }

    /// <summary>The value of the sample <c>name{labels}</c> (labels exactly as exposed, "" for none); NaN when absent.</summary>
    public static double Sample(string text, string name, string labels)
    {
        var prefix = labels.Length == 0 ? name + " " : $"{name}{{{labels}}} ";
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(prefix, StringComparison.Ordinal))
            {
                return double.Parse(line[prefix.Length..].Trim(), CultureInfo.InvariantCulture);
            }
        }
        return double.NaN;
    }
}
