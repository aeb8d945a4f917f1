using System.Buffers;
using System.Buffers.Binary;
using Microsoft.AspNetCore.Http;

namespace Concord.Scheduler.Internal;

/// <summary>
/// Refuses a gRPC request whose message is larger than <see cref="SchedulerLimits.RequestBytesMax"/>
/// before it is read, with RESOURCE_EXHAUSTED and a message naming the limit. gRPC's own
/// check (MaxReceiveMessageSize, set to the same limit) would say only "exceeds the maximum
/// configured message size", and Kestrel's body limit, were it reached first, would end the
/// call as UNKNOWN; this reads the 5-byte frame header, and leaves it for gRPC otherwise.
/// </summary>
internal static class RequestSizeGate
{
    private const string GrpcContentType = "application/grpc";

    /// <summary>grpc-status of RESOURCE_EXHAUSTED.</summary>
    private const string ResourceExhaustedStatus = "8";

    public static async Task InvokeAsync(HttpContext context, Func<Task> next)
    {
        if (context.Request.ContentType?.StartsWith(GrpcContentType, StringComparison.Ordinal) != true)
        {
            await next().ConfigureAwait(false);
            return;
        }
        var reader = context.Request.BodyReader;
        var result = await reader.ReadAtLeastAsync(SchedulerLimits.GrpcFrameHeaderBytes, context.RequestAborted).ConfigureAwait(false);
        var length = MessageLength(result.Buffer);
        // Nothing consumed: gRPC reads the same bytes again.
        reader.AdvanceTo(result.Buffer.Start);
        if (length is { } bytes && bytes > SchedulerLimits.RequestBytesMax)
        {
            // A trailers-only response: the status travels in the headers.
            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Response.ContentType = GrpcContentType;
            context.Response.Headers["grpc-status"] = ResourceExhaustedStatus;
            context.Response.Headers["grpc-message"] = Uri.EscapeDataString(
                $"the request message has {bytes} bytes, more than the scheduler accepts ({SchedulerLimits.RequestBytesMax} bytes, SchedulerLimits.RequestBytesMax); " +
                $"a deploy's spec may have at most {SchedulerLimits.SpecBytesMax} bytes: shorten it, and pass large data through \"files\"");
            return;
        }
        await next().ConfigureAwait(false);
    }

    /// <summary>The message length in a gRPC frame header, or null when fewer than 5 bytes came.</summary>
    private static long? MessageLength(ReadOnlySequence<byte> buffer)
    {
        if (buffer.Length < SchedulerLimits.GrpcFrameHeaderBytes)
        {
            return null;
        }
        Span<byte> header = stackalloc byte[SchedulerLimits.GrpcFrameHeaderBytes];
        buffer.Slice(0, SchedulerLimits.GrpcFrameHeaderBytes).CopyTo(header);
        return BinaryPrimitives.ReadUInt32BigEndian(header[1..]);
    }
}
