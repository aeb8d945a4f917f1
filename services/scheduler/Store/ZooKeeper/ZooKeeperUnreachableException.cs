namespace Concord.Scheduler.Store.ZooKeeper;

/// <summary>
/// A store write was not sent because the session is not connected to any server (servers
/// down, no quorum, this host cut off): unlike a lost answer, this one is certain to have
/// changed nothing.
/// </summary>
public sealed class ZooKeeperUnreachableException(string connectString)
    : Exception($"ZooKeeper at {connectString} cannot be reached (servers down, or no quorum); the write was not sent")
{
    public string ConnectString { get; } = connectString;
}
