using Concord.Scheduler.Store;

namespace Concord.Scheduler.Reconcile.Internal;

/// <summary>
/// A replace that keeps state, in progress (docs/live-changes.md, "Replace of an operator with a
/// delivery guarantee"): the new version is stored and every participant restarted from
/// checkpoint <see cref="CheckpointId"/>; it ends when every instance of release
/// <see cref="Release"/> runs, or rolls back to <see cref="Previous"/>.
/// </summary>
/// <param name="previous">The entry before the replace: its spec and metadata are stored again on roll back.</param>
/// <param name="startedTimestamp"><see cref="TimeProvider"/> timestamp of the Replace call.</param>
internal sealed class ReplaceRestart(OperatorEntry previous, int release, ulong checkpointId, long startedTimestamp)
{
    public OperatorEntry Previous { get; } = previous;

    /// <summary>The new version's release: its instances are the ones that must run.</summary>
    public int Release { get; } = release;

    /// <summary>The checkpoint every participant restarts from (and restarts from again on roll back).</summary>
    public ulong CheckpointId { get; } = checkpointId;

    public long StartedTimestamp { get; } = startedTimestamp;

    /// <summary>A roll back was decided: later failures and the timeout change nothing.</summary>
    public bool RollingBack { get; set; }

    /// <summary>Completes when every new instance runs; fails (with the reason and what was done) on roll back.</summary>
    public TaskCompletionSource<ReplaceSwitched> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}
