using Concord.Contracts.Types.V1;
using Concord.Executor.Metrics;
using Concord.Executor.Records;
using Concord.Executor.Tracing;
using Google.Protobuf;
using ConcordRecord = Concord.Contracts.Types.V1.Record;

namespace Concord.Observability.Tests;

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
        var tracing = new ExecutorTracing("counter", 1, sampleEvery: 0, isSource: false, new ExecutorMetrics(), export: export);
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
