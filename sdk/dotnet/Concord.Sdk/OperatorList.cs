using System.Collections;
using Concord.Contracts.Scheduler.V1;

namespace Concord.Sdk;

/// <summary>
/// What <see cref="SchedulerClient.ListAsync"/> returns: every deployed operator, ordered by
/// name, and what the answering scheduler knows of the election (docs/cluster.md).
/// </summary>
public sealed class OperatorList(IEnumerable<OperatorStatus> operators, string leader, bool fromStandby) : IReadOnlyList<OperatorStatus>
{
    private readonly List<OperatorStatus> _operators = operators.ToList();

    /// <summary>The leading scheduler's address as the answering one knows it; empty for a scheduler that always leads, or during an election.</summary>
    public string Leader { get; } = leader;

    /// <summary>True when a standby answered: the specs are the stored ones and every instance shows as not running.</summary>
    public bool FromStandby { get; } = fromStandby;

    public OperatorStatus this[int index] => _operators[index];

    public int Count => _operators.Count;

    public IEnumerator<OperatorStatus> GetEnumerator() => _operators.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
