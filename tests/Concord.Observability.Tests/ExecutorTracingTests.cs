using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.Metrics;
using Concord.Executor.Records;
using Concord.Executor.Tracing;
using Google.Protobuf;
using ConcordRecord = Concord.Contracts.Types.V1.Record;

namespace Concord.Observability.Tests;

public sealed class ExecutorTracingTests
{
    [Fact]
    public void A_source_samples_one_produced_record_in_N()
    {
        var metrics = new ExecutorMetrics();
        var tracing = new ExecutorTracing("source", 0, sampleEvery: 10, isSource: true, metrics);
        var sampled = 0;
        for (ulong seq = 1; seq <= 100; seq++)
        {
            var done = Produce(seq, "words", 37);
            tracing.Answered(done, Outputs("words"), sentUnixUs: 0);
            sampled += done.Produced.Count(p => p.Record.HasTrace && p.Record.ToRecord().Trace is not null);
        }

        // 3,700 records, one in 10 (the first at a random offset below 10).
        Assert.InRange(sampled, 369, 370);
        Assert.Equal(sampled, metrics.TracesSampled.Value);
    }

    [Fact]
    public void An_operator_that_reads_streams_does_not_sample()
    {
        var tracing = new ExecutorTracing("counter", 0, sampleEvery: 1, isSource: false, new ExecutorMetrics());
        var done = Produce(1, "counts", 100);

        tracing.Answered(done, Outputs("counts"), 0);

        Assert.All(done.Produced, p => Assert.Null(p.Record.ToRecord().Trace));
        Assert.Equal(0, tracing.SampleEvery);
    }

    [Fact]
    public void A_traced_record_gets_queue_operator_and_send_spans_chained_by_parent_ids()
    {
        var metrics = new ExecutorMetrics();
        var tracing = new ExecutorTracing("counter", 1, sampleEvery: 0, isSource: false, metrics);
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
        Assert.Equal(3, metrics.SpansRecorded.Value);
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
