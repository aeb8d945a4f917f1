using System.Runtime.CompilerServices;
using Concord.Contracts.DataPlane.V1;
using Concord.Contracts.Operator.V1;
using Concord.Executor.DataPlane.Internal;
using Concord.Executor.Records;
using Concord.Executor.Records.Internal;
using Concord.Testing;
using FsCheck;
using FsCheck.Fluent;
using Google.Protobuf;
using Grpc.Core;
using Xunit.Abstractions;

namespace Concord.Executor.Tests.Security;

/// <summary>
/// Random and mutated valid frames thrown at the decoders of received bytes (data plane:
/// DataPlaneWire.ReadBatch / RecordWire; session: RawAnswer): the only exceptions are their own
/// protocol exceptions, every record they return lies inside the frame, and they allocate no
/// more than the records they return.
/// </summary>
public sealed class DecoderFuzzTests(ITestOutputHelper output)
{
    /// <summary>Inputs per property: random and mutated frames.</summary>
    private const int InputsPerProperty = 5_000;

    /// <summary>Most records ReadBatch may return: a credit window in rows, small here so mutated counts hit it.</summary>
    private const int RecordsMax = 64;

    /// <summary>Bytes a decode may allocate besides its records' array (array header, a list, a closure): generous.</summary>
    private const int DecodeOverheadBytesMax = 1024;

    private static readonly StreamTable Outputs = new(["out-a", "out-b"]);

    private static Gen<byte> AnyByte => ByteMutations.AnyByte;

    private static Gen<byte[]> Bytes(int max) => Gen.Choose(0, max).SelectMany(n => Gen.ArrayOf(AnyByte, n));

    private static Gen<long> Time => Gen.Frequency((1, Gen.Constant(0L)), (3, Gen.Choose(0, int.MaxValue).Select(t => (long)t * 1000)));

    private static Gen<ConcordRecord> Records =>
        from key in Bytes(16)
        from value in Bytes(48)
        from eventTime in Time
        from ingestTime in Time
        select new ConcordRecord
        {
            Key = ByteString.CopyFrom(key),
            Value = ByteString.CopyFrom(value),
            EventTimeUnixMs = eventTime,
            IngestTimeUnixUs = ingestTime,
        };

    private static Gen<byte[]> ValidDataFrame =>
        Gen.Choose(0, 80).SelectMany(n => Gen.ArrayOf(Records, n))
            .Select(records => new DataFrame { Batch = new RecordBatch { Records = { records } } }.ToByteArray());

    private static Gen<byte[]> ValidAnswer =>
        from seq in Gen.Choose(0, int.MaxValue)
        from produced in Gen.Choose(0, 40).SelectMany(n => Gen.ArrayOf(
            from stream in Gen.Elements("out-a", "out-b")
            from rec in Records
            select new ProducedRecord { Stream = stream, Record = rec }, n))
        from timers in Gen.Choose(0, 3).SelectMany(n => Gen.ArrayOf(
            from key in Gen.Elements("t1", "t2", "")
            from at in Time
            select new TimerSet { Key = key, TimeUnixMs = at }, n))
        select new OperatorMessage { BatchDone = new BatchDone { Seq = (ulong)seq, Produced = { produced }, TimersSet = { timers } } }.ToByteArray();

    /// <summary>Byte-level edits of a valid frame; the special edit is a length or tag of 5 continuation bytes: lengths far beyond the frame.</summary>
    private static Gen<byte[]> Mutated(Gen<byte[]> valid) =>
        ByteMutations.Mutated(valid, _ => [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]);

    private static Gen<byte[]> Hostile(Gen<byte[]> valid) =>
        Gen.Frequency((1, Bytes(512)), (4, Mutated(valid)), (1, valid));

    private void Run(Gen<byte[]> inputs, Action<byte[]> property, string name)
    {
        var tried = 0;
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(InputsPerProperty), Prop.ForAll(Arb.From(inputs), (byte[] frame) =>
        {
            tried++;
            property(frame);
        }));
        output.WriteLine($"{name}: {tried} inputs, 0 failures");
    }

    [Fact]
    public void ReadBatch_on_random_and_mutated_frames_throws_only_its_protocol_errors_and_stays_inside_the_frame() =>
        Run(Hostile(ValidDataFrame), frame =>
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            RawRecord[] records;
            try
            {
                records = DataPlaneWire.ReadBatch(frame, RecordsMax);
            }
            catch (Exception e) when (e is WireFormatException or RecordCountExceededException)
            {
                return;
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.InvalidArgument)
            {
                return; // "after ChannelOpen only RecordBatch frames may follow"
            }
            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(records.Length <= RecordsMax);
            Assert.True(allocated <= DecodeOverheadBytesMax + (long)records.Length * Unsafe.SizeOf<RawRecord>(),
                $"allocated {allocated} bytes for {records.Length} records of a {frame.Length}-byte frame");
            foreach (var record in records)
            {
                AssertInside(record, frame);
            }
        }, nameof(DataPlaneWire.ReadBatch));

    [Fact]
    public void ReadBatch_of_a_valid_frame_reads_what_the_generated_parser_reads() =>
        Run(ValidDataFrame, frame =>
        {
            var expected = DataFrame.Parser.ParseFrom(frame).Batch.Records;
            var records = DataPlaneWire.ReadBatch(frame);
            Assert.Equal(expected.Count, records.Length);
            for (var i = 0; i < records.Length; i++)
            {
                Assert.Equal(expected[i], records[i].ToRecord());
            }
        }, "ReadBatch(valid)");

    [Fact]
    public void RawAnswer_on_random_and_mutated_messages_throws_only_protocol_errors_and_stays_inside_the_message() =>
        Run(Hostile(ValidAnswer), message =>
        {
            RawAnswer? answer;
            try
            {
                answer = RawAnswer.TryScanOperatorMessage(message, Outputs);
            }
            catch (Exception e) when (e is WireFormatException or OperatorProtocolException)
            {
                return;
            }
            if (answer is null)
            {
                return;
            }
            Assert.True(answer.Produced.Count <= Contracts.ProtocolLimits.BatchDoneRecordsMax);
            foreach (var produced in answer.Produced)
            {
                Assert.InRange(produced.Stream, 0, Outputs.Count - 1);
                AssertInside(produced.Record, message);
            }
        }, nameof(RawAnswer.TryScanOperatorMessage));

    [Fact]
    public void RawAnswer_of_a_valid_message_reads_what_the_generated_parser_reads() =>
        Run(ValidAnswer, message =>
        {
            var expected = OperatorMessage.Parser.ParseFrom(message).BatchDone;
            var answer = RawAnswer.TryScanOperatorMessage(message, Outputs)!;
            Assert.Equal(expected.Seq, answer.Seq);
            Assert.Equal(expected.Produced.Select(p => p.Record), answer.Produced.Select(p => p.Record.ToRecord()));
            Assert.Equal(expected.TimersSet, answer.TimersSet);
        }, "RawAnswer(valid)");

    private static void AssertInside(in RawRecord record, byte[] frame)
    {
        Assert.Same(frame, record.Buffer);
        Assert.InRange(record.Offset, 0, frame.Length);
        Assert.InRange(record.Length, 0, frame.Length - record.Offset);
        Assert.InRange(record.KeyOffset, record.Offset, record.Offset + record.Length);
        Assert.InRange(record.KeyOffset + record.KeyLength, record.KeyOffset, record.Offset + record.Length);
        Assert.InRange(record.ValueOffset, record.Offset, record.Offset + record.Length);
        Assert.InRange(record.ValueOffset + record.ValueLength, record.ValueOffset, record.Offset + record.Length);
    }
}
