using Concord.Contracts.Types.V1;
using Concord.Executor.Internal;
using Microsoft.Extensions.Logging;

namespace Concord.Executor.DataPlane.Internal;

/// <summary>What <see cref="ReaderAvailability.AcquireAsync"/> did with records offered to a channel.</summary>
internal enum Admission
{
    /// <summary>Room was taken in the queue: queue them.</summary>
    Admitted,

    /// <summary>The channel was closed: they are lost with it.</summary>
    Closed,

    /// <summary>The reader instance has been unavailable longer than the bound (at_most_once): drop and count them.</summary>
    Dropped,
}

/// <summary>
/// Whether the reader instance of one outbound channel can take records, and what a full queue
/// means for the sender (docs/data-plane.md, "An unavailable reader"). The reader is
/// unavailable from the moment the routing table says it is not running, or a call to it
/// fails, until a call to it receives credit. A reader that is connected but slow is
/// available: that is backpressure, and the sender waits.
/// <para>
/// With a bound (an operator in at_most_once, <c>unavailable_reader_drop_after_ms</c>), a full
/// queue waits for an unavailable reader at most until it has been unavailable that long; from
/// then on its records are dropped at once, so it no longer holds up the records for the other
/// instances (no head-of-line blocking between the destinations of one sender). Without a bound
/// (the guaranteed modes) the sender waits, as for backpressure.
/// </para>
/// </summary>
internal sealed class ReaderAvailability(TimeSpan? dropAfter, TimeProvider time)
{
    private readonly Lock _lock = new();
    private long _unavailableSince; // TimeProvider timestamp; 0 while available
    private TaskCompletionSource? _becameUnavailable;
    private long _droppedTotal;
    private long _lastLogged; // TimeProvider timestamp of the last drop log line; 0: none yet

    /// <summary>
    /// The bound for an operator's outbound channels: its <c>unavailable_reader_drop_after_ms</c>
    /// (default <see cref="ExecutorLimits.UnavailableReaderDropAfterMsDefault"/>) in
    /// at_most_once; null with a guarantee, whose records wait for the reader (the sender's mode
    /// decides: a reader is never stronger than what it reads, docs/guarantees.md).
    /// </summary>
    public static TimeSpan? DropAfterFor(OperatorSpec spec) =>
        spec.Delivery is DeliveryGuarantee.DeliveryUnspecified or DeliveryGuarantee.DeliveryAtMostOnce
            ? TimeSpan.FromMilliseconds(spec.UnavailableReaderDropAfterMs > 0 ? spec.UnavailableReaderDropAfterMs : ExecutorLimits.UnavailableReaderDropAfterMsDefault)
            : null;

    /// <summary>How long an unavailable reader's records wait before they are dropped; null: they wait for it.</summary>
    public TimeSpan? DropAfter => dropAfter;

    public bool IsUnavailable
    {
        get
        {
            lock (_lock)
            {
                return _unavailableSince != 0;
            }
        }
    }

    /// <summary>The reader is not running, or a call to it failed; the clock starts at the first of these.</summary>
    public void MarkUnavailable()
    {
        TaskCompletionSource? wake;
        lock (_lock)
        {
            if (_unavailableSince != 0)
            {
                return;
            }
            _unavailableSince = Math.Max(1, time.GetTimestamp());
            wake = _becameUnavailable;
            _becameUnavailable = null;
        }
        wake?.TrySetResult();
    }

    /// <summary>A call to the reader received credit.</summary>
    public void MarkAvailable()
    {
        lock (_lock)
        {
            _unavailableSince = 0;
        }
    }

    /// <summary>Time left before records for the reader are dropped; null while it is available or without a bound.</summary>
    public TimeSpan? DropIn()
    {
        lock (_lock)
        {
            return dropAfter is not { } bound || _unavailableSince == 0 ? null : bound - time.GetElapsedTime(_unavailableSince);
        }
    }

    /// <summary>
    /// Takes room for <paramref name="rows"/> rows of <paramref name="bytes"/> in
    /// <paramref name="budget"/>, waiting while it is full; with a bound, gives up (Dropped)
    /// once the reader has been unavailable for it, and at once when that is already the case.
    /// </summary>
    public async ValueTask<Admission> AcquireAsync(RowByteBudget budget, int rows, long bytes, CancellationToken cancellationToken)
    {
        if (dropAfter is null)
        {
            return await budget.AcquireAsync(rows, bytes, cancellationToken).ConfigureAwait(false) ? Admission.Admitted : Admission.Closed;
        }
        while (true)
        {
            var dropIn = DropIn();
            if (dropIn is { } left && left <= TimeSpan.Zero)
            {
                return Admission.Dropped;
            }
            if (budget.TryAcquire(rows, bytes))
            {
                return Admission.Admitted; // the common case: room, and nothing allocated
            }
            using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var acquire = budget.AcquireAsync(rows, bytes, attempt.Token);
            if (acquire.IsCompleted)
            {
                return await acquire.ConfigureAwait(false) ? Admission.Admitted : Admission.Closed;
            }
            // The queue is full: wait for room, but no longer than the bound (when the reader is
            // unavailable) or than until it becomes unavailable (then the bound starts).
            var acquired = acquire.AsTask();
            var limit = dropIn is { } wait ? Task.Delay(wait, time, attempt.Token) : BecameUnavailable();
            await Task.WhenAny(acquired, limit).ConfigureAwait(false);
            // Ends whichever still waits (no timer left behind); a wait that already took room keeps it.
            await attempt.CancelAsync().ConfigureAwait(false);
            try
            {
                return await acquired.ConfigureAwait(false) ? Admission.Admitted : Admission.Closed;
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // The bound was reached or started (no room was taken): look again.
            }
        }
    }

    /// <summary>Records dropped for the reader so far (the channel's share of the counter).</summary>
    public long DroppedTotal => Interlocked.Read(ref _droppedTotal);

    /// <summary>Counts <paramref name="rows"/> dropped; true when a log line is due (at most one per <see cref="ExecutorLimits.DroppedLogIntervalMs"/>).</summary>
    public bool CountDropped(int rows)
    {
        Interlocked.Add(ref _droppedTotal, rows);
        lock (_lock)
        {
            var now = time.GetTimestamp();
            if (_lastLogged != 0 && time.GetElapsedTime(_lastLogged, now) < TimeSpan.FromMilliseconds(ExecutorLimits.DroppedLogIntervalMs))
            {
                return false;
            }
            _lastLogged = Math.Max(1, now);
            return true;
        }
    }

    private Task BecameUnavailable()
    {
        lock (_lock)
        {
            if (_unavailableSince != 0)
            {
                return Task.CompletedTask;
            }
            _becameUnavailable ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _becameUnavailable.Task;
        }
    }
}

/// <summary>Log events of unavailable readers (event ids 250–259).</summary>
internal static partial class ReaderAvailabilityLog
{
    [LoggerMessage(250, LogLevel.Warning,
        "Dropping records for {Channel}: the reader instance has been unavailable (not running, or not accepting calls) for more than {DropAfterMs} ms " +
        "and this operator is at_most_once; {Total} dropped so far (concord_records_dropped_total{{reason=\"reader_unavailable\"}}). " +
        "Raise unavailable_reader_drop_after_ms in the deploy file to wait longer, or see why the reader is down with `concord list`",
        EventName = "ReaderUnavailableDropped")]
    public static partial void Dropped(ILogger logger, string channel, long dropAfterMs, long total);
}
