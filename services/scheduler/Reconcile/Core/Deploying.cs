using Concord.Contracts.Types.V1;
using Concord.Scheduler.Store;
using static Concord.Scheduler.Reconcile.ReconcileLog;

namespace Concord.Scheduler.Reconcile.Core;

/// <summary>Deploying and killing: the store writes they need (the instances follow in <see cref="Apply"/>).</summary>
internal sealed partial class ReconcileCore
{
    /// <summary>The create of a new operator's entry. Spec already validated.</summary>
    public StoreWrite PlanDeploy(OperatorSpec spec)
    {
        RequireActive();
        if (_operators.ContainsKey(spec.Name))
        {
            throw AlreadyDeployed(spec.Name);
        }
        RefuseCycle(spec, null, "operator");
        RefuseWeakerUpstream(spec, null, "operator");
        return new StoreWrite(spec.Name, TopologyStoreVersions.Absent, spec, null);
    }

    /// <summary>The create of <paramref name="write"/> succeeded.</summary>
    public void Deployed(StoreWrite write) => LogDeployed(_logger, write.Name, write.Spec!.Instances);

    /// <summary>The delete of an operator's entry.</summary>
    public StoreWrite PlanKill(string name)
    {
        RequireActive();
        var op = Find(name);
        return new StoreWrite(name, op.Entry.Version, null, null);
    }

    /// <summary>The delete of <paramref name="name"/> succeeded.</summary>
    public void Killed(string name) => LogKilled(_logger, name);

    public static ReconcileException AlreadyDeployed(string name) =>
        new(ReconcileErrorKind.AlreadyExists, $"operator '{name}' is already deployed; kill it first or use scale");
}
