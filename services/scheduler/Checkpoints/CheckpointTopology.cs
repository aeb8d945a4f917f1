using Concord.Contracts.Scheduler.V1;
using Concord.Scheduler.Store;

namespace Concord.Scheduler.Checkpoints;

/// <summary>One running instance that takes part in checkpoints, and the channels it must see each barrier on.</summary>
/// <param name="Inputs">Every (stream, "operator/index") that writes to it; empty for a source.</param>
public sealed record CheckpointParticipant(string Operator, int Index, string Incarnation, IReadOnlyList<BarrierChannel> Inputs)
{
    /// <summary>"operator/index", as executors name themselves on the data plane.</summary>
    public string Name => $"{Operator}/{Index}";
}

/// <summary>
/// What the checkpoint coordinator needs to know of the topology at one moment, taken from the
/// reconcile loop (<see cref="ICheckpointTopologySource"/>).
/// </summary>
/// <param name="CanAct">Whether this scheduler may act on the cluster (the reconcile core's leader gate).</param>
/// <param name="Participants">Every running instance of every operator with a delivery guarantee.</param>
/// <param name="NotRunning">Instances of those operators that are not running now ("operator/index is starting"); a checkpoint waits for them.</param>
/// <param name="Operators">The participating operators with their instance count and store version.</param>
public sealed record CheckpointTopology(
    bool CanAct,
    IReadOnlyList<CheckpointParticipant> Participants,
    IReadOnlyList<string> NotRunning,
    IReadOnlyList<CheckpointedOperator> Operators)
{
    /// <summary>No operator with a guarantee: nothing to checkpoint.</summary>
    public static readonly CheckpointTopology Empty = new(true, [], [], []);

    /// <summary>A checkpoint can begin: this scheduler acts, some instance takes part and every one of them runs.</summary>
    public bool Ready => CanAct && Participants.Count > 0 && NotRunning.Count == 0;
}

/// <summary>Where the coordinator reads the topology from (the reconciler; a test double in tests).</summary>
public interface ICheckpointTopologySource
{
    Task<CheckpointTopology> ReadCheckpointTopologyAsync(CancellationToken cancellationToken);
}

/// <summary>The coordinator's settings, from the scheduler's command line.</summary>
/// <param name="Root">The checkpoint root (--checkpoint-dir).</param>
/// <param name="IntervalMs">--checkpoint-interval-ms.</param>
/// <param name="Retained">--checkpoints-retained.</param>
public sealed record CheckpointSettings(string Root, int IntervalMs, int Retained);
