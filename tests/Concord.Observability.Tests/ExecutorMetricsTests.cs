using Concord.Contracts.Types.V1;
using Concord.Executor;
using Concord.Executor.Metrics;
using Prometheus;

namespace Concord.Observability.Tests;

public sealed class ExecutorMetricsTests
{
    [Fact]
    public async Task Every_series_carries_the_operator_and_instance_of_the_options()
    {
        var metrics = new ExecutorMetrics(Options("counter", 3));

        metrics.Dropped("words", "no_reader", 2);
        var text = await ScrapeAsync(metrics);

        var dropped = Assert.Single(Samples(text, "concord_records_dropped_total"));
        Assert.Equal(["instance=\"3\"", "operator=\"counter\"", "reader=\"\"", "reason=\"no_reader\"", "stream=\"words\""], dropped.Labels);
        Assert.Equal("2", dropped.Value);
        var started = Assert.Single(Samples(text, "concord_executor_start_time_seconds"));
        Assert.Equal(["instance=\"3\"", "operator=\"counter\""], started.Labels);
    }

    [Fact]
    public async Task Two_executors_in_one_process_count_apart()
    {
        var first = new ExecutorMetrics(Options("source", 0));
        var second = new ExecutorMetrics(Options("counter", 1));

        first.Dropped("words", "send_failed", 5);

        Assert.Equal(5, first.RecordsDropped.WithLabels("words", "send_failed", "").Value);
        Assert.Equal(0, second.RecordsDropped.WithLabels("words", "send_failed", "").Value);
        Assert.DoesNotContain("operator=\"source\"", await ScrapeAsync(second));
    }

    private static ExecutorOptions Options(string name, int index) => new()
    {
        SchedulerAddress = new Uri("http://127.0.0.1:7400"),
        OperatorName = name,
        InstanceIndex = index,
        Incarnation = "inc-1",
        Spec = new OperatorSpec { Name = name, Instances = index + 1 },
        WorkDir = "/",
    };

    /// <summary>The samples of <paramref name="name"/> in Prometheus text: labels sorted (their order is not part of the format), and the value.</summary>
    private static IEnumerable<(string[] Labels, string Value)> Samples(string text, string name) =>
        text.Split('\n')
            .Where(line => line.StartsWith(name + "{", StringComparison.Ordinal))
            .Select(line =>
            {
                var close = line.IndexOf('}');
                var labels = line[(name.Length + 1)..close].Split(',').Order(StringComparer.Ordinal).ToArray();
                return (labels, line[(close + 2)..]);
            });

    private static async Task<string> ScrapeAsync(ExecutorMetrics metrics)
    {
        using var text = new MemoryStream();
        await metrics.Registry.CollectAndExportAsTextAsync(text).WaitAsync(TimeSpan.FromSeconds(30));
        return System.Text.Encoding.UTF8.GetString(text.ToArray());
    }
}
