using Concord.Contracts;
using Concord.Contracts.DataPlane.V1;
using Grpc.Core;
using Grpc.Net.Client;

namespace Concord.Conformance.Tests.Harness;

/// <summary>
/// The upstream neighbour: one Push channel into an executor's data plane (the address from its
/// RegisterExecutor), sending only while it holds credit, as a real upstream executor does. It
/// counts the credit granted and how long it has been waiting for more, so a case can observe
/// backpressure from outside the executor.
/// </summary>
public sealed class UpstreamSender : IAsyncDisposable
{
    /// <summary>ChannelOpen.sender: the upstream "operator/index" the harness plays (a checkpoint's BeginCheckpoint.inputs names it).</summary>
    public const string SenderName = "harness/0";

    private readonly GrpcChannel _channel;
    private readonly AsyncDuplexStreamingCall<DataFrame, Credit> _call;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _creditReader;
    private readonly object _lock = new();
    private TaskCompletionSource _creditChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _creditRows;
    private long _creditBytes;
    private long _grantedRows;
    private long _sentRows;
    private long _waitingSinceMs = -1;

    private UpstreamSender(GrpcChannel channel, AsyncDuplexStreamingCall<DataFrame, Credit> call)
    {
        _channel = channel;
        _call = call;
        _creditReader = ReadCreditsAsync();
    }

    /// <summary>Total rows of credit the executor has granted on this channel.</summary>
    public long GrantedRows => Interlocked.Read(ref _grantedRows);

    /// <summary>Rows sent so far.</summary>
    public long SentRows => Interlocked.Read(ref _sentRows);

    /// <summary>How long the sender has been waiting for credit with records to send, in ms; 0 when not waiting.</summary>
    public long WaitingForCreditMs
    {
        get
        {
            var since = Interlocked.Read(ref _waitingSinceMs);
            return since < 0 ? 0 : Environment.TickCount64 - since;
        }
    }

    /// <summary>Opens a channel on stream "in" to the executor <paramref name="registration"/> describes.</summary>
    public static async Task<UpstreamSender> OpenAsync(Contracts.Scheduler.V1.RegisterExecutorRequest registration, string stream = "in")
    {
        var channel = GrpcChannel.ForAddress("http://" + registration.DataAddress, new GrpcChannelOptions
        {
            MaxSendMessageSize = ProtocolLimits.GrpcMessageBytesMax,
            MaxReceiveMessageSize = ProtocolLimits.GrpcMessageBytesMax,
        });
        var call = new DataPlane.DataPlaneClient(channel).Push();
        await call.RequestStream.WriteAsync(new DataFrame
        {
            Open = new ChannelOpen
            {
                Stream = stream,
                OperatorName = registration.OperatorName,
                InstanceIndex = registration.InstanceIndex,
                Sender = SenderName,
                ReceiverIncarnation = registration.Incarnation,
            },
        }).WaitAsync(ConformanceLimits.StepTimeout);
        return new UpstreamSender(channel, call);
    }

    /// <summary>
    /// Sends <paramref name="records"/> in order, in batches that fit the credit held, waiting
    /// for credit when it runs out (for as long as <paramref name="cancellationToken"/> allows).
    /// </summary>
    public async Task SendAsync(IReadOnlyList<ConcordRecord> records, CancellationToken cancellationToken = default)
    {
        var next = 0;
        while (next < records.Count)
        {
            var batch = new RecordBatch();
            Task changed;
            lock (_lock)
            {
                long bytes = 0;
                while (next < records.Count && batch.Records.Count < ConformanceLimits.SenderBatchRowsMax
                    && batch.Records.Count < _creditRows && bytes + records[next].CalculateSize() <= _creditBytes)
                {
                    bytes += records[next].CalculateSize();
                    batch.Records.Add(records[next++]);
                }
                _creditRows -= batch.Records.Count;
                _creditBytes -= bytes;
                changed = _creditChanged.Task;
                if (batch.Records.Count == 0)
                {
                    Interlocked.CompareExchange(ref _waitingSinceMs, Environment.TickCount64, -1);
                }
            }
            if (batch.Records.Count == 0)
            {
                if (_creditReader.IsCompleted)
                {
                    await _creditReader; // throws the call's failure
                    throw new InvalidOperationException("the executor ended the Push call while records were left to send");
                }
                await Task.WhenAny(changed, _creditReader).WaitAsync(cancellationToken);
                continue;
            }
            Interlocked.Exchange(ref _waitingSinceMs, -1);
            await _call.RequestStream.WriteAsync(new DataFrame { Batch = batch }, cancellationToken);
            Interlocked.Add(ref _sentRows, batch.Records.Count);
        }
    }

    /// <summary>Sends an event-time watermark (no credit needed), in order after the records sent before it.</summary>
    public Task SendWatermarkAsync(long watermarkMs) =>
        _call.RequestStream.WriteAsync(new DataFrame { Watermark = new Watermark { TimeUnixMs = watermarkMs } }).WaitAsync(ConformanceLimits.StepTimeout);

    /// <summary>
    /// Sends checkpoint barrier <paramref name="checkpointId"/> (no credit needed), in order after
    /// the records sent before it, as an upstream executor forwards one after its snapshot.
    /// </summary>
    public Task SendBarrierAsync(ulong checkpointId) =>
        _call.RequestStream.WriteAsync(new DataFrame
        {
            Barrier = new Contracts.DataPlane.V1.Barrier { CheckpointId = checkpointId, TriggerUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() },
        }).WaitAsync(ConformanceLimits.StepTimeout);

    /// <summary>Sends records and waits (bounded) until they are all written.</summary>
    public Task SendAllAsync(params ConcordRecord[] records) => SendAsync(records).WaitAsync(ConformanceLimits.StepTimeout);

    /// <summary>
    /// Ends the channel the way an upstream executor does: completes the request stream and lets
    /// the receiver end the call (bounded), so records already written are not cut off by a reset.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await _call.RequestStream.CompleteAsync().WaitAsync(ConformanceLimits.StepTimeout);
            await _creditReader.WaitAsync(ConformanceLimits.StepTimeout);
        }
        catch (Exception e) when (e is RpcException or InvalidOperationException or TimeoutException or OperationCanceledException)
        {
            // The executor is gone or the call failed: nothing left to close gracefully.
        }
        await _stop.CancelAsync();
        _call.Dispose();
        await _creditReader.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _channel.Dispose();
        _stop.Dispose();
    }

    private async Task ReadCreditsAsync()
    {
        await foreach (var credit in _call.ResponseStream.ReadAllAsync(_stop.Token))
        {
            lock (_lock)
            {
                _creditRows += credit.Rows;
                _creditBytes += credit.Bytes;
                Interlocked.Add(ref _grantedRows, credit.Rows);
                _creditChanged.TrySetResult();
                _creditChanged = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
    }
}
