using Concord.Contracts;
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
        // The slot is taken before the first frame is read: every call that can make the
        // executor hold a frame counts against InboundChannelsMax (docs/data-plane.md, "Bounds").
        if (!queue.TryOpenChannel("(before ChannelOpen)", out var channel))
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted,
                $"executor {identity.OperatorName}/{identity.InstanceIndex} already has {queue.ChannelsMax} inbound channels open (ExecutorLimits.InboundChannelsMax); retry later"));
        }
        using var readStop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var idleWatch = CloseWhenIdleAsync(channel, readStop);
        ChannelOpen? open = null;
        using var writerStop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var writer = Task.CompletedTask;
        try
        {
            if (!await requestStream.MoveNext(readStop.Token).ConfigureAwait(false))
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
            open = first.Open ?? throw new RpcException(new Status(
                StatusCode.InvalidArgument, "the first frame of a Push call must be ChannelOpen (dataplane.proto)"));
            Validate(open);
            channel.Description = $"{open.Sender} -> {open.Stream}";
            channel.Stream = open.Stream;
            channel.Sender = open.Sender;
            DataPlaneLog.ChannelOpened(logger, open.Sender, open.Stream);

            writer = WriteCreditsAsync(channel, responseStream, writerStop.Token);
            while (await requestStream.MoveNext(readStop.Token).ConfigureAwait(false))
            {
                RawRecord[] records;
                try
                {
                    if (DataPlaneWire.TryReadBarrier(requestStream.Current, out var barrier))
                    {
                        if (!queue.EnqueueBarrier(barrier, channel))
                        {
                            throw new RpcException(new Status(StatusCode.FailedPrecondition,
                                $"sender {open.Sender} has {ExecutorLimits.InboundBarriersQueuedMax} barriers queued on '{open.Stream}' already (ExecutorLimits.InboundBarriersQueuedMax); a sender forwards one barrier per checkpoint (docs/data-plane.md)"));
                        }
                        continue;
                    }
                    if (DataPlaneWire.TryReadWatermark(requestStream.Current, out var watermarkMs))
                    {
                        queue.EnqueueWatermark(watermarkMs, channel);
                        continue;
                    }
                    // No frame can hold more records than a credit window: checked before the records' array is allocated.
                    records = DataPlaneWire.ReadBatch(requestStream.Current, queue.ChannelCreditRows);
                }
                catch (WireFormatException e)
                {
                    throw new RpcException(new Status(StatusCode.InvalidArgument, $"malformed RecordBatch from {open.Sender}: {e.Message} (dataplane.proto)"));
                }
                catch (RecordCountExceededException e)
                {
                    // More rows than a whole window: a credit violation, whatever the sender holds.
                    throw new RpcException(new Status(StatusCode.FailedPrecondition, channel.TryConsume(e.RecordsMax + 1, 0)!));
                }
                if (records.Length == 0)
                {
                    continue;
                }
                long bytes = 0;
                foreach (var record in records)
                {
                    bytes += record.Length;
                    if (record.KeyLength + record.ValueLength > ProtocolLimits.RecordBytesMax)
                    {
                        // A sending executor rejects such a record in its router: only a broken or hostile peer sends one.
                        metrics.Dropped(open.Stream, "too_large");
                        throw new RpcException(new Status(StatusCode.InvalidArgument,
                            $"{open.Sender} sent a record of {record.KeyLength + record.ValueLength} bytes (key + value) on '{open.Stream}', more than {ProtocolLimits.RecordBytesMax} (ProtocolLimits.RecordBytesMax); the sender must reject such records before sending (docs/data-plane.md)"));
                    }
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
        catch (OperationCanceledException) when (readStop.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new RpcException(new Status(StatusCode.Unavailable,
                $"channel {channel.Description} was idle for {queue.ChannelIdle.TotalMilliseconds:0} ms and is closed to free its slot (ExecutorLimits.InboundChannelIdleMs); open a new one when there are records to send"));
        }
        finally
        {
            channel.Close();
            await readStop.CancelAsync().ConfigureAwait(false);
            await idleWatch.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await writerStop.CancelAsync().ConfigureAwait(false);
            await writer.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (open is not null)
            {
                DataPlaneLog.ChannelClosed(logger, open.Sender, open.Stream);
            }
        }
    }

    /// <summary>Cancels <paramref name="readStop"/> once the channel has been idle for <see cref="InboundQueue.ChannelIdle"/>.</summary>
    private async Task CloseWhenIdleAsync(InboundChannel channel, CancellationTokenSource readStop)
    {
        var token = readStop.Token;
        while (!token.IsCancellationRequested)
        {
            var left = queue.ChannelIdle - channel.IdleFor();
            if (left <= TimeSpan.Zero)
            {
                await readStop.CancelAsync().ConfigureAwait(false);
                return;
            }
            await Task.Delay(left, queue.Time, token).ConfigureAwait(false);
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
