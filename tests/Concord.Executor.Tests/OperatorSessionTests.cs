using Concord.Contracts;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.Session;
using Concord.Hosting;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using static Concord.Executor.Tests.TestSupport;
using Metadata = Concord.Contracts.Operator.V1.Metadata;

namespace Concord.Executor.Tests;

/// <summary>
/// A minimal operator written against the generated Operator.OperatorBase (not an SDK):
/// upper-cases every record onto "upper", answers timers with a record each, and fails
/// fatally on a record whose key is "boom".
/// </summary>
internal sealed class FakeOperator(string name) : Operator.OperatorBase
{
    public override async Task Session(IAsyncStreamReader<ExecutorMessage> requestStream, IServerStreamWriter<OperatorMessage> responseStream, ServerCallContext context)
    {
        Assert.True(await requestStream.MoveNext());
        var init = requestStream.Current.Init;
        Assert.NotNull(init);
        await responseStream.WriteAsync(new OperatorMessage
        {
            Metadata = new Metadata
            {
                ProtocolVersion = ProtocolLimits.ProtocolVersion,
                Capabilities = { Capabilities.All },
                Sdk = "fake/1",
                Metadata_ = new OperatorMetadata { Name = name, Inputs = { new InputStream { Name = "words" } }, Outputs = { "upper" } },
            },
        });
        await responseStream.WriteAsync(new OperatorMessage { Log = new Log { Message = $"init of {init.OperatorName}/{init.InstanceIndex}" } });
        await responseStream.WriteAsync(new OperatorMessage
        {
            BatchDone = new BatchDone { Seq = 0, Produced = { new ProducedRecord { Stream = "upper", Record = Record("INIT") } } },
        });
        while (await requestStream.MoveNext())
        {
            var message = requestStream.Current;
            if (message.Shutdown is not null)
            {
                return;
            }
            var batch = message.ProcessBatch;
            var done = new BatchDone { Seq = batch.Seq };
            foreach (var record in batch.Records)
            {
                if (record.Key.ToStringUtf8() == "boom")
                {
                    await responseStream.WriteAsync(new OperatorMessage { Error = new Error { Fatal = true, Message = "KeyError: boom", Detail = "at process_record" } });
                    return;
                }
                done.Produced.Add(new ProducedRecord { Stream = "upper", Record = Record(record.Key.ToStringUtf8().ToUpperInvariant()) });
            }
            foreach (var timer in batch.TimersFired)
            {
                done.Produced.Add(new ProducedRecord { Stream = "upper", Record = Record("timer:" + timer.Key) });
            }
            await responseStream.WriteAsync(new OperatorMessage { BatchDone = done });
        }
    }
}

public sealed class OperatorSessionTests : IAsyncLifetime
{
    private readonly TempDirectory _dir = new();
    private LoopbackHost _host = null!;

    private string SocketPath => Path.Combine(_dir.Path, "op.sock");

    public async Task InitializeAsync()
    {
        _host = new LoopbackHost(null, LoopbackEndpoint.UnixSocket("operator", SocketPath, HttpProtocols.Http2));
        _host.Builder.Services.AddGrpc();
        _host.Builder.Services.AddSingleton(new FakeOperator("upper"));
        _host.Build().MapGrpcService<FakeOperator>();
        await _host.StartAsync().WaitAsync(Bound);
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync().AsTask().WaitAsync(Bound);
        _dir.Dispose();
    }

    private static Init Init() => new()
    {
        ProtocolVersion = ProtocolLimits.ProtocolVersion,
        Capabilities = { Capabilities.All },
        OperatorName = "upper",
        InstanceIndex = 0,
        InstanceCount = 1,
        MaxBatchesInFlight = 8,
        MaxRecordBytes = ProtocolLimits.RecordBytesMax,
    };

    [Fact]
    public async Task Session_runs_init_metadata_batches_in_order_and_shutdown()
    {
        await using var session = GrpcOperatorSession.Connect(SocketPath, NullLogger.Instance, TimeProvider.System);
        var metadata = await session.StartAsync(Init(), CancellationToken.None).WaitAsync(Bound);
        MetadataValidator.Validate(new OperatorSpec { Name = "upper", ExpectedOutputs = { "upper" } }, metadata);
        Assert.Equal("fake/1", metadata.Sdk);

        await using var answers = session.ReadAnswersAsync(CancellationToken.None).GetAsyncEnumerator();
        Assert.True(await answers.MoveNextAsync().AsTask().WaitAsync(Bound));
        Assert.Equal(0UL, answers.Current.Seq);
        Assert.Equal("INIT", answers.Current.Produced.Single().Record.Key.ToStringUtf8());

        await session.SendAsync(new ProcessBatch { Seq = 1, Records = { Record("a"), Record("b") } }, CancellationToken.None).AsTask().WaitAsync(Bound);
        await session.SendAsync(new ProcessBatch { Seq = 2, TimersFired = { new TimerFired { Key = "t", TimeUnixMs = 5 } } }, CancellationToken.None).AsTask().WaitAsync(Bound);
        Assert.True(await answers.MoveNextAsync().AsTask().WaitAsync(Bound));
        Assert.Equal(1UL, answers.Current.Seq);
        Assert.Equal(["A", "B"], answers.Current.Produced.Select(p => p.Record.Key.ToStringUtf8()));
        Assert.True(await answers.MoveNextAsync().AsTask().WaitAsync(Bound));
        Assert.Equal(2UL, answers.Current.Seq);
        Assert.Equal("timer:t", answers.Current.Produced.Single().Record.Key.ToStringUtf8());

        await session.SendShutdownAsync("test", CancellationToken.None).WaitAsync(Bound);
        Assert.False(await answers.MoveNextAsync().AsTask().WaitAsync(Bound));
    }

    [Fact]
    public async Task Fatal_operator_error_fails_the_session_with_its_message()
    {
        await using var session = GrpcOperatorSession.Connect(SocketPath, NullLogger.Instance, TimeProvider.System);
        await session.StartAsync(Init(), CancellationToken.None).WaitAsync(Bound);
        await session.SendAsync(new ProcessBatch { Seq = 1, Records = { Record("boom") } }, CancellationToken.None).AsTask().WaitAsync(Bound);

        var e = await Assert.ThrowsAsync<OperatorFailedException>(async () =>
        {
            await foreach (var _ in session.ReadAnswersAsync(CancellationToken.None).WithCancellation(CancellationToken.None))
            {
            }
        }).WaitAsync(Bound);
        Assert.Contains("fatal error: KeyError: boom", e.Message);
        Assert.Contains("at process_record", e.Message);
    }

    [Fact]
    public async Task Metadata_from_an_operator_with_another_name_is_rejected_naming_both()
    {
        await using var session = GrpcOperatorSession.Connect(SocketPath, NullLogger.Instance, TimeProvider.System);
        var metadata = await session.StartAsync(Init(), CancellationToken.None).WaitAsync(Bound);
        var e = Assert.Throws<OperatorFailedException>(() => MetadataValidator.Validate(new OperatorSpec { Name = "lower" }, metadata));
        Assert.Contains("calls itself 'upper' but the deploy file names it 'lower'", e.Message);
    }
}
