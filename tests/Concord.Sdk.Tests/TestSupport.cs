using System.Net.Sockets;
using Concord.Contracts;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Sdk;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace Concord.Sdk.Tests;

/// <summary>A clock that moves only when told to.</summary>
internal sealed class ManualTimeProvider(DateTimeOffset start) : TimeProvider
{
    private long _utcTicks = start.UtcTicks;

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _utcTicks), TimeSpan.Zero);

    public void Advance(TimeSpan by) => Interlocked.Add(ref _utcTicks, by.Ticks);
}

/// <summary>A computation whose callbacks are set per test; records which thread ran them.</summary>
internal sealed class ScriptedComputation : Computation
{
    public OperatorMetadata MetadataValue { get; set; } =
        new MetadataBuilder("scripted").Input("in", Grouping.GroupBy).Output("out").Output("other");

    public Action<IComputationContext>? OnInit { get; set; }
    public Action<IComputationContext, ConcordRecord>? OnRecord { get; set; }
    public Action<IComputationContext, string, long>? OnTimer { get; set; }
    public Action? OnDestroy { get; set; }

    public List<string> Calls { get; } = [];
    public HashSet<int> CallbackThreadIds { get; } = [];
    public TaskCompletionSource Destroyed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override OperatorMetadata Metadata() => MetadataValue;

    public override void Init(IComputationContext context)
    {
        Note("init");
        OnInit?.Invoke(context);
    }

    public override void ProcessRecord(IComputationContext context, ConcordRecord record)
    {
        Note($"record:{record.Value.ToStringUtf8()}");
        OnRecord?.Invoke(context, record);
    }

    public override void ProcessTimer(IComputationContext context, string key, long timeUnixMs)
    {
        Note($"timer:{key}@{timeUnixMs}");
        OnTimer?.Invoke(context, key, timeUnixMs);
    }

    public override void Destroy()
    {
        Note("destroy");
        OnDestroy?.Invoke();
        Destroyed.TrySetResult();
    }

    private void Note(string call)
    {
        lock (Calls)
        {
            Calls.Add(call);
            CallbackThreadIds.Add(Environment.CurrentManagedThreadId);
        }
    }
}

/// <summary>
/// Plays the executor: hosts a computation with the SDK on a unix socket in a short temp
/// directory and opens the session with a real gRPC client over that socket.
/// </summary>
internal sealed class ExecutorHarness : IAsyncDisposable
{
    private readonly TempDirectory _directory;
    private readonly GrpcChannel _channel;
    private readonly CancellationTokenSource _stop;

    private ExecutorHarness(TempDirectory directory, GrpcChannel channel, CancellationTokenSource stop,
        Task<SessionOutcome> serving, AsyncDuplexStreamingCall<ExecutorMessage, OperatorMessage> call)
    {
        _directory = directory;
        _channel = channel;
        _stop = stop;
        Serving = serving;
        Call = call;
    }

    public Task<SessionOutcome> Serving { get; }

    public AsyncDuplexStreamingCall<ExecutorMessage, OperatorMessage> Call { get; }

    public static async Task<ExecutorHarness> StartAsync(Computation computation, TimeProvider? time = null)
    {
        // /tmp/cc-XXXXXX/op.sock stays far below the 107-byte unix socket limit.
        var directory = new TempDirectory();
        var socketPath = directory.Combine("op.sock");
        var stop = new CancellationTokenSource();
        var serving = ComputationHost.ServeAsync(computation, socketPath, stop.Token, time);

        // No event announces the bind from outside the host: poll for the socket with a deadline.
        var deadline = DateTime.UtcNow + TestTimeouts.Step;
        while (!Listening(socketPath))
        {
            if (serving.IsCompleted)
            {
                throw new InvalidOperationException($"the host ended before binding: {(await serving).Reason}");
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"the operator did not bind {socketPath} within {TestTimeouts.Step}");
            }
            await Task.Delay(10);
        }

        var (channel, call) = OpenSession(socketPath);
        return new ExecutorHarness(directory, channel, stop, serving, call);
    }

    /// <summary>
    /// Whether the operator accepts connections on <paramref name="socketPath"/>. The socket
    /// file appears at bind(), a moment before listen(): a session opened in between is refused,
    /// so a test waits for a connection to succeed, not for the file.
    /// </summary>
    public static bool Listening(string socketPath)
    {
        if (!File.Exists(socketPath))
        {
            return false;
        }
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(socketPath));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>Opens the Session call over a unix socket, as the executor does.</summary>
    public static (GrpcChannel Channel, AsyncDuplexStreamingCall<ExecutorMessage, OperatorMessage> Call) OpenSession(string socketPath)
    {
        var channel = GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                ConnectCallback = async (_, cancellationToken) =>
                {
                    var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                },
            },
        });
        return (channel, new Operator.OperatorClient(channel).Session());
    }

    public static Init DefaultInit(int maxRecordBytes = ProtocolLimits.RecordBytesMax) => new()
    {
        ProtocolVersion = ProtocolLimits.ProtocolVersion,
        Capabilities = { Capabilities.All },
        RequiredCapabilities = { Capabilities.BatchPipelining },
        OperatorName = "scripted",
        InstanceIndex = 1,
        InstanceCount = 3,
        MaxBatchesInFlight = 8,
        MaxRecordBytes = maxRecordBytes,
    };

    public Task SendAsync(ExecutorMessage message) =>
        Call.RequestStream.WriteAsync(message).WaitAsync(TestTimeouts.Step);

    public Task SendInitAsync(Init? init = null) => SendAsync(new ExecutorMessage { Init = init ?? DefaultInit() });

    public Task SendBatchAsync(ulong seq, IEnumerable<ConcordRecord>? records = null, IEnumerable<TimerFired>? timers = null)
    {
        var batch = new ProcessBatch { Seq = seq };
        batch.Records.AddRange(records ?? []);
        batch.TimersFired.AddRange(timers ?? []);
        return SendAsync(new ExecutorMessage { ProcessBatch = batch });
    }

    public Task SendShutdownAsync(string reason = "test") =>
        SendAsync(new ExecutorMessage { Shutdown = new Shutdown { Reason = reason } });

    /// <summary>The next operator message; fails if the stream completed instead.</summary>
    public async Task<OperatorMessage> ReceiveAsync()
    {
        var more = await Call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(TestTimeouts.Step);
        Assert.True(more, "the operator completed the session stream where a message was expected");
        return Call.ResponseStream.Current;
    }

    /// <summary>The next message, skipping Log lines.</summary>
    public async Task<OperatorMessage> ReceiveSkippingLogsAsync()
    {
        while (true)
        {
            var message = await ReceiveAsync();
            if (message.MessageCase != OperatorMessage.MessageOneofCase.Log)
            {
                return message;
            }
        }
    }

    public async Task<BatchDone> ReceiveBatchDoneAsync()
    {
        var message = await ReceiveSkippingLogsAsync();
        Assert.Equal(OperatorMessage.MessageOneofCase.BatchDone, message.MessageCase);
        return message.BatchDone;
    }

    public async Task<Error> ReceiveErrorAsync()
    {
        var message = await ReceiveSkippingLogsAsync();
        Assert.Equal(OperatorMessage.MessageOneofCase.Error, message.MessageCase);
        return message.Error;
    }

    /// <summary>Init, then Metadata and BatchDone{0}; returns the init BatchDone.</summary>
    public async Task<BatchDone> OpenAsync(Init? init = null)
    {
        await SendInitAsync(init);
        var metadata = await ReceiveAsync();
        Assert.Equal(OperatorMessage.MessageOneofCase.Metadata, metadata.MessageCase);
        var done = await ReceiveBatchDoneAsync();
        Assert.Equal(0UL, done.Seq);
        return done;
    }

    /// <summary>Asserts that the operator completes the stream (status OK) with no further message.</summary>
    public async Task AssertStreamCompletesAsync()
    {
        var more = await Call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(TestTimeouts.Step);
        Assert.False(more, $"expected the stream to complete, got {(more ? Call.ResponseStream.Current : null)}");
        Assert.Equal(StatusCode.OK, Call.GetStatus().StatusCode);
    }

    /// <summary>Closes the executor's side, as an executor does once the session is over, and returns the outcome.</summary>
    public Task<SessionOutcome> OutcomeAsync()
    {
        Call.Dispose();
        return Serving.WaitAsync(TestTimeouts.Step);
    }

    /// <summary>Asks the host to stop as SIGTERM would.</summary>
    public void Stop() => _stop.Cancel();

    public static ConcordRecord Record(string key, string value, long eventTimeUnixMs = 0, long ingestTimeUnixUs = 0, TraceContext? trace = null) => new()
    {
        Key = ByteString.CopyFromUtf8(key),
        Value = ByteString.CopyFromUtf8(value),
        EventTimeUnixMs = eventTimeUnixMs,
        IngestTimeUnixUs = ingestTimeUnixUs,
        Trace = trace,
    };

    public async ValueTask DisposeAsync()
    {
        Call.Dispose();
        _stop.Cancel();
        try
        {
            await Serving.WaitAsync(TestTimeouts.Step);
        }
        catch (Exception)
        {
            // The test already asserted what it needed; disposal only cleans up.
        }
        _channel.Dispose();
        _stop.Dispose();
        _directory.Dispose();
    }
}
