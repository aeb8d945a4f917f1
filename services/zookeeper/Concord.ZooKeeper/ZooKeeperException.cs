namespace Concord.ZooKeeper;

/// <summary>The C client's result codes (<c>enum ZOO_ERRORS</c> in zookeeper.h: a C enum, so fixed at compile time).</summary>
public enum ZooKeeperError
{
    Ok = 0,
    SystemError = -1,
    RuntimeInconsistency = -2,
    DataInconsistency = -3,
    ConnectionLoss = -4,
    MarshallingError = -5,
    Unimplemented = -6,
    OperationTimeout = -7,
    BadArguments = -8,
    InvalidState = -9,
    ApiError = -100,
    NoNode = -101,
    NoAuth = -102,
    BadVersion = -103,
    NoChildrenForEphemerals = -108,
    NodeExists = -110,
    NotEmpty = -111,
    SessionExpired = -112,
    InvalidCallback = -113,
    InvalidAcl = -114,
    AuthFailed = -115,
    Closing = -116,
    Nothing = -117,
    SessionMoved = -118,
    NotReadOnly = -119,
    NoWatcher = -121,
    Throttled = -127,
}

/// <summary>A ZooKeeper operation failed; <see cref="Code"/> says how.</summary>
public class ZooKeeperException(ZooKeeperError code, string message, Exception? inner = null) : Exception(message, inner)
{
    public ZooKeeperError Code { get; } = code;

    /// <summary>The message for <paramref name="code"/> of <paramref name="operation"/>: the problem, then what to do.</summary>
    internal static string Describe(ZooKeeperError code, string operation, string path, string servers, string library) =>
        $"ZooKeeper {operation} {path} at {servers} failed: {library} ({code}); " + code switch
        {
            ZooKeeperError.ConnectionLoss or ZooKeeperError.OperationTimeout =>
                "the connection was lost before the answer came (the change may or may not have happened): re-read and retry; the client reconnects by itself",
            ZooKeeperError.SessionExpired or ZooKeeperError.InvalidState or ZooKeeperError.AuthFailed =>
                "the session is over (its ephemeral nodes are gone): open a new client",
            ZooKeeperError.Closing => "the client was disposed",
            ZooKeeperError.NoNode => "the node (or for a create, its parent) does not exist: create it first",
            ZooKeeperError.NodeExists => "the node exists already: read it, or delete it first",
            ZooKeeperError.BadVersion => "the node changed since it was read: re-read and retry",
            ZooKeeperError.NotEmpty => "the node has children: delete them first",
            ZooKeeperError.NoChildrenForEphemerals => "ephemeral nodes cannot have children: make the parent persistent",
            ZooKeeperError.BadArguments => "the path or data is malformed: paths are absolute, without a trailing slash",
            ZooKeeperError.NoAuth => "the node's ACL refuses this client",
            _ => "see the ZooKeeper server's log",
        };
}

/// <summary>A multi failed: nothing of it was applied. <see cref="FailedIndex"/> is the operation that failed.</summary>
public sealed class ZooKeeperMultiException(ZooKeeperError code, int failedIndex, IReadOnlyList<ZooKeeperOpResult> results, string message)
    : ZooKeeperException(code, message)
{
    /// <summary>Index of the first operation that failed; -1 when the multi failed as a whole (a lost connection).</summary>
    public int FailedIndex { get; } = failedIndex;

    public IReadOnlyList<ZooKeeperOpResult> Results { get; } = results;
}
