namespace Concord.Scheduler.Store.ZooKeeper;

/// <summary>
/// Where a Concord cluster keeps its state in ZooKeeper, under one root (<c>/concord</c> by
/// default; a test or a second cluster on the same ensemble takes another):
/// <code>
/// &lt;root&gt;/epoch                     data version = the current leader's epoch (fencing token); data = that leader
/// &lt;root&gt;/election/n-&lt;seq&gt;         ephemeral sequential, one per scheduler; data = its id and address
/// &lt;root&gt;/topology/revision         touched by every topology write: its mzxid is the store revision
/// &lt;root&gt;/topology/operators/&lt;name&gt; one operator's spec and metadata (JSON); empty data = deleted
/// &lt;root&gt;/checkpoints               completed checkpoints (JSON array)
/// </code>
/// </summary>
public sealed record ZooKeeperLayout(string Root)
{
    public const string DefaultRoot = "/concord";

    public static ZooKeeperLayout Default { get; } = new(DefaultRoot);

    public string Epoch => Root + "/epoch";

    public string Election => Root + "/election";

    public string Topology => Root + "/topology";

    public string Revision => Topology + "/revision";

    public string Operators => Topology + "/operators";

    public string Checkpoints => Root + "/checkpoints";

    public string Operator(string name) => Operators + "/" + name;
}
