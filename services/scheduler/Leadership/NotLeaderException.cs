namespace Concord.Scheduler.Leadership;

/// <summary>
/// A write was fenced off: another scheduler took office (bumped the epoch) since this one did,
/// so this one is no longer the leader and changed nothing.
/// </summary>
public sealed class NotLeaderException(long epoch, long currentEpoch)
    : Exception($"this scheduler is no longer the leader (epoch {epoch}, current {currentEpoch}); writes go to the leader")
{
    /// <summary>The epoch this scheduler took office with.</summary>
    public long Epoch { get; } = epoch;

    /// <summary>The epoch in ZooKeeper, or the term on the Kubernetes store, now (-1 when it could not be read).</summary>
    public long CurrentEpoch { get; } = currentEpoch;
}
