using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Concord.Contracts.Scheduler.V1;
using Concord.Hosting.Checkpoints;
using Concord.Scheduler.Checkpoints.Internal;
using Concord.Scheduler.Reconcile;
using Concord.Scheduler.Reconcile.Core;
using Concord.Scheduler.Store;
using Microsoft.Extensions.Logging;

namespace Concord.Scheduler.Checkpoints;

/// <summary>
/// The scheduler's checkpoint coordinator (docs/guarantees.md, "Checkpoint protocol"): every
/// <see cref="CheckpointSettings.IntervalMs"/>, while every instance of the operators with a
/// delivery guarantee runs, it begins checkpoint <c>n</c> by sending <see cref="BeginCheckpoint"/>
/// to each of them over their WatchCheckpoints call, collects their acknowledgements, and on the
/// last one writes <c>_metadata.json</c>, records the checkpoint in the topology store and sends
/// <see cref="CheckpointCompleted"/>. An acknowledgement with an error, a participant's failure
/// or <see cref="SchedulerLimits.CheckpointTimeoutMs"/> aborts it. It keeps the last
/// <see cref="CheckpointSettings.Retained"/> completed checkpoints and every savepoint, and
/// deletes the rest.
/// </summary>
/// <remarks>
/// Thread-safe: every change of its state runs under one async gate. At most one checkpoint is
/// in progress. It acts only while the reconcile core may act (the leader gate, read with the
/// topology), so a follower scheduler never begins one.
/// </remarks>
public sealed partial class CheckpointCoordinator : IAsyncDisposable
{
    private readonly ICheckpointTopologySource _topology;
    private readonly ITopologyStore _store;
    private readonly CheckpointSettings _settings;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Lock _watchLock = new();
    /// <summary>Command queues by launch (operator, index, incarnation); under <see cref="_watchLock"/>.</summary>
    private readonly Dictionary<(string, int, string), Watcher> _watchers = [];
    private readonly CancellationTokenSource _stopping = new();
    /// <summary>Aborted checkpoints, newest first, at most <see cref="SchedulerLimits.AbortedCheckpointsKept"/>; under the gate.</summary>
    private readonly LinkedList<CheckpointInfo> _aborted = new();
    /// <summary>Retained completed checkpoints and savepoints, by id; replaced under the gate, read without it.</summary>
    private IReadOnlyList<CheckpointRecord> _completed = [];
    private Pending? _inProgress;
    private ulong _lastId;
    private long _completedTotal;
    private long _abortedTotal;
    private Task? _loop;

    /// <summary>The trigger <c>_metadata.json</c> names for the checkpoints of the interval.</summary>
    public const string IntervalTrigger = "interval";

    public CheckpointCoordinator(ICheckpointTopologySource topology, ITopologyStore store, CheckpointSettings settings, TimeProvider time,
        ILogger<CheckpointCoordinator> logger)
    {
        _topology = topology;
        _store = store;
        _settings = settings with { Root = Path.GetFullPath(settings.Root) };
        _time = time;
        _logger = logger;
    }

    /// <summary>Raised (under the gate) when a checkpoint completes: the reconciler restores from it from then on.</summary>
    public event Action<CheckpointRecord>? Completed;

    /// <summary>The checkpoint root (absolute).</summary>
    public string Root => _settings.Root;

    /// <summary>The newest completed checkpoint or savepoint; null when none.</summary>
    public CheckpointRecord? LatestCompleted => Volatile.Read(ref _completed) is { Count: > 0 } completed ? completed[^1] : null;

    /// <summary>Checkpoints completed since the scheduler started (metrics).</summary>
    public long CompletedTotal => Interlocked.Read(ref _completedTotal);

    /// <summary>Checkpoints aborted since the scheduler started (metrics).</summary>
    public long AbortedTotal => Interlocked.Read(ref _abortedTotal);

    /// <summary>
    /// Reads the recorded checkpoints and makes the root. Ids continue after the highest one
    /// recorded or found on disk (an aborted one leaves a directory but no record), so a
    /// directory is never reused.
    /// </summary>
    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        CheckpointFiles.CreateRoot(_settings.Root);
        var records = await _store.ReadCheckpointsAsync(cancellationToken).ConfigureAwait(false);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            Volatile.Write(ref _completed, records.OrderBy(r => r.Id).ToList());
            _lastId = records.Select(r => r.Id).Append(CheckpointFiles.HighestIdOnDisk(_settings.Root)).Max();
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary><see cref="LoadAsync"/>, then a checkpoint attempt every interval until disposed.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await LoadAsync(cancellationToken).ConfigureAwait(false);
        _loop = Task.Run(() => RunAsync(_stopping.Token), CancellationToken.None);
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        var interval = TimeSpan.FromMilliseconds(_settings.IntervalMs);
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(interval, _time, cancellationToken).ConfigureAwait(false);
                await TickAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // The next interval tries again; a coordinator that stopped would leave
                // every guarantee without checkpoints.
                LogTickFailed(_logger, e);
            }
        }
    }

    /// <summary>
    /// One interval's work: begins a checkpoint unless one is in progress or the topology is
    /// not ready (no participant, one not running, not the leader). Returns whether one began.
    /// </summary>
    public async Task<bool> TickAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_inProgress is not null)
            {
                return false;
            }
            var topology = await _topology.ReadCheckpointTopologyAsync(cancellationToken).ConfigureAwait(false);
            if (!topology.Ready)
            {
                return false;
            }
            return BeginLocked(topology, savepoint: false, IntervalTrigger) is not null;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Takes a checkpoint (or a savepoint) now and answers when it completed: waits first for
    /// the one in progress, if any. For `concord savepoint` and for a rescale with state.
    /// </summary>
    /// <param name="trigger">Why, for <c>_metadata.json</c>: "savepoint", "scale", ….</param>
    /// <exception cref="ReconcileException">Nothing to checkpoint, an instance not running, not the leader, or the checkpoint aborted.</exception>
    public async Task<CheckpointRecord> TakeAsync(bool savepoint, string trigger, CancellationToken cancellationToken)
    {
        var waitMax = TimeSpan.FromMilliseconds(SchedulerLimits.CheckpointTimeoutMs + SchedulerLimits.CommandTimeoutMs);
        while (true)
        {
            Task<CheckpointRecord> done;
            var waitedForOther = false;
            await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (_inProgress is { } other)
                {
                    done = other.Done.Task;
                    waitedForOther = true;
                }
                else
                {
                    var topology = await _topology.ReadCheckpointTopologyAsync(cancellationToken).ConfigureAwait(false);
                    RequireReady(topology, savepoint);
                    done = BeginLocked(topology, savepoint, trigger)?.Done.Task
                        ?? throw new ReconcileException(ReconcileErrorKind.FailedPrecondition,
                            $"the checkpoint directory could not be made under '{_settings.Root}'; check its disk space and permissions (--checkpoint-dir)");
                }
            }
            finally
            {
                _gate.Release();
            }
            if (waitedForOther)
            {
                // Its outcome is not ours: whatever it was, begin ours next.
                await done.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default)
                    .WaitAsync(waitMax, _time, cancellationToken).ConfigureAwait(false);
                continue;
            }
            // The checkpoint's own timeout ends it; this bound only guards against a bug.
            return await done.WaitAsync(waitMax, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private void RequireReady(CheckpointTopology topology, bool savepoint)
    {
        if (!topology.CanAct)
        {
            throw new ReconcileException(ReconcileErrorKind.Unavailable,
                "this scheduler is not the leader and does not act on the cluster; send the command to the leader");
        }
        if (topology.Participants.Count == 0 && topology.NotRunning.Count == 0)
        {
            throw new ReconcileException(ReconcileErrorKind.FailedPrecondition,
                "no operator with a delivery guarantee is deployed, so there is no state to checkpoint; " +
                "set \"delivery\": \"at_least_once\" or \"exactly_once\" in the deploy files of the operators whose state must survive");
        }
        if (topology.NotRunning.Count > 0)
        {
            throw new ReconcileException(ReconcileErrorKind.FailedPrecondition,
                $"a checkpoint needs every instance of the operators with a guarantee running, and {string.Join(", ", topology.NotRunning.Take(5))} " +
                $"{(topology.NotRunning.Count > 5 ? $"(and {topology.NotRunning.Count - 5} more) " : "")}not; retry once `concord list` shows them running");
        }
        if (savepoint && _completed.Count(c => c.Savepoint) >= SchedulerLimits.SavepointsMax)
        {
            throw new ReconcileException(ReconcileErrorKind.ResourceExhausted,
                $"{SchedulerLimits.SavepointsMax} savepoints are kept (SchedulerLimits.SavepointsMax); delete the ones you no longer need " +
                $"(their {CheckpointLayout.SavepointPrefix}* directories under '{_settings.Root}', while the scheduler is stopped) and retry");
        }
    }

    /// <summary>Begins checkpoint <c>_lastId + 1</c>; null when its directory cannot be made (logged).</summary>
    private Pending? BeginLocked(CheckpointTopology topology, bool savepoint, string trigger)
    {
        var id = ++_lastId;
        var directory = CheckpointFiles.DirectoryOf(_settings.Root, id, savepoint);
        try
        {
            CheckpointFiles.CreateRoot(_settings.Root);
            Directory.CreateDirectory(directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogDirectoryFailed(_logger, id, directory, e.Message);
            return null;
        }
        var now = _time.GetUtcNow();
        var pending = new Pending(id, savepoint, trigger, now.ToUnixTimeMilliseconds(), _time.GetTimestamp(), directory,
            topology.Participants.ToDictionary(p => p.Name, StringComparer.Ordinal), topology.Operators);
        _inProgress = pending;
        pending.Timeout = _time.CreateTimer(_ => _ = AbortIfCurrentAsync(id, $"not every participant acknowledged within {SchedulerLimits.CheckpointTimeoutMs} ms (SchedulerLimits.CheckpointTimeoutMs)"),
            null, TimeSpan.FromMilliseconds(SchedulerLimits.CheckpointTimeoutMs), Timeout.InfiniteTimeSpan);
        PruneWatchers(topology.Participants);
        foreach (var participant in topology.Participants)
        {
            var begin = new BeginCheckpoint { CheckpointId = id, TriggerUnixMs = pending.TriggerUnixMs, Savepoint = savepoint, Directory = directory };
            begin.Inputs.AddRange(participant.Inputs.Select(i => i.Clone()));
            Send(participant, new CheckpointCommand { Begin = begin });
        }
        LogBegun(_logger, id, savepoint, topology.Participants.Count, directory);
        return pending;
    }

    /// <summary>
    /// An executor's snapshot for one checkpoint is written (or failed). An acknowledgement of a
    /// checkpoint that already ended (aborted, say, by the timeout) is ignored.
    /// </summary>
    /// <exception cref="ReconcileException">The caller does not take part in the checkpoint, or it names one never begun.</exception>
    public async Task AcknowledgeAsync(AcknowledgeCheckpointRequest request, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (request.CheckpointId > _lastId || request.CheckpointId == 0)
            {
                throw new ReconcileException(ReconcileErrorKind.FailedPrecondition,
                    $"checkpoint {request.CheckpointId} was never begun (the last one is {_lastId}); acknowledge the checkpoint_id of a BeginCheckpoint");
            }
            if (_inProgress is not { } pending || pending.Id != request.CheckpointId)
            {
                LogLateAck(_logger, request.OperatorName, request.InstanceIndex, request.CheckpointId);
                return;
            }
            var name = $"{request.OperatorName}/{request.InstanceIndex}";
            if (!pending.Participants.TryGetValue(name, out var participant) || participant.Incarnation != request.Incarnation)
            {
                throw new ReconcileException(ReconcileErrorKind.FailedPrecondition,
                    $"{name} (incarnation '{request.Incarnation}') does not take part in checkpoint {request.CheckpointId}; " +
                    "an executor acknowledges only the checkpoints begun on its own WatchCheckpoints call (a replaced executor should exit)");
            }
            if (request.Error.Length > 0)
            {
                await AbortLockedAsync(pending, $"{name} could not write its snapshot: {ReconcileCore.Truncate(request.Error)}").ConfigureAwait(false);
                return;
            }
            pending.Acks[name] = request.Clone();
            if (pending.Acks.Count == pending.Participants.Count)
            {
                await CompleteLockedAsync(pending).ConfigureAwait(false);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>An instance failed (exit, ReportFailure): the checkpoint in progress, if it takes part, cannot complete.</summary>
    public async Task ParticipantFailedAsync(string operatorName, int index, string reason)
    {
        await _gate.WaitAsync(_stopping.Token).ConfigureAwait(false);
        try
        {
            var name = $"{operatorName}/{index}";
            if (_inProgress is { } pending && pending.Participants.ContainsKey(name))
            {
                await AbortLockedAsync(pending, $"participant {name} failed: {reason}").ConfigureAwait(false);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task AbortIfCurrentAsync(ulong id, string reason)
    {
        try
        {
            await _gate.WaitAsync(_stopping.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        try
        {
            if (_inProgress is { } pending && pending.Id == id)
            {
                await AbortLockedAsync(pending, reason).ConfigureAwait(false);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private Task AbortLockedAsync(Pending pending, string reason)
    {
        _inProgress = null;
        pending.Timeout?.Dispose();
        foreach (var participant in pending.Participants.Values)
        {
            Send(participant, new CheckpointCommand { Aborted = new CheckpointAborted { CheckpointId = pending.Id, Reason = reason } });
        }
        var info = pending.ToInfo(CheckpointStatus.Aborted, (long)_time.GetElapsedTime(pending.TriggerTimestamp).TotalMilliseconds);
        info.AbortReason = reason;
        _aborted.AddFirst(info);
        while (_aborted.Count > SchedulerLimits.AbortedCheckpointsKept)
        {
            _aborted.RemoveLast();
        }
        Interlocked.Increment(ref _abortedTotal);
        LogAborted(_logger, pending.Id, reason);
        pending.Done.TrySetException(new ReconcileException(ReconcileErrorKind.FailedPrecondition,
            $"{(pending.Savepoint ? "savepoint" : "checkpoint")} {pending.Id} was aborted: {reason}"));
        return Task.CompletedTask;
    }

    private async Task CompleteLockedAsync(Pending pending)
    {
        var durationMs = (long)_time.GetElapsedTime(pending.TriggerTimestamp).TotalMilliseconds;
        var acks = pending.Acks.Values;
        var record = new CheckpointRecord(pending.Id, pending.Savepoint, pending.TriggerUnixMs, durationMs,
            acks.Select(a => a.AlignmentMs).DefaultIfEmpty(0).Max(), acks.Sum(a => a.StateBytes), acks.Sum(a => a.WrittenBytes),
            pending.Directory, pending.Participants.Count, pending.Operators);
        var regular = _completed.Where(c => !c.Savepoint).Append(record).Where(c => !c.Savepoint).ToList();
        var forget = regular.Take(Math.Max(0, regular.Count - _settings.Retained)).Select(c => c.Id).ToHashSet();
        try
        {
            CheckpointLayout.WriteMetadata(pending.Directory, Metadata(pending, record, _time.GetUtcNow().ToUnixTimeMilliseconds()));
            await _store.RecordCheckpointAsync(record, forget, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or TopologyTooLargeException)
        {
            try
            {
                CheckpointFiles.DeleteMetadata(pending.Directory);
            }
            catch (Exception cleanup) when (cleanup is IOException or UnauthorizedAccessException)
            {
                LogCollectFailed(_logger, cleanup.Message);
            }
            await AbortLockedAsync(pending, $"its completion could not be recorded ({e.Message}); check the disk space and permissions of '{_settings.Root}' and of the scheduler's home").ConfigureAwait(false);
            return;
        }
        _inProgress = null;
        pending.Timeout?.Dispose();
        var retained = _completed.Where(c => !forget.Contains(c.Id)).Append(record).OrderBy(c => c.Id).ToList();
        Volatile.Write(ref _completed, retained);
        Interlocked.Increment(ref _completedTotal);
        foreach (var participant in pending.Participants.Values)
        {
            Send(participant, new CheckpointCommand { Completed = new CheckpointCompleted { CheckpointId = pending.Id } });
        }
        LogCompleted(_logger, record.Id, record.Savepoint, record.DurationMs, record.StateBytes, record.WrittenBytes);
        pending.Done.TrySetResult(record);
        Completed?.Invoke(record);
        Collect(retained);
    }

    /// <summary>Deletes checkpoints past the retained count and shared files no retained checkpoint refers to.</summary>
    private void Collect(IReadOnlyList<CheckpointRecord> retained)
    {
        foreach (var problem in CheckpointFiles.Collect(_settings.Root, retained.Select(r => r.Directory).ToList()))
        {
            LogCollectFailed(_logger, problem);
        }
    }

    /// <summary>The shared <c>_metadata.json</c> (docs/guarantees.md); the store record keeps the operators and their instance counts.</summary>
    private static CheckpointMetadata Metadata(Pending pending, CheckpointRecord record, long completedUnixMs) => new(
        CheckpointLayout.ManifestVersion, record.Id, record.Savepoint, pending.Trigger, record.TriggerUnixMs, completedUnixMs,
        pending.Acks.OrderBy(a => a.Key, StringComparer.Ordinal)
            .Select(a => new Concord.Hosting.Checkpoints.CheckpointParticipant(a.Value.OperatorName, a.Value.InstanceIndex, a.Value.StateBytes,
                a.Value.WrittenBytes, a.Value.AlignmentMs, a.Value.DurationMs))
            .ToList());

    /// <summary>The one in progress, then retained checkpoints and savepoints, then recent aborted ones; each group newest first.</summary>
    public async Task<ListCheckpointsResponse> ListAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var response = new ListCheckpointsResponse { LatestCompletedId = LatestCompleted?.Id ?? 0 };
            if (_inProgress is { } pending)
            {
                response.Checkpoints.Add(pending.ToInfo(CheckpointStatus.InProgress, 0));
            }
            response.Checkpoints.AddRange(_completed.Reverse().Select(ToInfo));
            response.Checkpoints.AddRange(_aborted.Select(a => a.Clone()));
            return response;
        }
        finally
        {
            _gate.Release();
        }
    }

    public static CheckpointInfo ToInfo(CheckpointRecord record) => new()
    {
        CheckpointId = record.Id,
        Status = CheckpointStatus.Completed,
        TriggerUnixMs = record.TriggerUnixMs,
        DurationMs = record.DurationMs,
        AlignmentMsMax = record.AlignmentMsMax,
        StateBytes = record.StateBytes,
        WrittenBytes = record.WrittenBytes,
        Savepoint = record.Savepoint,
        Directory = record.Directory,
        Acknowledged = record.Participants,
        Participants = record.Participants,
    };

    // ================================ command queues ================================

    /// <summary>
    /// The commands for one executor, from now until <paramref name="cancellationToken"/>.
    /// Commands sent before the call opened (a begin right after the executor registered) are
    /// delivered first. A second watch of the same launch takes over from the first, which ends.
    /// </summary>
    public async IAsyncEnumerable<CheckpointCommand> WatchAsync(string operatorName, int index, string incarnation,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var key = (operatorName, index, incarnation);
        Watcher watcher;
        lock (_watchLock)
        {
            if (_watchers.TryGetValue(key, out var existing) && !existing.Attached)
            {
                watcher = existing;
            }
            else
            {
                existing?.Queue.Writer.TryComplete();
                _watchers[key] = watcher = new Watcher();
            }
            watcher.Attached = true;
        }
        try
        {
            await foreach (var command in watcher.Queue.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                yield return command;
            }
        }
        finally
        {
            lock (_watchLock)
            {
                if (_watchers.TryGetValue(key, out var current) && current == watcher)
                {
                    _watchers.Remove(key);
                }
            }
        }
    }

    /// <summary>Open WatchCheckpoints calls (tests, diagnostics).</summary>
    public int WatcherCount
    {
        get
        {
            lock (_watchLock)
            {
                return _watchers.Values.Count(w => w.Attached);
            }
        }
    }

    private void Send(CheckpointParticipant participant, CheckpointCommand command)
    {
        lock (_watchLock)
        {
            var key = (participant.Operator, participant.Index, participant.Incarnation);
            if (!_watchers.TryGetValue(key, out var watcher))
            {
                _watchers[key] = watcher = new Watcher();
            }
            watcher.Queue.Writer.TryWrite(command);
        }
    }

    /// <summary>Queues nobody reads that belong to no current participant (an instance that went away before it watched).</summary>
    private void PruneWatchers(IReadOnlyList<CheckpointParticipant> participants)
    {
        var current = participants.Select(p => (p.Operator, p.Index, p.Incarnation)).ToHashSet();
        lock (_watchLock)
        {
            foreach (var key in _watchers.Where(w => !w.Value.Attached && !current.Contains(w.Key)).Select(w => w.Key).ToList())
            {
                _watchers.Remove(key);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        _inProgress?.Timeout?.Dispose();
        lock (_watchLock)
        {
            foreach (var watcher in _watchers.Values)
            {
                watcher.Queue.Writer.TryComplete();
            }
            _watchers.Clear();
        }
        _stopping.Dispose();
    }

    private sealed class Watcher
    {
        public Channel<CheckpointCommand> Queue { get; } = Channel.CreateBounded<CheckpointCommand>(
            new BoundedChannelOptions(SchedulerLimits.CheckpointCommandsQueuedMax) { SingleReader = true, FullMode = BoundedChannelFullMode.DropOldest });

        /// <summary>A WatchCheckpoints call reads it.</summary>
        public bool Attached { get; set; }
    }

    private sealed class Pending(ulong id, bool savepoint, string trigger, long triggerUnixMs, long triggerTimestamp, string directory,
        Dictionary<string, CheckpointParticipant> participants, IReadOnlyList<CheckpointedOperator> operators)
    {
        public ulong Id { get; } = id;

        public bool Savepoint { get; } = savepoint;

        public string Trigger { get; } = trigger;

        public long TriggerUnixMs { get; } = triggerUnixMs;

        public long TriggerTimestamp { get; } = triggerTimestamp;

        public string Directory { get; } = directory;

        /// <summary>By "operator/index".</summary>
        public Dictionary<string, CheckpointParticipant> Participants { get; } = participants;

        public IReadOnlyList<CheckpointedOperator> Operators { get; } = operators;

        public Dictionary<string, AcknowledgeCheckpointRequest> Acks { get; } = new(StringComparer.Ordinal);

        public ITimer? Timeout { get; set; }

        public TaskCompletionSource<CheckpointRecord> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public CheckpointInfo ToInfo(CheckpointStatus status, long durationMs) => new()
        {
            CheckpointId = Id,
            Status = status,
            TriggerUnixMs = TriggerUnixMs,
            DurationMs = durationMs,
            AlignmentMsMax = Acks.Values.Select(a => a.AlignmentMs).DefaultIfEmpty(0).Max(),
            StateBytes = Acks.Values.Sum(a => a.StateBytes),
            WrittenBytes = Acks.Values.Sum(a => a.WrittenBytes),
            Savepoint = Savepoint,
            Directory = Directory,
            Acknowledged = Acks.Count,
            Participants = Participants.Count,
        };
    }

    [LoggerMessage(EventId = 700, Level = LogLevel.Debug, Message = "Checkpoint {Id} begun (savepoint {Savepoint}): {Participants} participants, {Directory}")]
    private static partial void LogBegun(ILogger logger, ulong id, bool savepoint, int participants, string directory);

    [LoggerMessage(EventId = 701, Level = LogLevel.Information, Message = "Checkpoint {Id} completed (savepoint {Savepoint}) in {DurationMs} ms: {StateBytes} state bytes, {WrittenBytes} written")]
    private static partial void LogCompleted(ILogger logger, ulong id, bool savepoint, long durationMs, long stateBytes, long writtenBytes);

    [LoggerMessage(EventId = 702, Level = LogLevel.Warning, Message = "Checkpoint {Id} aborted: {Reason}")]
    private static partial void LogAborted(ILogger logger, ulong id, string reason);

    [LoggerMessage(EventId = 703, Level = LogLevel.Debug, Message = "Acknowledgement of ended checkpoint {Id} by {Operator}/{Index} ignored")]
    private static partial void LogLateAck(ILogger logger, string @operator, int index, ulong id);

    [LoggerMessage(EventId = 704, Level = LogLevel.Error, Message = "Checkpoint {Id} not begun: its directory {Directory} could not be made ({Problem}); check --checkpoint-dir")]
    private static partial void LogDirectoryFailed(ILogger logger, ulong id, string directory, string problem);

    [LoggerMessage(EventId = 705, Level = LogLevel.Warning, Message = "Old checkpoint files could not be removed: {Problem}")]
    private static partial void LogCollectFailed(ILogger logger, string problem);

    [LoggerMessage(EventId = 706, Level = LogLevel.Error, Message = "Checkpoint attempt failed; the next interval tries again")]
    private static partial void LogTickFailed(ILogger logger, Exception error);
}
