namespace Concord.ZooKeeper.Internal;

/// <summary>
/// The calls that start an operation: pin the caller's UTF-8 path and data for the duration
/// of the call (the library serializes them into its request before it returns) and pass the
/// callbacks. A watch id of 0 means no watch.
/// </summary>
internal static unsafe class NativeCalls
{
    public static nint Init(byte[] host, int sessionTimeoutMs, nint context)
    {
        fixed (byte* h = host)
        {
            return Native.zookeeper_init(h, &Callbacks.SessionWatcher, sessionTimeoutMs, 0, context, 0);
        }
    }

    public static int Create(nint zh, byte[] path, byte[] data, nint acl, int mode, nint id)
    {
        fixed (byte* p = path)
        fixed (byte* d = data)
        {
            return Native.zoo_acreate2(zh, p, d, data.Length, acl, mode, &Callbacks.StringStatCompletion, id);
        }
    }

    public static int Set(nint zh, byte[] path, byte[] data, int version, nint id)
    {
        fixed (byte* p = path)
        fixed (byte* d = data)
        {
            return Native.zoo_aset(zh, p, d, data.Length, version, &Callbacks.StatCompletion, id);
        }
    }

    public static int Delete(nint zh, byte[] path, int version, nint id)
    {
        fixed (byte* p = path)
        {
            return Native.zoo_adelete(zh, p, version, &Callbacks.VoidCompletion, id);
        }
    }

    public static int Get(nint zh, byte[] path, nint watchId, nint id)
    {
        fixed (byte* p = path)
        {
            return watchId != 0
                ? Native.zoo_awget(zh, p, &Callbacks.NodeWatcher, watchId, &Callbacks.DataCompletion, id)
                : Native.zoo_awget(zh, p, null, 0, &Callbacks.DataCompletion, id);
        }
    }

    public static int Exists(nint zh, byte[] path, nint watchId, nint id)
    {
        fixed (byte* p = path)
        {
            return watchId != 0
                ? Native.zoo_awexists(zh, p, &Callbacks.NodeWatcher, watchId, &Callbacks.StatCompletion, id)
                : Native.zoo_awexists(zh, p, null, 0, &Callbacks.StatCompletion, id);
        }
    }

    public static int Children(nint zh, byte[] path, nint watchId, nint id)
    {
        fixed (byte* p = path)
        {
            return watchId != 0
                ? Native.zoo_awget_children2(zh, p, &Callbacks.NodeWatcher, watchId, &Callbacks.StringsStatCompletion, id)
                : Native.zoo_awget_children2(zh, p, null, 0, &Callbacks.StringsStatCompletion, id);
        }
    }

    public static int Multi(nint zh, int count, NativeOp* ops, NativeOpResult* results, nint id) =>
        Native.zoo_amulti(zh, count, ops, results, &Callbacks.VoidCompletion, id);

    public static string ErrorText(int rc) => Callbacks.Utf8(Native.zerror(rc)) ?? $"error {rc}";
}
