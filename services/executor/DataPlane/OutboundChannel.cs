using System.Threading.Channels;
using Concord.Contracts.DataPlane.V1;
using Concord.Executor.DataPlane.Internal;
using Concord.Executor.Internal;
using Concord.Executor.Records;
using Concord.Executor.Records.Internal;
using Concord.Hosting;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;

namespace Concord.Executor.DataPlane;

/// <summary>Where an outbound channel sends: a reader instance's address and incarnation; empty address = not running.</summary>
public sealed record OutboundTarget(string Address, string Incarnation)
{
    public static readonly OutboundTarget None = new("", "");
}

/// <summary>
/// The sending end of one data-plane channel: (stream, reading operator, instance). Records
/// wait in a queue bounded in rows and bytes; one Push call sends them as credit allows. When
/// the queue is full <see cref="EnqueueAsync"/> waits, which blocks the router, which stops
/// the pump: backpressure. On failure it reconnects with back-off to whatever the routing
/// table says now: at most <see cref="ExecutorLimits.OutboundReconnectAttemptsMax"/> failed
/// attempts in a row to one target, then it waits for the routing table to name a new one
/// (a restarted instance has a new incarnation and often a new address), and reconnects at
/// once when it does. Queued records wait (bounded) throughout.
/// </summary>
public sealed class OutboundChannel : IAsyncDisposable
{
    // Chunks of records (one per answer and channel, see OutboundChunk); bounded by _budget in rows and bytes.
    private readonly Channel<OutboundChunk> _queue = Channel.CreateUnbounded<OutboundChunk>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = false });
    private readonly RowByteBudget _budget;
    private readonly ReaderAvailability _availability;
    private readonly int _reconnectAttemptsMax;
    private readonly TimeSpan _idleClose;
    private readonly DataPlaneClients _clients;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Metrics.ExecutorMetrics _metrics;
    private readonly Tracing.ExecutorTracing _tracing;
    private readonly AsyncSignal _wake = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _run;
    private volatile OutboundTarget _target = OutboundTarget.None;
    private long _sentRows;
    private long _failedAttempts;
    private volatile bool _waitingForNewTarget;
    private bool _callConnected; // the current/last Push call received credit (RunAsync's task only)
    private bool _idleClosed; // the last Push call was completed for lack of records (RunAsync's task only)
    private OutboundChunk? _current; // chunk being sent, taken out of _queue (RunAsync's task only)

    public OutboundChannel(string stream, string readerOperator, int instanceIndex, string sender,
        DataPlaneClients clients, ILogger logger, TimeProvider time, Metrics.ExecutorMetrics metrics, Tracing.ExecutorTracing tracing,
        int queueRowsMax = ExecutorLimits.OutboundQueueRowsMax, long queueBytesMax = ExecutorLimits.OutboundQueueBytesMax,
        int reconnectAttemptsMax = ExecutorLimits.OutboundReconnectAttemptsMax, TimeSpan? idleClose = null,
        TimeSpan? dropUnavailableAfter = null)
    {
        // null: records for an unavailable reader wait (guaranteed modes); else at_most_once's bound.
        _availability = new ReaderAvailability(dropUnavailableAfter, time);
        _reconnectAttemptsMax = reconnectAttemptsMax;
        _idleClose = idleClose ?? TimeSpan.FromMilliseconds(ExecutorLimits.OutboundChannelIdleMs);
        Stream = stream;
        ReaderOperator = readerOperator;
        InstanceIndex = instanceIndex;
        Sender = sender;
        _clients = clients;
        _logger = logger;
        _time = time;
        _metrics = metrics;
        _tracing = tracing;
        _budget = new RowByteBudget(queueRowsMax, queueBytesMax);
        _run = Task.Run(RunAsync);
    }

    public string Stream { get; }

    public string ReaderOperator { get; }

    public int InstanceIndex { get; }

    public string Sender { get; }

    public OutboundTarget Target => _target;

    /// <summary>Rows waiting in the queue (a gauge).</summary>
    public int QueuedRows => _budget.Rows;

    /// <summary>Rows sent so far.</summary>
    public long SentRows => Interlocked.Read(ref _sentRows);

    /// <summary>Connection attempts that failed, in total (a counter).</summary>
    public long FailedAttempts => Interlocked.Read(ref _failedAttempts);

    /// <summary>
    /// True while the channel has given up on its target after
    /// <see cref="ExecutorLimits.OutboundReconnectAttemptsMax"/> failures and waits for the
    /// routing table to name another one.
    /// </summary>
    public bool WaitingForNewTarget => _waitingForNewTarget;

    /// <summary>The reader instance is not running, or calls to it fail (docs/data-plane.md, "An unavailable reader").</summary>
    public bool ReaderUnavailable => _availability.IsUnavailable;

    /// <summary>Rows dropped because the reader instance stayed unavailable past the bound.</summary>
    public long DroppedUnavailableRows => _availability.DroppedTotal;

    public override string ToString() => $"{Stream}->{ReaderOperator}/{InstanceIndex}";

    /// <summary>Queues a record; waits while the queue is full. A closed channel drops it.</summary>
    public ValueTask EnqueueAsync(in RawRecord record, CancellationToken cancellationToken)
    {
        var chunk = new OutboundChunk(1);
        chunk.Add(record);
        return EnqueueAsync(chunk, cancellationToken);
    }

    /// <summary>
    /// Queues a chunk of records (at most <see cref="ExecutorLimits.BatchRowsMax"/> rows, see
    /// Router) in one step; waits while the queue has no room for it. A closed channel drops it.
    /// </summary>
    public async ValueTask EnqueueAsync(OutboundChunk chunk, CancellationToken cancellationToken)
    {
        if (chunk.Count == 0)
        {
            return;
        }
        var admission = await _availability.AcquireAsync(_budget, chunk.Count, chunk.Bytes, cancellationToken).ConfigureAwait(false);
        if (admission == Admission.Dropped)
        {
            _metrics.Dropped(Stream, "reader_unavailable", chunk.Count, ReaderOperator);
            if (_availability.CountDropped(chunk.Count))
            {
                ReaderAvailabilityLog.Dropped(_logger, ToString(), (long)_availability.DropAfter!.Value.TotalMilliseconds, _availability.DroppedTotal);
            }
        }
        else if (admission == Admission.Closed || !Write(chunk))
        {
            _metrics.Dropped(Stream, "channel_closed", chunk.Count);
        }
    }

    /// <summary>
    /// Queues a checkpoint barrier after everything queued so far. It needs no credit and no
    /// queue room (a few bytes, one per checkpoint), so it never waits; a channel without a
    /// call opens one for it. A closed channel drops it (the checkpoint then times out).
    /// </summary>
    public void EnqueueBarrier(Contracts.DataPlane.V1.Barrier barrier) =>
        Write(new OutboundChunk(0) { Barrier = barrier });

    /// <summary>
    /// Queues an event-time watermark after everything queued so far; like a barrier it needs
    /// no credit and never waits. While the previous watermark is still queued with nothing
    /// behind it, that one is raised instead, so a stalled channel holds at most one watermark
    /// more than its chunks (docs/guarantees.md, "Event time").
    /// </summary>
    public void EnqueueWatermark(long watermarkMs)
    {
        lock (_entryLock)
        {
            if (_lastEntry is { IsWatermark: true } last)
            {
                lock (last)
                {
                    if (!last.WatermarkTaken)
                    {
                        last.WatermarkMs = Math.Max(last.WatermarkMs, watermarkMs);
                        return;
                    }
                }
            }
            Write(new OutboundChunk(0) { IsWatermark = true, WatermarkMs = watermarkMs });
        }
    }

    /// <summary>Queues an entry and remembers it as the last (the router, the pump and a source's watermarks may write at once).</summary>
    private bool Write(OutboundChunk entry)
    {
        lock (_entryLock)
        {
            if (!_queue.Writer.TryWrite(entry))
            {
                return false;
            }
            _lastEntry = entry;
            return true;
        }
    }

    private readonly object _entryLock = new();
    private OutboundChunk? _lastEntry; // under _entryLock

    /// <summary>Points the channel at a (new) address/incarnation; a change reconnects.</summary>
    public void SetTarget(OutboundTarget target)
    {
        if (target.Address.Length == 0)
        {
            // Also for a new channel, whose target starts empty: its reader is not running yet.
            _availability.MarkUnavailable();
        }
        if (_target == target)
        {
            return;
        }
        _target = target;
        _wake.Set();
    }

    public async ValueTask DisposeAsync()
    {
        _budget.Close();
        _queue.Writer.TryComplete();
        await _stop.CancelAsync().ConfigureAwait(false);
        await _run.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        var dropped = _current?.Remaining ?? 0;
        _current = null;
        while (_queue.Reader.TryRead(out var chunk))
        {
            dropped += chunk.Remaining;
        }
        if (dropped > 0)
        {
            _metrics.Dropped(Stream, "channel_closed", dropped);
        }
        _stop.Dispose();
    }

    private async Task RunAsync()
    {
        // Full jitter: the senders of a restarted reader do not all reconnect at the same moment.
        var backoff = Backoff.FromMs(ExecutorLimits.OutboundReconnectBackoffInitialMs, ExecutorLimits.OutboundReconnectBackoffMsMax, BackoffJitter.Full);
        var failuresInARow = 0;
        OutboundTarget? failingTarget = null;
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            var target = _target;
            if (target.Address.Length == 0)
            {
                // The instance is not running: records wait (bounded) for the routing table.
                await _wake.WaitAsync(token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                continue;
            }
            if (target != failingTarget)
            {
                // A new target (the routing table moved the instance): a fresh set of attempts, at once.
                failingTarget = null;
                failuresInARow = 0;
                backoff.Reset();
            }
            if (failuresInARow >= _reconnectAttemptsMax)
            {
                // Retries to this target are used up: it is gone. Wait for the routing table.
                _waitingForNewTarget = true;
                DataPlaneLog.OutboundGaveUp(_logger, ToString(), target.Address, failuresInARow);
                while (!token.IsCancellationRequested && _target == target)
                {
                    await _wake.WaitAsync(token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                }
                _waitingForNewTarget = false;
                continue;
            }
            try
            {
                var connected = await SendToAsync(target, token).ConfigureAwait(false);
                if (connected)
                {
                    backoff.Reset();
                    failuresInARow = 0;
                }
                if (_idleClosed)
                {
                    // Closed for lack of records: the next call opens when records are queued.
                    _idleClosed = false;
                    if (!await _queue.Reader.WaitToReadAsync(token).ConfigureAwait(false))
                    {
                        return; // disposed
                    }
                }
            }
            catch (Exception e) when (!token.IsCancellationRequested)
            {
                Interlocked.Increment(ref _failedAttempts);
                _availability.MarkUnavailable();
                failingTarget = target;
                if (_callConnected)
                {
                    // The call worked for a while: this is the first failure of a new series.
                    failuresInARow = 1;
                    backoff.Reset();
                }
                else
                {
                    failuresInARow++;
                }
                var reason = e is RpcException r ? $"{r.StatusCode}: {r.Status.Detail}" : e.Message;
                var delay = backoff.Next();
                DataPlaneLog.OutboundFailed(_logger, ToString(), target.Address, reason, (int)delay.TotalMilliseconds);
                // Wait out the back-off (on the channel's clock), but reconnect at once if the routing table moves the instance.
                using var waited = new CancellationTokenSource(delay, _time);
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(token, waited.Token);
                while (!wait.IsCancellationRequested && _target == target)
                {
                    await _wake.WaitAsync(wait.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                }
            }
        }
    }

    /// <summary>One Push call to <paramref name="target"/>, until it fails or the target changes. True if credit was received.</summary>
    private async Task<bool> SendToAsync(OutboundTarget target, CancellationToken token)
    {
        using var callStop = CancellationTokenSource.CreateLinkedTokenSource(token);
        using var call = _clients.Get(target.Address).CreateCallInvoker()
            .AsyncDuplexStreamingCall(DataPlaneWire.PushClient, null, new CallOptions(_clients.HeadersFor(target.Incarnation), cancellationToken: callStop.Token));
        await call.RequestStream.WriteAsync(new ProtoWireMessage(new DataFrame
        {
            Open = new ChannelOpen
            {
                Stream = Stream,
                OperatorName = ReaderOperator,
                InstanceIndex = InstanceIndex,
                Sender = Sender,
                ReceiverIncarnation = target.Incarnation,
            },
        }), token).ConfigureAwait(false);

        _callConnected = false;
        var credit = new CreditState();
        var creditReader = ReadCreditsAsync(call.ResponseStream, credit, callStop.Token);
        var connectedLogged = false;
        // At most one pending wait of each kind: an abandoned semaphore wait would swallow a
        // later wake-up, so a wait is reused until it completes (all end with callStop).
        Task wakeTask = Task.CompletedTask;
        Task dataTask = Task.CompletedTask;
        Task Wake() => wakeTask.IsCompleted ? wakeTask = _wake.WaitAsync(callStop.Token) : wakeTask;
        Task Data() => dataTask.IsCompleted ? dataTask = _queue.Reader.WaitToReadAsync(callStop.Token).AsTask() : dataTask;
        // One idle timer at a time, re-armed for what is left since the last batch went out:
        // no timer per batch.
        var lastSent = _time.GetTimestamp();
        Task idleTask = Task.CompletedTask;
        Task Idle() => idleTask.IsCompleted
            ? idleTask = Task.Delay(Session.BatchPump.WholeMilliseconds(_idleClose - _time.GetElapsedTime(lastSent)), _time, callStop.Token)
            : idleTask;
        // One frame object per call, refilled for every batch: the call is done with it once WriteAsync returns.
        var batch = new OutgoingBatch();
        try
        {
            while (true)
            {
                token.ThrowIfCancellationRequested();
                if (creditReader.IsCompleted)
                {
                    await creditReader.ConfigureAwait(false); // throws the call's failure
                    throw new RpcException(new Status(StatusCode.Unavailable, "the receiver ended the channel"));
                }
                if (_target != target)
                {
                    await call.RequestStream.CompleteAsync().ConfigureAwait(false);
                    return credit.EverGranted;
                }
                if (!connectedLogged && credit.EverGranted)
                {
                    connectedLogged = true;
                    _callConnected = true;
                    _availability.MarkAvailable();
                    DataPlaneLog.OutboundConnected(_logger, ToString(), target.Address, target.Incarnation);
                }
                if (!TryPeekChunk(out var next))
                {
                    if (_time.GetElapsedTime(lastSent) >= _idleClose)
                    {
                        // Nothing to send for a while: end the call in order (the receiver reads
                        // every frame written before the end) to free the receiver's slot.
                        await call.RequestStream.CompleteAsync().ConfigureAwait(false);
                        await creditReader.WaitAsync(TimeSpan.FromMilliseconds(ExecutorLimits.OutboundConnectTimeoutMs), _time, token).ConfigureAwait(false);
                        _idleClosed = true;
                        DataPlaneLog.OutboundIdleClosed(_logger, ToString(), target.Address, (int)_idleClose.TotalMilliseconds);
                        return credit.EverGranted;
                    }
                    await Task.WhenAny(Wake(), Data(), creditReader, Idle()).ConfigureAwait(false);
                    continue;
                }
                if (next.Barrier is { } barrier)
                {
                    // In order with the batches and without credit (dataplane.proto).
                    await call.RequestStream.WriteAsync(new ProtoWireMessage(new DataFrame { Barrier = barrier }), token).ConfigureAwait(false);
                    _current = null;
                    lastSent = _time.GetTimestamp();
                    continue;
                }
                if (next.IsWatermark)
                {
                    long watermarkMs;
                    lock (next)
                    {
                        next.WatermarkTaken = true;
                        watermarkMs = next.WatermarkMs;
                    }
                    await call.RequestStream.WriteAsync(new ProtoWireMessage(new DataFrame { Watermark = new Watermark { TimeUnixMs = watermarkMs } }), token).ConfigureAwait(false);
                    _current = null;
                    lastSent = _time.GetTimestamp();
                    continue;
                }
                int rows;
                long bytes;
                lock (credit)
                {
                    rows = credit.Rows;
                    bytes = credit.Bytes;
                }
                if (rows < 1 || bytes < next.SizeAt(next.Offset))
                {
                    // No credit: wait for the receiver (or a target change); this is backpressure.
                    await Task.WhenAny(Wake(), creditReader).ConfigureAwait(false);
                    continue;
                }
                batch.Clear();
                long batchBytes = 0;
                var rowsLimit = Math.Min(rows, ExecutorLimits.BatchRowsMax);
                var records = batch.Records;
                while (records.Count < rowsLimit && TryPeekChunk(out next) && next.Barrier is null && !next.IsWatermark)
                {
                    // Whole chunks at a time; a batch ends at the credit or at BatchBytesMax
                    // (a single record larger than that still travels, alone).
                    var i = next.Offset;
                    for (; i < next.Count && records.Count < rowsLimit; i++)
                    {
                        var size = next.SizeAt(i);
                        if (batchBytes + size > bytes || (batchBytes + size > ExecutorLimits.BatchBytesMax && records.Count > 0))
                        {
                            break;
                        }
                        batch.Add(next.RecordAt(i));
                        batchBytes += size;
                    }
                    var full = i < next.Count;
                    next.Offset = i;
                    if (!full)
                    {
                        _current = null;
                    }
                    else
                    {
                        break;
                    }
                }
                lock (credit)
                {
                    credit.Rows -= batch.Records.Count;
                    credit.Bytes -= batchBytes;
                }
                _budget.Release(batch.Records.Count, batchBytes);
                try
                {
                    await call.RequestStream.WriteAsync(batch, token).ConfigureAwait(false);
                }
                catch
                {
                    // At-most-once: a batch that did not go out is lost with the call.
                    _metrics.Dropped(Stream, "send_failed", batch.Records.Count);
                    throw;
                }
                Interlocked.Add(ref _sentRows, batch.Records.Count);
                lastSent = _time.GetTimestamp();
                _tracing.Written(batch.Records);
            }
        }
        finally
        {
            await callStop.CancelAsync().ConfigureAwait(false);
            await creditReader.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private async Task ReadCreditsAsync(IAsyncStreamReader<Credit> credits, CreditState state, CancellationToken token)
    {
        try
        {
            while (await credits.MoveNext(token).ConfigureAwait(false))
            {
                lock (state)
                {
                    state.Rows += credits.Current.Rows;
                    state.Bytes += credits.Current.Bytes;
                    state.EverGranted = true;
                }
                _wake.Set();
            }
        }
        finally
        {
            _wake.Set();
        }
    }

    private sealed class CreditState
    {
        public int Rows;
        public long Bytes;
        public bool EverGranted;
    }

    /// <summary>The chunk being sent, or the next queued one (RunAsync's task only).</summary>
    private bool TryPeekChunk(out OutboundChunk chunk)
    {
        if (_current is null && !_queue.Reader.TryRead(out _current))
        {
            chunk = null!;
            return false;
        }
        chunk = _current;
        return true;
    }
}

/// <summary>One HTTP/2 connection per downstream executor, shared by all channels to it.</summary>
/// <param name="dataPlaneKey">The cluster's data-plane key; null sends no credential (an executor started by hand).</param>
/// <param name="tls">With TLS, https with this certificate presented and the downstream's checked against the CA; null: plain http (loopback).</param>
public sealed class DataPlaneClients(byte[]? dataPlaneKey = null, Hosting.TlsCredentials? tls = null) : IDisposable
{
    private readonly Dictionary<string, GrpcChannel> _channels = new(StringComparer.Ordinal);

    /// <summary>Headers of a Push call to the launch <paramref name="receiverIncarnation"/>: its data-plane credential (docs/security.md).</summary>
    public Metadata? HeadersFor(string receiverIncarnation) =>
        dataPlaneKey is null
            ? null
            : new Metadata { { Contracts.Credentials.DataPlaneCredentialHeader, Contracts.Credentials.DataPlaneCredential(dataPlaneKey, receiverIncarnation) } };

    public GrpcChannel Get(string address)
    {
        lock (_channels)
        {
            if (!_channels.TryGetValue(address, out var channel))
            {
                var handler = new SocketsHttpHandler
                {
                    ConnectTimeout = TimeSpan.FromMilliseconds(ExecutorLimits.OutboundConnectTimeoutMs),
                    EnableMultipleHttp2Connections = true,
                };
                channel = GrpcChannel.ForAddress((tls is null ? "http://" : "https://") + address, new GrpcChannelOptions
                {
                    HttpHandler = tls?.ConfigureClient(handler) ?? handler,
                    MaxReceiveMessageSize = Contracts.ProtocolLimits.GrpcMessageBytesMax,
                    MaxSendMessageSize = Contracts.ProtocolLimits.GrpcMessageBytesMax,
                });
                _channels[address] = channel;
            }
            return channel;
        }
    }

    public void Dispose()
    {
        lock (_channels)
        {
            foreach (var channel in _channels.Values)
            {
                channel.Dispose();
            }
            _channels.Clear();
        }
    }
}
