using System.Diagnostics.CodeAnalysis;
using Concord.Contracts.Scheduler.V1;
using Concord.Scheduler.Lifecycle;
using Concord.Scheduler.Reconcile.Internal;
using Microsoft.Extensions.Logging;

namespace Concord.Scheduler.Reconcile.Core;

/// <summary>
/// The decisions of the reconcile loop, with no I/O: it takes the stored topology, the
/// runtime's launches, exits and the timers' events, keeps the instances' state, and answers
/// with <see cref="ReconcileAction"/>s (launch, stop, arm a timer, publish routing) that the
/// effects layer (<see cref="Reconciler"/>) carries out; a refused request is a
/// <see cref="ReconcileException"/>. It needs no process, socket or clock (time comes from the
/// injected <see cref="TimeProvider"/>), so every transition can be driven in a unit test.
/// </summary>
/// <remarks>
/// Not thread-safe: the effects layer calls it from its single loop task only. The lifecycle
/// reads from the file list: Applying (store → instances), Deploying, Scaling, Registering,
/// Recovering (failures, back-off), Stopping, Replacing, Adopting, Routing.
/// </remarks>
internal sealed partial class ReconcileCore(TimeProvider time, ILogger logger, Func<IRestartBackoff> newBackoff)
{
    private readonly TimeProvider _time = time;
    private readonly ILogger _logger = logger;
    private readonly Func<IRestartBackoff> _newBackoff = newBackoff;
    private readonly Queue<ReconcileAction> _outbox = new();

    private readonly SortedDictionary<string, OperatorSlot> _operators = new(StringComparer.Ordinal);
    /// <summary>Instances of killed operators or scaled-away indexes that are still draining.</summary>
    private readonly List<InstanceSlot> _draining = [];

    /// <summary>Store revision last applied; -1 before the first.</summary>
    public long AppliedRevision { get; private set; } = -1;

    /// <summary>Set by <see cref="StopAll"/>: nothing is launched or restarted any more.</summary>
    public bool ShuttingDown { get; private set; }

    /// <summary>True once the store has been applied at start: registrations before that are told to retry.</summary>
    public bool Loaded { get; private set; }

    /// <summary>Address executors call back on, e.g. http://127.0.0.1:7400.</summary>
    public string SchedulerAddress { get; private set; } = "";

    /// <summary>
    /// The one gate on acting on the cluster (launching, stopping, writing the store): the
    /// leader gate (<see cref="Leadership.ILeaderGate"/>). A lone scheduler always acts; with
    /// leader election a standby or a deposed leader returns false here: its commands are
    /// refused as Unavailable naming the leader and store changes are not applied.
    /// Every command checks it through <see cref="RequireActive"/>, and <see cref="Apply"/> through <see cref="CanApply"/>.
    /// </summary>
    public bool CanAct => Gate.IsLeader;

    /// <summary>Whether this scheduler leads (set once, before the loop runs).</summary>
    public Leadership.ILeaderGate Gate { get; set; } = Leadership.AlwaysLeader.Instance;

    /// <summary>Remembers where executors call back (launches carry it).</summary>
    public void Start(string schedulerAddress) => SchedulerAddress = schedulerAddress;

    /// <summary>The next action decided and not yet carried out, oldest first.</summary>
    public bool TryTakeAction([NotNullWhen(true)] out ReconcileAction? action) => _outbox.TryDequeue(out action);

    /// <summary>Every action decided and not yet carried out, oldest first (for tests).</summary>
    public IReadOnlyList<ReconcileAction> TakeActions()
    {
        var actions = _outbox.ToList();
        _outbox.Clear();
        return actions;
    }

    /// <summary>Every operator, ordered by name.</summary>
    public IReadOnlyList<OperatorStatus> List() => _operators.Values.Select(o => o.ToStatus()).ToList();

    /// <summary>Every operator and the edges between them.</summary>
    public GraphResponse Graph()
    {
        var response = new GraphResponse();
        response.Operators.AddRange(_operators.Values.Select(o => o.ToStatus()));
        response.Edges.AddRange(RoutingTableBuilder.Edges(_operators.Values.Select(o => o.ToRouting())));
        return response;
    }

    /// <summary>One operator's status (it must be deployed).</summary>
    public OperatorStatus Status(string name) => _operators[name].ToStatus();

    /// <summary>A timer the effects layer armed for an <see cref="ArmTimer"/> has elapsed.</summary>
    public void OnTimer(TimerEvent timer)
    {
        switch (timer)
        {
            case StartingTimeout starting:
                OnStartingTimeout(starting.Slot, starting.Generation);
                break;
            case BackoffElapsed backoff:
                OnBackoffElapsed(backoff.Slot, backoff.Generation);
                break;
            case ReplaceRunningTimeout replace:
                OnReplaceRunningTimeout(replace.Operator, replace.Replace, replace.Timeout);
                break;
            case ReplaceRestartTimeout restart:
                OnReplaceRestartTimeout(restart.Operator, restart.Restart, restart.Timeout);
                break;
        }
    }

    private void Emit(ReconcileAction action) => _outbox.Enqueue(action);

    private void CancelTimerOf(object owner) => Emit(new CancelTimer(owner));

    private InstanceSlot NewSlot(string operatorName, int index, int release) =>
        new(operatorName, index, _time.GetUtcNow(), _newBackoff()) { Release = release };

    /// <summary>Commands are refused while shutting down, and by a scheduler that may not act (see <see cref="CanAct"/>).</summary>
    private void RequireActive()
    {
        if (ShuttingDown)
        {
            throw new ReconcileException(ReconcileErrorKind.Unavailable,
                "the scheduler is shutting down; start it again (`concord up`) and retry");
        }
        if (!CanAct)
        {
            throw new ReconcileException(ReconcileErrorKind.Unavailable, Gate.StandbyMessage);
        }
    }

    private OperatorSlot Find(string name) =>
        _operators.TryGetValue(name, out var op)
            ? op
            : throw new ReconcileException(ReconcileErrorKind.NotFound,
                $"operator '{name}' is not deployed; deployed: " + (_operators.Count == 0 ? "none" : string.Join(", ", _operators.Keys)));

    private InstanceSlot CurrentSlot(OperatorSlot op, int index, string incarnation)
    {
        if (index < 0 || index >= op.Instances.Count)
        {
            throw new ReconcileException(ReconcileErrorKind.FailedPrecondition,
                $"operator '{op.Name}' has {op.Instances.Count} instances; index {index} is not one of them (scaled down?); the executor should exit");
        }
        var slot = op.Instances[index];
        if (slot.Incarnation != incarnation)
        {
            throw new ReconcileException(ReconcileErrorKind.FailedPrecondition,
                $"incarnation '{incarnation}' of {op.Name}/{index} is stale (current is '{slot.Incarnation}'); this executor was replaced and should exit");
        }
        return slot;
    }

    private static void ThrowIfReplacing(OperatorSlot op, string command)
    {
        if ((op.Replace?.Release ?? op.Restarting?.Release) is { } release)
        {
            throw new ReconcileException(ReconcileErrorKind.FailedPrecondition,
                $"a replace of '{op.Name}' (release {release}) is in progress; {command} it once the replace has finished (`concord list` shows it)");
        }
    }

    /// <summary>Two instances that would share a working directory (same operator, index and release parity).</summary>
    private static bool SameDirectory(InstanceSlot a, InstanceSlot b) =>
        a.OperatorName == b.OperatorName && a.Index == b.Index && a.Release % 2 == b.Release % 2;

    internal static string Truncate(string text) =>
        text.Length <= SchedulerLimits.LastErrorCharsMax ? text : text[..SchedulerLimits.LastErrorCharsMax] + "…";

    /// <summary>starting → running with the addresses the executor registered.</summary>
    private void MarkRunning(InstanceSlot slot, RegisterExecutorRequest request)
    {
        CancelTimerOf(slot);
        EndAdoption(slot);
        slot.MoveTo(InstanceState.Running, _time.GetUtcNow());
        slot.DataAddress = request.DataAddress;
        slot.MetricsAddress = request.MetricsAddress;
        slot.OperatorPid = request.OperatorPid;
        slot.RestoredCheckpointId = request.RestoredCheckpointId;
    }

    /// <summary>Whether a launch may still be carried out (the slot has not moved on since it was decided).</summary>
    public static bool IsCurrent(LaunchInstance launch) =>
        launch.Slot.Generation == launch.Generation && launch.Slot.State == InstanceState.Starting && launch.Slot.Handle is null;

    private static string Describe(InstanceState state) => InstanceLifecycle.Describe(state);
}
