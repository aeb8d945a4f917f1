using Concord.Contracts.DataPlane.V1;
using Concord.Executor.DataPlane.Internal;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Concord.Executor.DataPlane;

/// <summary>Who this executor is, as upstream senders must address it in ChannelOpen.</summary>
public sealed record DataPlaneIdentity(string OperatorName, int InstanceIndex, string Incarnation, IReadOnlySet<string> InputStreams);

/// <summary>
/// The receiving end of the data plane: validates ChannelOpen, grants credit from the
/// channel's window, checks every batch against it and queues the records for the pump.
/// </summary>
public sealed class DataPlaneService(DataPlaneIdentity identity, InboundQueue queue, ILogger<DataPlaneService> logger) : Contracts.DataPlane.V1.DataPlane.DataPlaneBase
{
    public override async Task Push(IAsyncStreamReader<DataFrame> requestStream, IServerStreamWriter<Credit> responseStream, ServerCallContext context)
    {
        var cancellationToken = context.CancellationToken;
        if (!await requestStream.MoveNext(cancellationToken).ConfigureAwait(false))
        {
            return;
        }
        var open = requestStream.Current.Open ?? throw new RpcException(new Status(
            StatusCode.InvalidArgument, "the first frame of a Push call must be ChannelOpen (dataplane.proto)"));
        Validate(open);

        if (!queue.TryOpenChannel($"{open.Sender} -> {open.Stream}", out var channel))
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted,
                $"executor {identity.OperatorName}/{identity.InstanceIndex} already has {queue.ChannelsMax} inbound channels open (ExecutorLimits.InboundChannelsMax); retry later"));
        }
        DataPlaneLog.ChannelOpened(logger, open.Sender, open.Stream);

        using var writerStop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var writer = WriteCreditsAsync(channel, responseStream, writerStop.Token);
        try
        {
            while (await requestStream.MoveNext(cancellationToken).ConfigureAwait(false))
            {
                var frame = requestStream.Current;
                if (frame.FrameCase != DataFrame.FrameOneofCase.Batch)
                {
                    throw new RpcException(new Status(StatusCode.InvalidArgument,
                        $"after ChannelOpen only RecordBatch frames may follow, got {frame.FrameCase} (dataplane.proto)"));
                }
                var records = frame.Batch.Records;
                if (records.Count == 0)
                {
                    continue;
                }
                var sizes = new int[records.Count];
                long bytes = 0;
                for (var i = 0; i < sizes.Length; i++)
                {
                    sizes[i] = records[i].CalculateSize();
                    bytes += sizes[i];
                }
                var violation = channel.TryConsume(records.Count, bytes);
                if (violation is not null)
                {
                    throw new RpcException(new Status(StatusCode.FailedPrecondition, violation));
                }
                Metrics.ExecutorMetrics.Received(open.Stream, records);
                queue.Enqueue(records, sizes, bytes, channel);
            }
        }
        finally
        {
            channel.Close();
            await writerStop.CancelAsync().ConfigureAwait(false);
            await writer.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            DataPlaneLog.ChannelClosed(logger, open.Sender, open.Stream);
        }
    }

    private void Validate(ChannelOpen open)
    {
        string? problem = null;
        if (string.IsNullOrEmpty(open.Stream) || string.IsNullOrEmpty(open.Sender))
        {
            problem = "ChannelOpen.stream and ChannelOpen.sender are required";
        }
        else if (open.OperatorName != identity.OperatorName || open.InstanceIndex != identity.InstanceIndex)
        {
            problem = $"this executor runs {identity.OperatorName}/{identity.InstanceIndex}, not {open.OperatorName}/{open.InstanceIndex}; re-read the routing table";
        }
        else if (open.ReceiverIncarnation != identity.Incarnation)
        {
            problem = $"this executor is incarnation '{identity.Incarnation}', not '{open.ReceiverIncarnation}' (the instance was restarted); re-read the routing table";
        }
        else if (!identity.InputStreams.Contains(open.Stream))
        {
            problem = $"operator {identity.OperatorName} does not read stream '{open.Stream}' (it reads [{string.Join(", ", identity.InputStreams)}]); re-read the routing table";
        }
        if (problem is not null)
        {
            DataPlaneLog.ChannelRejected(logger, open.Sender, problem);
            throw new RpcException(new Status(StatusCode.FailedPrecondition, problem));
        }
    }

    private static async Task WriteCreditsAsync(InboundChannel channel, IServerStreamWriter<Credit> responseStream, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            var credit = await channel.NextGrantAsync(cancellationToken).ConfigureAwait(false);
            await responseStream.WriteAsync(credit, cancellationToken).ConfigureAwait(false);
        }
    }
}
