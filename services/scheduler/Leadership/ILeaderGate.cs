namespace Concord.Scheduler.Leadership;

/// <summary>
/// Whether this scheduler may act on the cluster (launch, stop, write the store), and what to
/// tell a client when it may not. One scheduler always leads (<see cref="AlwaysLeader"/>);
/// with <c>--store zookeeper</c> several stand for election (<see cref="ZooKeeperLeaderGate"/>)
/// and all but one are standbys that serve reads and refuse writes naming the leader.
/// </summary>
public interface ILeaderGate
{
    /// <summary>False when this scheduler always leads: it starts acting at once, as it always did.</summary>
    bool Elects { get; }

    /// <summary>True while in office.</summary>
    bool IsLeader { get; }

    /// <summary>Cancelled when this scheduler's term ends (never for <see cref="AlwaysLeader"/>).</summary>
    CancellationToken TermLost { get; }

    /// <summary>
    /// Why a write was refused, naming the leader's address (after <see cref="LeaderMarker"/>) so
    /// clients can send it there: "this scheduler is a standby; the leader is https://10.203.1.2:7400".
    /// </summary>
    string StandbyMessage { get; }

    /// <summary>The leader's address as last seen (this scheduler's own while it leads); null when it always leads or none is known.</summary>
    string? LeaderAddress { get; }

    /// <summary>
    /// Stands for election with <paramref name="address"/> (what executors, agents and clients
    /// dial) and completes once this scheduler takes office.
    /// </summary>
    Task<LeaderTerm> LeadAsync(string address, CancellationToken cancellationToken);

    /// <summary>What precedes the leader's address in <see cref="StandbyMessage"/>; clients look for it to redirect.</summary>
    public const string LeaderMarker = Hosting.LeaderRedirect.Marker;
}

/// <summary>The gate of a scheduler that is the only one: always open.</summary>
public sealed class AlwaysLeader : ILeaderGate
{
    public static AlwaysLeader Instance { get; } = new();

    public bool Elects => false;

    public bool IsLeader => true;

    public CancellationToken TermLost => CancellationToken.None;

    public string StandbyMessage => "this scheduler always leads";

    public string? LeaderAddress => null;

    public Task<LeaderTerm> LeadAsync(string address, CancellationToken cancellationToken) =>
        Task.FromResult(new LeaderTerm(0, CancellationToken.None));
}
