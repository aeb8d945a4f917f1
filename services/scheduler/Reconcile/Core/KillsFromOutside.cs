using Concord.Contracts.Scheduler.V1;
using Concord.Scheduler.Reconcile.Internal;
using Concord.Scheduler.Runtime;

namespace Concord.Scheduler.Reconcile.Core;

/// <summary>
/// Kills from outside (docs/operations.md, "Kills from outside"): an executor or operator that
/// died of a signal the scheduler did not send is not failing on its own, so it is restarted at
/// once and does not count toward crash-looping. The operator's own failures (an exit code, a
/// reported error, the OOM killer, a timeout the scheduler stopped it for) keep the back-off.
/// </summary>
internal sealed partial class ReconcileCore
{
    /// <summary>Added to the last error of an instance killed from outside, so `list` says why it was not held back.</summary>
    internal const string KilledFromOutsideNote = " (from outside the scheduler: restarted at once, not counted toward crash-looping)";

    /// <summary>
    /// Whether the exit of a starting or running instance (one the scheduler had not asked to
    /// stop) is a kill from outside: the executor reported its operator was killed by a signal
    /// it did not send; or the executor itself died of SIGKILL or SIGTERM, or stopped cleanly
    /// (exit 0: it drains and exits 0 only on SIGTERM), without the OOM killer and without an
    /// error the scheduler set (a starting timeout stops it with SIGTERM); or its host was lost.
    /// </summary>
    private static bool KilledFromOutside(InstanceSlot slot, InstanceExit exit)
    {
        if (exit.HostLost)
        {
            // Its host (agent) was lost: nothing the operator did.
            return true;
        }
        if (slot.PendingError is not null)
        {
            return slot.PendingErrorFromOutside;
        }
        if (exit.OutOfMemory)
        {
            return false;
        }
        return exit.ExitCode == 0 || exit.Signal is InstanceExit.SigKill or InstanceExit.SigTerm;
    }
}
