using System.Threading.Channels;
using Concord.Contracts;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Grpc.Core;
using Metadata = Concord.Contracts.Operator.V1.Metadata;

namespace Concord.Sdk.Internal;

/// <summary>
/// One operator session, in three stages so that pipelined batches keep flowing:
/// a reader (gRPC request stream → inbound queue), the operator thread (the only thread that
/// runs user callbacks, one message at a time, in order), and a writer (outbound queue → gRPC
/// response stream). Answers leave in the order their batches arrived because one thread
/// produces them all.
/// </summary>
internal sealed class OperatorSession
{
    private readonly Computation _computation;
    private readonly TimeProvider _time;
    private readonly Channel<InboundItem> _inbound = Channel.CreateBounded<InboundItem>(
        new BoundedChannelOptions(SdkLimits.InboundMessagesMax) { SingleReader = true, SingleWriter = true });
    private readonly Channel<OutboundMessage> _outbound = Channel.CreateBounded<OutboundMessage>(
        new BoundedChannelOptions(SdkLimits.OutboundMessagesMax) { SingleReader = true, SingleWriter = false });

    // Cancelled when the response stream fails: nothing more can reach the executor.
    private readonly CancellationTokenSource _aborted = new();

    // Cancelled by RequestStop: the process is asked to stop, so run Destroy and finish.
    private readonly CancellationTokenSource _stopRequested = new();
    private volatile string? _stopReason;
    private readonly TaskCompletionSource _executorClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private readonly BatchDoneWriter _done = new();
    private ComputationContext? _context;
    private KeyedStateStore? _state; // null: the operator declares no state
    private ulong _lastSeq;
    private SessionOutcome _outcome = new(SessionOutcome.ExitCodeFatal, "the session ended before it was set up");

    public OperatorSession(Computation computation, TimeProvider time)
    {
        _computation = computation;
        _time = time;
    }

    /// <summary>
    /// Completes when the executor has closed its side (ended its request stream, reset the
    /// stream, or dropped the connection). Until then the server must stay up: closing the
    /// connection while the executor's side is open makes its HTTP/2 client discard response
    /// data it has not read yet, such as the final Error.
    /// </summary>
    public Task ExecutorClosed => _executorClosed.Task;

    /// <summary>Runs Destroy and ends the session cleanly at the next message boundary.</summary>
    public void RequestStop(string reason)
    {
        _stopReason = reason;
        _stopRequested.Cancel();
    }

    public async Task<SessionOutcome> RunAsync(
        IAsyncStreamReader<ExecutorMessage> requests,
        IServerStreamWriter<OutboundMessage> responses,
        CancellationToken callCancelled)
    {
        var operatorThreadDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                OperatorThread();
            }
            finally
            {
                operatorThreadDone.SetResult();
            }
        })
        {
            IsBackground = true,
            Name = "concord-operator",
        };
        thread.Start();

        // The reader is not awaited or cancelled: cancelling a server-side read aborts the HTTP/2
        // stream, and the executor must see the stream complete. It ends when the call ends, and
        // it handles its own exceptions.
        _ = ReadAsync(requests, callCancelled);
        await WriteAsync(responses, callCancelled);
        await operatorThreadDone.Task;
        return _outcome;
    }

    private async Task ReadAsync(IAsyncStreamReader<ExecutorMessage> requests, CancellationToken cancellationToken)
    {
        string? disconnect = null;
        var shutdownSeen = false;
        try
        {
            while (await requests.MoveNext(cancellationToken))
            {
                var message = requests.Current;
                if (shutdownSeen)
                {
                    continue; // nothing may follow Shutdown; keep reading only to see the executor close
                }
                await _inbound.Writer.WriteAsync(new InboundItem(message, null), cancellationToken);
                shutdownSeen = message.MessageCase == ExecutorMessage.MessageOneofCase.Shutdown;
            }
            disconnect = shutdownSeen ? null : "the executor closed the session without sending Shutdown";
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            disconnect = shutdownSeen ? null : "the executor's connection went away";
        }
        catch (Exception e)
        {
            disconnect = shutdownSeen ? null : $"reading from the executor failed: {e.Message}";
        }
        finally
        {
            _executorClosed.TrySetResult();
            if (disconnect is not null)
            {
                // The operator thread may be waiting for input: tell it why none will come.
                _inbound.Writer.TryWrite(new InboundItem(null, disconnect));
            }
            _inbound.Writer.TryComplete();
        }
    }

    private async Task WriteAsync(IServerStreamWriter<OutboundMessage> responses, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var message in _outbound.Reader.ReadAllAsync(CancellationToken.None))
            {
                try
                {
                    await responses.WriteAsync(message, cancellationToken);
                }
                finally
                {
                    // Serialized into the call's buffer (or failed): the pooled bytes are free again.
                    message.Release();
                }
            }
        }
        catch (Exception)
        {
            // The executor is gone. Unblock the operator thread; its outcome says what happened.
            await _aborted.CancelAsync();
            _inbound.Writer.TryComplete();
        }
    }

    private void OperatorThread()
    {
        var destroyOnExit = false;
        try
        {
            while (TakeNext() is { } item)
            {
                if (item.StopReason is { } stop)
                {
                    if (_context is not null)
                    {
                        Invoke("Destroy", _computation.Destroy);
                    }
                    _outcome = new SessionOutcome(SessionOutcome.ExitCodeClean, stop);
                    return;
                }
                if (item.DisconnectReason is { } disconnect)
                {
                    // Best effort: let the user flush what it holds, then exit non-zero.
                    destroyOnExit = _context is not null;
                    _outcome = new SessionOutcome(SessionOutcome.ExitCodeFatal, disconnect);
                    break;
                }
                var message = item.Message!;
                switch (message.MessageCase)
                {
                    case ExecutorMessage.MessageOneofCase.Init:
                        HandleInit(message.Init);
                        break;
                    case ExecutorMessage.MessageOneofCase.ProcessBatch:
                        HandleBatch(message.ProcessBatch);
                        break;
                    case ExecutorMessage.MessageOneofCase.Shutdown:
                        if (_context is not null)
                        {
                            Invoke("Destroy", _computation.Destroy);
                        }
                        var reason = message.Shutdown.Reason;
                        _outcome = new SessionOutcome(SessionOutcome.ExitCodeClean,
                            string.IsNullOrEmpty(reason) ? "shut down by the executor" : $"shut down by the executor: {reason}");
                        return;
                    default:
                        throw new ProtocolViolationException(
                            $"unknown executor message ({message.MessageCase}); the executor speaks a newer protocol than this SDK, upgrade Concord.Sdk");
                }
            }
            if (_outcome.ExitCode == SessionOutcome.ExitCodeFatal && _aborted.IsCancellationRequested)
            {
                _outcome = new SessionOutcome(SessionOutcome.ExitCodeFatal, "the connection to the executor was lost");
            }
        }
        catch (UserCodeException e)
        {
            Fail(e.Message, e.InnerException!.ToString());
        }
        catch (ProtocolViolationException e)
        {
            Fail(e.Message, "");
        }
        catch (SessionAbortedException e)
        {
            _outcome = new SessionOutcome(SessionOutcome.ExitCodeFatal, e.Message);
        }
        catch (Exception e)
        {
            // A bug in the SDK itself: still fatal, still reported.
            Fail($"Concord.Sdk internal error {e.GetType().FullName}: {e.Message}", e.ToString());
        }
        finally
        {
            if (destroyOnExit)
            {
                try
                {
                    _computation.Destroy();
                }
                catch (Exception)
                {
                    // Already exiting non-zero for the disconnect, which is the useful reason.
                }
            }
            _outbound.Writer.TryComplete();
        }
    }

    /// <summary>The next thing to do, or null when the inbound side is closed.</summary>
    private InboundItem? TakeNext()
    {
        while (true)
        {
            if (_stopReason is { } stop)
            {
                return new InboundItem(null, null, stop);
            }
            if (_inbound.Reader.TryRead(out var item))
            {
                return item;
            }
            try
            {
                if (!_inbound.Reader.WaitToReadAsync(_stopRequested.Token).AsTask().GetAwaiter().GetResult())
                {
                    return null;
                }
            }
            catch (OperationCanceledException) when (_stopRequested.IsCancellationRequested)
            {
                // Loop: the stop request is picked up above.
            }
        }
    }

    private void HandleInit(Init init)
    {
        if (_context is not null)
        {
            throw new ProtocolViolationException("a second Init arrived; the executor sends Init exactly once per session");
        }
        CheckInit(init);

        OperatorMetadata? metadata = null;
        Invoke("Metadata", () => metadata = _computation.Metadata());
        if (metadata is null)
        {
            throw new UserCodeException("Metadata", new InvalidOperationException(
                "Metadata() returned null; return new MetadataBuilder(name).Input(...).Output(...)"));
        }

        var answer = new Metadata
        {
            Metadata_ = metadata,
            ProtocolVersion = ProtocolLimits.ProtocolVersion,
            Sdk = SdkInfo.Name,
        };
        answer.Capabilities.Add(Capabilities.All);
        Send(new OperatorMessage { Metadata = answer });

        if (metadata.States.Count > 0)
        {
            _state = new KeyedStateStore(metadata.States.Select(s => s.Name),
                init.MaxStateValueBytes > 0 ? init.MaxStateValueBytes : init.MaxRecordBytes, init.MaxBatchesInFlight);
        }
        _context = new ComputationContext(init, metadata, _time, SendLog, Environment.CurrentManagedThreadId, _state);
        _done.Begin(0);
        _context.Begin(_done);
        _state?.BeginInit();
        try
        {
            Invoke("Init", () => _computation.Init(_context));
        }
        finally
        {
            _context.End();
        }
        _state?.End(0, _done.Rest);
        Send(_done.Finish());
    }

    private static void CheckInit(Init init)
    {
        if (init.ProtocolVersion != ProtocolLimits.ProtocolVersion)
        {
            throw new ProtocolViolationException(
                $"the executor speaks protocol version {init.ProtocolVersion} and this SDK ({SdkInfo.Name}) speaks " +
                $"{ProtocolLimits.ProtocolVersion}; use a Concord.Sdk and executor from the same release");
        }
        var missing = init.RequiredCapabilities.Where(c => !Capabilities.All.Contains(c)).ToList();
        if (missing.Count > 0)
        {
            throw new ProtocolViolationException(
                $"the executor requires capabilities this SDK ({SdkInfo.Name}) lacks: [{string.Join(", ", missing)}] " +
                $"(supported: [{string.Join(", ", Capabilities.All)}]); upgrade Concord.Sdk to a release that supports them");
        }
        if (init.InstanceCount < 1 || init.InstanceIndex < 0 || init.InstanceIndex >= init.InstanceCount)
        {
            throw new ProtocolViolationException(
                $"Init.instance_index {init.InstanceIndex} is not within Init.instance_count {init.InstanceCount}");
        }
        if (init.MaxRecordBytes < 1)
        {
            throw new ProtocolViolationException($"Init.max_record_bytes is {init.MaxRecordBytes}; it is required and must be positive");
        }
        if (init.MaxBatchesInFlight < 1)
        {
            throw new ProtocolViolationException($"Init.max_batches_in_flight is {init.MaxBatchesInFlight}; it is required and must be positive");
        }
        if (string.IsNullOrEmpty(init.OperatorName))
        {
            throw new ProtocolViolationException("Init.operator_name is empty; it is required");
        }
    }

    private void HandleBatch(ProcessBatch batch)
    {
        var context = _context ?? throw new ProtocolViolationException("ProcessBatch arrived before Init; Init must be the first message");
        if (batch.Seq != _lastSeq + 1)
        {
            throw new ProtocolViolationException($"ProcessBatch seq {batch.Seq} arrived, expected {_lastSeq + 1}; seq starts at 1 and increases by one");
        }
        _lastSeq = batch.Seq;

        _done.Begin(batch.Seq);
        context.Begin(_done);
        context.WatermarkUnixMs = batch.WatermarkUnixMs;
        _state?.Begin(batch);
        var callback = "ProcessRecord";
        try
        {
            // One try around the whole batch: the per-record path stays a plain virtual call.
            foreach (var record in batch.Records)
            {
                context.SetCurrent(record);
                _computation.ProcessRecord(context, record);
            }
            callback = "ProcessTimer";
            context.SetCurrent(null);
            foreach (var timer in batch.TimersFired)
            {
                context.SetTimerScope(timer.StateKey);
                _computation.ProcessTimer(context, timer.Key, timer.TimeUnixMs);
            }
        }
        catch (Exception e) when (e is not SessionAbortedException)
        {
            throw new UserCodeException(callback, e);
        }
        finally
        {
            context.End();
        }
        _state?.End(batch.Seq, _done.Rest);
        Send(_done.Finish());
    }

    private static void Invoke(string callback, Action action)
    {
        try
        {
            action();
        }
        catch (Exception e) when (e is not SessionAbortedException and not UserCodeException)
        {
            throw new UserCodeException(callback, e);
        }
    }

    private void Fail(string message, string detail)
    {
        if (detail.Length > SdkLimits.ErrorDetailCharsMax)
        {
            detail = string.Concat(detail.AsSpan(0, SdkLimits.ErrorDetailCharsMax), "\n…(truncated)");
        }
        _outcome = new SessionOutcome(SessionOutcome.ExitCodeFatal, message);
        try
        {
            Send(new OperatorMessage { Error = new Error { Message = message, Detail = detail, Fatal = true } });
        }
        catch (SessionAbortedException)
        {
            // The executor is gone; the outcome still carries the message for stderr.
        }
    }

    private void SendLog(OperatorMessage message)
    {
        try
        {
            Send(message);
        }
        catch (SessionAbortedException)
        {
            // A log line for an executor that is gone has nowhere to go.
        }
        catch (ChannelClosedException)
        {
            // Logged from another thread after the session ended.
        }
    }

    private void Send(OperatorMessage message) => Send(new OutboundMessage(message));

    private void Send(OutboundMessage message)
    {
        if (_outbound.Writer.TryWrite(message))
        {
            return;
        }
        try
        {
            // Queue full: block the operator thread (backpressure) until the writer catches up.
            _outbound.Writer.WriteAsync(message, _aborted.Token).AsTask().GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (_aborted.IsCancellationRequested)
        {
            throw new SessionAbortedException("the connection to the executor was lost");
        }
    }

    private sealed record InboundItem(ExecutorMessage? Message, string? DisconnectReason, string? StopReason = null);
}
