using Concord.Executor.DataPlane;
using Concord.Executor.DataPlane.Internal;
using Microsoft.Extensions.Logging.Abstractions;
using static Concord.Executor.Tests.TestSupport;

namespace Concord.Executor.Tests;

/// <summary>Watermarks over the in-process gRPC data plane: a real ExecutorServer and a real sender.</summary>
public sealed class WatermarkDataPlaneTests : IAsyncDisposable
{
    private readonly DataPlaneClients _clients = new();

    public ValueTask DisposeAsync()
    {
        _clients.Dispose();
        return ValueTask.CompletedTask;
    }

    [Fact]
    public async Task Watermarks_travel_in_order_with_the_batches_need_no_credit_and_coalesce_while_stalled()
    {
        // No gate: watermarks are queued whether or not the executor takes checkpoints.
        var queue = new InboundQueue(channelsMax: 2, channelCreditRows: 10, channelCreditBytes: 1_000_000);
        await using var server = await TestTelemetry.StartServerAsync(new DataPlaneIdentity("counter", 0, "inc-0", new HashSet<string> { "words" }), queue).WaitAsync(Bound);
        var metrics = TestTelemetry.Metrics();
        await using var sender = new OutboundChannel("words", "counter", 0, "source/0", _clients, NullLogger.Instance, TimeProvider.System, metrics, TestTelemetry.Tracing(metrics));
        sender.SetTarget(new OutboundTarget(server.Address, "inc-0"));
        for (var i = 0; i < 10; i++)
        {
            await sender.EnqueueAsync(Raw($"k{i}"), CancellationToken.None).AsTask().WaitAsync(Bound);
        }
        sender.EnqueueWatermark(1_000);
        for (var i = 10; i < 15; i++)
        {
            await sender.EnqueueAsync(Raw($"k{i}"), CancellationToken.None).AsTask().WaitAsync(Bound);
        }
        // Behind records that wait for credit: the second raises the first in place.
        sender.EnqueueWatermark(2_000);
        sender.EnqueueWatermark(3_000);

        // The window of 10 rows is used up by the first records: the watermark still comes right after them.
        var held = new List<InboundItem>();
        var seen = new List<string>();
        while (!seen.Contains("wm 1000"))
        {
            var item = await queue.Reader.ReadAsync().AsTask().WaitAsync(Bound);
            held.Add(item);
            seen.AddRange(Describe(item));
        }
        Assert.Equal([.. Enumerable.Range(0, 10).Select(i => $"k{i}"), "wm 1000"], seen);
        Assert.False(queue.Reader.TryRead(out _));

        foreach (var item in held)
        {
            queue.Release(item.Source, item.Records.Length, item.Records.Sum(r => (long)r.Length));
        }
        var rest = new List<string>();
        while (!rest.Contains("wm 3000"))
        {
            var item = await queue.Reader.ReadAsync().AsTask().WaitAsync(Bound);
            rest.AddRange(Describe(item));
            queue.Release(item.Source, item.Records.Length, item.Records.Sum(r => (long)r.Length));
        }
        Assert.Equal([.. Enumerable.Range(10, 5).Select(i => $"k{i}"), "wm 3000"], rest);
        Assert.Equal(0, sender.FailedAttempts);
    }

    private static IEnumerable<string> Describe(InboundItem item) =>
        item.IsWatermark ? [$"wm {item.WatermarkMs}"] : item.Records.Select(r => r.KeyString());
}
