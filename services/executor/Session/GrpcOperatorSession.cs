using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Concord.Contracts;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.Records;
using Concord.Executor.Records.Internal;
using Concord.Executor.Session.Internal;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Metadata = Concord.Contracts.Operator.V1.Metadata;

namespace Concord.Executor.Session;

/// <summary>
/// A user operator behind the gRPC session on a unix socket, optionally with its process
/// (started and supervised here). Without a process it only connects: at once to an operator
/// already serving (tests), or in attach mode after waiting, bounded, for an operator that
/// someone else starts (a Kubernetes pod's operator container); then the end of the session is
/// the operator's end, since there is no process to watch. A process may instead announce a
/// loopback TCP port (<see cref="ExecutorLimits.OperatorPortFileVariable"/>); the session then
/// carries this launch's secret (<see cref="ExecutorLimits.OperatorSecretHeader"/>), which the operator checks.
/// </summary>
public sealed class GrpcOperatorSession : IOperatorSession
{
    /// <summary>
    /// <c>concord.operator.v1.Operator/Session</c> with records as bytes: ExecutorMessages are
    /// written by the executor (<see cref="RawBatch"/>, or a generated message), OperatorMessages
    /// arrive as bytes and BatchDone is scanned in place (<see cref="RawAnswer"/>). Same wire
    /// format as the generated client; SDKs see no difference.
    /// </summary>
    private static readonly Method<IWireMessage, byte[]> SessionMethod = new(
        MethodType.DuplexStreaming, "concord.operator.v1.Operator", "Session", WireMarshallers.Writer, WireMarshallers.Bytes);

    private readonly OperatorSpec? _spec;
    private readonly string _workDir;
    private readonly string _socketPath;
    private readonly string _portFile;
    private readonly string? _secret; // set when this session starts the process
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _cts = new();
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly Channel<RawAnswer> _answers = Channel.CreateBounded<RawAnswer>(
        new BoundedChannelOptions(ExecutorLimits.SessionAnswersParsedMax) { SingleReader = true, SingleWriter = true });

    // A slot per answer parsed and not yet routed: the read loop takes one before it reads the
    // next message and ReadAnswersAsync gives it back when the consumer asks for the next
    // answer (the previous one is routed). Bounds parsed answers to SessionAnswersParsedMax.
    private readonly SemaphoreSlim _answerSlots = new(ExecutorLimits.SessionAnswersParsedMax, ExecutorLimits.SessionAnswersParsedMax);
    private readonly TaskCompletionSource _exitedWithoutProcess = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly string _searchPath;
    private OperatorProcess? _process;
    private GrpcChannel? _channel;
    private AsyncDuplexStreamingCall<IWireMessage, byte[]>? _call;
    private Task? _readLoop;
    private Task? _exited;
    private volatile bool _shutdownSent;
    /// <summary>Attach mode's wait for the socket; null: not attach mode.</summary>
    private TimeSpan? _attachTimeout;

    private GrpcOperatorSession(OperatorSpec? spec, string workDir, string socketPath, ILogger logger, TimeProvider time, string searchPath = "")
    {
        _searchPath = searchPath;
        _spec = spec;
        _workDir = workDir;
        _socketPath = socketPath;
        _portFile = Path.Combine(workDir, ExecutorLimits.OperatorPortFileName);
        _secret = spec is null ? null : NewSecret();
        _logger = logger;
        _time = time;
    }

    /// <summary>A session that starts <paramref name="spec"/>'s executable in <paramref name="workDir"/>.</summary>
    /// <param name="searchPath">Where a bare executable name is looked for: <see cref="ExecutorOptions.SearchPath"/> (PATH); empty: nowhere.</param>
    public static GrpcOperatorSession ForProcess(OperatorSpec spec, string workDir, ILogger logger, TimeProvider time, string searchPath = "") =>
        new(spec, workDir, Path.Combine(workDir, "operator.sock"), logger, time, searchPath);

    /// <summary>A session with an operator already serving <paramref name="socketPath"/>.</summary>
    public static GrpcOperatorSession Connect(string socketPath, ILogger logger, TimeProvider time) =>
        new(null, Path.GetDirectoryName(socketPath)!, socketPath, logger, time);

    /// <summary>
    /// Attach mode: a session with an operator that someone else starts, serving
    /// <paramref name="socketPath"/> within <paramref name="timeout"/>. <see cref="Exited"/>
    /// completes when the session ends (faulted when the operator ended it unasked).
    /// </summary>
    public static GrpcOperatorSession Attach(string socketPath, TimeSpan timeout, ILogger logger, TimeProvider time) =>
        new(null, Path.GetDirectoryName(socketPath)!, socketPath, logger, time) { _attachTimeout = timeout };

    public int OperatorPid => _process?.Pid ?? 0;

    public Task Exited => _exited ?? _exitedWithoutProcess.Task;

    public StreamTable Outputs { get; private set; } = StreamTable.Empty;

    public async Task<Metadata> StartAsync(Init init, CancellationToken cancellationToken)
    {
        int? tcpPort = null;
        if (_spec is not null)
        {
            // Validates the path length (≤ 107 bytes) with a message that names the fix.
            try
            {
                OperatorAddress.Parse(_socketPath);
            }
            catch (ArgumentException e)
            {
                throw new OperatorFailedException(e.Message);
            }
            // A stale socket or port file from a previous incarnation would look ready.
            File.Delete(_socketPath);
            File.Delete(_portFile);
            _process = OperatorProcess.Start(_spec, _workDir, _socketPath, _portFile, _secret!, _searchPath, _logger);
            SessionLog.OperatorStarted(_logger, _process.Pid, _spec.Executable);
            _exited = WatchProcessAsync(_process);
            tcpPort = await _process.WaitForServingAsync(
                _socketPath, _portFile, TimeSpan.FromMilliseconds(ExecutorLimits.OperatorStartTimeoutMs), _time, cancellationToken).ConfigureAwait(false);
        }
        else if (_attachTimeout is { } attachTimeout)
        {
            // A stale socket is not deleted here: the operator may already be serving it.
            SessionLog.OperatorAttachWaiting(_logger, _socketPath, (int)attachTimeout.TotalMilliseconds);
            await OperatorSocket.WaitAsync(_socketPath, attachTimeout, _time, cancellationToken).ConfigureAwait(false);
            SessionLog.OperatorAttached(_logger, _socketPath);
        }

        _channel = tcpPort is { } port ? CreateTcpChannel(port) : CreateChannel(_socketPath);
        var headers = _secret is null ? null : new Grpc.Core.Metadata { { ExecutorLimits.OperatorSecretHeader, _secret } };
        _call = _channel.CreateCallInvoker().AsyncDuplexStreamingCall(SessionMethod, null, new CallOptions(headers, cancellationToken: _cts.Token));
        await _call.RequestStream.WriteAsync(new ProtoWireMessage(new ExecutorMessage { Init = init }), cancellationToken).ConfigureAwait(false);

        var metadata = await ReadMetadataAsync(cancellationToken).ConfigureAwait(false);
        Outputs = new StreamTable(metadata.Metadata_?.Outputs ?? []);
        SessionLog.SessionOpen(_logger, metadata.Sdk, string.Join(", ", metadata.Capabilities));
        _readLoop = Task.Run(ReadLoopAsync, CancellationToken.None);
        return metadata;
    }

    public async ValueTask SendAsync(RawBatch batch, CancellationToken cancellationToken)
    {
        var call = _call ?? throw new InvalidOperationException("StartAsync first");
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await call.RequestStream.WriteAsync(batch, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RpcException or InvalidOperationException or IOException)
        {
            throw new OperatorFailedException($"the operator session broke while sending batch {batch.Seq}: {e.Message}{await ExitExplanationAsync().ConfigureAwait(false)}", e);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public async IAsyncEnumerable<RawAnswer> ReadAnswersAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var done in _answers.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            yield return done;
            _answerSlots.Release();
        }
    }

    public async Task SendShutdownAsync(string reason, CancellationToken cancellationToken)
    {
        var call = _call;
        if (call is null)
        {
            return;
        }
        _shutdownSent = true;
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await call.RequestStream.WriteAsync(new ProtoWireMessage(new ExecutorMessage { Shutdown = new Shutdown { Reason = reason } }), cancellationToken).ConfigureAwait(false);
            await call.RequestStream.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is RpcException or InvalidOperationException or IOException)
        {
            // The session is already gone; the caller waits for the process (bounded) anyway.
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public void Kill() => _process?.Kill();

    public async Task<int> SignalFromOutsideAsync()
    {
        if (_process is null)
        {
            return 0;
        }
        await Task.WhenAny(_process.Exited, Task.Delay(TimeSpan.FromMilliseconds(ExecutorLimits.OperatorExitWaitMs), _time)).ConfigureAwait(false);
        return _process.Exited.IsCompletedSuccessfully ? _process.SignalFromOutside(_process.Exited.Result) : 0;
    }

    public async ValueTask DisposeAsync()
    {
        _process?.Kill();
        await _cts.CancelAsync().ConfigureAwait(false);
        if (_readLoop is not null)
        {
            await _readLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        _call?.Dispose();
        _channel?.Dispose();
        _process?.Dispose();
        _exitedWithoutProcess.TrySetResult();
        _cts.Dispose();
    }

    private async Task<Metadata> ReadMetadataAsync(CancellationToken cancellationToken)
    {
        var timeout = TimeSpan.FromMilliseconds(ExecutorLimits.OperatorMetadataTimeoutMs);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            while (true)
            {
                var next = _call!.ResponseStream.MoveNext(deadline.Token);
                if (_exited is not null)
                {
                    await Task.WhenAny(next, _exited).ConfigureAwait(false);
                    if (!next.IsCompleted)
                    {
                        throw new OperatorFailedException($"the operator exited before sending Metadata{await ExitExplanationAsync().ConfigureAwait(false)}");
                    }
                }
                if (!await next.ConfigureAwait(false))
                {
                    throw new OperatorFailedException($"the operator closed the session before sending Metadata; it must answer Init with Metadata{await ExitExplanationAsync().ConfigureAwait(false)}");
                }
                var message = ParseWhole(_call.ResponseStream.Current);
                switch (message.MessageCase)
                {
                    case OperatorMessage.MessageOneofCase.Metadata:
                        return message.Metadata;
                    case OperatorMessage.MessageOneofCase.Log:
                        SessionLog.OperatorLog(_logger, message.Log.Level, OperatorOutput.Cap(message.Log.Message));
                        break;
                    case OperatorMessage.MessageOneofCase.Error:
                        throw new OperatorFailedException($"the operator failed before sending Metadata: {OperatorOutput.Cap(message.Error.Message)}{Detail(message.Error)}");
                    default:
                        throw new OperatorProtocolException(
                            $"the operator sent {message.MessageCase} before Metadata; Metadata must be its first message (operator.proto)");
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new OperatorFailedException(
                $"the operator did not answer Init with Metadata within {timeout.TotalSeconds:0} s (ExecutorLimits.OperatorMetadataTimeoutMs); is metadata() blocking?");
        }
        catch (RpcException e)
        {
            throw new OperatorFailedException($"the operator session failed before Metadata: {e.Status.Detail}{await ExitExplanationAsync().ConfigureAwait(false)}", e);
        }
    }

    private async Task ReadLoopAsync()
    {
        Exception? failure = null;
        try
        {
            var stream = _call!.ResponseStream;
            while (true)
            {
                // Bounded: when the router is slow this waits before reading (parsing) more,
                // and HTTP/2 flow control stops the operator.
                await _answerSlots.WaitAsync(_cts.Token).ConfigureAwait(false);
                if (!await stream.MoveNext(_cts.Token).ConfigureAwait(false))
                {
                    break;
                }
                var bytes = stream.Current;
                RawAnswer? answer;
                try
                {
                    answer = RawAnswer.TryScanOperatorMessage(bytes, Outputs);
                }
                catch (WireFormatException e)
                {
                    throw new OperatorProtocolException($"the operator sent a malformed BatchDone ({e.Message}); it must be a concord.operator.v1.OperatorMessage (operator.proto)");
                }
                if (answer is not null)
                {
                    _answers.Writer.TryWrite(answer); // a slot guarantees room
                    continue;
                }
                _answerSlots.Release(); // only answers hold a slot
                var message = ParseWhole(bytes);
                switch (message.MessageCase)
                {
                    case OperatorMessage.MessageOneofCase.Log:
                        SessionLog.OperatorLog(_logger, message.Log.Level, OperatorOutput.Cap(message.Log.Message));
                        break;
                    case OperatorMessage.MessageOneofCase.Error when message.Error.Fatal:
                        throw new OperatorFailedException($"the operator reported a fatal error: {OperatorOutput.Cap(message.Error.Message)}{Detail(message.Error)}");
                    case OperatorMessage.MessageOneofCase.Error:
                        SessionLog.OperatorNonFatalError(_logger, OperatorOutput.Cap(message.Error.Message));
                        break;
                    default:
                        throw new OperatorProtocolException(
                            $"the operator sent {message.MessageCase} after Metadata; only BatchDone, Log and Error may follow it (operator.proto)");
                }
            }
            if (!_shutdownSent)
            {
                failure = new OperatorFailedException(
                    $"the operator closed the session without being asked to shut down{await ExitExplanationAsync().ConfigureAwait(false)}");
            }
        }
        catch (ExecutorFailureException e)
        {
            failure = e;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.ResourceExhausted && !_cts.IsCancellationRequested)
        {
            failure = new OperatorProtocolException(
                $"the operator sent a message larger than the executor accepts ({e.Status.Detail}); one BatchDone may be at most {ProtocolLimits.BatchDoneBytesMax} bytes (ProtocolLimits.BatchDoneBytesMax): produce less per batch, e.g. emit from a timer in smaller steps");
        }
        catch (Exception e) when (e is RpcException or IOException or OperationCanceledException)
        {
            if (!_cts.IsCancellationRequested)
            {
                failure = new OperatorFailedException(
                    $"the operator session broke: {(e is RpcException r ? r.Status.Detail : e.Message)}{await ExitExplanationAsync().ConfigureAwait(false)}", e);
            }
        }
        catch (Exception e)
        {
            // Anything else is a bug here, but the answer loop must still learn that no answer
            // will come, or the executor would hang instead of failing fast.
            failure = new ExecutorFailureException($"executor error while reading the operator session: {e.GetType().Name}: {e.Message}", e);
        }
        _answers.Writer.TryComplete(failure);
        if (_attachTimeout is not null)
        {
            // Attach mode has no process: the session's end is the operator's end.
            if (failure is null)
            {
                _exitedWithoutProcess.TrySetResult();
            }
            else
            {
                _exitedWithoutProcess.TrySetException(failure);
            }
        }
    }

    /// <summary>When the process has exited (or does within a moment), its code and stderr tail.</summary>
    private async Task<string> ExitExplanationAsync()
    {
        if (_process is null)
        {
            return "";
        }
        // A broken session usually means the process is dying: give it a moment to be reaped
        // so the report can carry its exit code and last words.
        await Task.WhenAny(_process.Exited, Task.Delay(TimeSpan.FromMilliseconds(ExecutorLimits.OperatorExitWaitMs), _time)).ConfigureAwait(false);
        return _process.Exited.IsCompletedSuccessfully
            ? $"; the operator process {OperatorProcess.DescribeExit(_process.Exited.Result)}; its last stderr lines:{_process.StderrTail()}"
            : $"; the operator's last stderr lines:{_process.StderrTail()}";
    }

    private async Task WatchProcessAsync(OperatorProcess process)
    {
        var code = await process.Exited.ConfigureAwait(false);
        SessionLog.OperatorExited(_logger, code);
        if (!_shutdownSent)
        {
            throw new OperatorFailedException(
                $"the operator process {OperatorProcess.DescribeExit(code)} while running; its last stderr lines:{process.StderrTail()}");
        }
    }

    /// <summary>An OperatorMessage other than BatchDone (Metadata, Log, Error), parsed with the generated parser.</summary>
    private static OperatorMessage ParseWhole(byte[] bytes)
    {
        try
        {
            return OperatorMessage.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new OperatorProtocolException($"the operator sent a message that is not a concord.operator.v1.OperatorMessage ({e.Message}); check the SDK's generated code against proto/");
        }
    }

    private static string Detail(Error error) => string.IsNullOrEmpty(error.Detail) ? "" : "\n" + OperatorOutput.Cap(error.Detail);

    /// <summary>This launch's operator secret: <see cref="ExecutorLimits.OperatorSecretBytes"/> random bytes as lowercase hex.</summary>
    private static string NewSecret() =>
        Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(ExecutorLimits.OperatorSecretBytes));

    /// <summary>A gRPC channel to an operator serving 127.0.0.1:<paramref name="port"/> (one that announced it in its port file).</summary>
    internal static GrpcChannel CreateTcpChannel(int port) =>
        // No proxy: an http_proxy in the environment must not see the session (or its secret).
        CreateChannel(new SocketsHttpHandler { InitialHttp2StreamWindowSize = ExecutorLimits.SessionStreamWindowBytes, UseProxy = false }, $"http://127.0.0.1:{port}");

    /// <summary>A gRPC channel to a unix socket: .NET gRPC reaches one through a ConnectCallback, with http://localhost as the nominal address.</summary>
    internal static GrpcChannel CreateChannel(string socketPath)
    {
        var endpoint = new UnixDomainSocketEndPoint(socketPath);
        var handler = new SocketsHttpHandler
        {
            // The default 64 KiB starting window stalls a 50 KB answer per round trip (the
            // benchmark's echo: 0.2M records/s at 64 KiB, 1.2M at 1 MiB); it is also the bound
            // on answer bytes waiting in the connection (docs/data-plane.md).
            InitialHttp2StreamWindowSize = ExecutorLimits.SessionStreamWindowBytes,
            ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(endpoint, cancellationToken).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        return CreateChannel(handler, "http://localhost");
    }

    private static GrpcChannel CreateChannel(SocketsHttpHandler handler, string address)
    {
        return GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            HttpHandler = handler,
            // Answers are the large messages an operator sends; Log and Error are far smaller.
            MaxReceiveMessageSize = ProtocolLimits.BatchDoneBytesMax + ExecutorLimits.SessionMessageFramingBytesMax,
            MaxSendMessageSize = ProtocolLimits.GrpcMessageBytesMax,
        });
    }
}
