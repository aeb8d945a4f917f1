using Concord.EndToEnd.Tests.Harness;

namespace Concord.Observability.Tests;

/// <summary>
/// A real Prometheus scrapes a running word count: it finds the executors only through the
/// scheduler's service discovery (its config names no executor), and PromQL over what it
/// scraped shows records flowing.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class PrometheusTests(ObservabilityCluster fixture)
{
    /// <summary>
    /// Deadline for the first useful query, in seconds: Prometheus applies discovered targets
    /// every ~5 s and a rate needs two scrapes, so data appears 6–10 s after start; 60 s leaves
    /// room on a loaded machine.
    /// </summary>
    private static readonly TimeSpan DataTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Prometheus_discovers_the_executors_through_the_scheduler_and_sees_a_non_zero_record_rate()
    {
        await using var prometheus = await PrometheusServer.StartAsync(fixture.SchedulerMetricsAddress, Path.Combine(fixture.Cluster.Home, "token"));

        // Discovery: every executor is an active, healthy target labelled by operator and instance.
        var targets = await Eventually.UntilAsync(async () =>
        {
            var active = await prometheus.TargetsAsync();
            var up = active.Where(t => t.Labels.ContainsKey("operator") && t.Health == "up").ToList();
            return up.Count == 4 ? up : null;
        }, DataTimeout, () => $"4 healthy executor targets in Prometheus\n{prometheus.Output}");
        Assert.Equal(["counter/0", "counter/1", "sink/0", "source/0"],
            targets.Select(t => $"{t.Labels["operator"]}/{t.Labels["instance"]}").Order().ToList());

        // Scraping: the counter's records-in counter grows, so its rate is positive.
        var rate = await Eventually.UntilAsync(async () =>
        {
            var result = await prometheus.QueryAsync("sum by (operator) (rate(concord_records_in_total{operator=\"counter\",stream=\"words\"}[5s]))");
            return result.Count == 1 && result[0].Value > 0 ? Tuple.Create(result[0].Labels, result[0].Value) : null;
        }, DataTimeout, () => $"a non-zero rate of concord_records_in_total for the counter\n{prometheus.Output}");
        Assert.Equal("counter", rate.Item1["operator"]);
        Assert.True(rate.Item2 > 0, $"rate {rate.Item2}");

        // The scheduler scrapes too (it lists itself in discovery).
        var operators = await Eventually.UntilAsync(async () =>
        {
            var result = await prometheus.QueryAsync("concord_operators");
            return result.Count == 1 ? result : null;
        }, DataTimeout, () => "concord_operators from the scheduler");
        Assert.Equal(3, operators[0].Value);
    }
}
