using Concord.Contracts.Scheduler.V1;
using static Concord.Scheduler.Reconcile.ReconcileLog;

namespace Concord.Scheduler.Reconcile.Core;

/// <summary>Routing: the table the instances' states call for, and the stops that wait for it.</summary>
internal sealed partial class ReconcileCore
{
    private long _routingVersion;

    /// <summary>
    /// The table to publish (null when <paramref name="current"/> already routes the same, or
    /// adopted instances are still to register again), and the instances to stop once the
    /// then-current table is delivered. Answers a <see cref="PublishRouting"/> action.
    /// </summary>
    public RoutingPlan PlanRouting(RoutingTable current)
    {
        var table = NextTable(current);
        var stops = _stopsAfterRouting.ToList();
        _stopsAfterRouting.Clear();
        return new RoutingPlan(table, stops);
    }

    private RoutingTable? NextTable(RoutingTable current)
    {
        if (_adoptionsPending > 0)
        {
            // Adopted executors still route by the table of the previous run; a table now would
            // tell them their adopted peers have no address. Publish once they are all back.
            return null;
        }
        foreach (var op in _operators.Values)
        {
            if (op.AdvanceRouting())
            {
                LogScaleRouted(_logger, op.Name, op.Instances.Count);
            }
        }
        var table = RoutingTableBuilder.Build(_operators.Values.Select(o => o.ToRouting()), 0);
        if (_routingVersion > 0 && RoutingTableBuilder.SameRoutes(table, current))
        {
            return null;
        }
        // Versions start at the wall clock in ms so they keep increasing across scheduler
        // restarts: an executor that outlives a scheduler never sees a table "go back".
        _routingVersion = Math.Max(_routingVersion + 1, _time.GetUtcNow().ToUnixTimeMilliseconds());
        table.Version = _routingVersion;
        return table;
    }
}
