using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using static Concord.Sdk.Tests.ExecutorHarness;

namespace Concord.Sdk.Tests;

/// <summary>Event-time timers and the batch watermark in the C# SDK (docs/operator-api.md).</summary>
public class EventTimeTests
{
    [Fact]
    public async Task An_event_time_timer_is_sent_in_its_domain_and_the_batch_watermark_is_visible()
    {
        var watermarks = new List<long>();
        var computation = new ScriptedComputation
        {
            OnRecord = (ctx, record) =>
            {
                watermarks.Add(ctx.WatermarkUnixMs);
                ctx.SetTimer("window", record.EventTimeUnixMs + 100, TimerDomain.EventTime);
                ctx.SetTimer("poll", 5);
            },
        };
        await using var executor = await StartAsync(computation);
        await executor.OpenAsync();

        var batch = new ExecutorMessage { ProcessBatch = new ProcessBatch { Seq = 1, WatermarkUnixMs = 900 } };
        batch.ProcessBatch.Records.Add(Record("k", "v", eventTimeUnixMs: 1_000));
        await executor.SendAsync(batch);
        var done = await executor.ReceiveBatchDoneAsync();

        Assert.Equal([900L], watermarks);
        Assert.Equal([("window", 1_100L, TimeDomain.Event), ("poll", 5L, TimeDomain.Unspecified)],
            done.TimersSet.Select(t => (t.Key, t.TimeUnixMs, t.Domain)));
    }

    [Fact]
    public async Task An_event_time_timer_without_the_executors_capability_fails_the_batch()
    {
        var computation = new ScriptedComputation { OnRecord = (ctx, _) => ctx.SetTimer("window", 100, TimerDomain.EventTime) };
        await using var executor = await StartAsync(computation);
        var init = DefaultInit();
        init.Capabilities.Remove(Contracts.Capabilities.EventTime);
        await executor.OpenAsync(init);

        await executor.SendBatchAsync(1, [Record("k", "v")]);
        var error = await executor.ReceiveErrorAsync();
        Assert.Contains("event-time timers need an executor with the capability event-time.v1", error.Message);
    }
}
