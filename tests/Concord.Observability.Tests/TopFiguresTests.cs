using Concord.Cli.Internal.Commands;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;

namespace Concord.Observability.Tests;

public sealed class TopFiguresTests
{
    [Fact]
    public void The_p99_interpolates_inside_the_bucket_like_histogram_quantile()
    {
        // 100 observations: 50 up to 1 ms, 50 more up to 2 ms. Rank 99 lies 49/50 into the second bucket.
        var buckets = new SortedDictionary<double, double> { [0.001] = 50, [0.002] = 100, [double.PositiveInfinity] = 100 };

        Assert.Equal(0.001 + 0.001 * 49 / 50, TopFigures.Quantile(0.99, buckets)!.Value, 9);
    }

    [Fact]
    public void No_observations_give_no_quantile()
    {
        Assert.Null(TopFigures.Quantile(0.99, new SortedDictionary<double, double> { [0.001] = 0, [double.PositiveInfinity] = 0 }));
        Assert.Null(TopFigures.Quantile(0.99, []));
    }

    [Fact]
    public void Rates_come_from_two_scrapes_and_a_restarted_instance_counts_as_zero_not_negative()
    {
        var list = new ListResponse { Operators = { new OperatorStatus { Spec = new OperatorSpec { Name = "counter", Instances = 2 } } } };
        var before = new GetInstanceMetricsResponse
        {
            Instances =
            {
                new InstanceMetrics { OperatorName = "counter", InstanceIndex = 0, ScrapedUnixMs = 1_000, RecordsInTotal = 1_000, CpuSecondsTotal = 1 },
                new InstanceMetrics { OperatorName = "counter", InstanceIndex = 1, ScrapedUnixMs = 1_000, RecordsInTotal = 9_000 },
            },
        };
        var after = new GetInstanceMetricsResponse
        {
            Instances =
            {
                new InstanceMetrics { OperatorName = "counter", InstanceIndex = 0, ScrapedUnixMs = 3_000, RecordsInTotal = 5_000, CpuSecondsTotal = 2, ResidentMemoryBytes = 10, InboundQueueRows = 5, InboundQueueRowsMax = 10 },
                new InstanceMetrics { OperatorName = "counter", InstanceIndex = 1, ScrapedUnixMs = 3_000, RecordsInTotal = 10, ResidentMemoryBytes = 20, InboundQueueRowsMax = 10 },
            },
        };

        var row = Assert.Single(TopFigures.Rows(list, before, after));

        Assert.Equal(2_000, row.InPerSecond); // (5000-1000)/2 s + restarted instance 0
        Assert.Equal(50, row.CpuPercent);
        Assert.Equal(30, row.MemoryBytes);
        Assert.Equal(0.25, row.QueueFill);
    }

    [Fact]
    public void Dropped_records_are_summed_over_the_operators_instances_since_each_started()
    {
        var list = new ListResponse { Operators = { new OperatorStatus { Spec = new OperatorSpec { Name = "source", Instances = 2 } } } };
        var before = new GetInstanceMetricsResponse();
        var after = new GetInstanceMetricsResponse
        {
            Instances =
            {
                new InstanceMetrics { OperatorName = "source", InstanceIndex = 0, ScrapedUnixMs = 3_000, RecordsDroppedTotal = 1_500 },
                new InstanceMetrics { OperatorName = "source", InstanceIndex = 1, ScrapedUnixMs = 3_000, RecordsDroppedTotal = 500 },
                new InstanceMetrics { OperatorName = "source", InstanceIndex = 2, ScrapedUnixMs = 3_000, Error = "connection refused", RecordsDroppedTotal = 7 },
            },
        };

        var row = Assert.Single(TopFigures.Rows(list, before, after));

        Assert.Equal(2_000, row.Dropped);
    }
}
