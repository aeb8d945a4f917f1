using Concord.Contracts.Types.V1;
using Concord.Executor.DataPlane;
using Concord.Executor.Records;
using Concord.Executor.Routing;
using Microsoft.Extensions.Logging.Abstractions;
using static Concord.Executor.Tests.Checkpoints.CheckpointTestSupport;
using static Concord.Executor.Tests.TestSupport;

namespace Concord.Executor.Tests.Checkpoints;

/// <summary>Barriers over the in-process gRPC data plane: a real ExecutorServer and real senders.</summary>
public sealed class BarrierDataPlaneTests : IAsyncDisposable
{
    private readonly DataPlaneClients _clients = new();

    public ValueTask DisposeAsync()
    {
        _clients.Dispose();
        return ValueTask.CompletedTask;
    }

    private static DataPlaneIdentity Identity(int index) => new("counter", index, $"inc-{index}", new HashSet<string> { "words" });

    /// <summary>A receiving queue that lets barriers in (an identity gate: items as received).</summary>
    private static InboundQueue ReceivingQueue(int creditRows = 10)
    {
        var queue = new InboundQueue(channelsMax: 2, channelCreditRows: creditRows, channelCreditBytes: 1_000_000);
        queue.UseGate(reader => reader);
        return queue;
    }

    [Fact]
    public async Task A_barrier_arrives_in_order_with_the_records_and_needs_no_credit()
    {
        var queue = ReceivingQueue(creditRows: 10);
        await using var server = await TestTelemetry.StartServerAsync(Identity(0), queue).WaitAsync(Bound);
        var metrics = TestTelemetry.Metrics();
        await using var sender = new OutboundChannel("words", "counter", 0, "source/0", _clients, NullLogger.Instance, TimeProvider.System, metrics, TestTelemetry.Tracing(metrics));
        sender.SetTarget(new OutboundTarget(server.Address, "inc-0"));
        for (var i = 0; i < 10; i++)
        {
            await sender.EnqueueAsync(Raw($"k{i}"), CancellationToken.None).AsTask().WaitAsync(Bound);
        }
        sender.EnqueueBarrier(new Contracts.DataPlane.V1.Barrier { CheckpointId = 1 });
        for (var i = 10; i < 15; i++)
        {
            await sender.EnqueueAsync(Raw($"k{i}"), CancellationToken.None).AsTask().WaitAsync(Bound);
        }

        // Nothing is released, so the window of 10 rows is used up by the first records: the
        // barrier still comes, right after them, and the later records do not.
        var held = new List<DataPlane.Internal.InboundItem>();
        var first = new List<string>();
        while (true)
        {
            var item = await queue.Reader.ReadAsync().AsTask().WaitAsync(Bound);
            if (item.Barrier is { } barrier)
            {
                first.Add($"barrier {barrier.CheckpointId}");
                break;
            }
            held.Add(item);
            first.AddRange(item.Records.Select(r => r.KeyString()));
        }
        Assert.Equal([.. Enumerable.Range(0, 10).Select(i => $"k{i}"), "barrier 1"], first);
        Assert.Equal(10, queue.QueuedRows);
        Assert.False(queue.Reader.TryRead(out _));

        // Credit comes back as the first records are released: the rest follow the barrier.
        foreach (var item in held)
        {
            queue.Release(item.Source, item.Records.Length, item.Records.Sum(r => (long)r.Length));
        }
        var rest = new List<string>();
        while (rest.Count < 5)
        {
            var item = await queue.Reader.ReadAsync().AsTask().WaitAsync(Bound);
            rest.AddRange(item.Records.Select(r => r.KeyString()));
            queue.Release(item.Source, item.Records.Length, item.Records.Sum(r => (long)r.Length));
        }
        Assert.Equal(Enumerable.Range(10, 5).Select(i => $"k{i}"), rest);
        Assert.Equal(0, sender.FailedAttempts);
    }

    [Fact]
    public async Task The_router_sends_a_barrier_on_every_channel_also_those_that_carried_no_records()
    {
        var queues = new[] { ReceivingQueue(), ReceivingQueue() };
        await using var server0 = await TestTelemetry.StartServerAsync(Identity(0), queues[0]).WaitAsync(Bound);
        await using var server1 = await TestTelemetry.StartServerAsync(Identity(1), queues[1]).WaitAsync(Bound);
        var metrics = TestTelemetry.Metrics();
        await using var router = new Router(new StreamTable(["words"]),
            (stream, reader, index) => new OutboundChannel(stream, reader, index, "source/0", _clients, NullLogger.Instance, TimeProvider.System, metrics, TestTelemetry.Tracing(metrics)),
            NullLogger.Instance, TimeProvider.System, metrics);
        var table = RoutingTests.Table("words", Grouping.GroupBy, 2);
        table.Streams[0].Readers[0].Instances[0].DataAddress = server0.Address;
        table.Streams[0].Readers[0].Instances[1].DataAddress = server1.Address;
        await router.ApplyAsync(table).WaitAsync(Bound);

        // Records for instance 0 only (keys of its key groups), then the barrier.
        var keys = Enumerable.Range(0, 50).Select(i => $"w{i}")
            .Where(k => Contracts.KeyGroups.Of(System.Text.Encoding.UTF8.GetBytes(k)) < Contracts.KeyGroups.RangeOf(0, 2).End).Take(3).ToArray();
        var done = new Contracts.Operator.V1.BatchDone { Seq = 1 };
        done.Produced.AddRange(keys.Select(k => new Contracts.Operator.V1.ProducedRecord { Stream = "words", Record = Record(k) }));
        await router.RouteAsync(done, CancellationToken.None).AsTask().WaitAsync(Bound);
        await router.SendBarrierAsync(new Contracts.DataPlane.V1.Barrier { CheckpointId = 7 }, CancellationToken.None).WaitAsync(Bound);

        Assert.Equal([.. keys, "barrier 7"], await ReadThroughBarrierAsync(queues[0]));
        Assert.Equal(["barrier 7"], await ReadThroughBarrierAsync(queues[1]));
    }

    [Fact]
    public async Task A_sender_flooding_barriers_has_its_call_failed_at_the_bound()
    {
        var queue = ReceivingQueue();
        var channel = Open(queue, "words", "source/0");
        for (var i = 1; i <= ExecutorLimits.InboundBarriersQueuedMax; i++)
        {
            SendBarrier(queue, channel, (ulong)i);
        }
        Assert.False(queue.EnqueueBarrier(new Contracts.DataPlane.V1.Barrier { CheckpointId = 99 }, channel));
    }

    [Fact]
    public void Without_checkpoints_received_barriers_are_dropped()
    {
        var queue = new InboundQueue(channelsMax: 1, channelCreditRows: 10, channelCreditBytes: 1_000);
        var channel = Open(queue, "words", "source/0");
        Assert.True(queue.EnqueueBarrier(new Contracts.DataPlane.V1.Barrier { CheckpointId = 1 }, channel));
        Assert.False(queue.Reader.TryRead(out _));
    }
}
