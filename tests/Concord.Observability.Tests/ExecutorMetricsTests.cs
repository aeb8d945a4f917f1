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

        Assert.Contains("concord_records_dropped_total{operator=\"counter\",instance=\"3\",stream=\"words\",reason=\"no_reader\"} 2", text);
        Assert.Contains("concord_executor_start_time_seconds{operator=\"counter\",instance=\"3\"}", text);
    }

    [Fact]
    public async Task Two_executors_in_one_process_count_apart()
    {
        var first = new ExecutorMetrics(Options("source", 0));
        var second = new ExecutorMetrics(Options("counter", 1));

        first.Dropped("words", "send_failed", 5);

        Assert.Equal(5, first.RecordsDropped.WithLabels("words", "send_failed").Value);
        Assert.Equal(0, second.RecordsDropped.WithLabels("words", "send_failed").Value);
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

    private static async Task<string> ScrapeAsync(ExecutorMetrics metrics)
    {
        using var text = new MemoryStream();
        await metrics.Registry.CollectAndExportAsTextAsync(text).WaitAsync(TimeSpan.FromSeconds(30));
        return System.Text.Encoding.UTF8.GetString(text.ToArray());
    }
}
