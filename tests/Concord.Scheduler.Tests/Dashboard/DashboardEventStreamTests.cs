using System.Net;
using Concord.Scheduler.Dashboard;

namespace Concord.Scheduler.Tests.Dashboard;

/// <summary>GET /ui/api/events: one shared producer, bounded subscribers, drop-oldest buffers, idle when unwatched.</summary>
public sealed class DashboardEventStreamTests
{
    [Fact]
    public async Task The_stream_starts_with_the_current_snapshot_and_pushes_one_per_interval()
    {
        await using var scheduler = await DashboardFixture.StartAsync();
        await scheduler.DeployRunningAsync(SchedulerFixture.Spec("counter"));
        await using var events = await EventStreamClient.OpenAsync(await scheduler.LoggedInAsync());

        var first = await events.NextSnapshotAsync();
        var second = await events.NextSnapshotAsync();

        Assert.Equal(HttpStatusCode.OK, events.Status);
        Assert.Equal("text/event-stream", events.Response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("counter", first.GetProperty("operators")[0].GetProperty("name").GetString());
        Assert.True(second.GetProperty("takenUnixMs").GetInt64() > first.GetProperty("takenUnixMs").GetInt64());
    }

    [Fact]
    public async Task The_producer_computes_once_per_interval_whatever_the_number_of_subscribers()
    {
        await using var scheduler = await DashboardFixture.StartAsync();
        await scheduler.DeployRunningAsync(SchedulerFixture.Spec("counter"));
        var http = scheduler.Http(bearer: true);
        const int subscribers = 8, pushes = 5;
        var streams = new List<EventStreamClient>();
        try
        {
            for (var i = 0; i < subscribers; i++)
            {
                streams.Add(await EventStreamClient.OpenAsync(http));
            }
            var before = scheduler.Feed.Computations;
            // Every subscriber sees the same snapshots (same takenUnixMs): computed once, sent to all.
            var seen = new List<long>[subscribers];
            await Task.WhenAll(streams.Select(async (stream, i) =>
            {
                seen[i] = [];
                for (var n = 0; n < pushes + 1; n++)
                {
                    seen[i].Add((await stream.NextSnapshotAsync()).GetProperty("takenUnixMs").GetInt64());
                }
            }));
            var computed = scheduler.Feed.Computations - before;

            // One computation per push, not one per subscriber and push (8 × as many).
            Assert.InRange(computed, pushes - 1, pushes + 2);
            // And the subscribers received the very same snapshots: at most one per computation.
            var distinct = seen.SelectMany(s => s.Skip(1)).Distinct().Count();
            Assert.InRange(distinct, 1, computed);
        }
        finally
        {
            foreach (var stream in streams)
            {
                await stream.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task The_65th_subscriber_is_refused_with_503()
    {
        await using var scheduler = await DashboardFixture.StartAsync();
        var http = scheduler.Http(bearer: true);
        var streams = new List<EventStreamClient>();
        try
        {
            for (var i = 0; i < DashboardLimits.EventStreamsMax; i++)
            {
                var stream = await EventStreamClient.OpenAsync(http);
                Assert.Equal(HttpStatusCode.OK, stream.Status);
                streams.Add(stream);
            }

            var (status, body) = await DashboardFixture.GetJsonAsync(http, "/ui/api/events");

            Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
            Assert.Contains($"{DashboardLimits.EventStreamsMax} dashboards are open", body.GetProperty("error").GetString());
            Assert.Equal(DashboardLimits.EventStreamsMax, scheduler.Feed.SubscriberCount);
        }
        finally
        {
            foreach (var stream in streams)
            {
                await stream.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_subscriber_that_does_not_read_holds_at_most_one_snapshot_and_does_not_slow_the_others()
    {
        await using var scheduler = await DashboardFixture.StartAsync();
        await scheduler.DeployRunningAsync(SchedulerFixture.Spec("counter"));
        var http = scheduler.Http(bearer: true);
        // Opened and never read again: its socket and the server's writer fill up, then it skips snapshots.
        await using var slow = await EventStreamClient.OpenAsync(http);
        await using var fast = await EventStreamClient.OpenAsync(http);

        for (var i = 0; i < 10; i++)
        {
            await fast.NextSnapshotAsync();
            Assert.InRange(scheduler.Feed.MaxPending, 0, DashboardLimits.EventStreamBufferSnapshots);
        }
        Assert.Equal(2, scheduler.Feed.SubscriberCount);
    }

    [Fact]
    public async Task A_subscriber_whose_socket_is_full_waits_with_one_snapshot_while_the_others_go_on()
    {
        // 40 operators make each snapshot some 20 KB; every 20 ms that fills a reader that never
        // reads (its socket buffers, then Kestrel's response buffer) within a few hundred pushes.
        await using var scheduler = await DashboardFixture.StartAsync(pushInterval: TimeSpan.FromMilliseconds(20));
        for (var i = 0; i < 40; i++)
        {
            await scheduler.DeployRunningAsync(SchedulerFixture.Spec($"op{i:00}", reads: "in", writes: "out"));
        }
        var http = scheduler.Http(bearer: true);
        await using var slow = await EventStreamClient.OpenAsync(http);
        await using var fast = await EventStreamClient.OpenAsync(http);

        // Each step is an event the fast reader gets. The slow one's writer is stuck once a
        // snapshot keeps waiting in a buffer from one push to the next (the fast reader's
        // buffer empties as soon as it is filled).
        var pushes = 0;
        for (var waiting = 0; waiting < 5; waiting = scheduler.Feed.MaxPending == 1 ? waiting + 1 : 0)
        {
            await fast.NextSnapshotAsync();
            Assert.True(++pushes < 2_000, "the slow subscriber's writer never blocked");
        }
        for (var i = 0; i < 50; i++)
        {
            await fast.NextSnapshotAsync();
            Assert.InRange(scheduler.Feed.MaxPending, 0, DashboardLimits.EventStreamBufferSnapshots);
        }
        Assert.Equal(2, scheduler.Feed.SubscriberCount);
    }

    [Fact]
    public void A_subscriber_buffer_keeps_only_the_newest_snapshot()
    {
        var subscriber = new Scheduler.Dashboard.Internal.DashboardFeed.Subscriber();

        for (var i = 0; i < 1000; i++)
        {
            subscriber.Offer([(byte)(i % 256)]);
        }

        Assert.Equal(1, subscriber.Pending);
        Assert.True(subscriber.Reader.TryRead(out var kept));
        Assert.Equal((byte)(999 % 256), kept[0]);
    }

    [Fact]
    public async Task The_producer_stops_when_the_last_subscriber_leaves()
    {
        await using var scheduler = await DashboardFixture.StartAsync();
        var http = scheduler.Http(bearer: true);
        Assert.Null(scheduler.Feed.Producer);
        Task producer;
        await using (var events = await EventStreamClient.OpenAsync(http))
        {
            await events.NextSnapshotAsync();
            await events.NextSnapshotAsync();
            producer = scheduler.Feed.Producer ?? throw new InvalidOperationException("no producer runs while a subscriber listens");
        }

        await producer.WaitAsync(DashboardFixture.Timeout);
        var computed = scheduler.Feed.Computations;

        Assert.Null(scheduler.Feed.Producer);
        Assert.Equal(0, scheduler.Feed.SubscriberCount);
        // Nothing computes any more; a snapshot request still works (on demand).
        var (status, _) = await DashboardFixture.GetJsonAsync(http, "/ui/api/snapshot");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(computed + 1, scheduler.Feed.Computations);
    }
}
