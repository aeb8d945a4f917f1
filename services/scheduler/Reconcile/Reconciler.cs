using System.Threading.Channels;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Checkpoints;
using Concord.Scheduler.Leadership;
using Concord.Scheduler.Reconcile.Core;
using Concord.Scheduler.Reconcile.Internal;
using Concord.Scheduler.Runtime;
using Concord.Scheduler.Store;
using Concord.Scheduler.Store.ZooKeeper;
using Concord.ZooKeeper;
using Microsoft.Extensions.Logging;
using static Concord.Scheduler.Reconcile.ReconcileLog;

namespace Concord.Scheduler.Reconcile;

/// <summary>
/// The one loop that makes the runtime match the store: the effects layer around the
/// decisions of <see cref="ReconcileCore"/>. It is a single-threaded actor: every request
/// (deploy, register, ...) and every event (process exit, timer, store change) is a work item
/// in one bounded mailbox, run one at a time by one task; each hands its input to the core and
/// then carries out the actions the core decided (launch, stop, timers, routing) against
/// <see cref="IClusterRuntime"/>, <see cref="ITopologyStore"/> and the <see cref="RoutingHub"/>.
/// </summary>
/// <remarks>
/// Writes go to the store first (compare-and-set), then the loop applies the store's new
/// content, exactly as it does when the store's watch reports a change made elsewhere: the
/// runtime always follows the store, never the other way round. Slow work (stopping a
/// process) runs beside the loop and reports back through the mailbox. Refused requests throw
/// <see cref="ReconcileException"/>; the API maps them to gRPC statuses.
/// </remarks>
public sealed class Reconciler : IAsyncDisposable, ICheckpointTopologySource
{
    private readonly ITopologyStore _store;
    private readonly IClusterRuntime _runtime;
    private readonly RoutingHub _routing;
    private readonly TimeProvider _time;
    private readonly ILogger<Reconciler> _logger;
    private readonly ReconcileCore _core;
    private readonly ILeaderGate _gate;
    private readonly Func<IRestartBackoff> _newBackoff;
    private readonly Channel<Func<Task>> _mailbox = Channel.CreateBounded<Func<Task>>(
        new BoundedChannelOptions(SchedulerLimits.ReconcileQueueCommandsMax) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    private readonly CancellationTokenSource _stopping = new();
    /// <summary>Armed timers by owner (slot or replace); touched only by the loop.</summary>
    private readonly Dictionary<object, ITimer> _timers = [];
    /// <summary>
    /// Launches the runtime is still carrying out (copying files, starting the process) beside
    /// the loop, each with what cancels it once the core no longer wants it (kill, scale down,
    /// shutdown); touched only by the loop.
    /// </summary>
    private readonly Dictionary<LaunchInstance, CancellationTokenSource> _launching = new(ReferenceEqualityComparer.Instance);
    /// <summary>The last launch per working directory (operator, index, release parity), so two never overlap; loop only.</summary>
    private readonly Dictionary<(string, int, int), Task> _launchesByDirectory = [];

    private Task? _loop;
    /// <summary>Completes when the loop runs: a just-elected leader's commands wait for it (<see cref="AskLeaderAsync"/>).</summary>
    private readonly TaskCompletionSource _inOffice = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _disposed;
    private CheckpointCoordinator? _checkpoints;
    private long _restores;
    private Task? _storeWatch;

    public Reconciler(ITopologyStore store, IClusterRuntime runtime, RoutingHub routing, TimeProvider time, ILogger<Reconciler> logger,
        ILeaderGate? gate = null)
        : this(store, runtime, routing, time, logger, static () => new RestartBackoffAdapter(), gate)
    {
    }

    /// <param name="newBackoff">Makes the failure history of each new instance (the back-off policy seam).</param>
    internal Reconciler(ITopologyStore store, IClusterRuntime runtime, RoutingHub routing, TimeProvider time, ILogger<Reconciler> logger,
        Func<IRestartBackoff> newBackoff, ILeaderGate? gate = null)
    {
        _store = store;
        _gate = gate ?? AlwaysLeader.Instance;
        _newBackoff = newBackoff;
        _runtime = runtime;
        _routing = routing;
        _time = time;
        _logger = logger;
        _core = new ReconcileCore(time, logger, newBackoff) { Gate = _gate };
    }

    /// <summary>
    /// Adopts (or stops) leftovers of a previous run, loads the topology, launches every
    /// desired instance that is not adopted, and follows the store from then on.
    /// </summary>
    /// <param name="schedulerAddress">Address executors call back on, e.g. http://127.0.0.1:7400.</param>
    public async Task StartAsync(string schedulerAddress, CancellationToken cancellationToken)
    {
        if (_loop is not null)
        {
            throw new InvalidOperationException("the reconciler is already started");
        }
        _core.Start(schedulerAddress);
        // A restart resumes from the last checkpoint the store recorded (docs/guarantees.md).
        var checkpoints = await _store.ReadCheckpointsAsync(cancellationToken).ConfigureAwait(false);
        if (checkpoints.Count > 0)
        {
            _core.CheckpointCompleted(checkpoints.MaxBy(c => c.Id)!);
        }
        // Executors a previous run left behind keep running while the scheduler is away; those
        // that run what the store still wants are adopted, every other one is stopped, so the
        // store's instances never run twice.
        var snapshot = await _store.ReadAsync(cancellationToken).ConfigureAwait(false);
        var claimed = new HashSet<(string, int)>();
        var adopted = await _runtime.AdoptLeftoversAsync(leftover => _core.ShouldAdopt(snapshot, leftover, claimed), cancellationToken).ConfigureAwait(false);
        _core.AddAdopted(adopted);
        _loop = Task.Run(RunLoopAsync, CancellationToken.None);
        _inOffice.TrySetResult();
        await AskAsync(async () =>
        {
            await ApplyStoreAsync().ConfigureAwait(false);
            _core.RestoreAfterStart();
            await CarryOutAsync().ConfigureAwait(false);
            return true;
        }, cancellationToken).ConfigureAwait(false);
        _storeWatch = Task.Run(() => FollowStoreAsync(_stopping.Token), CancellationToken.None);
    }

    /// <summary>
    /// Connects the checkpoint coordinator: it learns of participants' failures from the loop,
    /// and the loop of completed checkpoints (launches restore from the newest).
    /// </summary>
    public void AttachCheckpoints(CheckpointCoordinator coordinator)
    {
        _checkpoints = coordinator;
        coordinator.Completed += record => PostToCore(core => core.CheckpointCompleted(record));
    }

    /// <summary>Global restores since the scheduler started (docs/guarantees.md, "Recovery").</summary>
    public long Restores => Interlocked.Read(ref _restores);

    /// <summary>Refuses a launch that is not the current one of its instance (<see cref="ReconcileCore.RequireCurrentLaunch"/>).</summary>
    public Task RequireCurrentLaunchAsync(string operatorName, int index, string incarnation, CancellationToken cancellationToken) =>
        AskLeaderAsync(() =>
        {
            _core.RequireCurrentLaunch(operatorName, index, incarnation);
            return Task.FromResult(true);
        }, cancellationToken);

    /// <summary>The participants of a checkpoint now, read on the loop.</summary>
    public Task<CheckpointTopology> ReadCheckpointTopologyAsync(CancellationToken cancellationToken) =>
        AskAsync(() => Task.FromResult(_core.CheckpointTopology()), cancellationToken);

    // ================================ requests ================================

    /// <summary>Stores a new operator and launches its instances. Spec already validated.</summary>
    public Task<OperatorStatus> DeployAsync(OperatorSpec spec, CancellationToken cancellationToken) => AskLeaderAsync(async () =>
    {
        var write = _core.PlanDeploy(spec);
        RequireCapacity(spec, "deployed");
        try
        {
            await _store.CompareAndSetAsync(write.Name, write.ExpectedVersion, write.Spec, write.Metadata, CancellationToken.None).ConfigureAwait(false);
        }
        catch (TopologyConflictException)
        {
            throw ReconcileCore.AlreadyDeployed(spec.Name);
        }
        catch (TopologyTooLargeException e)
        {
            throw new ReconcileException(ReconcileErrorKind.ResourceExhausted, $"operator '{spec.Name}' was not deployed: {e.Message}");
        }
        catch (Exception e) when (StoreUnavailable(e, spec.Name) is { } unavailable)
        {
            throw unavailable;
        }
        _core.Deployed(write);
        await ApplyStoreAsync().ConfigureAwait(false);
        return _core.Status(spec.Name);
    }, cancellationToken);

    /// <summary>Removes an operator from the store and stops its instances.</summary>
    public Task KillAsync(string name, CancellationToken cancellationToken) => AskLeaderAsync(async () =>
    {
        await WriteAsync(_core.PlanKill(name)).ConfigureAwait(false);
        _core.Killed(name);
        await ApplyStoreAsync().ConfigureAwait(false);
        return true;
    }, cancellationToken);

    /// <summary>Changes the number of instances. <paramref name="instances"/> already range-checked.</summary>
    /// <remarks>
    /// An operator with a delivery guarantee keeps its state: a checkpoint is taken first
    /// (bounded by <see cref="SchedulerLimits.RescaleCheckpointWaitMs"/>), then every participant
    /// restarts from it, the scaled one with the new count (docs/guarantees.md, "Rescaling with state").
    /// </remarks>
    public async Task<OperatorStatus> ScaleAsync(string name, int instances, CancellationToken cancellationToken)
    {
        // Checked before the checkpoint a scale with state takes, and again as it is written.
        if (await AskLeaderAsync(() =>
            {
                if (_core.PlanScale(name, instances) is { } planned)
                {
                    RequireCapacity(planned.Spec!, "scaled");
                }
                return Task.FromResult(_core.ScaleNeedsCheckpoint(name, instances));
            }, cancellationToken).ConfigureAwait(false))
        {
            return await ScaleWithStateAsync(name, instances, cancellationToken).ConfigureAwait(false);
        }
        return await AskLeaderAsync(async () =>
        {
            if (_core.PlanScale(name, instances) is { } write)
            {
                RequireCapacity(write.Spec!, "scaled");
                await WriteAsync(write).ConfigureAwait(false);
                _core.Scaled(write);
                await ApplyStoreAsync().ConfigureAwait(false);
            }
            return _core.Status(name);
        }, cancellationToken).ConfigureAwait(false);
    }

    private async Task<OperatorStatus> ScaleWithStateAsync(string name, int instances, CancellationToken cancellationToken)
    {
        if (_checkpoints is null)
        {
            throw new ReconcileException(ReconcileErrorKind.FailedPrecondition,
                $"'{name}' has a delivery guarantee and this scheduler runs no checkpoint coordinator, so its state cannot move to the new instance count");
        }
        CheckpointRecord checkpoint;
        try
        {
            checkpoint = await _checkpoints.TakeAsync(savepoint: false, "scale", cancellationToken)
                .WaitAsync(TimeSpan.FromMilliseconds(SchedulerLimits.RescaleCheckpointWaitMs), _time, cancellationToken).ConfigureAwait(false);
        }
        catch (ReconcileException e)
        {
            throw new ReconcileException(e.Kind, $"'{name}' was not scaled: its state moves to the new instances through a checkpoint, and {e.Message}");
        }
        catch (TimeoutException)
        {
            throw new ReconcileException(ReconcileErrorKind.Unavailable,
                $"'{name}' was not scaled: the checkpoint its state moves through did not complete within {SchedulerLimits.RescaleCheckpointWaitMs} ms; " +
                "check `concord checkpoints` and the executors' logs, then retry");
        }
        return await AskLeaderAsync(async () =>
        {
            if (_core.PlanScale(name, instances) is { } write)
            {
                RequireCapacity(write.Spec!, "scaled");
                await WriteAsync(write).ConfigureAwait(false);
                _core.Scaled(write);
                _core.ScaledWithState(write, checkpoint);
                await ApplyStoreAsync().ConfigureAwait(false);
            }
            return _core.Status(name);
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Rolling replace of <paramref name="spec"/>.Name: launches the new version's instances
    /// (new release, new incarnations) beside the old ones, waits until all run (bounded by
    /// <paramref name="runningTimeout"/>), moves routing to them, then drains and stops the old
    /// ones. Any failure before the switch stops the new instances and leaves the old ones
    /// untouched. Spec already validated (except what depends on the running operator).
    /// </summary>
    public Task<ReplaceResult> ReplaceAsync(OperatorSpec spec, TimeSpan runningTimeout, CancellationToken cancellationToken) =>
        ReplaceAsync(spec, runningTimeout, dropState: false, cancellationToken);

    /// <summary>
    /// <see cref="ReplaceAsync(OperatorSpec, TimeSpan, CancellationToken)"/> of an operator
    /// without a delivery guarantee. One with a guarantee (old or new version) is replaced by a
    /// restart (docs/live-changes.md): without <paramref name="dropState"/> it keeps its state
    /// (<see cref="ReplaceKeepingStateAsync"/>: a fresh checkpoint, the new spec stored, every
    /// participant restarted from it; rolled back when the new version cannot restore it or does
    /// not run); with it, the new spec is stored and every participant restarts from the last
    /// completed checkpoint, this operator as the new version with empty state, answering once
    /// the restart is decided (no roll back; `list` shows the new instances starting).
    /// </summary>
    public async Task<ReplaceResult> ReplaceAsync(OperatorSpec spec, TimeSpan runningTimeout, bool dropState, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        var outcome = await AskLeaderAsync<object>(async () =>
        {
            var next = _core.PrepareReplace(spec, dropState);
            if (_runtime.Validate(next) is { } problem)
            {
                throw new ReconcileException(ReconcileErrorKind.InvalidArgument, $"invalid operator '{spec.Name}':\n  {problem}");
            }
            if (!dropState && _core.ReplaceKeepsState(next))
            {
                return KeepsState; // Through a checkpoint, taken outside the loop.
            }
            if (_core.ReplaceRestarts(next))
            {
                var write = _core.PlanReplaceDroppingState(next);
                await WriteAsync(write).ConfigureAwait(false);
                await ApplyStoreAsync().ConfigureAwait(false);
                var status = _core.ReplacedDroppingState(write.Name);
                await CarryOutAsync().ConfigureAwait(false);
                return status;
            }
            var done = _core.StartReplace(next, runningTimeout, started);
            await CarryOutAsync().ConfigureAwait(false);
            return done;
        }, cancellationToken).ConfigureAwait(false);
        if (outcome == KeepsState)
        {
            return await ReplaceKeepingStateAsync(spec, runningTimeout, started, cancellationToken).ConfigureAwait(false);
        }
        if (outcome is OperatorStatus restarted)
        {
            var elapsedMs = (long)_time.GetElapsedTime(started).TotalMilliseconds;
            return new ReplaceResult(restarted, elapsedMs, elapsedMs, Restarted: true);
        }
        var switched = (Task<ReplaceSwitched>)outcome;

        // Bounded: the loop completes it when the new instances run, fail, or time out.
        var result = await switched.WaitAsync(runningTimeout + TimeSpan.FromMilliseconds(SchedulerLimits.CommandTimeoutMs), _time, cancellationToken)
            .ConfigureAwait(false);
        try
        {
            await result.OldStopped.WaitAsync(
                TimeSpan.FromMilliseconds(SchedulerLimits.RoutingSwitchDeliveryTimeoutMs + SchedulerLimits.StopTimeoutMs + SchedulerLimits.LeftoverStopTimeoutMs),
                _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // SIGKILL follows the stop timeout; the switch itself is done, which is what matters.
        }
        return new ReplaceResult(result.Status, result.SwitchMs, (long)_time.GetElapsedTime(started).TotalMilliseconds);
    }

    /// <summary>
    /// Refuses a deploy or scale whose topology does not fit the cluster's resources (the
    /// runtime's <see cref="IClusterRuntime.CheckCapacity"/>), before anything is written.
    /// </summary>
    private void RequireCapacity(OperatorSpec changed, string verb)
    {
        if (_core.Grows(changed) && _runtime.CheckCapacity(_core.DesiredWith(changed), changed) is { } problem)
        {
            throw new ReconcileException(ReconcileErrorKind.ResourceExhausted, $"operator '{changed.Name}' was not {verb}: {problem}");
        }
    }

    /// <summary>Marks a replace that keeps state, to be continued outside the loop.</summary>
    private static readonly object KeepsState = new();

    /// <summary>
    /// Replace of an operator with a guarantee keeping its state: a checkpoint is taken (waiting
    /// first for one in progress; bounded by <see cref="SchedulerLimits.RescaleCheckpointWaitMs"/>;
    /// when it cannot be, e.g. an instance does not run, the last completed one serves), the new
    /// spec is stored, and every participant restarts from it, the replaced operator as the new
    /// version restoring its state. Answers when every new instance runs; fails when the
    /// replace was rolled back (the old version stored again, every participant restarted from
    /// the same checkpoint), e.g. because the new version does not declare a state name the
    /// checkpoint holds (the executor refuses that restore).
    /// </summary>
    private async Task<ReplaceResult> ReplaceKeepingStateAsync(OperatorSpec spec, TimeSpan runningTimeout, long started, CancellationToken cancellationToken)
    {
        if (_checkpoints is null)
        {
            throw new ReconcileException(ReconcileErrorKind.FailedPrecondition,
                $"'{spec.Name}' has a delivery guarantee and this scheduler runs no checkpoint coordinator, so its state cannot move to the new version; " +
                "replace it with --drop-state");
        }
        CheckpointRecord? checkpoint;
        try
        {
            checkpoint = await _checkpoints.TakeAsync(savepoint: false, "replace", cancellationToken)
                .WaitAsync(TimeSpan.FromMilliseconds(SchedulerLimits.RescaleCheckpointWaitMs), _time, cancellationToken).ConfigureAwait(false);
        }
        catch (ReconcileException e) when (e.Kind == ReconcileErrorKind.FailedPrecondition)
        {
            // Not every participant runs (the version being replaced may be crash-looping: the
            // usual reason to replace it), or the checkpoint aborted. The last completed
            // checkpoint is as consistent a point: a recovery restarts from it too, only with
            // more to replay. So the replace goes on from it rather than being refused.
            LogReplaceWithoutFreshCheckpoint(_logger, spec.Name, e.Message);
            checkpoint = null;
        }
        catch (ReconcileException e)
        {
            throw new ReconcileException(e.Kind, $"'{spec.Name}' was not replaced: its state moves to the new version through a checkpoint, and {e.Message}");
        }
        catch (TimeoutException)
        {
            throw new ReconcileException(ReconcileErrorKind.Unavailable,
                $"'{spec.Name}' was not replaced: the checkpoint its state moves through did not complete within {SchedulerLimits.RescaleCheckpointWaitMs} ms; " +
                "check `concord checkpoints` and the executors' logs, then retry");
        }
        var done = await AskLeaderAsync(async () =>
        {
            // Checked again: the topology may have changed while the checkpoint was taken.
            var next = _core.PrepareReplace(spec);
            if (!_core.ReplaceKeepsState(next))
            {
                throw new ReconcileException(ReconcileErrorKind.FailedPrecondition,
                    $"'{spec.Name}' changed while its checkpoint was taken (its delivery guarantee); nothing was replaced: retry");
            }
            var (write, previous) = _core.PlanReplaceKeepingState(next);
            await WriteAsync(write).ConfigureAwait(false);
            await ApplyStoreAsync().ConfigureAwait(false);
            var restarted = _core.ReplacedKeepingState(write.Name, previous, checkpoint, runningTimeout, started);
            await CarryOutAsync().ConfigureAwait(false);
            return restarted;
        }, cancellationToken).ConfigureAwait(false);

        // Bounded: the loop completes it when the new instances run, or rolls back on a failure or the timeout.
        var result = await done.WaitAsync(runningTimeout + TimeSpan.FromMilliseconds(SchedulerLimits.CommandTimeoutMs), _time, cancellationToken)
            .ConfigureAwait(false);
        return new ReplaceResult(result.Status, result.SwitchMs, (long)_time.GetElapsedTime(started).TotalMilliseconds, Restarted: true);
    }

    /// <summary>
    /// Rolls back a replace that keeps state (<see cref="RollBackReplace"/>): stores the old
    /// version again, applies it, and restarts every participant as the core decides.
    /// </summary>
    private async Task RollBackAsync(RollBackReplace rollBack)
    {
        if (_core.PlanRollBack(rollBack) is not { } write)
        {
            return;
        }
        try
        {
            await WriteAsync(write).ConfigureAwait(false);
        }
        catch (ReconcileException e)
        {
            _core.RollBackFailed(rollBack, e.Message);
            await CarryOutAsync().ConfigureAwait(false);
            return;
        }
        await ApplyStoreAsync().ConfigureAwait(false);
        _core.RolledBack(rollBack);
        await CarryOutAsync().ConfigureAwait(false);
    }

    /// <summary>Every operator, ordered by name.</summary>
    public async Task<IReadOnlyList<OperatorStatus>> ListAsync(CancellationToken cancellationToken) =>
        IsStandby
            ? (await StoreViewAsync(cancellationToken).ConfigureAwait(false)).List()
            : await AskAsync(() => Task.FromResult(_core.List()), cancellationToken).ConfigureAwait(false);

    /// <summary>Every operator and the edges between them.</summary>
    public async Task<GraphResponse> GraphAsync(CancellationToken cancellationToken) =>
        IsStandby
            ? (await StoreViewAsync(cancellationToken).ConfigureAwait(false)).Graph()
            : await AskAsync(() => Task.FromResult(_core.Graph()), cancellationToken).ConfigureAwait(false);

    /// <summary>A standby, or a leader whose term ended: it neither acts nor knows the instances' state.</summary>
    public bool IsStandby => _gate.Elects && (!_gate.IsLeader || _loop is null);

    /// <summary>
    /// What a standby answers reads with: the stored topology, applied to a core of its own that
    /// never acts (its decisions are dropped), so operators, specs and edges are the leader's and
    /// every instance shows as not running here.
    /// </summary>
    private async Task<ReconcileCore> StoreViewAsync(CancellationToken cancellationToken)
    {
        var snapshot = await _store.ReadAsync(cancellationToken).ConfigureAwait(false);
        var view = new ReconcileCore(_time, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, _newBackoff);
        view.Apply(snapshot);
        return view;
    }

    /// <summary>
    /// An executor's session is open: record the metadata (first instance) or check it against
    /// what was recorded (later ones), and mark the instance running.
    /// </summary>
    public Task RegisterAsync(RegisterExecutorRequest request, CancellationToken cancellationToken) => AskLeaderAsync(async () =>
    {
        var outcome = _core.Register(request);
        if (outcome is RecordMetadata recording)
        {
            await WriteAsync(recording.Write).ConfigureAwait(false);
            await ApplyStoreAsync().ConfigureAwait(false);
            _core.MetadataRecorded(recording);
            // Now checked against the recorded metadata, which is what this instance reported.
            outcome = _core.Register(request);
            if (outcome is RecordMetadata)
            {
                throw new ReconcileException(ReconcileErrorKind.FailedPrecondition,
                    $"the metadata of '{request.OperatorName}' changed in the store while {request.OperatorName}/{request.InstanceIndex} registered; retry");
            }
        }
        if (outcome is SwitchReplace switching)
        {
            await SwitchAsync(switching).ConfigureAwait(false);
        }
        await CarryOutAsync().ConfigureAwait(false);
        return true;
    }, cancellationToken);

    /// <summary>Every new instance runs: store the new spec, route to the new instances, stop the old ones.</summary>
    private async Task SwitchAsync(SwitchReplace switching)
    {
        await CarryOutAsync().ConfigureAwait(false);
        try
        {
            await WriteAsync(switching.Write).ConfigureAwait(false);
        }
        catch (ReconcileException e)
        {
            _core.SwitchFailed(switching, e.Message);
            return;
        }
        var pending = _core.Switch(switching);
        // Reads the new entry back and publishes routing to the new instances, which also
        // starts the old ones' stops once that table is delivered.
        await ApplyStoreAsync().ConfigureAwait(false);
        _core.CompleteSwitch(switching, pending);
    }

    /// <summary>Remembers why an executor is about to exit, so `list` shows it.</summary>
    public Task ReportFailureAsync(ReportFailureRequest request, CancellationToken cancellationToken) => AskLeaderAsync(() =>
    {
        _core.ReportFailure(request);
        return Task.FromResult(true);
    }, cancellationToken);

    /// <summary>
    /// Stops every instance (SIGTERM, then SIGKILL after the stop timeout) and keeps the
    /// topology, for scheduler shutdown. Completes when all have exited.
    /// </summary>
    public async Task StopAllAsync(CancellationToken cancellationToken)
    {
        if (IsStandby)
        {
            // The instances are the leader's (or nobody's yet): a standby leaves them running.
            return;
        }
        var exits = await AskAsync(async () =>
        {
            var exits = _core.StopAll();
            await CarryOutAsync().ConfigureAwait(false);
            return exits;
        }, cancellationToken).ConfigureAwait(false);
        await Task.WhenAll(exits).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        await _stopping.CancelAsync().ConfigureAwait(false);
        _mailbox.Writer.TryComplete();
        foreach (var task in new[] { _loop, _storeWatch })
        {
            if (task is not null)
            {
                await task.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
        // The loop has ended: nothing touches the timers any more.
        foreach (var timer in _timers.Values)
        {
            await timer.DisposeAsync().ConfigureAwait(false);
        }
        _timers.Clear();
        _stopping.Dispose();
    }

    // ================================ the loop ================================

    private async Task RunLoopAsync()
    {
        await foreach (var work in _mailbox.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            try
            {
                await work().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                // Work items of requests hand their exceptions to the caller; this is an event
                // handler's bug. The loop must outlive it, or nothing would be supervised.
                LogLoopError(_logger, e);
            }
        }
    }

    /// <summary>
    /// <see cref="AskAsync"/> for what only the leader does (commands, executors' calls): a
    /// standby refuses it as Unavailable naming the leader, so the caller goes there.
    /// </summary>
    private async Task<T> AskLeaderAsync<T>(Func<Task<T>> work, CancellationToken cancellationToken)
    {
        if (_gate.Elects && _gate.IsLeader && _loop is null)
        {
            // Elected a moment ago and still taking office (reading the store, adopting what
            // runs): the command waits for that rather than being refused by the leader itself.
            try
            {
                await _inOffice.Task.WaitAsync(TimeSpan.FromMilliseconds(SchedulerLimits.TakingOfficeWaitMs), _time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                throw new ReconcileException(ReconcileErrorKind.Unavailable,
                    $"this scheduler was elected leader and is still taking office (loading the topology, adopting running instances) after {SchedulerLimits.TakingOfficeWaitMs} ms; retry in a few seconds");
            }
        }
        return IsStandby
            ? throw new ReconcileException(ReconcileErrorKind.Unavailable, _gate.StandbyMessage)
            : await AskAsync(work, cancellationToken).ConfigureAwait(false);
    }

    private async Task<T> AskAsync<T>(Func<Task<T>> work, CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        await _mailbox.Writer.WriteAsync(async () =>
        {
            try
            {
                done.TrySetResult(await work().ConfigureAwait(false));
            }
            catch (Exception e)
            {
                done.TrySetException(e);
            }
        }, cancellationToken).ConfigureAwait(false);
        return await done.Task.WaitAsync(TimeSpan.FromMilliseconds(SchedulerLimits.CommandTimeoutMs), _time, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Queues an event from outside the loop (exit watcher, timer); never throws.</summary>
    private void Post(Func<Task> work)
    {
        if (!_mailbox.Writer.TryWrite(work))
        {
            // Full mailbox: wait for room beside the loop rather than drop an exit or a timer.
            _ = _mailbox.Writer.WriteAsync(work, _stopping.Token).AsTask().ContinueWith(
                static _ => { }, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        }
    }

    /// <summary>Queues an event for the core, then carries out what it decided.</summary>
    private void PostToCore(Action<ReconcileCore> report) => Post(async () =>
    {
        report(_core);
        await CarryOutAsync().ConfigureAwait(false);
    });

    private async Task FollowStoreAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var revision in _store.WatchAsync(cancellationToken).ConfigureAwait(false))
            {
                Post(async () =>
                {
                    if (revision > _core.AppliedRevision)
                    {
                        await ApplyStoreAsync().ConfigureAwait(false);
                    }
                });
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    // ================================ effects ================================

    /// <summary>Reads the store and makes the instances match it. Runs on the loop.</summary>
    private async Task ApplyStoreAsync()
    {
        if (!_core.CanApply)
        {
            return;
        }
        var snapshot = await _store.ReadAsync(CancellationToken.None).ConfigureAwait(false);
        _core.Apply(snapshot);
        await CarryOutAsync().ConfigureAwait(false);
    }

    private async Task WriteAsync(StoreWrite write)
    {
        try
        {
            await _store.CompareAndSetAsync(write.Name, write.ExpectedVersion, write.Spec, write.Metadata, write.NewState, CancellationToken.None).ConfigureAwait(false);
        }
        catch (TopologyConflictException e)
        {
            // Someone else changed the store since the loop last read it: catch up, then let
            // the caller retry against the new state.
            await ApplyStoreAsync().ConfigureAwait(false);
            throw new ReconcileException(ReconcileErrorKind.FailedPrecondition, $"{e.Message}; retry the command");
        }
        catch (TopologyTooLargeException e)
        {
            throw new ReconcileException(ReconcileErrorKind.ResourceExhausted, $"operator '{write.Name}' was not changed: {e.Message}");
        }
        catch (IOException e)
        {
            throw new ReconcileException(ReconcileErrorKind.FailedPrecondition,
                $"the topology store could not be written ({e.Message}); check the scheduler home's disk space and permissions");
        }
        catch (Exception e) when (StoreUnavailable(e, write.Name) is { } unavailable)
        {
            throw unavailable;
        }
    }

    /// <summary>
    /// A write to the ZooKeeper store that could not be made, as the caller's error: fenced
    /// (the term ended), not sent (ZooKeeper unreachable), or sent with its answer lost (the
    /// only case where the change may still have been made). Null for any other failure.
    /// </summary>
    private ReconcileException? StoreUnavailable(Exception e, string name) => e switch
    {
        // The gate's message names the leader when known, so clients redirect as for any standby.
        NotLeaderException fenced => new ReconcileException(ReconcileErrorKind.Unavailable,
            $"{_gate.StandbyMessage} (the term of this scheduler ended before operator '{name}' was written: {fenced.Message}; nothing was changed)"),
        ZooKeeperUnreachableException unreachable => new ReconcileException(ReconcileErrorKind.Unavailable,
            $"{unreachable.Message}: operator '{name}' was not changed; changes are refused until ZooKeeper has a quorum again; running instances keep running"),
        ZooKeeperException { Code: ZooKeeperError.ConnectionLoss or ZooKeeperError.OperationTimeout } lost => new ReconcileException(ReconcileErrorKind.Unavailable,
            $"ZooKeeper did not answer while operator '{name}' was written ({lost.Message}); the change may or may not have been made: check with `concord list` once ZooKeeper has a quorum, then retry"),
        ZooKeeperException refused => new ReconcileException(ReconcileErrorKind.Unavailable,
            $"{_gate.StandbyMessage} (ZooKeeper refused the write of operator '{name}': {refused.Message}; nothing was changed)"),
        // --store kubernetes: the API server away, slow or refusing; a write's answer lost.
        HttpRequestException or TimeoutException or k8s.Autorest.HttpOperationException => new ReconcileException(ReconcileErrorKind.Unavailable,
            $"the Kubernetes API server did not take the write of operator '{name}' ({e.Message}); the change may or may not have been made: check with `concord list`, then retry"),
        _ => null,
    };

    /// <summary>Carries out every action the core has decided, in order, until it decides no more.</summary>
    private async Task CarryOutAsync()
    {
        while (_core.TryTakeAction(out var action))
        {
            if (!_core.CanAct && action is LaunchInstance or StopInstance or ForgetInstance or ForgetOperator)
            {
                // The term ended: the next leader owns the instances and their directories;
                // this scheduler touches nothing (its decisions came from a stale view).
                LogNotActing(_logger, action.GetType().Name);
                continue;
            }
            switch (action)
            {
                case LaunchInstance launch:
                    await LaunchAsync(launch).ConfigureAwait(false);
                    break;
                case StopInstance stop:
                    _ = StopInBackgroundAsync(stop.Handle, stop.Discard ? SchedulerLimits.DiscardedStopGraceMs : SchedulerLimits.StopTimeoutMs);
                    break;
                case ForgetInstance forget:
                    // Awaited in order: a launch into the same directory comes after it.
                    await ForgetAsync(() => _runtime.ForgetInstanceAsync(forget.OperatorName, forget.Index, forget.Release, forget.KeepLog, _stopping.Token)).ConfigureAwait(false);
                    break;
                case ForgetOperator forgetOperator:
                    await ForgetAsync(() => _runtime.ForgetOperatorAsync(forgetOperator.OperatorName, _stopping.Token)).ConfigureAwait(false);
                    break;
                case WatchExit watch:
                    _ = WatchExitAsync(watch.Slot, watch.Handle);
                    break;
                case ArmTimer arm:
                    Arm(arm.Event, arm.Delay);
                    break;
                case CancelTimer cancel:
                    if (_timers.Remove(cancel.Owner, out var timer))
                    {
                        timer.Dispose();
                    }
                    break;
                case PublishRouting:
                    Publish();
                    break;
                case CheckpointParticipantFailed failed:
                    if (_checkpoints is { } checkpoints)
                    {
                        // Beside the loop: the coordinator reads the topology through the loop.
                        _ = checkpoints.ParticipantFailedAsync(failed.OperatorName, failed.Index, failed.Reason).ContinueWith(
                            static _ => { }, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                    }
                    break;
                case RestoreStarted:
                    Interlocked.Increment(ref _restores);
                    break;
                case RollBackReplace rollBack:
                    // Its own work item: it writes the store, and this may run inside another write's apply.
                    Post(() => RollBackAsync(rollBack));
                    break;
                default:
                    throw new InvalidOperationException($"unknown reconcile action {action}");
            }
        }
        // A launch still running beside the loop that the core no longer wants is cut short.
        foreach (var (launch, cancel) in _launching)
        {
            if (!ReconcileCore.IsCurrent(launch))
            {
                cancel.Cancel();
            }
        }
    }

    /// <summary>Removing working state is housekeeping: a failure is logged, never fatal to the loop.</summary>
    private async Task ForgetAsync(Func<Task> forget)
    {
        try
        {
            await forget().ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogForgetFailed(_logger, e);
        }
        catch (OperationCanceledException)
        {
            // The scheduler is stopping; what is left is removed by the next forget.
        }
    }

    /// <summary>
    /// Asks the runtime to launch. A launch that completes at once is reported to the core at
    /// once; a slow one (copying files) goes on beside the loop — so it never holds up other
    /// commands, `list` or `kill` — and reports back through the mailbox. Launches of one
    /// working directory never overlap: a relaunch waits for the one before.
    /// </summary>
    private Task LaunchAsync(LaunchInstance launch)
    {
        if (!ReconcileCore.IsCurrent(launch))
        {
            return Task.CompletedTask; // Decided earlier in this work item, then overtaken (e.g. its replace rolled back).
        }
        var cancel = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        var key = (launch.Launch.OperatorName, launch.Launch.Index, launch.Launch.Release % 2);
        Task<IInstanceHandle> task;
        if (_launchesByDirectory.TryGetValue(key, out var previous))
        {
            task = LaunchAfterAsync(previous, launch.Launch, cancel.Token);
        }
        else
        {
            try
            {
                task = _runtime.LaunchAsync(launch.Launch, cancel.Token);
            }
            catch (Exception e)
            {
                task = Task.FromException<IInstanceHandle>(e);
            }
        }
        if (task.IsCompleted)
        {
            cancel.Dispose();
            Complete(launch, task);
            return Task.CompletedTask;
        }
        _launching[launch] = cancel;
        _launchesByDirectory[key] = task;
        _ = ReportLaunchAsync(launch, task, key, cancel);
        return Task.CompletedTask;
    }

    private async Task<IInstanceHandle> LaunchAfterAsync(Task previous, InstanceLaunch launch, CancellationToken cancellationToken)
    {
        await previous.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        cancellationToken.ThrowIfCancellationRequested();
        return await _runtime.LaunchAsync(launch, cancellationToken).ConfigureAwait(false);
    }

    private async Task ReportLaunchAsync(LaunchInstance launch, Task<IInstanceHandle> task, (string, int, int) key, CancellationTokenSource cancel)
    {
        await ((Task)task).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        Post(async () =>
        {
            _launching.Remove(launch);
            if (_launchesByDirectory.TryGetValue(key, out var last) && last == task)
            {
                _launchesByDirectory.Remove(key);
            }
            cancel.Dispose();
            Complete(launch, task);
            await CarryOutAsync().ConfigureAwait(false);
        });
    }

    /// <summary>Tells the core how a finished launch went (it stops a process it no longer wants).</summary>
    private void Complete(LaunchInstance launch, Task<IInstanceHandle> task)
    {
        if (task.IsCompletedSuccessfully)
        {
            _core.Launched(launch, task.Result);
            return;
        }
        var error = task.Exception?.GetBaseException();
        if (error is not null and not OperationCanceledException)
        {
            LogLaunchFailed(_logger, launch.Launch.OperatorName, launch.Launch.Index, error);
        }
        // A cancelled launch is one the core no longer wants, so this changes nothing then.
        _core.LaunchFailed(launch, error is null or OperationCanceledException ? "the launch was cancelled" : error.Message);
    }

    private async Task WatchExitAsync(InstanceSlot slot, IInstanceHandle handle)
    {
        var exit = await handle.Exited.ConfigureAwait(false);
        PostToCore(core => core.OnExited(slot, handle, exit));
    }

    private void Arm(TimerEvent timerEvent, TimeSpan delay)
    {
        if (_timers.Remove(timerEvent.Owner, out var previous))
        {
            previous.Dispose();
        }
        _timers[timerEvent.Owner] = _time.CreateTimer(_ => PostToCore(core => core.OnTimer(timerEvent)), null, delay, Timeout.InfiniteTimeSpan);
    }

    private async Task StopInBackgroundAsync(IInstanceHandle handle, int graceMs = SchedulerLimits.StopTimeoutMs)
    {
        try
        {
            await _runtime.StopAsync(handle, TimeSpan.FromMilliseconds(graceMs), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            LogStopFailed(_logger, handle.OperatorName, handle.Index, e);
        }
    }

    private void Publish()
    {
        var plan = _core.PlanRouting(_routing.Current);
        if (plan.Table is { } table)
        {
            _routing.Publish(table);
            LogRoutingPublished(_logger, table.Version, table.Streams.Count, _routing.WatcherCount);
        }
        if (plan.StopsAfterRouting.Count > 0)
        {
            var version = _routing.Current.Version;
            foreach (var handle in plan.StopsAfterRouting)
            {
                _ = StopAfterRoutingAsync(handle, version);
            }
        }
    }

    private async Task StopAfterRoutingAsync(IInstanceHandle handle, long version)
    {
        try
        {
            var delivered = await _routing.WaitDeliveredAsync(version, TimeSpan.FromMilliseconds(SchedulerLimits.RoutingSwitchDeliveryTimeoutMs), _time, _stopping.Token)
                .ConfigureAwait(false);
            if (!delivered)
            {
                LogRoutingNotDelivered(_logger, handle.OperatorName, handle.Index, version, SchedulerLimits.RoutingSwitchDeliveryTimeoutMs);
            }
        }
        catch (OperationCanceledException)
        {
            // Disposing: stop at once.
        }
        await StopInBackgroundAsync(handle).ConfigureAwait(false);
    }
}
