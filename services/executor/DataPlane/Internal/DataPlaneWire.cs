using Concord.Contracts.DataPlane.V1;
using Concord.Executor.Records;
using Concord.Executor.Records.Internal;
using Grpc.Core;

namespace Concord.Executor.DataPlane.Internal;

/// <summary>
/// <c>concord.dataplane.v1.DataPlane/Push</c> with records as bytes: the same method and wire
/// format as the generated service (dataplane.proto), bound with the executor's own
/// marshallers so a RecordBatch is written from, and read into, <see cref="RawRecord"/>s.
/// Peers built from the generated code (other SDKs' tools, the conformance harness) interoperate.
/// </summary>
internal static class DataPlaneWire
{
    /// <summary>DataFrame.open = 1, length-delimited.</summary>
    public const int OpenField = 1;

    /// <summary>DataFrame.batch = 2, length-delimited.</summary>
    public const byte BatchTag = 0x12;

    /// <summary>The sending side (OutboundChannel): frames written by the executor, credits parsed.</summary>
    public static readonly Method<IWireMessage, Credit> PushClient = new(
        MethodType.DuplexStreaming, "concord.dataplane.v1.DataPlane", "Push", WireMarshallers.Writer, WireMarshallers.Proto(Credit.Parser));

    /// <summary>The receiving side (DataPlaneService): frames as bytes, credits written.</summary>
    public static readonly Method<byte[], Credit> PushServer = new(
        MethodType.DuplexStreaming, "concord.dataplane.v1.DataPlane", "Push", WireMarshallers.Bytes, WireMarshallers.Proto(Credit.Parser));

    /// <summary>DataFrame.barrier = 3, length-delimited.</summary>
    public const int BarrierField = 3;

    /// <summary>
    /// True when the frame is a <c>DataFrame{barrier}</c> (the oneof's last field decides, as
    /// in <see cref="ReadBatch"/>); then <paramref name="barrier"/> is it. A RecordBatch frame
    /// costs one tag and one skip here.
    /// </summary>
    public static bool TryReadBarrier(byte[] frame, out Contracts.DataPlane.V1.Barrier barrier)
    {
        var reader = new WireReader(frame, 0, frame.Length);
        (int Offset, int Length)? last = null;
        while (reader.TryReadTag(out var field, out var wireType))
        {
            if (field == BarrierField && wireType == WireReader.WireLengthDelimited)
            {
                last = reader.ReadLengthDelimited();
                continue;
            }
            if (field is OpenField or 2 or 4)
            {
                last = null;
            }
            reader.Skip(wireType);
        }
        if (last is not { } body)
        {
            barrier = null!;
            return false;
        }
        try
        {
            barrier = Contracts.DataPlane.V1.Barrier.Parser.ParseFrom(frame, body.Offset, body.Length);
        }
        catch (Google.Protobuf.InvalidProtocolBufferException e)
        {
            throw new WireFormatException($"malformed Barrier: {e.Message}");
        }
        return true;
    }

    /// <summary>DataFrame.watermark = 4, length-delimited.</summary>
    public const int WatermarkField = 4;

    /// <summary>
    /// True when the frame is a <c>DataFrame{watermark}</c> (the oneof's last field decides);
    /// then <paramref name="watermarkMs"/> is its time.
    /// </summary>
    public static bool TryReadWatermark(byte[] frame, out long watermarkMs)
    {
        var reader = new WireReader(frame, 0, frame.Length);
        (int Offset, int Length)? last = null;
        while (reader.TryReadTag(out var field, out var wireType))
        {
            if (field == WatermarkField && wireType == WireReader.WireLengthDelimited)
            {
                last = reader.ReadLengthDelimited();
                continue;
            }
            if (field is OpenField or 2 or BarrierField)
            {
                last = null;
            }
            reader.Skip(wireType);
        }
        if (last is not { } body)
        {
            watermarkMs = 0;
            return false;
        }
        try
        {
            watermarkMs = Contracts.DataPlane.V1.Watermark.Parser.ParseFrom(frame, body.Offset, body.Length).TimeUnixMs;
        }
        catch (Google.Protobuf.InvalidProtocolBufferException e)
        {
            throw new WireFormatException($"malformed Watermark: {e.Message}");
        }
        return true;
    }

    /// <summary>
    /// Reads a data frame after ChannelOpen: the records of its RecordBatch, or an error that
    /// says what else it was.
    /// </summary>
    /// <param name="recordsMax">Most records the frame may hold (a channel's credit window): more fails before the records' array is allocated.</param>
    public static RawRecord[] ReadBatch(byte[] frame, int recordsMax = int.MaxValue)
    {
        var reader = new WireReader(frame, 0, frame.Length);
        RawRecord[]? records = null;
        string? other = null;
        while (reader.TryReadTag(out var field, out var wireType))
        {
            if (field == 2 && wireType == WireReader.WireLengthDelimited)
            {
                var (offset, length) = reader.ReadLengthDelimited();
                records = RecordWire.ScanRecords(frame, offset, length, recordsMax: recordsMax);
                other = null;
                continue;
            }
            // The oneof's last field decides what the frame is.
            if (field == OpenField)
            {
                other = "Open";
                records = null;
            }
            reader.Skip(wireType);
        }
        if (records is null)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument,
                $"after ChannelOpen only RecordBatch frames may follow, got {other ?? "None"} (dataplane.proto)"));
        }
        return records;
    }
}

/// <summary>A RecordBatch frame (<c>DataFrame{batch}</c>) of records held as bytes, serialized as it is written to the call.</summary>
internal sealed class OutgoingBatch : IWireMessage
{
    private int _bodySize = -1; // cached between SerializedSize and WriteTo

    public List<RecordSlice> Records { get; } = [];

    /// <summary>Serialized bytes of the records (message bodies): what credit counts.</summary>
    public long RecordBytes { get; private set; }

    public void Add(in RecordSlice record)
    {
        Records.Add(record);
        RecordBytes += record.Length;
        _bodySize = -1;
    }

    public void Clear()
    {
        Records.Clear();
        RecordBytes = 0;
        _bodySize = -1;
    }

    public int SerializedSize
    {
        get
        {
            var body = BodySize();
            return 1 + RecordWire.VarintSize((uint)body) + body;
        }
    }

    public void WriteTo(Span<byte> destination)
    {
        destination[0] = DataPlaneWire.BatchTag;
        var n = 1 + RecordWire.WriteVarint(destination[1..], (uint)BodySize());
        foreach (var record in Records)
        {
            n += RecordWire.WriteField(destination[n..], RecordWire.RecordBatchRecordsTag, record.Bytes);
        }
    }

    private int BodySize()
    {
        if (_bodySize >= 0)
        {
            return _bodySize;
        }
        var size = 0;
        foreach (var record in Records)
        {
            size += RecordWire.FieldSize(record.Length);
        }
        _bodySize = size;
        return size;
    }
}

/// <summary>
/// The receiving side's service base: the generated DataPlaneBase's shape, bound with
/// <see cref="DataPlaneWire.PushServer"/> (grpc-dotnet finds the bind method by this attribute
/// and the handler by name on this type).
/// </summary>
[BindServiceMethod(typeof(RawDataPlaneBase), nameof(BindService))]
public abstract class RawDataPlaneBase
{
    public virtual Task Push(IAsyncStreamReader<byte[]> requestStream, IServerStreamWriter<Credit> responseStream, ServerCallContext context) =>
        throw new RpcException(new Status(StatusCode.Unimplemented, ""));

    public static void BindService(ServiceBinderBase serviceBinder, RawDataPlaneBase? serviceImpl) =>
        serviceBinder.AddMethod(DataPlaneWire.PushServer, serviceImpl is null ? null! : serviceImpl.Push);
}
