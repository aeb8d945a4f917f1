using Concord.Contracts.DataPlane.V1;
using Concord.Executor.DataPlane;
using Concord.Executor.DataPlane.Internal;
using Concord.Executor.Records;
using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;
using static Concord.Executor.Tests.TestSupport;

namespace Concord.Executor.Tests;

/// <summary>In-process gRPC: a real ExecutorServer on 127.0.0.1 and real Push clients.</summary>
public sealed class DataPlaneTests : IAsyncLifetime
{
    private readonly DataPlaneIdentity _identity = new("counter", 0, "inc-1", new HashSet<string> { "words" });
    private readonly InboundQueue _queue = new(channelsMax: 2, channelCreditRows: 10, channelCreditBytes: 1_000_000);
    private readonly DataPlaneClients _clients = new();
    private ExecutorServer _server = null!;

    public async Task InitializeAsync() =>
        _server = await TestTelemetry.StartServerAsync(_identity, _queue).WaitAsync(Bound);

    public async Task DisposeAsync()
    {
        _clients.Dispose();
        await _server.DisposeAsync();
    }

    private OutboundChannel Sender(int queueRowsMax = 1_000) =>
        new("words", "counter", 0, "source/0", _clients, NullLogger.Instance, TimeProvider.System, TestTelemetry.Metrics(), TestTelemetry.Tracing(), queueRowsMax: queueRowsMax);

    /// <summary>Polls a condition that has no event to await, with a deadline.</summary>
    private static async Task Eventually(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(10);
        }
    }

    private Task<List<string>> TakeAsync(int rows) => TakeAsync(_queue, rows);

    private static async Task<List<string>> TakeAsync(InboundQueue queue, int rows)
    {
        var keys = new List<string>();
        while (keys.Count < rows)
        {
            var item = await queue.Reader.ReadAsync().AsTask().WaitAsync(Bound);
            keys.AddRange(item.Records.Select(r => r.Key.ToStringUtf8()));
            queue.Release(item.Source, item.Records.Length, item.Records.Sum(r => (long)r.Length));
        }
        return keys;
    }

    [Fact]
    public async Task Credit_bounds_what_a_sender_pushes_until_the_receiver_drains()
    {
        await using var sender = Sender();
        sender.SetTarget(new OutboundTarget(_server.Address, "inc-1"));
        for (var i = 0; i < 50; i++)
        {
            var record = Record($"k{i:00}");
            await sender.EnqueueAsync(RawRecord.From(record), CancellationToken.None).AsTask().WaitAsync(Bound);
        }

        await Eventually(() => _queue.QueuedRows == 10, "the first window of 10 rows");
        Assert.True(sender.QueuedRows >= 40, $"the sender holds what the window does not take, not {sender.QueuedRows} rows");

        var keys = await TakeAsync(50);
        Assert.Equal(Enumerable.Range(0, 50).Select(i => $"k{i:00}"), keys);
        await Eventually(() => sender.SentRows == 50, "the sender to count every row sent");
        Assert.Equal(0, sender.QueuedRows);
        // Nothing beyond the window was ever pushed: the receiver fails a push beyond its credit
        // (FAILED_PRECONDITION), which the sender would have counted before sending those rows again.
        Assert.Equal(0, sender.FailedAttempts);
    }

    [Fact]
    public async Task Byte_credit_bounds_a_sender_of_large_records()
    {
        var queue = new InboundQueue(channelsMax: 1, channelCreditRows: 100, channelCreditBytes: 3_500);
        await using var server = await TestTelemetry.StartServerAsync(_identity, queue).WaitAsync(Bound);
        await using var sender = Sender();
        sender.SetTarget(new OutboundTarget(server.Address, "inc-1"));
        var big = Record("big", new string('x', 1_000)); // ~1,010 bytes: three fit in 3,500
        for (var i = 0; i < 10; i++)
        {
            await sender.EnqueueAsync(RawRecord.From(big), CancellationToken.None).AsTask().WaitAsync(Bound);
        }
        await Eventually(() => queue.QueuedRows == 3, "three large records");
        Assert.InRange(queue.QueuedBytes, 3_000, 3_500);

        // Drained, every record comes through, and none was pushed beyond the byte credit (the
        // receiver fails such a push, which the sender would have counted).
        Assert.Equal(10, (await TakeAsync(queue, 10)).Count);
        Assert.Equal(0, sender.FailedAttempts);
    }

    [Fact]
    public async Task Records_for_an_instance_without_address_wait_and_a_full_queue_blocks_the_router()
    {
        await using var sender = Sender(queueRowsMax: 5);
        for (var i = 0; i < 5; i++)
        {
            var r = Record($"k{i}");
            await sender.EnqueueAsync(RawRecord.From(r), CancellationToken.None).AsTask().WaitAsync(Bound);
        }
        var sixth = Record("k5");
        var blocked = sender.EnqueueAsync(RawRecord.From(sixth), CancellationToken.None).AsTask();
        Assert.False(blocked.IsCompleted);

        sender.SetTarget(new OutboundTarget(_server.Address, "inc-1"));
        await blocked.WaitAsync(Bound);
        Assert.Equal(["k0", "k1", "k2", "k3", "k4", "k5"], await TakeAsync(6));
    }

    [Fact]
    public async Task Channel_open_with_a_stale_incarnation_fails_with_FAILED_PRECONDITION()
    {
        var client = new Contracts.DataPlane.V1.DataPlane.DataPlaneClient(_clients.Get(_server.Address));
        using var call = client.Push();
        await call.RequestStream.WriteAsync(new DataFrame
        {
            Open = new ChannelOpen { Stream = "words", OperatorName = "counter", InstanceIndex = 0, Sender = "source/0", ReceiverIncarnation = "inc-0" },
        });
        var e = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Bound));
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Contains("is not this executor's launch", e.Status.Detail);
        Assert.Contains("re-read the routing table", e.Status.Detail);
        // The refusal must not teach a stranger the real incarnation (docs/security.md).
        Assert.DoesNotContain("inc-1", e.Status.Detail);
    }

    [Fact]
    public async Task Channel_open_for_a_stream_the_operator_does_not_read_is_refused()
    {
        var client = new Contracts.DataPlane.V1.DataPlane.DataPlaneClient(_clients.Get(_server.Address));
        using var call = client.Push();
        await call.RequestStream.WriteAsync(new DataFrame
        {
            Open = new ChannelOpen { Stream = "counts", OperatorName = "counter", InstanceIndex = 0, Sender = "x/0", ReceiverIncarnation = "inc-1" },
        });
        var e = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Bound));
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Contains("does not read stream 'counts'", e.Status.Detail);
    }

    [Fact]
    public async Task Sender_exceeding_its_credit_has_its_call_failed()
    {
        var client = new Contracts.DataPlane.V1.DataPlane.DataPlaneClient(_clients.Get(_server.Address));
        using var call = client.Push();
        await call.RequestStream.WriteAsync(new DataFrame
        {
            Open = new ChannelOpen { Stream = "words", OperatorName = "counter", InstanceIndex = 0, Sender = "rogue/0", ReceiverIncarnation = "inc-1" },
        });
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Bound));
        Assert.Equal(10, call.ResponseStream.Current.Rows);
        var batch = new RecordBatch();
        for (var i = 0; i < 11; i++)
        {
            batch.Records.Add(Record($"k{i}"));
        }
        await call.RequestStream.WriteAsync(new DataFrame { Batch = batch });
        var e = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Bound));
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Contains("held credit for 10 rows", e.Status.Detail);
    }
}
