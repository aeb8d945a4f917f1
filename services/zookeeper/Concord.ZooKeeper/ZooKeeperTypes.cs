namespace Concord.ZooKeeper;

/// <summary>Where a client's session stands, as the library reports it.</summary>
public enum ZooKeeperConnectionState
{
    /// <summary>Not connected to any server: connecting first, or reconnecting after a lost connection (the session may still live).</summary>
    Connecting,

    /// <summary>Connected with a live session.</summary>
    Connected,

    /// <summary>
    /// The session is over (the server expired it, or refused its credentials): its ephemeral
    /// nodes are gone and this client can do nothing more; open a new one.
    /// </summary>
    Expired,

    /// <summary>The client was disposed.</summary>
    Closed,
}

/// <summary>How a znode is created.</summary>
public enum CreateMode
{
    Persistent,
    Ephemeral,

    /// <summary>Persistent, with a 10-digit increasing suffix appended to the name by the server.</summary>
    PersistentSequential,

    /// <summary>Ephemeral (gone with the session that made it), with a 10-digit increasing suffix.</summary>
    EphemeralSequential,
}

/// <summary>A znode's <c>struct Stat</c>: zxids of its creation and last change, and its versions.</summary>
/// <param name="Version">Data version: +1 on every setData; what set, delete and check compare.</param>
/// <param name="EphemeralOwner">Session id of the owner of an ephemeral node; 0 for a persistent one.</param>
public sealed record ZNodeStat(
    long Czxid, long Mzxid, long Ctime, long Mtime, int Version, int Cversion, int Aversion,
    long EphemeralOwner, int DataLength, int NumChildren, long Pzxid);

/// <summary>A znode's data and stat, read together.</summary>
public sealed record ZNodeData(byte[] Data, ZNodeStat Stat);

/// <summary>A created znode: its path (with the suffix for a sequential one) and its stat.</summary>
public sealed record CreatedNode(string Path, ZNodeStat Stat);

/// <summary>What ended a one-shot watch.</summary>
public enum WatchEventType
{
    NodeCreated,
    NodeDeleted,
    NodeDataChanged,
    NodeChildrenChanged,

    /// <summary>The session expired: the watch will never fire; the client is unusable.</summary>
    SessionExpired,

    /// <summary>The client was disposed before the watch fired.</summary>
    Closed,
}

/// <summary>The one notification of a watch.</summary>
public sealed record WatchEvent(WatchEventType Type, string Path);

/// <summary>A value read with a watch set on it: <see cref="Changed"/> completes once, on the next change.</summary>
public sealed record Watched<T>(T Value, Task<WatchEvent> Changed);

/// <summary>One operation of <see cref="ZooKeeperClient.MultiAsync"/>: all of a multi apply, or none.</summary>
public abstract record ZooKeeperOp(string Path)
{
    /// <summary>Fails the multi unless the node's data version is <paramref name="Version"/>: the fencing primitive.</summary>
    public sealed record Check(string Path, int Version) : ZooKeeperOp(Path);

    public sealed record Create(string Path, byte[] Data, CreateMode Mode = CreateMode.Persistent) : ZooKeeperOp(Path);

    /// <summary>Sets data if the node's version is <paramref name="Version"/> (<see cref="ZooKeeperClient.AnyVersion"/>: whatever it is).</summary>
    public sealed record SetData(string Path, byte[] Data, int Version) : ZooKeeperOp(Path);

    public sealed record Delete(string Path, int Version) : ZooKeeperOp(Path);
}

/// <summary>The outcome of one operation of a multi.</summary>
/// <param name="CreatedPath">For a create: the path made (with its sequence suffix).</param>
/// <param name="Stat">For a setData: the node's stat after it.</param>
public sealed record ZooKeeperOpResult(ZooKeeperError Error, string? CreatedPath, ZNodeStat? Stat);

/// <summary>Options of <see cref="ZooKeeperClient.ConnectAsync"/>.</summary>
public sealed record ZooKeeperClientOptions
{
    /// <summary>The servers, <c>HOST:PORT[,HOST:PORT...]</c>, optionally followed by a chroot path.</summary>
    public required string ConnectString { get; init; }

    /// <summary>Session timeout asked of the server, in ms; the server may clamp it (see <see cref="ZooKeeperClient.SessionTimeoutMs"/>).</summary>
    public int SessionTimeoutMs { get; init; } = ZooKeeperLimits.SessionTimeoutMsDefault;

    /// <summary>How long <see cref="ZooKeeperClient.ConnectAsync"/> waits for the first session, in ms.</summary>
    public int ConnectTimeoutMs { get; init; } = ZooKeeperLimits.ConnectTimeoutMsDefault;
}
