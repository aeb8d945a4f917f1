using Concord.Contracts;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.Session;
using Concord.Hosting;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using static Concord.Executor.Tests.TestSupport;
using Metadata = Concord.Contracts.Operator.V1.Metadata;

namespace Concord.Executor.Tests.Security;

/// <summary>An operator whose Log and Error messages are as large as its session allows (MiBs).</summary>
internal sealed class ChattyOperator : Operator.OperatorBase
{
    public const int MessageChars = 1024 * 1024;

    public override async Task Session(IAsyncStreamReader<ExecutorMessage> requestStream, IServerStreamWriter<OperatorMessage> responseStream, ServerCallContext context)
    {
        Assert.True(await requestStream.MoveNext());
        await responseStream.WriteAsync(new OperatorMessage
        {
            Metadata = new Metadata
            {
                ProtocolVersion = ProtocolLimits.ProtocolVersion,
                Capabilities = { Capabilities.All },
                Sdk = "chatty/1",
                Metadata_ = new OperatorMetadata { Name = "chatty", Outputs = { "out" } },
            },
        });
        await responseStream.WriteAsync(new OperatorMessage { Log = new Log { Message = new string('l', MessageChars) } });
        await responseStream.WriteAsync(new OperatorMessage { BatchDone = new BatchDone { Seq = 0 } });
        await responseStream.WriteAsync(new OperatorMessage
        {
            Error = new Error { Fatal = true, Message = new string('e', MessageChars), Detail = new string('d', MessageChars) },
        });
        await requestStream.MoveNext(); // linger until the executor closes its side
    }
}

/// <summary>Keeps every formatted log message.</summary>
internal sealed class ListLogger : ILogger
{
    public List<string> Messages { get; } = [];

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (Messages)
        {
            Messages.Add(formatter(state, exception));
        }
    }
}

public sealed class SessionMessageBoundsTests : IAsyncLifetime
{
    private readonly TempDirectory _dir = new();
    private LoopbackHost _host = null!;

    private string SocketPath => Path.Combine(_dir.Path, "op.sock");

    public async Task InitializeAsync()
    {
        _host = new LoopbackHost(null, LoopbackEndpoint.UnixSocket("operator", SocketPath, HttpProtocols.Http2));
        _host.Builder.Services.AddGrpc(o => o.MaxSendMessageSize = ProtocolLimits.GrpcMessageBytesMax);
        _host.Build().MapGrpcService<ChattyOperator>();
        await _host.StartAsync().WaitAsync(Bound);
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync().AsTask().WaitAsync(Bound);
        _dir.Dispose();
    }

    [Fact]
    public async Task Log_and_Error_messages_of_a_MiB_are_cut_with_a_marker_before_they_are_logged_or_reported()
    {
        var logger = new ListLogger();
        await using var session = GrpcOperatorSession.Connect(SocketPath, logger, TimeProvider.System);
        await session.StartAsync(new Init { ProtocolVersion = ProtocolLimits.ProtocolVersion, OperatorName = "chatty" }, CancellationToken.None).WaitAsync(Bound);
        var e = await Assert.ThrowsAsync<OperatorFailedException>(async () =>
        {
            await foreach (var _ in session.ReadAnswersAsync(CancellationToken.None))
            {
            }
        }).WaitAsync(Bound);

        var cut = $"… [{ChattyOperator.MessageChars - ExecutorLimits.OperatorLogLineCharsMax} more characters cut: ExecutorLimits.OperatorLogLineCharsMax]";
        string logged;
        lock (logger.Messages)
        {
            logged = logger.Messages.Single(m => m.Contains("llll", StringComparison.Ordinal));
        }
        Assert.Contains(new string('l', ExecutorLimits.OperatorLogLineCharsMax) + cut, logged);
        Assert.True(logged.Length < 2 * ExecutorLimits.OperatorLogLineCharsMax, $"logged {logged.Length} characters");
        // The failure is reported to the scheduler (LAST ERROR): message and detail cut the same way.
        Assert.Contains(new string('e', ExecutorLimits.OperatorLogLineCharsMax) + cut, e.Message);
        Assert.Contains(new string('d', ExecutorLimits.OperatorLogLineCharsMax) + cut, e.Message);
        Assert.True(e.Message.Length < 3 * ExecutorLimits.OperatorLogLineCharsMax, $"reported {e.Message.Length} characters");
    }
}
