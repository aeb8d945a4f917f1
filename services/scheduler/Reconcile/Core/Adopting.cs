using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Reconcile.Internal;
using Concord.Scheduler.Runtime;
using Concord.Scheduler.Store;
using static Concord.Scheduler.Reconcile.ReconcileLog;

namespace Concord.Scheduler.Reconcile.Core;

/// <summary>
/// Adopting: executors a previous scheduler run left running are taken over (pending →
/// starting with their process) when they run what the store wants, and must register again.
/// </summary>
internal sealed partial class ReconcileCore
{
    /// <summary>Executors of a previous run taken over at start, until their slot is created.</summary>
    private readonly Dictionary<(string Operator, int Index), AdoptedInstance> _adopted = [];
    /// <summary>Adopted instances that have not registered again (nor failed) yet; routing waits for them.</summary>
    private int _adoptionsPending;

    /// <summary>
    /// Whether a leftover executor may be taken over: it runs an instance the store still
    /// wants, with the same spec (instance count aside), calls back on this scheduler's
    /// address, and no other leftover has claimed that instance. With leader election the
    /// address is not compared: a new leader adopts what the previous leader launched (the
    /// executors follow the leader, docs/cluster.md "High availability").
    /// </summary>
    public bool ShouldAdopt(TopologySnapshot snapshot, LeftoverInstance leftover, HashSet<(string, int)> claimed)
    {
        var entry = snapshot.Operators.FirstOrDefault(e => e.Name == leftover.OperatorName);
        string? refusal = null;
        if (entry is null)
        {
            refusal = "its operator is no longer deployed";
        }
        else if (leftover.Index < 0 || leftover.Index >= entry.Spec.Instances)
        {
            refusal = $"the operator now has {entry.Spec.Instances} instance(s)";
        }
        else if (!Gate.Elects && leftover.SchedulerAddress != SchedulerAddress)
        {
            refusal = $"it calls back on {leftover.SchedulerAddress}, this scheduler serves {SchedulerAddress}";
        }
        else if (leftover.Spec is null || !SameSpecIgnoringInstances(leftover.Spec, entry.Spec))
        {
            refusal = "it runs another version of the spec than the stored one (a replace was cut short?)";
        }
        else if (!claimed.Add((leftover.OperatorName, leftover.Index)))
        {
            refusal = "another leftover already runs that instance";
        }
        if (refusal is not null)
        {
            LogNotAdopted(_logger, leftover.OperatorName, leftover.Index, leftover.Pid, refusal);
            return false;
        }
        return true;
    }

    /// <summary>The runtime took these over; each fills its slot when the store is applied.</summary>
    public void AddAdopted(IEnumerable<AdoptedInstance> adopted)
    {
        foreach (var instance in adopted)
        {
            _adopted[(instance.Handle.OperatorName, instance.Handle.Index)] = instance;
        }
    }

    private static bool SameSpecIgnoringInstances(OperatorSpec a, OperatorSpec b)
    {
        var x = a.Clone();
        var y = b.Clone();
        x.Instances = y.Instances = 0;
        return x.Equals(y);
    }

    /// <summary>pending → starting with the adopted process; running once it registers again.</summary>
    private void Adopt(OperatorSlot op, InstanceSlot slot, AdoptedInstance adopted)
    {
        slot.Release = adopted.Release;
        op.Release = Math.Max(op.Release, adopted.Release);
        slot.Incarnation = adopted.Handle.Incarnation;
        slot.Handle = adopted.Handle;
        slot.Adopted = true;
        slot.MoveTo(InstanceState.Starting, _time.GetUtcNow());
        _adoptionsPending++;
        var generation = ++slot.Generation;
        Emit(new ArmTimer(new StartingTimeout(slot, generation), TimeSpan.FromMilliseconds(SchedulerLimits.AdoptRegisterTimeoutMs)));
        Emit(new WatchExit(slot, adopted.Handle));
    }

    /// <summary>An adopted instance left starting (registered, failed or stopped): routing may go on once all have.</summary>
    private void EndAdoption(InstanceSlot slot)
    {
        if (slot.Adopted)
        {
            slot.Adopted = false;
            _adoptionsPending--;
        }
    }
}
