using Concord.Contracts.DataPlane.V1;
using Concord.Executor.DataPlane.Internal;
using Concord.Executor.Records;
using Concord.Executor.Records.Internal;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Concord.Executor.DataPlane;

/// <summary>Who this executor is, as upstream senders must address it in ChannelOpen.</summary>
/// <param name="DataPlaneKey">The cluster's data-plane key: senders must present the credential it makes for <paramref name="Incarnation"/>; null accepts any sender (an executor started by hand, tests).</param>
public sealed record DataPlaneIdentity(string OperatorName, int InstanceIndex, string Incarnation, IReadOnlySet<string> InputStreams, byte[]? DataPlaneKey = null);

/// <summary>
/// The receiving end of the data plane: validates ChannelOpen, grants credit from the
/// channel's window, checks every batch against it and queues the records for the pump.
/// </summary>
public sealed class DataPlaneService(DataPlaneIdentity identity, InboundQueue queue, Metrics.ExecutorMetrics metrics, Tracing.ExecutorTracing tracing,
    ILogger<DataPlaneService> logger) : RawDataPlaneBase
{
    public override async Task Push(IAsyncStreamReader<byte[]> requestStream, IServerStreamWriter<Credit> responseStream, ServerCallContext context)
    {
        var cancellationToken = context.CancellationToken;
        Authenticate(context);
        if (!await requestStream.MoveNext(cancellationToken).ConfigureAwait(false))
        {
            return;
        }
        DataFrame first;
        try
        {
            first = DataFrame.Parser.ParseFrom(requestStream.Current);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"the first frame of a Push call is not a DataFrame ({e.Message}); it must be ChannelOpen (dataplane.proto)"));
        }
        var open = first.Open ?? throw new RpcException(new Status(
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
                RawRecord[] records;
                try
                {
                    records = DataPlaneWire.ReadBatch(requestStream.Current);
                }
                catch (WireFormatException e)
                {
                    throw new RpcException(new Status(StatusCode.InvalidArgument, $"malformed RecordBatch from {open.Sender}: {e.Message} (dataplane.proto)"));
                }
                if (records.Length == 0)
                {
                    continue;
                }
                long bytes = 0;
                foreach (var record in records)
                {
                    bytes += record.Length;
                }
                var violation = channel.TryConsume(records.Length, bytes);
                if (violation is not null)
                {
                    throw new RpcException(new Status(StatusCode.FailedPrecondition, violation));
                }
                metrics.Received(open.Stream, records);
                // Before the records are queued: the pump may take them at once.
                tracing.Received(open.Stream, records);
                queue.Enqueue(records, bytes, channel);
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

    /// <summary>
    /// The sender must hold the cluster's data-plane key, shown by the credential it makes for
    /// this launch. Checked before anything is read, and the refusal says nothing about this
    /// executor (no incarnation, no operator): a stranger learns only that it is refused.
    /// </summary>
    private void Authenticate(ServerCallContext context)
    {
        if (identity.DataPlaneKey is not { } key)
        {
            return;
        }
        var presented = context.RequestHeaders.GetValue(Contracts.Credentials.DataPlaneCredentialHeader);
        if (!Contracts.Credentials.SecretEquals(presented, Contracts.Credentials.DataPlaneCredential(key, identity.Incarnation)))
        {
            DataPlaneLog.ChannelRejected(logger, context.Peer, presented is null ? "no data-plane credential" : "a wrong data-plane credential");
            throw new RpcException(new Status(StatusCode.PermissionDenied,
                "the Push call carries no valid data-plane credential for this executor; only executors of this cluster may send to it " +
                "(if you are one, the routing table you used is out of date: re-read it)"));
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
            // Names neither incarnation: the one a sender did not know is not for it to learn.
            problem = "ChannelOpen.receiver_incarnation is not this executor's launch (the instance was restarted); re-read the routing table";
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
