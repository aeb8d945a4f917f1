using System.Runtime.InteropServices;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Sdk.Internal;
using Google.Protobuf;

namespace Concord.Sdk.Tests;

/// <summary>
/// The SDK's hand-written wire shapes (OperatorWire, BatchDoneWriter) against the generated
/// code, the reference: what is read by hand equals what the generated parser reads, and what
/// is written by hand is byte for byte what the generated serializer writes.
/// </summary>
public sealed class OperatorWireTests
{
    private static readonly TraceContext Trace = new()
    {
        TraceId = ByteString.CopyFrom(Enumerable.Range(1, 16).Select(i => (byte)i).ToArray()),
        ParentSpanId = ByteString.CopyFrom(Enumerable.Range(100, 8).Select(i => (byte)i).ToArray()),
    };

    private static ProcessBatch FullBatch()
    {
        var batch = new ProcessBatch { Seq = 300, StateAsOfSeq = 297, WatermarkUnixMs = -5 };
        batch.Records.Add(new ConcordRecord { Key = ByteString.CopyFromUtf8("word"), Value = ByteString.CopyFromUtf8("1"), EventTimeUnixMs = 1_700_000_000_000, IngestTimeUnixUs = 1_700_000_000_000_123 });
        batch.Records.Add(new ConcordRecord()); // every field at its default: an empty body
        batch.Records.Add(new ConcordRecord { Value = ByteString.CopyFrom(new byte[300]), EventTimeUnixMs = -1 });
        batch.Records.Add(new ConcordRecord { Key = ByteString.CopyFromUtf8("traced"), Trace = Trace, IngestTimeUnixUs = 7 });
        batch.Records.Add(new ConcordRecord { Key = ByteString.CopyFromUtf8("ünïcode"), Trace = new TraceContext() });
        batch.TimersFired.Add(new TimerFired { Key = "t", TimeUnixMs = 42, StateKey = ByteString.CopyFromUtf8("k"), Domain = TimeDomain.Event });
        batch.TimersFired.Add(new TimerFired { Key = "u" });
        batch.States.Add(new KeyState { Key = ByteString.CopyFromUtf8("k"), Values = { new StateValue { Name = "count", Value = ByteString.CopyFromUtf8("3") } } });
        return batch;
    }

    private static byte[] Field(int number, byte[] body)
    {
        var tag = OperatorWireTestBytes.Varint((ulong)((number << 3) | 2));
        return [.. tag, .. OperatorWireTestBytes.Varint((ulong)body.Length), .. body];
    }

    /// <summary>An unknown varint field 99 = 1.</summary>
    private static readonly byte[] UnknownField = [.. OperatorWireTestBytes.Varint((99 << 3) | 0), 1];

    private static void AssertReadsAsGenerated(byte[] payload)
    {
        var expected = ExecutorMessage.Parser.ParseFrom(payload);
        var actual = OperatorWire.ParseExecutorMessage((byte[])payload.Clone());
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void A_ProcessBatch_with_every_field_reads_as_the_generated_parser_reads_it()
    {
        var payload = new ExecutorMessage { ProcessBatch = FullBatch() }.ToByteArray();
        AssertReadsAsGenerated(payload);
    }

    [Fact]
    public void Keys_and_values_of_plain_records_wrap_the_payload_without_a_copy()
    {
        var payload = new ExecutorMessage { ProcessBatch = FullBatch() }.ToByteArray();
        var batch = OperatorWire.ParseExecutorMessage(payload).ProcessBatch;
        Assert.True(MemoryMarshal.TryGetArray(batch.Records[0].Key.Memory, out var key));
        Assert.Same(payload, key.Array);
        Assert.True(MemoryMarshal.TryGetArray(batch.Records[2].Value.Memory, out var value));
        Assert.Same(payload, value.Array);
        Assert.Equal(300, value.Count);
    }

    [Fact]
    public void Unknown_fields_in_a_record_a_batch_or_the_message_are_kept_as_the_generated_parser_keeps_them()
    {
        var record = new ConcordRecord { Key = ByteString.CopyFromUtf8("k"), Value = ByteString.CopyFromUtf8("v") }.ToByteArray();
        var plain = new ConcordRecord { Key = ByteString.CopyFromUtf8("plain") }.ToByteArray();
        byte[] batchWithUnknownRecord = [.. new ProcessBatch { Seq = 1 }.ToByteArray(), .. Field(2, plain), .. Field(2, [.. record, .. UnknownField])];
        AssertReadsAsGenerated(Field(2, batchWithUnknownRecord));
        var parsed = OperatorWire.ParseExecutorMessage(Field(2, batchWithUnknownRecord));
        Assert.Equal(new ConcordRecord { Key = ByteString.CopyFromUtf8("k"), Value = ByteString.CopyFromUtf8("v") }.CalculateSize() + UnknownField.Length,
            parsed.ProcessBatch.Records[1].CalculateSize());

        byte[] batchWithUnknown = [.. FullBatch().ToByteArray(), .. UnknownField];
        AssertReadsAsGenerated(Field(2, batchWithUnknown));
        AssertReadsAsGenerated([.. Field(2, FullBatch().ToByteArray()), .. UnknownField]);
    }

    [Fact]
    public void A_field_given_twice_reads_as_the_generated_parser_reads_it()
    {
        // Scalars and bytes: the last wins; a message field twice merges (the generated parser's case).
        byte[] record = [.. new ConcordRecord { Key = ByteString.CopyFromUtf8("first"), EventTimeUnixMs = 1 }.ToByteArray(),
            .. new ConcordRecord { Key = ByteString.CopyFromUtf8("second"), EventTimeUnixMs = 2 }.ToByteArray()];
        byte[] batch = [.. new ProcessBatch { Seq = 1 }.ToByteArray(), .. Field(2, record), .. new ProcessBatch { Seq = 2 }.ToByteArray()];
        AssertReadsAsGenerated(Field(2, batch));
        var twoBatches = Field(2, new ProcessBatch { Seq = 1, Records = { new ConcordRecord() } }.ToByteArray());
        AssertReadsAsGenerated([.. twoBatches, .. twoBatches]);
    }

    [Fact]
    public void Init_Shutdown_and_an_empty_batch_read_as_the_generated_parser_reads_them()
    {
        var init = new Init { ProtocolVersion = 1, OperatorName = "counter", InstanceCount = 2, InstanceIndex = 1, MaxRecordBytes = 10, MaxBatchesInFlight = 4 };
        init.Capabilities.Add("event-time.v1");
        AssertReadsAsGenerated(new ExecutorMessage { Init = init }.ToByteArray());
        AssertReadsAsGenerated(new ExecutorMessage { Shutdown = new Shutdown { Reason = "bye" } }.ToByteArray());
        AssertReadsAsGenerated(new ExecutorMessage { ProcessBatch = new ProcessBatch() }.ToByteArray());
        AssertReadsAsGenerated([]);
    }

    [Fact]
    public void A_truncated_batch_fails_as_the_generated_parser_fails()
    {
        var payload = new ExecutorMessage { ProcessBatch = FullBatch() }.ToByteArray();
        foreach (var cut in new[] { 1, 2, 5, payload.Length / 2, payload.Length - 1 })
        {
            var truncated = payload[..cut];
            Assert.Throws<InvalidProtocolBufferException>(() => ExecutorMessage.Parser.ParseFrom(truncated));
            Assert.Throws<InvalidProtocolBufferException>(() => OperatorWire.ParseExecutorMessage(truncated));
        }
    }

    private static void AssertWritesAsGenerated(BatchDone expected, Action<BatchDoneWriter> produce)
    {
        var writer = new BatchDoneWriter();
        writer.Begin(expected.Seq);
        produce(writer);
        writer.Rest.TimersSet.Add(expected.TimersSet);
        writer.Rest.StateMutations.Add(expected.StateMutations);
        var message = writer.Finish();
        try
        {
            var generated = new OperatorMessage { BatchDone = expected }.ToByteArray();
            Assert.Equal(generated, message.Serialized.ToArray());
            Assert.Equal(new OperatorMessage { BatchDone = expected }, message.ToOperatorMessage());
        }
        finally
        {
            message.Release();
        }
    }

    private static void Add(BatchDoneWriter writer, ProducedRecord produced) =>
        writer.AddProduced(BatchDoneWriter.StreamField(produced.Stream), produced.Record.Key.Span, produced.Record.Value.Span,
            produced.Record.EventTimeUnixMs, produced.Record.IngestTimeUnixUs, produced.Record.Trace);

    [Fact]
    public void A_BatchDone_with_every_field_is_written_byte_for_byte_as_the_generated_code_writes_it()
    {
        var done = new BatchDone { Seq = 300 };
        done.Produced.Add(new ProducedRecord { Stream = "counts", Record = new ConcordRecord { Key = ByteString.CopyFromUtf8("word"), Value = ByteString.CopyFromUtf8("12"), EventTimeUnixMs = 1_700_000_000_000, IngestTimeUnixUs = 1_700_000_000_000_123 } });
        done.Produced.Add(new ProducedRecord { Stream = "ünïcode.stream", Record = new ConcordRecord() });
        done.Produced.Add(new ProducedRecord { Stream = "counts", Record = new ConcordRecord { Value = ByteString.CopyFrom(new byte[200]), EventTimeUnixMs = -1, Trace = Trace, IngestTimeUnixUs = -2 } });
        done.Produced.Add(new ProducedRecord { Stream = "counts", Record = new ConcordRecord { Key = ByteString.CopyFromUtf8("k"), Trace = new TraceContext() } });
        done.TimersSet.Add(new TimerSet { Key = "t", TimeUnixMs = 42, StateKey = ByteString.CopyFromUtf8("k"), Domain = TimeDomain.Event });
        done.TimersSet.Add(new TimerSet { Key = "u" });
        done.StateMutations.Add(new StateMutation { Key = ByteString.CopyFromUtf8("k"), Name = "count", Value = ByteString.CopyFromUtf8("3") });
        done.StateMutations.Add(new StateMutation { Key = ByteString.CopyFromUtf8("j"), Name = "count", Clear = true });
        AssertWritesAsGenerated(done, writer =>
        {
            foreach (var produced in done.Produced)
            {
                Add(writer, produced);
            }
        });
    }

    [Fact]
    public void Init_s_BatchDone_seq_0_and_an_empty_BatchDone_are_written_as_the_generated_code_writes_them()
    {
        var init = new BatchDone();
        init.Produced.Add(new ProducedRecord { Stream = "out", Record = new ConcordRecord { Key = ByteString.CopyFromUtf8("a"), EventTimeUnixMs = 5, IngestTimeUnixUs = 6 } });
        AssertWritesAsGenerated(init, writer => Add(writer, init.Produced[0]));
        AssertWritesAsGenerated(new BatchDone(), _ => { });
        AssertWritesAsGenerated(new BatchDone { Seq = ulong.MaxValue }, _ => { });
    }

    [Fact]
    public void A_BatchDone_larger_than_the_first_buffer_grows_and_stays_exact()
    {
        var done = new BatchDone { Seq = 7 };
        var value = ByteString.CopyFrom(new byte[1000]);
        var records = SdkLimits.BatchDoneBufferBytesInitial / 1000 * 3;
        for (var i = 0; i < records; i++)
        {
            done.Produced.Add(new ProducedRecord { Stream = "counts", Record = new ConcordRecord { Key = ByteString.CopyFromUtf8($"key{i}"), Value = value, EventTimeUnixMs = i + 1 } });
        }
        AssertWritesAsGenerated(done, writer =>
        {
            foreach (var produced in done.Produced)
            {
                Add(writer, produced);
            }
        });
    }
}

internal static class OperatorWireTestBytes
{
    public static byte[] Varint(ulong value)
    {
        var bytes = new List<byte>();
        while (value >= 0x80)
        {
            bytes.Add((byte)(value | 0x80));
            value >>= 7;
        }
        bytes.Add((byte)value);
        return [.. bytes];
    }
}
