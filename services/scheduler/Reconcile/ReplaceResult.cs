using Concord.Contracts.Scheduler.V1;

namespace Concord.Scheduler.Reconcile;

/// <summary>What a rolling replace did, with its timings (docs/live-changes.md).</summary>
/// <param name="SwitchMs">From the call to routing moved to the new instances.</param>
/// <param name="TotalMs">From the call to every old instance stopped.</param>
/// <param name="Restarted">
/// Replaced by a restart with drop-state (the operator has a delivery guarantee): both times are
/// then the time to the restart being decided.
/// </param>
public sealed record ReplaceResult(OperatorStatus Status, long SwitchMs, long TotalMs, bool Restarted = false);
