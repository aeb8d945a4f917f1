using Concord.Contracts.DataPlane.V1;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.DataPlane.Internal;
using Concord.Executor.Records;
using Concord.Executor.Records.Internal;
using Google.Protobuf;
using static Concord.Executor.Tests.TestSupport;

namespace Concord.Executor.Tests;

/// <summary>
/// The executor reads and writes records as bytes (services/executor/Records); the generated
/// code is the reference. Every case checks both directions against it: what the generated
/// code writes scans to the same fields, what the executor writes parses to the same message.
/// </summary>
public sealed class RecordWireTests
{
    private static readonly TraceContext Trace = new()
    {
        TraceId = ByteString.CopyFrom(Enumerable.Range(1, 16).Select(i => (byte)i).ToArray()),
        ParentSpanId = ByteString.CopyFrom([7, 7, 7, 7, 7, 7, 7, 7]),
    };

    public static TheoryData<string> Shapes => ["empty", "key-only", "binary", "negative-time", "traced", "large", "unknown-field"];

    private static ConcordRecord Shape(string shape) => shape switch
    {
        "empty" => new ConcordRecord(),
        "key-only" => new ConcordRecord { Key = ByteString.CopyFromUtf8("k") },
        "binary" => new ConcordRecord { Key = ByteString.CopyFrom([0xff, 0x00, 0xc3]), Value = ByteString.CopyFrom([0, 1, 2]), EventTimeUnixMs = 1_700_000_000_123, IngestTimeUnixUs = 1_700_000_000_123_456 },
        "negative-time" => new ConcordRecord { Key = ByteString.CopyFromUtf8("k"), EventTimeUnixMs = -5 },
        "traced" => new ConcordRecord { Key = ByteString.CopyFromUtf8("w"), Value = ByteString.CopyFromUtf8("1"), Trace = Trace },
        "large" => new ConcordRecord { Key = ByteString.CopyFromUtf8("big"), Value = ByteString.CopyFrom(new byte[300_000]) },
        "unknown-field" => ConcordRecord.Parser.ParseFrom([.. new ConcordRecord { Key = ByteString.CopyFromUtf8("k") }.ToByteArray(), 0x48, 0x2a]),
        _ => throw new ArgumentOutOfRangeException(nameof(shape)),
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void A_record_written_by_the_generated_code_scans_to_the_same_fields(string shape)
    {
        var record = Shape(shape);
        var bytes = record.ToByteArray();

        var raw = RecordWire.ScanRecord(bytes, 0, bytes.Length);

        Assert.Equal(record.Key.ToByteArray(), raw.Key.ToArray());
        Assert.Equal(record.Value.ToByteArray(), raw.Value.ToArray());
        Assert.Equal(record.EventTimeUnixMs, raw.EventTimeUnixMs);
        Assert.Equal(record.IngestTimeUnixUs, raw.IngestTimeUnixUs);
        Assert.Equal(record.Trace is not null, raw.HasTrace);
        Assert.Equal(record.CalculateSize(), raw.Length);
        Assert.Equal(record, raw.ToRecord());
    }

    [Theory]
    [InlineData("", "", 0L, 0L)]
    [InlineData("word", "word", 1_700_000_000_000L, 1_700_000_000_000_000L)]
    [InlineData("k", "", -1L, 5L)]
    [InlineData("", "v", 127L, 128L)]
    public void A_record_written_by_the_executor_parses_with_the_generated_code(string key, string value, long eventMs, long ingestUs)
    {
        var writer = new AnswerWriter(3);
        writer.Produce(0, System.Text.Encoding.UTF8.GetBytes(key), System.Text.Encoding.UTF8.GetBytes(value), eventMs, ingestUs);

        var written = writer.Answer.Produced[0].Record;
        var parsed = written.ToRecord();
        var scanned = RecordWire.ScanRecord(written.Buffer, written.Offset, written.Length);

        Assert.Equal(scanned.Key.ToArray(), written.Key.ToArray());
        Assert.Equal(scanned.Value.ToArray(), written.Value.ToArray());
        Assert.Equal((scanned.EventTimeUnixMs, scanned.IngestTimeUnixUs, scanned.Length), (written.EventTimeUnixMs, written.IngestTimeUnixUs, written.Length));
        Assert.Equal(new ConcordRecord { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFromUtf8(value), EventTimeUnixMs = eventMs, IngestTimeUnixUs = ingestUs }, parsed);
    }

    [Theory]
    [InlineData(0UL)]
    [InlineData(127UL)]
    [InlineData(128UL)]
    [InlineData(ulong.MaxValue)]
    public void Varint_sizes_match_what_is_written(ulong value)
    {
        Span<byte> bytes = stackalloc byte[10];
        Assert.Equal(RecordWire.WriteVarint(bytes, value), RecordWire.VarintSize(value));
        Assert.Equal(CodedOutputStream.ComputeUInt64Size(value), RecordWire.VarintSize(value));
    }

    [Fact]
    public void A_process_batch_written_by_the_executor_is_the_generated_message()
    {
        var batch = new RawBatch { Seq = 300 };
        foreach (var shape in new[] { "binary", "traced", "large", "empty" })
        {
            batch.Add(RawRecord.From(Shape(shape)));
        }
        batch.TimersFired.Add(new TimerFired { Key = "flush", TimeUnixMs = 42 });
        var bytes = new byte[batch.SerializedSize];

        batch.WriteTo(bytes);

        var expected = new ExecutorMessage { ProcessBatch = batch.ToProcessBatch() };
        Assert.Equal(expected.ToByteArray(), bytes);
        Assert.Equal(expected, ExecutorMessage.Parser.ParseFrom(bytes));
    }

    [Fact]
    public void A_record_batch_frame_written_by_the_executor_is_the_generated_message()
    {
        var frame = new OutgoingBatch();
        var records = new[] { "binary", "traced", "key-only" }.Select(Shape).ToList();
        foreach (var record in records)
        {
            frame.Add(RawRecord.From(record).Slice);
        }
        var bytes = new byte[frame.SerializedSize];

        frame.WriteTo(bytes);

        Assert.Equal(new DataFrame { Batch = new RecordBatch { Records = { records } } }.ToByteArray(), bytes);
        // And the receiving side reads it back.
        Assert.Equal(records, DataPlaneWire.ReadBatch(bytes).Select(r => r.ToRecord()));
    }

    [Fact]
    public void A_data_frame_that_is_not_a_batch_is_refused_naming_what_it_was()
    {
        var open = new DataFrame { Open = new ChannelOpen { Stream = "words" } }.ToByteArray();

        var e = Assert.Throws<Grpc.Core.RpcException>(() => DataPlaneWire.ReadBatch(open));

        Assert.Contains("got Open", e.Status.Detail);
    }

    [Fact]
    public void A_batch_done_scans_to_its_records_streams_and_timers()
    {
        var outputs = new StreamTable(["words", "counts"]);
        var done = new BatchDone
        {
            Seq = 9,
            Produced =
            {
                new ProducedRecord { Stream = "counts", Record = Shape("binary") },
                new ProducedRecord { Stream = "words", Record = Shape("traced") },
                new ProducedRecord { Stream = "counts", Record = Shape("empty") },
            },
            TimersSet = { new TimerSet { Key = "t", TimeUnixMs = 5 } },
        };

        var answer = RawAnswer.TryScanOperatorMessage(new OperatorMessage { BatchDone = done }.ToByteArray(), outputs)!;

        Assert.Equal(9UL, answer.Seq);
        Assert.Equal([1, 0, 1], answer.Produced.Select(p => p.Stream));
        Assert.Equal(done.Produced.Select(p => p.Record), answer.Produced.Select(p => p.Record.ToRecord()));
        Assert.Equal(done.TimersSet, answer.TimersSet);
    }

    [Fact]
    public void Operator_messages_other_than_batch_done_are_left_to_the_generated_parser()
    {
        var log = new OperatorMessage { Log = new Log { Message = "hello" } }.ToByteArray();
        var errorAfterDone = new OperatorMessage { BatchDone = new BatchDone { Seq = 1 } }.ToByteArray()
            .Concat(new OperatorMessage { Error = new Error { Message = "x" } }.ToByteArray()).ToArray();

        Assert.Null(RawAnswer.TryScanOperatorMessage(log, StreamTable.Empty));
        // Protobuf merges concatenated messages and the oneof's last field wins: this is an Error.
        Assert.Null(RawAnswer.TryScanOperatorMessage(errorAfterDone, StreamTable.Empty));
        Assert.Equal(OperatorMessage.MessageOneofCase.Error, OperatorMessage.Parser.ParseFrom(errorAfterDone).MessageCase);
    }

    [Fact]
    public void A_record_on_an_undeclared_stream_is_a_protocol_error_naming_the_stream_and_the_outputs()
    {
        var done = new BatchDone { Seq = 1, Produced = { new ProducedRecord { Stream = "secret", Record = Shape("key-only") } } };

        var e = Assert.Throws<OperatorProtocolException>(() => RawAnswer.From(done, new StreamTable(["words"])));

        Assert.Contains("'secret'", e.Message);
        Assert.Contains("metadata outputs [words]", e.Message);
    }

    [Fact]
    public void A_produced_record_without_a_record_is_a_protocol_error()
    {
        var done = new BatchDone { Seq = 4, Produced = { new ProducedRecord { Stream = "words" } } };

        var e = Assert.Throws<OperatorProtocolException>(() => RawAnswer.From(done, new StreamTable(["words"])));

        Assert.Contains("without a record in batch 4", e.Message);
    }

    [Fact]
    public void A_batch_done_with_a_malformed_timer_is_refused_as_bad_wire_format_naming_the_batch()
    {
        // BatchDone{seq: 5, timers_set: [bytes that are not a TimerSet (a truncated string)]}
        byte[] bytes = [0x08, 0x05, 0x1A, 0x02, 0x0A, 0x09];

        var e = Assert.Throws<WireFormatException>(() => RawAnswer.Scan(bytes, 0, bytes.Length, StreamTable.Empty));

        Assert.Contains("timers_set entry of batch 5", e.Message);
    }

    [Fact]
    public void A_traced_record_whose_trace_does_not_parse_is_not_followed_and_does_not_fail_the_data_path()
    {
        // Record{key: "k", trace: <a truncated nested message>}: scans (the trace is length-delimited) but does not parse.
        byte[] bytes = [0x0A, 0x01, (byte)'k', 0x22, 0x02, 0x0A, 0x10];
        var raw = RecordWire.ScanRecord(bytes, 0, bytes.Length);
        Assert.True(raw.HasTrace);
        var tracing = new Concord.Executor.Tracing.ExecutorTracing("counter", 0, sampleEvery: 0, isSource: false, TestTelemetry.Metrics());

        tracing.Received("words", [raw]);

        Assert.Empty(tracing.Store.Snapshot());
    }

    [Theory]
    [InlineData(new byte[] { 0x0A, 0x05, 0x01 }, "runs past the end")]
    [InlineData(new byte[] { 0x18, 0xff }, "truncated varint")]
    [InlineData(new byte[] { 0x00 }, "invalid tag")]
    [InlineData(new byte[] { 0x0B }, "wire type 3")]
    public void Malformed_record_bytes_are_refused_with_what_is_wrong(byte[] bytes, string problem)
    {
        var e = Assert.Throws<WireFormatException>(() => RecordWire.ScanRecord(bytes, 0, bytes.Length));

        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void The_memory_bound_covers_a_held_record()
    {
        // ExecutorLimits.RecordObjectOverheadBytes: the struct plus its tag and length prefix.
        Assert.True(System.Runtime.CompilerServices.Unsafe.SizeOf<RawRecord>() + 6 <= ExecutorLimits.RecordObjectOverheadBytes,
            $"RawRecord is {System.Runtime.CompilerServices.Unsafe.SizeOf<RawRecord>()} bytes; raise RecordObjectOverheadBytes");
        Assert.True(System.Runtime.CompilerServices.Unsafe.SizeOf<RawProduced>() - System.Runtime.CompilerServices.Unsafe.SizeOf<RawRecord>() <= ExecutorLimits.ProducedRecordObjectOverheadBytes);
        Assert.True(2 * System.Runtime.CompilerServices.Unsafe.SizeOf<RecordSlice>() <= ExecutorLimits.OutboundRecordOverheadBytes);
    }

    [Fact]
    public void A_record_copied_into_an_arena_keeps_its_fields_and_leaves_the_source_buffer()
    {
        var source = Raw("key", "value");
        var arena = new RecordArena();

        var copy = arena.Copy(source);

        Assert.NotSame(source.Buffer, copy.Buffer);
        Assert.Equal("key", copy.KeyString());
        Assert.Equal("value", copy.ValueString());
        Assert.Equal(source.ToRecord(), copy.ToRecord());
    }
}
