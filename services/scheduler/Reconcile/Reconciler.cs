using System.Threading.Channels;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Lifecycle;
using Concord.Scheduler.Reconcile.Internal;
using Concord.Scheduler.Runtime;
using Concord.Scheduler.Store;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Concord.Scheduler.Reconcile;

/// <summary>
/// The one loop that makes the runtime match the store. It is a single-threaded actor: every
/// request (deploy, register, ...) and every event (process exit, timer, store change) is a
/// work item in one bounded mailbox, run one at a time by one task, so the state below needs
/// no locks and every transition happens in a known order.
/// </summary>
/// <remarks>
/// Writes go to the store first (compare-and-set), then the loop applies the store's new
/// content, exactly as it does when the store's watch reports a change made elsewhere: the
/// runtime always follows the store, never the other way round. Slow work (stopping a
/// process) runs beside the loop and reports back through the mailbox.
/// </remarks>
public sealed partial class Reconciler : IAsyncDisposable
{
    private readonly ITopologyStore _store;
    private readonly IClusterRuntime _runtime;
    private readonly RoutingHub _routing;
    private readonly TimeProvider _time;
    private readonly ILogger<Reconciler> _logger;
    private readonly Channel<Func<Task>> _mailbox = Channel.CreateBounded<Func<Task>>(
        new BoundedChannelOptions(SchedulerLimits.ReconcileQueueCommandsMax) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    private readonly CancellationTokenSource _stopping = new();

    // ---- state owned by the loop task ----
    private readonly SortedDictionary<string, OperatorSlot> _operators = new(StringComparer.Ordinal);
    /// <summary>Instances of killed operators or scaled-away indexes that are still draining.</summary>
    private readonly List<InstanceSlot> _draining = [];
    private long _appliedRevision = -1;
    private bool _shuttingDown;
    private string _schedulerAddress = "";
    /// <summary>True once the store has been applied at start: registrations before that are told to retry.</summary>
    private bool _loaded;
    /// <summary>Executors of a previous run taken over at start, until their slot is created.</summary>
    private readonly Dictionary<(string Operator, int Index), AdoptedInstance> _adopted = [];
    /// <summary>Adopted instances that have not registered again (nor failed) yet; routing waits for them.</summary>
    private int _adoptionsPending;
    /// <summary>Instances routed away from (scale down, replace) to stop once the next table is delivered.</summary>
    private readonly List<IInstanceHandle> _stopsAfterRouting = [];

    private Task? _loop;
    private int _disposed;
    private Task? _storeWatch;

    public Reconciler(ITopologyStore store, IClusterRuntime runtime, RoutingHub routing, TimeProvider time, ILogger<Reconciler> logger)
    {
        _store = store;
        _runtime = runtime;
        _routing = routing;
        _time = time;
        _logger = logger;
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
        _schedulerAddress = schedulerAddress;
        // Executors a previous run left behind keep running while the scheduler is away; those
        // that run what the store still wants are adopted, every other one is stopped, so the
        // store's instances never run twice.
        var snapshot = await _store.ReadAsync(cancellationToken).ConfigureAwait(false);
        var claimed = new HashSet<(string, int)>();
        var adopted = await _runtime.AdoptLeftoversAsync(leftover => ShouldAdopt(snapshot, leftover, claimed), cancellationToken).ConfigureAwait(false);
        foreach (var instance in adopted)
        {
            _adopted[(instance.Handle.OperatorName, instance.Handle.Index)] = instance;
        }
        _loop = Task.Run(RunLoopAsync, CancellationToken.None);
        await AskAsync(async () =>
        {
            await ApplyStoreAsync().ConfigureAwait(false);
            return true;
        }, cancellationToken).ConfigureAwait(false);
        _storeWatch = Task.Run(() => FollowStoreAsync(_stopping.Token), CancellationToken.None);
    }

    // ================================ requests ================================

    /// <summary>Stores a new operator and launches its instances. Spec already validated.</summary>
    public Task<OperatorStatus> DeployAsync(OperatorSpec spec, CancellationToken cancellationToken) => AskAsync(async () =>
    {
        ThrowIfShuttingDown();
        if (_operators.ContainsKey(spec.Name))
        {
            throw AlreadyDeployed(spec.Name);
        }
        try
        {
            await _store.CompareAndSetAsync(spec.Name, TopologyStoreVersions.Absent, spec, null, CancellationToken.None).ConfigureAwait(false);
        }
        catch (TopologyConflictException)
        {
            throw AlreadyDeployed(spec.Name);
        }
        LogDeployed(spec.Name, spec.Instances);
        await ApplyStoreAsync().ConfigureAwait(false);
        return Status(spec.Name);
    }, cancellationToken);

    /// <summary>Removes an operator from the store and stops its instances.</summary>
    public Task KillAsync(string name, CancellationToken cancellationToken) => AskAsync(async () =>
    {
        ThrowIfShuttingDown();
        var op = Find(name);
        await WriteAsync(name, op.Entry.Version, null, null).ConfigureAwait(false);
        LogKilled(name);
        await ApplyStoreAsync().ConfigureAwait(false);
        return true;
    }, cancellationToken);

    /// <summary>Changes the number of instances. <paramref name="instances"/> already range-checked.</summary>
    public Task<OperatorStatus> ScaleAsync(string name, int instances, CancellationToken cancellationToken) => AskAsync(async () =>
    {
        ThrowIfShuttingDown();
        var op = Find(name);
        ThrowIfReplacing(op, "scale");
        if (op.Entry.Spec.Instances != instances)
        {
            var spec = op.Entry.Spec.Clone();
            spec.Instances = instances;
            await WriteAsync(name, op.Entry.Version, spec, op.Entry.Metadata).ConfigureAwait(false);
            LogScaled(name, op.Entry.Spec.Instances, instances);
            await ApplyStoreAsync().ConfigureAwait(false);
        }
        return Status(name);
    }, cancellationToken);

    /// <summary>Every operator, ordered by name.</summary>
    public Task<IReadOnlyList<OperatorStatus>> ListAsync(CancellationToken cancellationToken) =>
        AskAsync(() => Task.FromResult<IReadOnlyList<OperatorStatus>>(_operators.Values.Select(o => o.ToStatus()).ToList()), cancellationToken);

    /// <summary>Every operator and the edges between them.</summary>
    public Task<GraphResponse> GraphAsync(CancellationToken cancellationToken) => AskAsync(() =>
    {
        var response = new GraphResponse();
        response.Operators.AddRange(_operators.Values.Select(o => o.ToStatus()));
        response.Edges.AddRange(RoutingTableBuilder.Edges(_operators.Values.Select(o => o.ToRouting())));
        return Task.FromResult(response);
    }, cancellationToken);

    /// <summary>
    /// An executor's session is open: record the metadata (first instance) or check it against
    /// what was recorded (later ones), and mark the instance running.
    /// </summary>
    public Task RegisterAsync(RegisterExecutorRequest request, CancellationToken cancellationToken) => AskAsync(async () =>
    {
        if (!_loaded || _shuttingDown)
        {
            // Unavailable, which executors retry: one re-registering while the scheduler stops
            // gets its SIGTERM and drains, rather than failing on "not deployed".
            throw new RpcException(new Status(StatusCode.Unavailable,
                _shuttingDown ? "the scheduler is shutting down" : "the scheduler is starting; retry in a moment"));
        }
        var op = Find(request.OperatorName);
        if (op.Replace is { } replace
            && replace.Instances.Find(s => s.Index == request.InstanceIndex && s.Incarnation == request.Incarnation) is { } incoming)
        {
            await RegisterReplacementAsync(op, replace, incoming, request).ConfigureAwait(false);
            return true;
        }
        var slot = CurrentSlot(op, request.InstanceIndex, request.Incarnation);
        if (slot.State == InstanceState.Running)
        {
            return true; // A retried call after a lost response: nothing changes.
        }
        if (slot.State != InstanceState.Starting)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition,
                $"instance {op.Name}/{slot.Index} is {InstanceLifecycle.Describe(slot.State)}, not starting; the executor should exit"));
        }
        var reported = request.Metadata ?? new OperatorMetadata { Name = op.Name };
        if (op.Entry.Metadata is null)
        {
            // The first registration records the streams for routing and for every later instance.
            await WriteAsync(op.Name, op.Entry.Version, op.Entry.Spec, OperatorSlot.Canonical(reported)).ConfigureAwait(false);
            await ApplyStoreAsync().ConfigureAwait(false);
            LogMetadataRecorded(op.Name, reported.Inputs.Count, reported.Outputs.Count);
        }
        else if (!OperatorSlot.Canonical(reported).Equals(op.Entry.Metadata))
        {
            var message = $"instance {op.Name}/{slot.Index} reported metadata {OperatorSlot.Canonical(reported)} but the operator's " +
                          $"instances registered with {op.Entry.Metadata}; every instance must report the same streams: " +
                          "make metadata() deterministic, or kill the operator and deploy it again";
            slot.PendingError = message;
            throw new RpcException(new Status(StatusCode.FailedPrecondition, message));
        }
        MarkRunning(slot, request);
        LogRunning(op.Name, slot.Index, slot.Incarnation, request.DataAddress);
        PublishRouting();
        return true;
    }, cancellationToken);

    private void MarkRunning(InstanceSlot slot, RegisterExecutorRequest request)
    {
        slot.CancelTimer();
        EndAdoption(slot);
        slot.MoveTo(InstanceState.Running, _time.GetUtcNow());
        slot.DataAddress = request.DataAddress;
        slot.MetricsAddress = request.MetricsAddress;
        slot.OperatorPid = request.OperatorPid;
    }

    /// <summary>Remembers why an executor is about to exit, so `list` shows it.</summary>
    public Task ReportFailureAsync(ReportFailureRequest request, CancellationToken cancellationToken) => AskAsync(() =>
    {
        var slot = _operators.TryGetValue(request.OperatorName, out var op)
            ? op.Instances.Concat(op.Replace?.Instances ?? [])
                .FirstOrDefault(s => s.Index == request.InstanceIndex && s.Incarnation == request.Incarnation)
            : null;
        if (slot is not null)
        {
            var message = Truncate(request.Message);
            slot.PendingError = message;
            LogFailureReported(op!.Name, request.InstanceIndex, message);
        }
        else
        {
            LogStaleFailureReport(request.OperatorName, request.InstanceIndex, request.Incarnation);
        }
        return Task.FromResult(true);
    }, cancellationToken);

    /// <summary>
    /// Stops every instance (SIGTERM, then SIGKILL after the stop timeout) and keeps the
    /// topology, for scheduler shutdown. Completes when all have exited.
    /// </summary>
    public async Task StopAllAsync(CancellationToken cancellationToken)
    {
        var exits = await AskAsync(() =>
        {
            _shuttingDown = true;
            foreach (var op in _operators.Values)
            {
                if (op.Replace is { } replace)
                {
                    AbortReplace(op, replace, "the scheduler is shutting down; start it again and retry the replace");
                }
                foreach (var slot in op.Instances)
                {
                    StopSlot(slot);
                }
                op.Instances.Clear();
            }
            _operators.Clear();
            PublishRouting();
            return Task.FromResult(_draining.Select(s => s.Handle!.Exited).ToList());
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
                LogLoopError(e);
            }
        }
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

    private async Task FollowStoreAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var revision in _store.WatchAsync(cancellationToken).ConfigureAwait(false))
            {
                Post(async () =>
                {
                    if (revision > _appliedRevision)
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

    // ============================ reconciliation =============================

    /// <summary>Reads the store and makes the instances match it. Runs on the loop.</summary>
    private async Task ApplyStoreAsync()
    {
        if (_shuttingDown)
        {
            return;
        }
        var snapshot = await _store.ReadAsync(CancellationToken.None).ConfigureAwait(false);
        _appliedRevision = snapshot.Revision;
        var now = _time.GetUtcNow();
        var wanted = snapshot.Operators.ToDictionary(e => e.Name, StringComparer.Ordinal);

        foreach (var name in _operators.Keys.Where(n => !wanted.ContainsKey(n)).ToList())
        {
            if (_operators[name].Replace is { } replace)
            {
                AbortReplace(_operators[name], replace, "the operator was killed during the replace");
            }
            foreach (var slot in _operators[name].Instances)
            {
                StopSlot(slot);
            }
            _operators.Remove(name);
        }
        foreach (var entry in snapshot.Operators)
        {
            if (!_operators.TryGetValue(entry.Name, out var op))
            {
                _operators[entry.Name] = op = new OperatorSlot(entry);
            }
            op.Entry = entry;
            var desired = entry.Spec.Instances;
            if (op.Instances.Count > 0 && desired > op.Instances.Count && op.RoutedCount is null)
            {
                // Scale up of a running operator: keep routing by the current instances until the new ones run.
                op.RoutedCount = op.Instances.Count;
            }
            while (op.Instances.Count < desired)
            {
                var slot = new InstanceSlot(entry.Name, op.Instances.Count, now) { Release = op.Release };
                op.Instances.Add(slot);
                if (_adopted.Remove((entry.Name, slot.Index), out var adopted))
                {
                    Adopt(op, slot, adopted);
                }
            }
            while (op.Instances.Count > desired)
            {
                // Scale down: routing moves away first, then the instance drains and stops.
                StopSlot(op.Instances[^1], afterRouting: true);
                op.Instances.RemoveAt(op.Instances.Count - 1);
            }
        }
        foreach (var unclaimed in _adopted.Values)
        {
            // Adopted for an operator or index the store no longer has (it cannot normally
            // happen: adoption checks the same store): stop it rather than leave it running.
            _ = StopInBackgroundAsync(unclaimed.Handle);
        }
        _adopted.Clear();
        _loaded = true;
        await LaunchPendingAsync().ConfigureAwait(false);
        PublishRouting();
    }

    /// <summary>
    /// Launches every pending instance, except one whose previous process (same operator and
    /// index, e.g. before a kill and redeploy) is still draining: it waits for that exit, so an
    /// instance never runs twice.
    /// </summary>
    private async Task LaunchPendingAsync()
    {
        foreach (var op in _operators.Values)
        {
            foreach (var slot in op.Instances.Where(s => s.State == InstanceState.Pending).ToList())
            {
                if (!_draining.Any(d => SameDirectory(d, slot)))
                {
                    await LaunchAsync(op, slot).ConfigureAwait(false);
                }
            }
        }
    }

    private async Task LaunchAsync(OperatorSlot op, InstanceSlot slot, OperatorSpec? spec = null)
    {
        if (slot.Incarnation.Length > 0)
        {
            slot.Restarts++;
        }
        slot.CancelTimer();
        slot.Generation++;
        slot.Incarnation = Guid.NewGuid().ToString("N");
        slot.PendingError = null;
        slot.Handle = null;
        slot.MoveTo(InstanceState.Starting, _time.GetUtcNow());
        var launch = new InstanceLaunch(op.Name, slot.Index, slot.Incarnation, spec ?? op.Entry.Spec, _schedulerAddress, slot.Release);
        IInstanceHandle handle;
        try
        {
            handle = await _runtime.LaunchAsync(launch, _stopping.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogLaunchFailed(op.Name, slot.Index, e);
            Fail(op, slot, $"could not launch: {e.Message}");
            return;
        }
        slot.Handle = handle;
        var generation = slot.Generation;
        slot.Timer = _time.CreateTimer(_ => Post(() => OnStartingTimeout(slot, generation)), null,
            TimeSpan.FromMilliseconds(SchedulerLimits.StartingTimeoutMs), Timeout.InfiniteTimeSpan);
        _ = WatchExitAsync(slot, handle);
    }

    private async Task WatchExitAsync(InstanceSlot slot, IInstanceHandle handle)
    {
        var exit = await handle.Exited.ConfigureAwait(false);
        Post(() => OnExitedAsync(slot, handle, exit));
    }

    private async Task OnExitedAsync(InstanceSlot slot, IInstanceHandle handle, InstanceExit exit)
    {
        if (!ReferenceEquals(slot.Handle, handle))
        {
            return; // An older launch of a slot that has moved on.
        }
        slot.Handle = null;
        if (slot.State == InstanceState.Draining)
        {
            slot.MoveTo(InstanceState.Stopped, _time.GetUtcNow());
            _draining.Remove(slot);
            LogStopped(slot.OperatorName, slot.Index, exit.Description);
            if (!_shuttingDown)
            {
                await LaunchPendingAsync().ConfigureAwait(false);
                PublishRouting();
            }
            return;
        }
        if (slot.State is not (InstanceState.Starting or InstanceState.Running)
            || !_operators.TryGetValue(slot.OperatorName, out var op))
        {
            return;
        }
        var error = slot.PendingError ?? $"executor {exit.Description}; see its executor.log";
        Fail(op, slot, error);
        PublishRouting();
    }

    private Task OnStartingTimeout(InstanceSlot slot, long generation)
    {
        if (slot.Generation == generation && slot.State == InstanceState.Starting && slot.Handle is { } handle)
        {
            if (slot.Adopted)
            {
                slot.PendingError = $"adopted executor (pid {handle.Pid}) did not register again within {SchedulerLimits.AdoptRegisterTimeoutMs} ms " +
                                    "of the scheduler's restart; it is stopped and relaunched (see its executor.log)";
                LogStartingTimeout(slot.OperatorName, slot.Index, SchedulerLimits.AdoptRegisterTimeoutMs);
            }
            else
            {
                slot.PendingError = $"executor did not register within {SchedulerLimits.StartingTimeoutMs} ms of launch; " +
                                    "see its executor.log (the operator may be slow to start or failing before its session opens)";
                LogStartingTimeout(slot.OperatorName, slot.Index, SchedulerLimits.StartingTimeoutMs);
            }
            // The exit that follows turns the instance failed with the message above.
            _ = StopInBackgroundAsync(handle);
        }
        return Task.CompletedTask;
    }

    /// <summary>starting|running → failed (→ crash-looping), and a timer for the restart.</summary>
    private void Fail(OperatorSlot op, InstanceSlot slot, string error)
    {
        var now = _time.GetUtcNow();
        slot.CancelTimer();
        EndAdoption(slot);
        if (op.Replace is { } replace && replace.Instances.Contains(slot))
        {
            // A new version that fails while starting is not restarted: the replace is abandoned.
            slot.LastError = Truncate(error);
            slot.MoveTo(InstanceState.Failed, now);
            AbortReplace(op, replace, $"new instance {op.Name}/{slot.Index} failed before the switch: {error}");
            return;
        }
        slot.LastError = op.LastError = Truncate(error);
        slot.MoveTo(InstanceState.Failed, now);
        var decision = slot.Backoff.RecordFailure(now);
        if (decision.CrashLooping)
        {
            slot.MoveTo(InstanceState.CrashLooping, now);
        }
        LogFailed(op.Name, slot.Index, decision.FailuresInWindow, (long)decision.Delay.TotalMilliseconds, error);
        if (_shuttingDown)
        {
            return;
        }
        var generation = ++slot.Generation;
        slot.Timer = _time.CreateTimer(_ => Post(() => OnBackoffElapsed(slot, generation)), null, decision.Delay, Timeout.InfiniteTimeSpan);
    }

    private async Task OnBackoffElapsed(InstanceSlot slot, long generation)
    {
        if (_shuttingDown || slot.Generation != generation || slot.State is not (InstanceState.Failed or InstanceState.CrashLooping)
            || !_operators.TryGetValue(slot.OperatorName, out var op) || !op.Instances.Contains(slot))
        {
            return;
        }
        await LaunchAsync(op, slot).ConfigureAwait(false);
        PublishRouting();
    }

    /// <summary>
    /// Any state → draining (live process) or stopped (none). With
    /// <paramref name="afterRouting"/>, SIGTERM waits until the next routing table (which no
    /// longer routes to the instance) has reached every watcher, bounded by
    /// <see cref="SchedulerLimits.RoutingSwitchDeliveryTimeoutMs"/>: senders stop picking it
    /// before it stops taking records.
    /// </summary>
    private void StopSlot(InstanceSlot slot, bool afterRouting = false)
    {
        slot.CancelTimer();
        slot.Generation++;
        EndAdoption(slot);
        if (slot.Handle is { } handle && InstanceLifecycle.HasProcess(slot.State))
        {
            if (slot.State != InstanceState.Draining)
            {
                slot.MoveTo(InstanceState.Draining, _time.GetUtcNow());
                _draining.Add(slot);
            }
            if (afterRouting && !_shuttingDown)
            {
                _stopsAfterRouting.Add(handle);
            }
            else
            {
                _ = StopInBackgroundAsync(handle);
            }
        }
        else if (slot.State != InstanceState.Stopped)
        {
            slot.MoveTo(InstanceState.Stopped, _time.GetUtcNow());
        }
    }

    private async Task StopInBackgroundAsync(IInstanceHandle handle)
    {
        try
        {
            await _runtime.StopAsync(handle, TimeSpan.FromMilliseconds(SchedulerLimits.StopTimeoutMs), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            LogStopFailed(handle.OperatorName, handle.Index, e);
        }
    }

    private long _routingVersion;

    private void PublishRouting()
    {
        PublishRoutingCore();
        if (_stopsAfterRouting.Count > 0)
        {
            var version = _routing.Current.Version;
            foreach (var handle in _stopsAfterRouting)
            {
                _ = StopAfterRoutingAsync(handle, version);
            }
            _stopsAfterRouting.Clear();
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
                LogRoutingNotDelivered(handle.OperatorName, handle.Index, version, SchedulerLimits.RoutingSwitchDeliveryTimeoutMs);
            }
        }
        catch (OperationCanceledException)
        {
            // Disposing: stop at once.
        }
        await StopInBackgroundAsync(handle).ConfigureAwait(false);
    }

    private void PublishRoutingCore()
    {
        if (_adoptionsPending > 0)
        {
            // Adopted executors still route by the table of the previous run; a table now would
            // tell them their adopted peers have no address. Publish once they are all back.
            return;
        }
        foreach (var op in _operators.Values)
        {
            if (op.AdvanceRouting())
            {
                LogScaleRouted(op.Name, op.Instances.Count);
            }
        }
        var table = RoutingTableBuilder.Build(_operators.Values.Select(o => o.ToRouting()), 0);
        if (_routingVersion > 0 && RoutingTableBuilder.SameRoutes(table, _routing.Current))
        {
            return;
        }
        // Versions start at the wall clock in ms so they keep increasing across scheduler
        // restarts: an executor that outlives a scheduler never sees a table "go back".
        _routingVersion = Math.Max(_routingVersion + 1, _time.GetUtcNow().ToUnixTimeMilliseconds());
        table.Version = _routingVersion;
        _routing.Publish(table);
        LogRoutingPublished(_routingVersion, table.Streams.Count, _routing.WatcherCount);
    }

    // ================================ helpers ================================

    private OperatorSlot Find(string name) =>
        _operators.TryGetValue(name, out var op)
            ? op
            : throw new RpcException(new Status(StatusCode.NotFound,
                $"operator '{name}' is not deployed; deployed: " + (_operators.Count == 0 ? "none" : string.Join(", ", _operators.Keys))));

    private InstanceSlot CurrentSlot(OperatorSlot op, int index, string incarnation)
    {
        if (index < 0 || index >= op.Instances.Count)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition,
                $"operator '{op.Name}' has {op.Instances.Count} instances; index {index} is not one of them (scaled down?); the executor should exit"));
        }
        var slot = op.Instances[index];
        if (slot.Incarnation != incarnation)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition,
                $"incarnation '{incarnation}' of {op.Name}/{index} is stale (current is '{slot.Incarnation}'); this executor was replaced and should exit"));
        }
        return slot;
    }

    private async Task WriteAsync(string name, long expectedVersion, OperatorSpec? spec, OperatorMetadata? metadata)
    {
        try
        {
            await _store.CompareAndSetAsync(name, expectedVersion, spec, metadata, CancellationToken.None).ConfigureAwait(false);
        }
        catch (TopologyConflictException e)
        {
            // Someone else changed the store since the loop last read it: catch up, then let
            // the caller retry against the new state.
            await ApplyStoreAsync().ConfigureAwait(false);
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"{e.Message}; retry the command"));
        }
        catch (IOException e)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition,
                $"the topology store could not be written ({e.Message}); check the scheduler home's disk space and permissions"));
        }
    }

    private OperatorStatus Status(string name) => _operators[name].ToStatus();

    private void ThrowIfShuttingDown()
    {
        if (_shuttingDown)
        {
            throw new RpcException(new Status(StatusCode.Unavailable,
                "the scheduler is shutting down; start it again (`concord up`) and retry"));
        }
    }

    private void ThrowIfReplacing(OperatorSlot op, string command)
    {
        if (op.Replace is { } replace)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition,
                $"a replace of '{op.Name}' (release {replace.Release}) is in progress; {command} it once the replace has finished (`concord list` shows it)"));
        }
    }

    /// <summary>Two instances that would share a working directory (same operator, index and release parity).</summary>
    private static bool SameDirectory(InstanceSlot a, InstanceSlot b) =>
        a.OperatorName == b.OperatorName && a.Index == b.Index && a.Release % 2 == b.Release % 2;

    private static RpcException AlreadyDeployed(string name) =>
        new(new Status(StatusCode.AlreadyExists, $"operator '{name}' is already deployed; kill it first or use scale"));

    private static string Truncate(string text) =>
        text.Length <= SchedulerLimits.LastErrorCharsMax ? text : text[..SchedulerLimits.LastErrorCharsMax] + "…";
}
