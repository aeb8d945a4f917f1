using Concord.Contracts.Types.V1;
using Concord.Executor.DataPlane;
using Concord.Executor.DataPlane.Internal;
using Concord.Executor.Internal;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using static Concord.Executor.Tests.TestSupport;

namespace Concord.Executor.Tests;

/// <summary>
/// docs/data-plane.md, "An unavailable reader": in at_most_once a full queue waits for an
/// unavailable reader only up to the bound, then its records are dropped and counted; with a
/// guarantee, or for a reader that is merely slow, the sender waits.
/// </summary>
public sealed class UnavailableReaderTests
{
    private static readonly TimeSpan DropAfter = TimeSpan.FromSeconds(3);

    private readonly FakeTimeProvider _time = new();
    private readonly RowByteBudget _budget = new(rowsMax: 2, bytesMax: 1_000);

    [Fact]
    public async Task A_full_queue_for_an_unavailable_reader_waits_until_the_bound_then_drops_at_once()
    {
        var availability = new ReaderAvailability(DropAfter, _time);
        Assert.Equal(Admission.Admitted, await availability.AcquireAsync(_budget, 2, 10, CancellationToken.None));
        availability.MarkUnavailable();

        var waiting = availability.AcquireAsync(_budget, 1, 5, CancellationToken.None).AsTask();
        _time.Advance(DropAfter - TimeSpan.FromMilliseconds(1));
        Assert.False(waiting.IsCompleted, "dropped before the bound");
        _time.Advance(TimeSpan.FromMilliseconds(1));

        Assert.Equal(Admission.Dropped, await waiting.WaitAsync(Bound));
        Assert.Equal(2, _budget.Rows); // the dropped row took no room
        // Past the bound nothing waits, even with room.
        _budget.Release(2, 10);
        Assert.Equal(Admission.Dropped, await availability.AcquireAsync(_budget, 1, 5, CancellationToken.None).AsTask().WaitAsync(Bound));
    }

    [Fact]
    public async Task A_slow_reader_that_becomes_unavailable_starts_the_bound_then()
    {
        var availability = new ReaderAvailability(DropAfter, _time);
        await availability.AcquireAsync(_budget, 2, 10, CancellationToken.None);

        var waiting = availability.AcquireAsync(_budget, 1, 5, CancellationToken.None).AsTask();
        _time.Advance(TimeSpan.FromMinutes(10));
        Assert.False(waiting.IsCompleted, "a connected (slow) reader is backpressure: the sender waits");
        availability.MarkUnavailable();
        _time.Advance(DropAfter);

        Assert.Equal(Admission.Dropped, await waiting.WaitAsync(Bound));
    }

    [Fact]
    public async Task Room_before_the_bound_admits_and_a_reader_back_in_time_loses_nothing()
    {
        var availability = new ReaderAvailability(DropAfter, _time);
        await availability.AcquireAsync(_budget, 2, 10, CancellationToken.None);
        availability.MarkUnavailable();

        var waiting = availability.AcquireAsync(_budget, 1, 5, CancellationToken.None).AsTask();
        _time.Advance(DropAfter / 2);
        availability.MarkAvailable();
        _budget.Release(1, 5);

        Assert.Equal(Admission.Admitted, await waiting.WaitAsync(Bound));
        _time.Advance(DropAfter);
        Assert.Null(availability.DropIn());
    }

    [Fact]
    public async Task Without_a_bound_records_wait_for_the_reader_however_long_it_is_down()
    {
        var availability = new ReaderAvailability(null, _time);
        await availability.AcquireAsync(_budget, 2, 10, CancellationToken.None);
        availability.MarkUnavailable();

        var waiting = availability.AcquireAsync(_budget, 1, 5, CancellationToken.None).AsTask();
        _time.Advance(TimeSpan.FromHours(1));
        Assert.False(waiting.IsCompleted, "a guaranteed mode must wait, not drop");
        _budget.Close();

        Assert.Equal(Admission.Closed, await waiting.WaitAsync(Bound));
    }

    [Theory]
    [InlineData(DeliveryGuarantee.DeliveryUnspecified, 0, 3_000)]
    [InlineData(DeliveryGuarantee.DeliveryAtMostOnce, 250, 250)]
    [InlineData(DeliveryGuarantee.DeliveryAtLeastOnce, 250, null)]
    [InlineData(DeliveryGuarantee.DeliveryExactlyOnce, 0, null)]
    public void The_senders_delivery_mode_and_spec_choose_the_bound(DeliveryGuarantee delivery, int configuredMs, int? expectedMs)
    {
        var spec = new OperatorSpec { Delivery = delivery, UnavailableReaderDropAfterMs = configuredMs };

        Assert.Equal(expectedMs is { } ms ? TimeSpan.FromMilliseconds(ms) : null, ReaderAvailability.DropAfterFor(spec));
        Assert.Equal(3_000, ExecutorLimits.UnavailableReaderDropAfterMsDefault);
    }

    [Fact]
    public async Task A_channel_whose_reader_is_not_running_drops_and_counts_records_past_the_bound()
    {
        var metrics = TestTelemetry.Metrics();
        using var clients = new DataPlaneClients();
        await using var channel = new OutboundChannel("words", "broken", 0, "source/0", clients, NullLogger.Instance, _time, metrics,
            TestTelemetry.Tracing(metrics), queueRowsMax: 2, dropUnavailableAfter: DropAfter);
        channel.SetTarget(OutboundTarget.None); // the routing table lists the instance without an address
        Assert.True(channel.ReaderUnavailable);
        await channel.EnqueueAsync(Raw("a"), CancellationToken.None).AsTask().WaitAsync(Bound);
        await channel.EnqueueAsync(Raw("b"), CancellationToken.None).AsTask().WaitAsync(Bound);

        var third = channel.EnqueueAsync(Raw("c"), CancellationToken.None).AsTask();
        Assert.False(third.IsCompleted);
        _time.Advance(DropAfter);
        await third.WaitAsync(Bound);

        Assert.Equal(2, channel.QueuedRows);
        Assert.Equal(1, channel.DroppedUnavailableRows);
        Assert.Equal(1, metrics.RecordsDropped.WithLabels("words", "reader_unavailable", "broken").Value);
    }
}
