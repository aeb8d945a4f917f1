extern alias scheduler;
using Concord.Contracts.Scheduler.V1;
using scheduler::Concord.Scheduler.Observability;

namespace Concord.Observability.Tests;

public sealed class PrometheusTextTests
{
    private const string Exposition = """
        # HELP concord_records_in_total Records received.
        # TYPE concord_records_in_total counter
        concord_records_in_total{stream="words",operator="counter",instance="0"} 1500
        concord_records_in_total{stream="more",operator="counter",instance="0"} 500
        concord_records_out_total{stream="counts",operator="counter",instance="0"} 1999
        concord_batch_duration_seconds_bucket{operator="counter",instance="0",le="0.001"} 3
        concord_batch_duration_seconds_bucket{operator="counter",instance="0",le="0.002"} 8
        concord_batch_duration_seconds_bucket{operator="counter",instance="0",le="+Inf"} 10
        concord_inbound_queue_rows{operator="counter",instance="0"} 12
        concord_inbound_queue_rows_max{operator="counter",instance="0"} 131072
        concord_operator_cpu_seconds_total{operator="counter",instance="0"} 1.5
        concord_operator_resident_memory_bytes{operator="counter",instance="0"} 9.4e7
        concord_records_dropped_total{stream="counts",reason="reader_unavailable",reader="sink",operator="counter",instance="0"} 40
        concord_records_dropped_total{stream="counts",reason="no_reader",reader="",operator="counter",instance="0"} 2
        """;

    [Fact]
    public void Fill_sums_counters_over_streams_and_keeps_histogram_buckets_by_bound()
    {
        var figures = new InstanceMetrics();

        PrometheusText.Fill(figures, Exposition);

        Assert.Equal(2000, figures.RecordsInTotal);
        Assert.Equal(1999, figures.RecordsOutTotal);
        Assert.Equal(12, figures.InboundQueueRows);
        Assert.Equal(131072, figures.InboundQueueRowsMax);
        Assert.Equal(1.5, figures.CpuSecondsTotal);
        Assert.Equal(9.4e7, figures.ResidentMemoryBytes);
        Assert.Equal(42, figures.RecordsDroppedTotal);
        Assert.Equal([0.001, 0.002, double.PositiveInfinity], figures.BatchDurationBuckets.Select(b => b.UpperBoundSeconds));
        Assert.Equal([3.0, 8, 10], figures.BatchDurationBuckets.Select(b => b.Count));
    }

    [Theory]
    [InlineData("concord_operators 3", "concord_operators", "", 3)]
    [InlineData("x{a=\"1\",le=\"+Inf\"} 7", "x", "a=\"1\",le=\"+Inf\"", 7)]
    public void Parse_splits_a_sample_line_into_name_labels_and_value(string line, string name, string labels, double value)
    {
        Assert.Equal((name, labels, value), PrometheusText.Parse(line));
    }

    [Fact]
    public void Parse_ignores_lines_that_are_not_samples()
    {
        Assert.Null(PrometheusText.Parse("garbage").Name);
        Assert.Null(PrometheusText.Parse("name{broken 1").Name);
    }
}
