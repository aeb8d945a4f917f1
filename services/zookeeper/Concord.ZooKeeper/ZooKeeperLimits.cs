namespace Concord.ZooKeeper;

/// <summary>Bounds of the ZooKeeper wrapper, each with its unit last.</summary>
public static class ZooKeeperLimits
{
    /// <summary>
    /// Data of one znode, in bytes: the server refuses a request larger than jute.maxbuffer
    /// (1 MiB by default), and the request also carries the path and the header, so a node's
    /// data is kept a little below it.
    /// </summary>
    public const int NodeDataBytesMax = 1024 * 1024 - 16 * 1024;

    /// <summary>Length of a znode path, in bytes (UTF-8): long enough for any Concord path, short next to a request.</summary>
    public const int PathBytesMax = 1_024;

    /// <summary>
    /// Buffer for the path a create returns (sequential nodes get a 10-digit suffix), in bytes:
    /// the path limit plus the suffix and the terminating zero.
    /// </summary>
    public const int CreatedPathBytesMax = PathBytesMax + 16;

    /// <summary>
    /// Children of one znode a listing accepts: a listing is one response, which the server
    /// bounds by jute.maxbuffer too; more children than this means something writes without bound.
    /// </summary>
    public const int ChildrenMax = 50_000;

    /// <summary>Operations in one multi: a multi is one transaction and one request, meant for a few fenced writes.</summary>
    public const int MultiOpsMax = 64;

    /// <summary>Session timeout asked of the server when none is given, in ms (the server clamps it to its min/max).</summary>
    public const int SessionTimeoutMsDefault = 10_000;

    /// <summary>Smallest session timeout accepted, in ms: the server's floor is 2 ticks, and below 1 s a loaded host expires sessions by mistake.</summary>
    public const int SessionTimeoutMsMin = 1_000;

    /// <summary>Largest session timeout accepted, in ms: the server's default ceiling is 20 ticks; a minute keeps failover bounded.</summary>
    public const int SessionTimeoutMsMax = 60_000;

    /// <summary>How long a connect waits for the first session, in ms, when none is given.</summary>
    public const int ConnectTimeoutMsDefault = 5_000;

    /// <summary>
    /// Connection-state changes queued per subscriber: a subscriber that does not read loses the
    /// oldest; only the newest state matters, and a few keep the order readable.
    /// </summary>
    public const int StateQueueChangesMax = 16;

    /// <summary>Servers in one connect string: an ensemble has 3, 5 or 7; more is a mistake in --zookeeper.</summary>
    public const int ServersMax = 16;
}
