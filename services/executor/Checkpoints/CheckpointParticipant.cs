using System.Collections.Concurrent;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.Checkpoints.Internal;
using Concord.Executor.DataPlane;
using Concord.Executor.Internal;
using Concord.Executor.Routing;
using Concord.Executor.State;
using Concord.Hosting.Checkpoints;
using Microsoft.Extensions.Logging;

namespace Concord.Executor.Checkpoints;

/// <summary>Who this participant is and how it reaches the rest (one per executor).</summary>
/// <param name="Backend">Keyed state; null for an operator without it (its snapshot is then the operator snapshot alone).</param>
/// <param name="Operator">The session when it has state of its own (<c>session as ICheckpointedOperator</c>), else null.</param>
/// <param name="Router">Where barriers are forwarded; null for an operator without outputs.</param>
/// <param name="Acknowledge">Sends AcknowledgeCheckpoint (SchedulerLink.AcknowledgeCheckpointAsync).</param>
public sealed record CheckpointParticipantOptions(
    string OperatorName,
    int InstanceIndex,
    string Incarnation,
    DeliveryGuarantee Delivery,
    IKeyedStateBackend? Backend,
    ICheckpointedOperator? Operator,
    Router? Router,
    Func<AcknowledgeCheckpointRequest, CancellationToken, Task> Acknowledge);

/// <summary>
/// The executor's side of a checkpoint (docs/guarantees.md, protocol steps 3-6): takes the
/// scheduler's commands (<see cref="HandleAsync"/>), aligns barriers in front of the pump
/// (<see cref="Attach"/>), and, when a checkpoint is due, is called by the batch pump at a batch
/// boundary with no batch in flight (<see cref="RunDueWorkAsync"/>): takes the keyed-state
/// snapshot (its synchronous part) and the operator snapshot, forwards the barrier on every
/// outbound channel, lets the pump resume, then writes the state in the background and
/// acknowledges. Completed and aborted notices reach the operator at the same kind of boundary,
/// on the pump's thread, as <see cref="ICheckpointedOperator"/> requires.
/// </summary>
public sealed class CheckpointParticipant
{
    private readonly CheckpointParticipantOptions _options;
    private readonly CheckpointMetrics _metrics;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly AsyncSignal _workDue = new();
    private readonly ConcurrentQueue<CheckpointCommand> _notices = new();
    private int _writesInProgress;
    private volatile BarrierAligner _aligner;

    public CheckpointParticipant(CheckpointParticipantOptions options, CheckpointMetrics metrics, ILogger logger, TimeProvider time)
    {
        _options = options;
        _metrics = metrics;
        _logger = logger;
        _time = time;
        // Until Attach: a source's aligner with no queue in front (sources read no channels).
        _aligner = new BarrierAligner(System.Threading.Channels.Channel.CreateUnbounded<DataPlane.Internal.InboundItem>().Reader, Aligns, time, _workDue.Set);
    }

    /// <summary>Whether an operator with this guarantee takes part in checkpoints at all.</summary>
    public static bool TakesPart(DeliveryGuarantee delivery) =>
        delivery is DeliveryGuarantee.DeliveryAtLeastOnce or DeliveryGuarantee.DeliveryExactlyOnce;

    /// <summary>Channels block at a barrier (alignment) only for exactly_once.</summary>
    public bool Aligns => _options.Delivery == DeliveryGuarantee.DeliveryExactlyOnce;

    /// <summary>True while the pump must stop at its next batch boundary (a snapshot or a notice is due).</summary>
    public bool WorkDue => _aligner.Due is not null || !_notices.IsEmpty;

    /// <summary>Channels blocked by alignment now ((stream, sender)).</summary>
    public IReadOnlyCollection<(string Stream, string Sender)> BlockedChannels => _aligner.Blocked;

    /// <summary>Snapshots being written in the background now.</summary>
    public int WritesInProgress => Volatile.Read(ref _writesInProgress);

    /// <summary>Puts the alignment between <paramref name="inbound"/> and the pump; before the pump and the data plane start.</summary>
    public void Attach(InboundQueue inbound) =>
        inbound.UseGate(reader => _aligner = new BarrierAligner(reader, Aligns, _time, _workDue.Set));

    /// <summary>Completes when <see cref="WorkDue"/> may have become true (at most one spurious wake-up).</summary>
    public Task WaitWorkDueAsync(CancellationToken cancellationToken) => _workDue.WaitAsync(cancellationToken);

    /// <summary>A command from WatchCheckpoints. Never blocks on the pump.</summary>
    public Task HandleAsync(CheckpointCommand command)
    {
        switch (command.CommandCase)
        {
            case CheckpointCommand.CommandOneofCase.Begin:
                CheckpointLog.Begin(_logger, command.Begin.CheckpointId, command.Begin.Inputs.Count);
                _aligner.Begin(command.Begin);
                break;
            case CheckpointCommand.CommandOneofCase.Completed:
                _metrics.Total.WithLabels("completed").Inc();
                Notify(command);
                break;
            case CheckpointCommand.CommandOneofCase.Aborted:
                CheckpointLog.Aborted(_logger, command.Aborted.CheckpointId, command.Aborted.Reason);
                _metrics.Total.WithLabels("aborted").Inc();
                // Blocked channels are released now; the operator hears of it at the next boundary.
                _aligner.Abort(command.Aborted.CheckpointId);
                Notify(command);
                break;
        }
        return Task.CompletedTask;
    }

    /// <summary>
    /// Called by the batch pump's send loop when <see cref="WorkDue"/>, with every batch answered
    /// and its produced records routed: hands notices to the operator and takes a due snapshot.
    /// </summary>
    public async Task RunDueWorkAsync(CancellationToken cancellationToken)
    {
        while (_notices.TryDequeue(out var notice))
        {
            if (notice.CommandCase == CheckpointCommand.CommandOneofCase.Completed)
            {
                _options.Operator?.CheckpointCompleted(notice.Completed.CheckpointId);
            }
            else
            {
                _options.Operator?.CheckpointAborted(notice.Aborted.CheckpointId);
            }
        }
        if (_aligner.Due is { } due)
        {
            await SnapshotAsync(due, cancellationToken).ConfigureAwait(false);
        }
    }

    private void Notify(CheckpointCommand command)
    {
        _notices.Enqueue(command);
        _workDue.Set();
    }

    private async Task SnapshotAsync(AlignedCheckpoint due, CancellationToken cancellationToken)
    {
        var begin = due.Begin;
        var id = begin.CheckpointId;
        IStateSnapshot? state = null;
        long operatorBytes = 0;
        try
        {
            state = _options.Backend?.Snapshot(id);
            if (_options.Operator?.SnapshotOperator(id) is { } snapshot)
            {
                // Small (positions, not data: HostingLimits.CheckpointOperatorSnapshotBytesMax), so written here, before the barrier goes on.
                operatorBytes = CheckpointLayout.WriteOperatorSnapshot(begin.Directory, _options.OperatorName, _options.InstanceIndex, snapshot);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            state?.Dispose();
            // No barrier goes on: the coordinator aborts the checkpoint on this acknowledgement.
            _aligner.Abort(id);
            Failed(due, $"snapshot of {_options.OperatorName}/{_options.InstanceIndex} failed: {e.GetType().Name}: {e.Message}");
            return;
        }
        if (_options.Router is { } router)
        {
            await router.SendBarrierAsync(new Contracts.DataPlane.V1.Barrier
            {
                CheckpointId = id,
                TriggerUnixMs = begin.TriggerUnixMs,
                Savepoint = begin.Savepoint,
            }, cancellationToken).ConfigureAwait(false);
        }
        // The pump resumes from here; the blocked channels' records are next.
        _aligner.Snapshotted(id);
        Interlocked.Increment(ref _writesInProgress);
        _ = Task.Run(() => WriteAndAcknowledgeAsync(due, state, operatorBytes), CancellationToken.None);
    }

    private async Task WriteAndAcknowledgeAsync(AlignedCheckpoint due, IStateSnapshot? state, long operatorBytes)
    {
        var id = due.Begin.CheckpointId;
        try
        {
            SnapshotResult result = default;
            string error = "";
            try
            {
                if (state is not null)
                {
                    // Bounded; a write cut short by the executor's exit is a checkpoint the coordinator aborts.
                    using var deadline = new CancellationTokenSource(TimeSpan.FromMilliseconds(ExecutorLimits.CheckpointWriteTimeoutMs), _time);
                    result = await state.WriteAsync(due.Begin.Directory, _options.OperatorName, _options.InstanceIndex, deadline.Token).ConfigureAwait(false);
                }
            }
            catch (Exception e)
            {
                error = $"writing the state snapshot of {_options.OperatorName}/{_options.InstanceIndex} to {due.Begin.Directory} failed: {e.GetType().Name}: {e.Message}";
            }
            finally
            {
                state?.Dispose();
            }
            if (error.Length > 0)
            {
                Failed(due, error);
                return;
            }
            var duration = _time.GetElapsedTime(due.Started);
            _metrics.Duration.Observe(duration.TotalSeconds);
            if (Aligns && due.Begin.Inputs.Count > 0)
            {
                _metrics.Alignment.Observe(due.AlignmentMs / 1000.0);
            }
            CheckpointLog.Acknowledged(_logger, id, due.AlignmentMs, (long)duration.TotalMilliseconds, result.WrittenBytes + operatorBytes);
            await AcknowledgeAsync(new AcknowledgeCheckpointRequest
            {
                CheckpointId = id,
                WrittenBytes = result.WrittenBytes + operatorBytes,
                StateBytes = result.StateBytes,
                AlignmentMs = due.AlignmentMs,
                DurationMs = (long)duration.TotalMilliseconds,
            }).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _writesInProgress);
        }
    }

    private void Failed(AlignedCheckpoint due, string error)
    {
        CheckpointLog.SnapshotFailed(_logger, due.Begin.CheckpointId, error);
        _metrics.Total.WithLabels("failed").Inc();
        _ = AcknowledgeAsync(new AcknowledgeCheckpointRequest
        {
            CheckpointId = due.Begin.CheckpointId,
            AlignmentMs = due.AlignmentMs,
            DurationMs = (long)_time.GetElapsedTime(due.Started).TotalMilliseconds,
            Error = error,
        });
    }

    private async Task AcknowledgeAsync(AcknowledgeCheckpointRequest request)
    {
        request.OperatorName = _options.OperatorName;
        request.InstanceIndex = _options.InstanceIndex;
        request.Incarnation = _options.Incarnation;
        try
        {
            // Bounded by the call's own deadline (ExecutorLimits.CheckpointAcknowledgeTimeoutMs).
            await _options.Acknowledge(request, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // The coordinator times the checkpoint out and aborts it; the next one is a new chance.
            CheckpointLog.AcknowledgeFailed(_logger, request.CheckpointId, e.Message);
        }
    }
}

/// <summary>Log events of checkpoints (event ids 1300–1399).</summary>
internal static partial class CheckpointLog
{
    [LoggerMessage(1300, LogLevel.Debug, "Checkpoint {CheckpointId} begins ({Inputs} input channels to align)", EventName = "CheckpointBegin")]
    public static partial void Begin(ILogger logger, ulong checkpointId, int inputs);

    [LoggerMessage(1301, LogLevel.Debug, "Checkpoint {CheckpointId} snapshot written: alignment {AlignmentMs} ms, duration {DurationMs} ms, {Bytes} bytes", EventName = "CheckpointAcknowledged")]
    public static partial void Acknowledged(ILogger logger, ulong checkpointId, long alignmentMs, long durationMs, long bytes);

    [LoggerMessage(1302, LogLevel.Warning, "Checkpoint {CheckpointId} aborted: {Reason}", EventName = "CheckpointAborted")]
    public static partial void Aborted(ILogger logger, ulong checkpointId, string reason);

    [LoggerMessage(1303, LogLevel.Error, "Checkpoint {CheckpointId} snapshot failed: {Error}", EventName = "CheckpointSnapshotFailed")]
    public static partial void SnapshotFailed(ILogger logger, ulong checkpointId, string error);

    [LoggerMessage(1304, LogLevel.Warning, "AcknowledgeCheckpoint {CheckpointId} did not reach the scheduler: {Reason}", EventName = "CheckpointAcknowledgeFailed")]
    public static partial void AcknowledgeFailed(ILogger logger, ulong checkpointId, string reason);

    [LoggerMessage(1305, LogLevel.Information, "Restored checkpoint {CheckpointId} from {Directory} (keyed state: {State}, operator snapshots: {Snapshots})", EventName = "CheckpointRestored")]
    public static partial void Restored(ILogger logger, ulong checkpointId, string directory, bool state, int snapshots);

    [LoggerMessage(1306, LogLevel.Warning, "WatchCheckpoints: {Reason}; retrying in {BackoffMs} ms", EventName = "CheckpointWatchRetry")]
    public static partial void WatchRetry(ILogger logger, string reason, int backoffMs);

    [LoggerMessage(1307, LogLevel.Warning, "The scheduler does not serve WatchCheckpoints ({Reason}); this instance takes no checkpoints", EventName = "CheckpointWatchUnsupported")]
    public static partial void WatchUnsupported(ILogger logger, string reason);
}
