using System.Diagnostics;
using System.Net.Sockets;
using Concord.Contracts;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Hosting;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Concord.Bench.Internal;

/// <summary>
/// The raw transport ceiling: the operator session's own messages over a unix socket in one
/// process pair of roles — a client sends ProcessBatch of 1,000 records (pipelined, as the
/// executor does) and an echo server answers each with a BatchDone carrying the same records.
/// No routing, no data plane, no user code: what gRPC + protobuf + HTTP/2 cost per record.
/// </summary>
internal static class EchoBaseline
{
    public static async Task<BaselineResult> RunAsync(IReadOnlyList<ByteString> words, TimeSpan duration, CancellationToken cancellationToken)
    {
        var dir = Path.Combine("/tmp", "cc-echo-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        var socket = Path.Combine(dir, "echo.sock");
        await using var host = new LoopbackHost(null, LoopbackEndpoint.UnixSocket("operator", socket, HttpProtocols.Http2));
        host.Builder.Services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = ProtocolLimits.GrpcMessageBytesMax;
            o.MaxSendMessageSize = ProtocolLimits.GrpcMessageBytesMax;
        });
        host.Build().MapGrpcService<EchoOperator>();
        await host.StartAsync(cancellationToken);
        try
        {
            using var channel = UnixChannel(socket);
            var client = new Operator.OperatorClient(channel);
            // Warm-up (JIT, connection), then the measured window.
            await PumpAsync(client, words, TimeSpan.FromSeconds(1), cancellationToken);
            return await PumpAsync(client, words, duration, cancellationToken);
        }
        finally
        {
            await host.StopAsync();
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Sends pipelined batches for <paramref name="duration"/>; records echoed per second and CPU per record (both roles).</summary>
    private static async Task<BaselineResult> PumpAsync(Operator.OperatorClient client, IReadOnlyList<ByteString> words, TimeSpan duration, CancellationToken cancellationToken)
    {
        using var call = client.Session(cancellationToken: cancellationToken);
        var batches = new ProcessBatch[BenchLimits.EchoBatchesInFlight * 2];
        var random = new Random(7);
        var nowUs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000;
        for (var b = 0; b < batches.Length; b++)
        {
            batches[b] = new ProcessBatch();
            for (var i = 0; i < BenchLimits.EchoBatchRecords; i++)
            {
                var word = words[random.Next(words.Count)];
                batches[b].Records.Add(new Record { Key = word, Value = word, EventTimeUnixMs = nowUs / 1000, IngestTimeUnixUs = nowUs });
            }
        }
        using var slots = new SemaphoreSlim(BenchLimits.EchoBatchesInFlight);
        long echoed = 0;
        var reader = Task.Run(async () =>
        {
            while (await call.ResponseStream.MoveNext(cancellationToken))
            {
                Interlocked.Add(ref echoed, call.ResponseStream.Current.BatchDone.Produced.Count);
                slots.Release();
            }
        }, cancellationToken);
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var watch = Stopwatch.StartNew();
        ulong seq = 0;
        while (watch.Elapsed < duration)
        {
            await slots.WaitAsync(cancellationToken);
            var batch = batches[seq % (ulong)batches.Length];
            batch.Seq = ++seq;
            await call.RequestStream.WriteAsync(new ExecutorMessage { ProcessBatch = batch }, cancellationToken);
        }
        var elapsed = watch.Elapsed;
        var done = Interlocked.Read(ref echoed);
        var cpuUsed = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        await call.RequestStream.CompleteAsync();
        await reader.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
        return new BaselineResult(done / elapsed.TotalSeconds, cpuUsed.TotalMicroseconds / Math.Max(1, done));
    }

    internal static GrpcChannel UnixChannel(string socketPath)
    {
        var endpoint = new UnixDomainSocketEndPoint(socketPath);
        var handler = new SocketsHttpHandler
        {
            InitialHttp2StreamWindowSize = 1024 * 1024, // as the executor's session (ExecutorLimits.SessionStreamWindowBytes)
            ConnectCallback = async (_, token) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(endpoint, token);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        return GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions
        {
            HttpHandler = handler,
            MaxReceiveMessageSize = ProtocolLimits.GrpcMessageBytesMax,
            MaxSendMessageSize = ProtocolLimits.GrpcMessageBytesMax,
        });
    }

    /// <summary>Answers every batch with its own records as products, like an identity operator.</summary>
    private sealed class EchoOperator : Operator.OperatorBase
    {
        public override async Task Session(IAsyncStreamReader<ExecutorMessage> requestStream, IServerStreamWriter<OperatorMessage> responseStream, ServerCallContext context)
        {
            while (await requestStream.MoveNext(context.CancellationToken))
            {
                var batch = requestStream.Current.ProcessBatch;
                if (batch is null)
                {
                    continue;
                }
                var done = new BatchDone { Seq = batch.Seq };
                foreach (var record in batch.Records)
                {
                    done.Produced.Add(new ProducedRecord { Stream = "echo", Record = record });
                }
                await responseStream.WriteAsync(new OperatorMessage { BatchDone = done });
            }
        }
    }
}
