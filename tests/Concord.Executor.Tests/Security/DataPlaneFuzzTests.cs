using System.Diagnostics;
using Concord.Contracts.DataPlane.V1;
using Concord.Executor.DataPlane;
using Concord.Executor.DataPlane.Internal;
using FsCheck.Fluent;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit.Abstractions;
using static Concord.Executor.Tests.TestSupport;

namespace Concord.Executor.Tests.Security;

/// <summary>
/// Thousands of mutated frames at a live data-plane endpoint: the executor stays up, its memory
/// stays bounded, and legitimate traffic still flows. Runs alone (it measures memory).
/// </summary>
[Collection(nameof(AllocationMeasuring))]
public sealed class DataPlaneFuzzTests(ITestOutputHelper output) : IAsyncLifetime
{
    /// <summary>Mutated frames thrown at the endpoint.</summary>
    private const int FramesTried = 3_000;

    /// <summary>Frames written per call before it is completed (a call ends earlier when the server rejects one).</summary>
    private const int FramesPerCallMax = 20;

    /// <summary>
    /// Growth of the managed heap allowed over the run, in bytes: 64 MiB. The data plane holds
    /// at most its channels' windows (8 × 1 MiB here) and a frame per channel; more is a leak.
    /// </summary>
    private const long HeapGrowthBytesMax = 64L * 1024 * 1024;

    /// <summary>Growth of the process's working set allowed over the run, in bytes: 256 MiB (the heap's bound plus the runtime's own slack).</summary>
    private const long WorkingSetGrowthBytesMax = 256L * 1024 * 1024;

    private static readonly Method<byte[], Credit> RawPush = DataPlaneWire.PushServer;
    private static readonly DataPlaneIdentity Identity = new("counter", 0, "inc-1", new HashSet<string> { "words" });
    private readonly InboundQueue _queue = new(channelsMax: 8);
    private readonly DataPlaneClients _clients = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Dictionary<string, int> _received = new(StringComparer.Ordinal); // key -> count, legitimate records only
    private readonly SemaphoreSlim _legitArrived = new(0); // one release per legitimate record taken
    private ExecutorServer _server = null!;
    private Task _drain = Task.CompletedTask;

    public async Task InitializeAsync()
    {
        _server = await TestTelemetry.StartServerAsync(Identity, _queue).WaitAsync(Bound);
        // The batch pump's part: take everything, give the credit back.
        _drain = Task.Run(async () =>
        {
            await foreach (var item in _queue.Reader.ReadAllAsync(_stop.Token))
            {
                lock (_received)
                {
                    foreach (var record in item.Records)
                    {
                        var key = record.KeyString();
                        if (key.StartsWith("legit-", StringComparison.Ordinal))
                        {
                            _received[key] = _received.GetValueOrDefault(key) + 1;
                            _legitArrived.Release();
                        }
                    }
                }
                _queue.Release(item.Source, item.Records.Length, item.Records.Sum(r => (long)r.Length));
            }
        });
    }

    public async Task DisposeAsync()
    {
        await _stop.CancelAsync();
        await _drain.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing | ConfigureAwaitOptions.ContinueOnCapturedContext);
        _clients.Dispose();
        await _server.DisposeAsync();
        _stop.Dispose();
    }

    private static byte[] OpenFrame(string sender) => new DataFrame
    {
        Open = new ChannelOpen { Stream = "words", OperatorName = "counter", InstanceIndex = 0, Sender = sender, ReceiverIncarnation = "inc-1" },
    }.ToByteArray();

    private async Task SendLegitimateAsync(string prefix, int count)
    {
        await using var sender = new OutboundChannel("words", "counter", 0, "legit/0", _clients, NullLogger.Instance, TimeProvider.System,
            TestTelemetry.Metrics(), TestTelemetry.Tracing());
        sender.SetTarget(new OutboundTarget(_server.Address, "inc-1"));
        for (var i = 0; i < count; i++)
        {
            await sender.EnqueueAsync(Raw($"legit-{prefix}-{i}"), CancellationToken.None).AsTask().WaitAsync(Bound);
        }
        for (var i = 0; i < count; i++)
        {
            await _legitArrived.WaitAsync().WaitAsync(Bound);
        }
        Assert.Equal(count, Received(prefix));
    }

    private int Received(string prefix)
    {
        lock (_received)
        {
            return _received.Count(kv => kv.Key.StartsWith($"legit-{prefix}-", StringComparison.Ordinal) && kv.Value == 1);
        }
    }

    [Fact]
    public async Task Thousands_of_mutated_frames_leave_the_endpoint_up_bounded_and_serving()
    {
        var valid = Gen.Choose(0, 40).SelectMany(n => Gen.ArrayOf(
            from key in Gen.ArrayOf(Gen.Choose(0, 255).Select(b => (byte)b), 8)
            from value in Gen.Choose(0, 2_000).SelectMany(m => Gen.ArrayOf(Gen.Choose(0, 255).Select(b => (byte)b), m))
            select new ConcordRecord { Key = ByteString.CopyFrom(key), Value = ByteString.CopyFrom(value) }, n))
            .Select(records => new DataFrame { Batch = new RecordBatch { Records = { records } } }.ToByteArray());
        var frames = Gen.Sample(Gen.Frequency(
                (4, valid.SelectMany(frame => Gen.Choose(0, int.MaxValue).Select(seed => Mutate(frame, seed)))),
                (1, valid),
                (1, Gen.Choose(0, 4_096).SelectMany(n => Gen.ArrayOf(Gen.Choose(0, 255).Select(b => (byte)b), n)))),
            FramesTried).ToArray();

        await SendLegitimateAsync("before", 500);
        // Measured once the inputs exist (they are the test's, not the executor's).
        using var self = Process.GetCurrentProcess();
        var heapBefore = GC.GetTotalMemory(forceFullCollection: true);
        self.Refresh();
        var workingSetBefore = self.WorkingSet64;
        var workingSetPeak = workingSetBefore;
        var outcomes = new Dictionary<StatusCode, int>();
        var calls = 0;
        var next = 0;
        var invoker = _clients.Get(_server.Address).CreateCallInvoker();
        while (next < frames.Length)
        {
            calls++;
            using var call = invoker.AsyncDuplexStreamingCall(RawPush, null, new CallOptions());
            var status = StatusCode.OK;
            try
            {
                // Now and then the ChannelOpen itself is the mutated frame.
                await call.RequestStream.WriteAsync(calls % 10 == 0 ? frames[next++] : OpenFrame($"fuzz/{calls}")).WaitAsync(Bound);
                for (var i = 0; i < FramesPerCallMax && next < frames.Length; i++)
                {
                    await call.RequestStream.WriteAsync(frames[next++]).WaitAsync(Bound);
                }
                await call.RequestStream.CompleteAsync().WaitAsync(Bound);
                while (await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Bound))
                {
                }
            }
            catch (RpcException e)
            {
                status = e.StatusCode;
            }
            catch (InvalidOperationException)
            {
                // Writing after the server ended the call: its status says why.
                status = call.GetStatus().StatusCode;
            }
            catch (IOException)
            {
                // Kestrel resets streams of a client that opens them faster than they finish
                // (HTTP/2 ENHANCE_YOUR_CALM): a refusal, as good as a status.
                status = StatusCode.Aborted;
            }
            outcomes[status] = outcomes.GetValueOrDefault(status) + 1;
            if (calls % 20 == 0)
            {
                self.Refresh();
                workingSetPeak = Math.Max(workingSetPeak, self.WorkingSet64);
            }
        }
        await SendLegitimateAsync("after", 500);
        Assert.Equal(500, Received("before"));

        self.Refresh();
        workingSetPeak = Math.Max(workingSetPeak, self.WorkingSet64);
        var heapAfter = GC.GetTotalMemory(forceFullCollection: true);
        GC.KeepAlive(frames);
        output.WriteLine($"frames tried: {frames.Length} in {calls} calls; outcomes: {string.Join(", ", outcomes.Select(kv => $"{kv.Key}={kv.Value}"))}");
        output.WriteLine($"heap: {heapBefore / 1048576} -> {heapAfter / 1048576} MiB; working set: {workingSetBefore / 1048576} MiB, peak {workingSetPeak / 1048576} MiB");
        Assert.Equal(0, outcomes.GetValueOrDefault(StatusCode.Internal)); // an exception in the service, not a protocol refusal
        Assert.Equal(0, outcomes.GetValueOrDefault(StatusCode.Unknown));
        Assert.True(heapAfter - heapBefore < HeapGrowthBytesMax, $"heap grew by {(heapAfter - heapBefore) / 1048576} MiB");
        Assert.True(workingSetPeak - workingSetBefore < WorkingSetGrowthBytesMax, $"working set grew by {(workingSetPeak - workingSetBefore) / 1048576} MiB");
    }

    private static byte[] Mutate(byte[] frame, int seed)
    {
        var random = new Random(seed);
        var bytes = frame.ToList();
        for (var edits = random.Next(1, 6); edits > 0; edits--)
        {
            var at = bytes.Count == 0 ? 0 : random.Next(bytes.Count);
            switch (random.Next(5))
            {
                case 0 when bytes.Count > 0:
                    bytes[at] = (byte)random.Next(256);
                    break;
                case 1:
                    bytes.Insert(at, (byte)random.Next(256));
                    break;
                case 2 when bytes.Count > 0:
                    bytes.RemoveAt(at);
                    break;
                case 3:
                    bytes.RemoveRange(at, bytes.Count - at);
                    break;
                default:
                    bytes.InsertRange(at, [0xFF, 0xFF, 0xFF, 0x7F]);
                    break;
            }
        }
        return [.. bytes];
    }
}
