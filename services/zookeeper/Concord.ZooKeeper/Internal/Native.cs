using System.Runtime.InteropServices;

namespace Concord.ZooKeeper.Internal;

/// <summary>
/// The functions of the official C client bound here, nothing more. Strings are passed as
/// zero-terminated UTF-8 the caller owns; callbacks are <c>[UnmanagedCallersOnly]</c> function
/// pointers (see <see cref="Callbacks"/>), so there is no delegate the GC could collect.
/// </summary>
internal static unsafe partial class Native
{
    /// <summary>Debian's libzookeeper-mt2 ships only the versioned name (the plain .so comes with -dev).</summary>
    public const string Library = "libzookeeper_mt.so.2";

    [LibraryImport(Library, SetLastError = true)]
    public static partial nint zookeeper_init(byte* host, delegate* unmanaged<nint, int, int, byte*, nint, void> watcher,
        int recvTimeout, nint clientId, nint context, int flags);

    [LibraryImport(Library)]
    public static partial int zookeeper_close(nint zh);

    [LibraryImport(Library)]
    public static partial int zoo_recv_timeout(nint zh);

    [LibraryImport(Library)]
    public static partial void zoo_set_debug_level(int level);

    [LibraryImport(Library)]
    public static partial byte* zerror(int rc);

    [LibraryImport(Library)]
    public static partial int zoo_acreate2(nint zh, byte* path, byte* value, int valueLength, nint acl, int mode,
        delegate* unmanaged<int, byte*, NativeStat*, nint, void> completion, nint data);

    [LibraryImport(Library)]
    public static partial int zoo_aset(nint zh, byte* path, byte* buffer, int bufferLength, int version,
        delegate* unmanaged<int, NativeStat*, nint, void> completion, nint data);

    [LibraryImport(Library)]
    public static partial int zoo_adelete(nint zh, byte* path, int version, delegate* unmanaged<int, nint, void> completion, nint data);

    [LibraryImport(Library)]
    public static partial int zoo_awget(nint zh, byte* path, delegate* unmanaged<nint, int, int, byte*, nint, void> watcher, nint watcherContext,
        delegate* unmanaged<int, byte*, int, NativeStat*, nint, void> completion, nint data);

    [LibraryImport(Library)]
    public static partial int zoo_awexists(nint zh, byte* path, delegate* unmanaged<nint, int, int, byte*, nint, void> watcher, nint watcherContext,
        delegate* unmanaged<int, NativeStat*, nint, void> completion, nint data);

    [LibraryImport(Library)]
    public static partial int zoo_awget_children2(nint zh, byte* path, delegate* unmanaged<nint, int, int, byte*, nint, void> watcher, nint watcherContext,
        delegate* unmanaged<int, NativeStringVector*, NativeStat*, nint, void> completion, nint data);

    [LibraryImport(Library)]
    public static partial int zoo_amulti(nint zh, int count, NativeOp* ops, NativeOpResult* results,
        delegate* unmanaged<int, nint, void> completion, nint data);

    [LibraryImport(Library)]
    public static partial void zoo_create_op_init(NativeOp* op, byte* path, byte* value, int valueLength, nint acl, int mode,
        byte* pathBuffer, int pathBufferLength);

    [LibraryImport(Library)]
    public static partial void zoo_delete_op_init(NativeOp* op, byte* path, int version);

    [LibraryImport(Library)]
    public static partial void zoo_set_op_init(NativeOp* op, byte* path, byte* buffer, int bufferLength, int version, NativeStat* stat);

    [LibraryImport(Library)]
    public static partial void zoo_check_op_init(NativeOp* op, byte* path, int version);
}

/// <summary><c>struct Stat</c>: 72 bytes, and C's natural alignment is what sequential layout gives.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NativeStat
{
    public long Czxid;
    public long Mzxid;
    public long Ctime;
    public long Mtime;
    public int Version;
    public int Cversion;
    public int Aversion;
    public long EphemeralOwner;
    public int DataLength;
    public int NumChildren;
    public long Pzxid;

    public readonly ZNodeStat ToStat() =>
        new(Czxid, Mzxid, Ctime, Mtime, Version, Cversion, Aversion, EphemeralOwner, DataLength, NumChildren, Pzxid);
}

/// <summary><c>struct String_vector { int32_t count; char **data; }</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NativeStringVector
{
    public int Count;
    public byte** Data;
}

/// <summary>
/// <c>zoo_op_t</c>: an int type, then a union whose largest member (create_op: three pointers,
/// three ints and an int64 ttl) is 64 bytes at offset 8. Opaque here: filled by the
/// <c>zoo_*_op_init</c> functions only.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 72)]
internal struct NativeOp
{
    [FieldOffset(0)]
    public int Type;
}

/// <summary><c>zoo_op_result_t { int err; char *value; int valuelen; struct Stat *stat; }</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NativeOpResult
{
    public int Err;
    public byte* Value;
    public int ValueLength;
    public NativeStat* Stat;
}

/// <summary>
/// The library's constants: exported data, not macros, so they are read from the library
/// once instead of copied (<c>ZOO_EPHEMERAL</c> is an <c>extern const int</c>).
/// </summary>
internal static unsafe class NativeConstants
{
    private static readonly Lazy<Values> Loaded = new(Load);

    public static Values Get => Loaded.Value;

    internal sealed record Values(
        int Ephemeral, int Sequence, int ConnectingState, int AssociatingState, int ConnectedState, int ExpiredSessionState, int AuthFailedState,
        int CreatedEvent, int DeletedEvent, int ChangedEvent, int ChildEvent, int SessionEvent, int NotWatchingEvent, nint OpenAclUnsafe);

    private static Values Load()
    {
        var library = NativeLibrary.Load(Native.Library, typeof(Native).Assembly, null);
        int Int(string name) => *(int*)NativeLibrary.GetExport(library, name);
        var values = new Values(
            Int("ZOO_EPHEMERAL"), Int("ZOO_SEQUENCE"), Int("ZOO_CONNECTING_STATE"), Int("ZOO_ASSOCIATING_STATE"), Int("ZOO_CONNECTED_STATE"),
            Int("ZOO_EXPIRED_SESSION_STATE"), Int("ZOO_AUTH_FAILED_STATE"),
            Int("ZOO_CREATED_EVENT"), Int("ZOO_DELETED_EVENT"), Int("ZOO_CHANGED_EVENT"), Int("ZOO_CHILD_EVENT"), Int("ZOO_SESSION_EVENT"),
            Int("ZOO_NOTWATCHING_EVENT"),
            // A struct ACL_vector in the library's data: its address is the argument.
            NativeLibrary.GetExport(library, "ZOO_OPEN_ACL_UNSAFE"));
        // The client logs to stderr at INFO by default, several lines per (re)connect.
        Native.zoo_set_debug_level(0);
        return values;
    }
}
