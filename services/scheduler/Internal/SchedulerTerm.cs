namespace Concord.Scheduler.Internal;

/// <summary>
/// How one run of the scheduler's host ended. With <c>--store zookeeper</c> a run lasts at most
/// one term (or one candidacy): when it ends, the host stops without touching any instance and
/// Program starts a fresh one with a new ZooKeeper session, which stands again as a standby.
/// A term's reconcile state is thrown away whole rather than reset in place, so nothing a
/// deposed leader believed can leak into its next term.
/// </summary>
public sealed class SchedulerTerm
{
    private int _ended;

    /// <summary>True when the run stopped because its term or candidacy ended, not because it was asked to.</summary>
    public bool Ended => Volatile.Read(ref _ended) == 1;

    /// <summary>Why the term ended (for the log line of the next run).</summary>
    public string? Reason { get; private set; }

    /// <summary>Marks the run as ended by its term; true the first time only.</summary>
    public bool End(string reason)
    {
        if (Interlocked.Exchange(ref _ended, 1) == 1)
        {
            return false;
        }
        Reason = reason;
        return true;
    }
}
