extern alias scheduler;
using Concord.Cli.Internal.Commands;
using Concord.Contracts.DataPlane.V1;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.Metrics;
using Concord.Executor.Records;
using Concord.Executor.Tracing;
using scheduler::Concord.Scheduler;
using scheduler::Concord.Scheduler.Observability;
using Google.Protobuf;
using Google.Protobuf.Collections;
using ConcordRecord = Concord.Contracts.Types.V1.Record;

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
}

public sealed class ExecutorTracingTests
{
    [Fact]
    public void A_source_samples_one_produced_record_in_N()
    {
        var tracing = new ExecutorTracing("source", 0, sampleEvery: 10, isSource: true);
        var sampled = 0;
        for (ulong seq = 1; seq <= 100; seq++)
        {
            var done = Produce(seq, "words", 37);
            tracing.Answered(done, Outputs("words"), sentUnixUs: 0);
            sampled += done.Produced.Count(p => p.Record.HasTrace && p.Record.ToRecord().Trace is not null);
        }

        // 3,700 records, one in 10 (the first at a random offset below 10).
        Assert.InRange(sampled, 369, 370);
    }

    [Fact]
    public void An_operator_that_reads_streams_does_not_sample()
    {
        var tracing = new ExecutorTracing("counter", 0, sampleEvery: 1, isSource: false);
        var done = Produce(1, "counts", 100);

        tracing.Answered(done, Outputs("counts"), 0);

        Assert.All(done.Produced, p => Assert.Null(p.Record.ToRecord().Trace));
        Assert.Equal(0, tracing.SampleEvery);
    }

    [Fact]
    public void A_traced_record_gets_queue_operator_and_send_spans_chained_by_parent_ids()
    {
        var tracing = new ExecutorTracing("counter", 1, sampleEvery: 0, isSource: false);
        var traceId = ByteString.CopyFrom(Enumerable.Range(1, 16).Select(i => (byte)i).ToArray());
        var upstreamSpan = ByteString.CopyFrom([9, 9, 9, 9, 9, 9, 9, 9]);
        var traced = new ConcordRecord { Key = ByteString.CopyFromUtf8("w"), Trace = new TraceContext { TraceId = traceId, ParentSpanId = upstreamSpan } };
        RawRecord[] received = [RawRecord.From(new ConcordRecord()), RawRecord.From(traced)];

        tracing.Received("words", received);
        var batch = new RawBatch { Seq = 7 };
        batch.Add(received[0]);
        batch.Add(received[1]);
        tracing.Sent(batch, ExecutorMetrics.NowUnixUs());
        var outputs = Outputs("counts");
        var answer = RawAnswer.From(new BatchDone
        {
            Seq = 7,
            Produced = { new ProducedRecord { Stream = "counts", Record = new ConcordRecord { Key = ByteString.CopyFromUtf8("w"), Trace = traced.Trace.Clone() } } },
        }, outputs);
        tracing.Answered(answer, outputs, 0);
        tracing.Written([answer.Produced[0].Record.Slice]);
        var produced = answer.Produced[0].Record.ToRecord();

        var spans = tracing.Store.Snapshot();
        Assert.Equal(["queue", "operator", "send"], spans.Select(s => s.Kind));
        Assert.All(spans, s => Assert.Equal(Convert.ToHexStringLower(traceId.Span), s.TraceId));
        Assert.Equal("0909090909090909", spans[0].ParentSpanId);
        Assert.Equal(spans[0].SpanId, spans[1].ParentSpanId);
        Assert.Equal(spans[1].SpanId, spans[2].ParentSpanId);
        Assert.Equal(["words", "words", "counts"], spans.Select(s => s.Stream));
        Assert.All(spans, s => Assert.Equal(("counter", 1), (s.OperatorName, s.InstanceIndex)));
        // The record now names its send span as parent: the next executor's queue span hangs under it.
        Assert.Equal(spans[2].SpanId, Convert.ToHexStringLower(produced.Trace.ParentSpanId.Span));
        Assert.Equal(spans[2].SpanId, tracing.Store.Snapshot(spans[2].TraceId)[2].SpanId);
    }

    [Fact]
    public void The_span_store_keeps_only_the_most_recent_spans()
    {
        var store = new SpanStore(capacity: 3);
        for (var i = 0; i < 5; i++)
        {
            store.Add(new Span { TraceId = "t", SpanId = i.ToString(), Kind = "operator" });
        }

        Assert.Equal(["2", "3", "4"], store.Snapshot().Select(s => s.SpanId));
        Assert.Equal(5, store.Written);
    }

    [Fact]
    public void The_scheduler_derives_the_network_hop_between_a_send_and_the_next_queue_span()
    {
        var send = new Span { TraceId = "t", SpanId = "00000000000000aa", Kind = "send", OperatorName = "source", StartUnixUs = 1_000, DurationUs = 100 };
        var queue = new Span { TraceId = "t", SpanId = "00000000000000bb", ParentSpanId = send.SpanId, Kind = "queue", OperatorName = "counter", InstanceIndex = 1, Stream = "words", StartUnixUs = 1_350, DurationUs = 10 };

        var network = Assert.Single(ObservabilityQueries.WithNetworkHops([send, queue]), s => s.Kind == "network");

        Assert.Equal((1_100L, 250L, "counter", 1, send.SpanId), (network.StartUnixUs, network.DurationUs, network.OperatorName, network.InstanceIndex, network.ParentSpanId));
    }

    [Fact]
    public void Sampling_is_read_from_the_operator_environment_before_the_executor_environment()
    {
        Assert.Equal(7, ExecutorTracing.SampleEveryFrom(_ => "3", new Dictionary<string, string> { ["CONCORD_TRACE_SAMPLE_EVERY"] = "7" }));
        Assert.Equal(3, ExecutorTracing.SampleEveryFrom(_ => "3"));
        Assert.Equal(1024, ExecutorTracing.SampleEveryFrom(_ => null));
        Assert.Equal(1024, ExecutorTracing.SampleEveryFrom(_ => "lots"));
    }

    private static RawAnswer Produce(ulong seq, string stream, int count)
    {
        var done = new BatchDone { Seq = seq };
        for (var i = 0; i < count; i++)
        {
            done.Produced.Add(new ProducedRecord { Stream = stream, Record = new ConcordRecord { Key = ByteString.CopyFromUtf8("k") } });
        }
        return RawAnswer.From(done, Outputs(stream));
    }

    private static StreamTable Outputs(params string[] streams) => new(streams);
}

public sealed class ProcessFiguresTests
{
    [Fact]
    public void Proc_stat_reads_cpu_seconds_and_resident_memory_of_a_live_process()
    {
        var self = ProcStat.Read(Environment.ProcessId);

        Assert.NotNull(self);
        Assert.True(self.Value.CpuSeconds > 0, $"cpu {self.Value.CpuSeconds}");
        Assert.True(self.Value.ResidentBytes > 10 << 20, $"rss {self.Value.ResidentBytes}");
    }

    [Fact]
    public void Proc_stat_of_a_process_that_does_not_exist_is_null()
    {
        Assert.Null(ProcStat.Read(int.MaxValue));
    }
}

public sealed class SchedulerMetricsPortTests
{
    [Theory]
    [InlineData(new[] { "--port", "7400" }, 7401)]
    [InlineData(new[] { "--port", "0" }, 0)]
    [InlineData(new[] { "--port", "0", "--metrics-port", "9100" }, 9100)]
    public void The_metrics_port_defaults_to_the_grpc_port_plus_one_or_free(string[] args, int expected)
    {
        var options = SchedulerCommandLine.Parse([.. args, "--executor", typeof(SchedulerMetricsPortTests).Assembly.Location])!;

        Assert.Equal(expected, ObservabilityServer.PortFor(options));
    }

    [Fact]
    public void A_metrics_port_that_is_not_a_port_is_rejected_with_the_fix()
    {
        var e = Assert.Throws<UsageException>(() => SchedulerCommandLine.Parse(["--metrics-port", "http"]));

        Assert.Equal("--metrics-port 'http' is not a port; use 0..65535 (0 picks a free one)", e.Message);
    }
}

public sealed class OtlpExportTests
{
    [Fact]
    public async Task Spans_are_exported_over_OTLP_with_the_trace_id_the_records_carry()
    {
        var port = ObservabilityCluster.FreePort();
        using var collector = new System.Net.HttpListener();
        collector.Prefixes.Add($"http://127.0.0.1:{port}/");
        collector.Start();
        var received = ReceiveOneAsync(collector);
        var export = new OtlpExport("counter", 1, options =>
        {
            options.Endpoint = new Uri($"http://127.0.0.1:{port}/v1/traces");
            options.Protocol = OpenTelemetry.Exporter.OtlpExportProtocol.HttpProtobuf;
        });
        var tracing = new ExecutorTracing("counter", 1, sampleEvery: 0, isSource: false, export: export);
        var traceId = Enumerable.Range(100, 16).Select(i => (byte)i).ToArray();
        var traced = new ConcordRecord { Trace = new TraceContext { TraceId = ByteString.CopyFrom(traceId), ParentSpanId = ByteString.CopyFrom([1, 2, 3, 4, 5, 6, 7, 8]) } };

        var raw = RawRecord.From(traced);
        tracing.Received("words", [raw]);
        var batch = new RawBatch { Seq = 1 };
        batch.Add(raw);
        tracing.Sent(batch, ExecutorMetrics.NowUnixUs());
        tracing.Answered(new RawAnswer(1), StreamTable.Empty, 0);
        export.Dispose(); // flushes

        var (path, body) = await received.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal("/v1/traces", path);
        Assert.True(body.AsSpan().IndexOf(traceId) >= 0, "the OTLP request carries the record's trace id");
        var spans = tracing.Store.Snapshot();
        Assert.Equal(["queue", "operator"], spans.Select(s => s.Kind));
        // With export on, span ids are the Activities' ids and they appear in the request too.
        Assert.True(body.AsSpan().IndexOf(Convert.FromHexString(spans[1].SpanId)) >= 0, "the OTLP request carries the operator span's id");
    }

    private static async Task<(string Path, byte[] Body)> ReceiveOneAsync(System.Net.HttpListener listener)
    {
        var context = await listener.GetContextAsync();
        using var body = new MemoryStream();
        await context.Request.InputStream.CopyToAsync(body);
        context.Response.StatusCode = 200;
        context.Response.Close();
        return (context.Request.Url!.AbsolutePath, body.ToArray());
    }
}
