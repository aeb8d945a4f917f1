using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Lifecycle;
using Concord.Scheduler.Reconcile.Core;
using Concord.Scheduler.Runtime;
using Concord.Scheduler.Store;

namespace Concord.Scheduler.Reconcile.Internal;

/// <summary>
/// What the reconcile core knows about one instance. Touched only by the loop's task, so it
/// needs no locking.
/// </summary>
internal sealed class InstanceSlot(string operatorName, int index, DateTimeOffset now, IRestartBackoff backoff)
{
    public string OperatorName { get; } = operatorName;

    public int Index { get; } = index;

    public InstanceState State { get; private set; } = InstanceState.Pending;

    public DateTimeOffset StateSince { get; private set; } = now;

    /// <summary>Incarnation of the current (or last) launch; empty before the first.</summary>
    public string Incarnation { get; set; } = "";

    /// <summary>Bumped on every launch and stop so that timers of an older launch do nothing.</summary>
    public long Generation { get; set; }

    /// <summary>
    /// Version of the operator this instance runs: 0 at deploy, +1 per rolling replace. The
    /// runtime keeps two releases of one index apart (working directory).
    /// </summary>
    public int Release { get; set; }

    /// <summary>
    /// Starting because it was adopted from a previous scheduler run (its process runs; it has
    /// to register again), not because it was launched. Routing waits for adopted instances.
    /// </summary>
    public bool Adopted { get; set; }

    public IInstanceHandle? Handle { get; set; }

    public string DataAddress { get; set; } = "";

    public string MetricsAddress { get; set; } = "";

    public int OperatorPid { get; set; }

    /// <summary>The checkpoint the running incarnation restored from, as it registered; 0 when it started empty.</summary>
    public ulong RestoredCheckpointId { get; set; }

    public int Restarts { get; set; }

    public string LastError { get; set; } = "";

    /// <summary>Error the executor reported (or a timeout set) for the current launch, used when it exits.</summary>
    public string? PendingError
    {
        get;
        set
        {
            field = value;
            PendingErrorFromOutside = false;
        }
    }

    /// <summary>
    /// The executor reported that its operator was killed from outside (<see cref="PendingError"/>
    /// says how): the exit that follows is not the operator's failure. Reset with every new
    /// <see cref="PendingError"/>.
    /// </summary>
    public bool PendingErrorFromOutside { get; set; }

    /// <summary>
    /// The topology no longer wants this instance (killed, scaled away, replaced): once it has
    /// stopped, its working state is removed (<see cref="Core.ForgetInstance"/>).
    /// </summary>
    /// <summary>
    /// Its restart back-off ended while processes of the previous run of the checkpoint
    /// participants were still draining: it launches when the last of them has exited.
    /// </summary>
    public bool LaunchAfterOldParticipants { get; set; }

    public bool ForgetWhenStopped { get; set; }

    /// <summary>It was failing when it was let go: its log is kept as the operator's last failed one.</summary>
    public bool KeepLogWhenForgotten { get; set; }

    /// <summary>This instance's failure history (see <see cref="IRestartBackoff"/>).</summary>
    public IRestartBackoff Backoff { get; } = backoff;

    public void MoveTo(InstanceState to, DateTimeOffset now)
    {
        State = InstanceLifecycle.Transition(State, to);
        StateSince = now;
        if (to != InstanceState.Running)
        {
            DataAddress = "";
            MetricsAddress = "";
        }
    }

    public RoutingInstance ToRouting() =>
        new(Index, State == InstanceState.Running ? DataAddress : "", Incarnation);

    public InstanceStatus ToStatus() => new()
    {
        Index = Index,
        State = State,
        ExecutorPid = InstanceLifecycle.HasProcess(State) ? Handle?.Pid ?? 0 : 0,
        OperatorPid = State == InstanceState.Running ? OperatorPid : 0,
        Incarnation = Incarnation,
        DataAddress = State == InstanceState.Running ? DataAddress : "",
        MetricsAddress = State == InstanceState.Running ? MetricsAddress : "",
        Restarts = Restarts,
        LastError = LastError,
        StateSinceUnixMs = StateSince.ToUnixTimeMilliseconds(),
        RestoredCheckpointId = State == InstanceState.Running ? RestoredCheckpointId : 0,
        Host = InstanceLifecycle.HasProcess(State) ? Handle?.Host ?? "" : "",
    };
}

/// <summary>One deployed operator in the reconcile loop: the stored entry and its instances.</summary>
internal sealed class OperatorSlot(OperatorEntry entry)
{
    public OperatorEntry Entry { get; set; } = entry;

    public string Name => Entry.Name;

    /// <summary>One per desired instance, ordered by index.</summary>
    public List<InstanceSlot> Instances { get; } = [];

    public string LastError { get; set; } = "";

    /// <summary>
    /// Oldest checkpoint id its instances may restore from: 0 for operators loaded at start,
    /// the next id for one deployed since (an operator of the same name in an older checkpoint
    /// was killed: the new one starts empty).
    /// </summary>
    public ulong CheckpointFloor { get; set; }

    /// <summary>The replace that keeps state in progress, if any (<see cref="ReplaceRestart"/>).</summary>
    public ReplaceRestart? Restarting { get; set; }

    /// <summary>Highest release of its instances (see <see cref="InstanceSlot.Release"/>).</summary>
    public int Release { get; set; }

    /// <summary>The rolling replace in progress, if any (one at a time).</summary>
    public ReplaceSlot? Replace { get; set; }

    /// <summary>
    /// How many instances routing spreads the key groups over (null: all of them, as at
    /// deploy). A scale-up keeps the old count until every added instance runs, so records
    /// never wait for an instance that is still starting: make before break.
    /// </summary>
    public int? RoutedCount { get; set; }

    /// <summary>Instances routing covers now.</summary>
    public int Routed => Math.Min(RoutedCount ?? Instances.Count, Instances.Count);

    /// <summary>
    /// Moves routing to every instance once the ones a scale-up added all run; a scale-down
    /// (fewer instances than routed) takes effect at once. Returns whether the count changed.
    /// </summary>
    public bool AdvanceRouting()
    {
        if (RoutedCount is not { } routed)
        {
            return false;
        }
        if (routed >= Instances.Count || Instances.Skip(routed).All(i => i.State == Contracts.Scheduler.V1.InstanceState.Running))
        {
            RoutedCount = null;
            return routed != Instances.Count;
        }
        return false;
    }

    public RoutingOperator ToRouting()
    {
        var (inputs, outputs) = RoutingOperator.StreamsOf(Entry.Spec, Entry.Metadata);
        return new RoutingOperator(Name, inputs, outputs, Instances.Take(Routed).Select(i => i.ToRouting()).ToList());
    }

    public OperatorStatus ToStatus()
    {
        var status = new OperatorStatus
        {
            Spec = Entry.Spec.Clone(),
            Metadata = Entry.Metadata?.Clone(),
            LastError = LastError,
            Version = Entry.Version,
        };
        status.Instances.AddRange(Instances.Select(i => i.ToStatus()));
        return status;
    }

    /// <summary>Metadata with inputs and outputs in a canonical order, for comparing two reports.</summary>
    public static OperatorMetadata Canonical(OperatorMetadata metadata)
    {
        var canonical = new OperatorMetadata { Name = metadata.Name };
        canonical.Inputs.AddRange(metadata.Inputs
            .Select(i => new InputStream { Name = i.Name, Grouping = i.Grouping == Grouping.Unspecified ? Grouping.Shuffle : i.Grouping })
            .OrderBy(i => i.Name, StringComparer.Ordinal));
        canonical.Outputs.AddRange(metadata.Outputs.Order(StringComparer.Ordinal));
        return canonical;
    }
}

/// <summary>
/// A rolling replace in progress: the new version's instances, launched beside the current
/// ones and not routed to until all of them run.
/// </summary>
internal sealed class ReplaceSlot(OperatorSpec spec, int release, long startedTimestamp)
{
    /// <summary>The new spec, with the operator's current number of instances.</summary>
    public OperatorSpec Spec { get; } = spec;

    public int Release { get; } = release;

    /// <summary>TimeProvider timestamp of the Replace call, for the switch and total times.</summary>
    public long StartedTimestamp { get; } = startedTimestamp;

    /// <summary>One per index, ordered by index.</summary>
    public List<InstanceSlot> Instances { get; } = [];

    /// <summary>Streams the first new instance reported, when the operator has none recorded yet.</summary>
    public OperatorMetadata? Metadata { get; set; }

    public TaskCompletionSource<ReplaceSwitched> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>Routing has moved to the new instances; <paramref name="OldStopped"/> completes when the old ones have exited.</summary>
internal sealed record ReplaceSwitched(OperatorStatus Status, long SwitchMs, Task OldStopped);
