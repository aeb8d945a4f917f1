using Concord.Contracts;
using Concord.Contracts.DataPlane.V1;
using Concord.Executor.DataPlane;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;
using static Concord.Executor.Tests.TestSupport;

namespace Concord.Executor.Tests.Security;

/// <summary>
/// What a peer on the same machine can make the data plane hold: every input is bounded before
/// it is spent (docs/data-plane.md, "Bounds of what a peer can make the executor hold").
/// </summary>
public sealed class DataPlaneBoundsTests : IAsyncDisposable
{
    private static readonly DataPlaneIdentity Identity = new("counter", 0, "inc-1", new HashSet<string> { "words" });
    private readonly DataPlaneClients _clients = new();
    private readonly List<ExecutorServer> _servers = [];

    public async ValueTask DisposeAsync()
    {
        _clients.Dispose();
        foreach (var server in _servers)
        {
            await server.DisposeAsync();
        }
    }

    private async Task<ExecutorServer> ServeAsync(InboundQueue queue)
    {
        var server = await TestTelemetry.StartServerAsync(Identity, queue).WaitAsync(Bound);
        _servers.Add(server);
        return server;
    }

    private static ChannelOpen Open(string sender) =>
        new() { Stream = "words", OperatorName = "counter", InstanceIndex = 0, Sender = sender, ReceiverIncarnation = "inc-1" };

    /// <summary>A raw Push call (generated client) that has sent its ChannelOpen and received its first credit.</summary>
    private async Task<AsyncDuplexStreamingCall<DataFrame, Credit>> OpenRawAsync(ExecutorServer server, string sender)
    {
        var call = new Contracts.DataPlane.V1.DataPlane.DataPlaneClient(_clients.Get(server.Address)).Push();
        await call.RequestStream.WriteAsync(new DataFrame { Open = Open(sender) }).WaitAsync(Bound);
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Bound));
        return call;
    }

    private static async Task<List<string>> TakeAsync(InboundQueue queue, int rows)
    {
        var keys = new List<string>();
        while (keys.Count < rows)
        {
            var item = await queue.Reader.ReadAsync().AsTask().WaitAsync(Bound);
            keys.AddRange(item.Records.Select(r => r.KeyString()));
            queue.Release(item.Source, item.Records.Length, item.Records.Sum(r => (long)r.Length));
        }
        return keys;
    }

    [Fact]
    public void The_data_plane_message_cap_is_one_credit_window_with_framing()
    {
        Assert.True(ExecutorLimits.DataFrameBytesMax >= ExecutorLimits.InboundChannelCreditBytes + ExecutorLimits.BatchRowsMax * ExecutorLimits.DataFrameRecordFramingBytesMax);
        Assert.True(ExecutorLimits.DataFrameBytesMax < 2 * ExecutorLimits.InboundChannelCreditBytes, "the cap must stay near the credit window");
        Assert.True(ExecutorLimits.DataFrameBytesMax < ProtocolLimits.GrpcMessageBytesMax);
        // The memory bound counts, per inbound channel, its window and one frame beyond it.
        Assert.Equal(ExecutorLimits.InboundWindowBytes(1) + ExecutorLimits.DataFrameBytesMax,
            ExecutorLimits.BufferedBytesMax(inboundChannels: 2, outboundChannels: 1) - ExecutorLimits.BufferedBytesMax(inboundChannels: 1, outboundChannels: 1));
    }

    [Fact]
    public async Task A_frame_larger_than_any_credit_window_is_refused_by_its_length_prefix()
    {
        var queue = new InboundQueue();
        var server = await ServeAsync(queue);
        using var call = await OpenRawAsync(server, "rogue/0");
        var batch = new RecordBatch();
        var value = ByteString.CopyFrom(new byte[ProtocolLimits.RecordBytesMax - 8]);
        for (var i = 0; i < 8; i++)
        {
            batch.Records.Add(new ConcordRecord { Key = ByteString.CopyFromUtf8($"k{i}"), Value = value });
        }
        // 8 MiB: far below the former 64 MiB cap, far above one window (≈1 MiB).
        await call.RequestStream.WriteAsync(new DataFrame { Batch = batch }).WaitAsync(Bound)
            .ContinueWith(_ => { }, TaskScheduler.Default); // the server may reset the stream mid-write
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Bound))
            {
            }
        });
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Equal(0, queue.QueuedRows);
    }

    [Fact]
    public async Task A_record_over_the_record_limit_is_rejected_on_receive_naming_the_limit()
    {
        var queue = new InboundQueue();
        var server = await ServeAsync(queue);
        using var call = await OpenRawAsync(server, "rogue/0");
        // key + value = 1 MiB + 21 bytes: within the byte credit (1 MiB + 128), over the record limit.
        var record = new ConcordRecord
        {
            Key = ByteString.CopyFromUtf8("k"),
            Value = ByteString.CopyFrom(new byte[ProtocolLimits.RecordBytesMax + 20]),
        };
        await call.RequestStream.WriteAsync(new DataFrame { Batch = new RecordBatch { Records = { record } } }).WaitAsync(Bound);
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Bound))
            {
            }
        });
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("ProtocolLimits.RecordBytesMax", e.Status.Detail);
        Assert.Equal(0, queue.QueuedRows);
    }

    [Fact]
    public async Task A_frame_of_more_records_than_the_window_fails_before_its_records_are_allocated()
    {
        var queue = new InboundQueue(channelsMax: 2, channelCreditRows: 10, channelCreditBytes: 1_000_000);
        var server = await ServeAsync(queue);
        using var call = await OpenRawAsync(server, "rogue/0");
        // Empty records cost 2 bytes each on the wire and a 56-byte struct each once scanned.
        var batch = new RecordBatch();
        for (var i = 0; i < 100_000; i++)
        {
            batch.Records.Add(new ConcordRecord());
        }
        await call.RequestStream.WriteAsync(new DataFrame { Batch = batch }).WaitAsync(Bound);
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Bound))
            {
            }
        });
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Contains("sent 11 rows", e.Status.Detail); // counting stopped at the window, one past it
        Assert.Contains("held credit for 10 rows", e.Status.Detail);
    }

    [Fact]
    public async Task Idle_channels_are_closed_so_a_new_upstream_instance_gets_a_slot()
    {
        var queue = new InboundQueue(channelsMax: 2, channelCreditRows: 100, channelCreditBytes: 1_000_000, channelIdle: TimeSpan.FromMilliseconds(300));
        var server = await ServeAsync(queue);
        // Two channels that open and then send nothing: before the idle bound they held the cap for good.
        using var idle1 = await OpenRawAsync(server, "idle/0");
        using var idle2 = await OpenRawAsync(server, "idle/1");

        await using var sender = new OutboundChannel("words", "counter", 0, "source/0", _clients, NullLogger.Instance, TimeProvider.System,
            TestTelemetry.Metrics(), TestTelemetry.Tracing());
        sender.SetTarget(new OutboundTarget(server.Address, "inc-1"));
        for (var i = 0; i < 3; i++)
        {
            await sender.EnqueueAsync(Raw($"k{i}"), CancellationToken.None).AsTask().WaitAsync(Bound);
        }
        Assert.Equal(["k0", "k1", "k2"], await TakeAsync(queue, 3));

        var e = await Assert.ThrowsAsync<RpcException>(() => idle1.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Bound));
        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
        Assert.Contains("ExecutorLimits.InboundChannelIdleMs", e.Status.Detail);
    }

    [Fact]
    public async Task A_channel_that_never_sends_ChannelOpen_holds_a_slot_only_until_the_idle_bound()
    {
        var queue = new InboundQueue(channelsMax: 1, channelCreditRows: 100, channelCreditBytes: 1_000_000, channelIdle: TimeSpan.FromMilliseconds(300));
        var server = await ServeAsync(queue);
        using var silent = new Contracts.DataPlane.V1.DataPlane.DataPlaneClient(_clients.Get(server.Address)).Push();
        var e = await Assert.ThrowsAsync<RpcException>(() => silent.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Bound));
        Assert.Equal(StatusCode.Unavailable, e.StatusCode);

        using var next = await OpenRawAsync(server, "source/0");
        Assert.True(next.ResponseStream.Current.Rows > 0);
    }

    [Fact]
    public async Task An_idle_sender_closes_its_channel_in_order_and_reconnects_when_records_come_without_losing_any()
    {
        // One slot: each sender gets it only once the other has closed its idle channel.
        var queue = new InboundQueue(channelsMax: 1, channelCreditRows: 100, channelCreditBytes: 1_000_000);
        var server = await ServeAsync(queue);
        OutboundChannel Sender(string name) => new("words", "counter", 0, name, _clients, NullLogger.Instance, TimeProvider.System,
            TestTelemetry.Metrics(), TestTelemetry.Tracing(), idleClose: TimeSpan.FromMilliseconds(200));
        await using var a = Sender("a/0");
        await using var b = Sender("b/0");
        a.SetTarget(new OutboundTarget(server.Address, "inc-1"));
        b.SetTarget(new OutboundTarget(server.Address, "inc-1"));

        var expected = new List<string>();
        async Task SendAsync(OutboundChannel sender, string prefix)
        {
            for (var i = 0; i < 50; i++)
            {
                expected.Add($"{prefix}{i}");
                await sender.EnqueueAsync(Raw($"{prefix}{i}"), CancellationToken.None).AsTask().WaitAsync(Bound);
            }
        }
        var received = new List<string>();
        await SendAsync(a, "a-first-");
        await SendAsync(b, "b-first-");
        received.AddRange(await TakeAsync(queue, 100));
        await SendAsync(a, "a-again-");
        received.AddRange(await TakeAsync(queue, 50));
        await SendAsync(b, "b-again-");
        received.AddRange(await TakeAsync(queue, 50));

        Assert.Equal(expected.Order(), received.Order());
    }
}
