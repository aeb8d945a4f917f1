using System.Runtime.InteropServices;
using System.Text;
using Confluent.Kafka;

namespace Concord.KafkaDev.Internal;

/// <summary>
/// The rd_kafka_mock_* entry points of the librdkafka that Confluent.Kafka loaded. Confluent.Kafka
/// does not expose them, and on Debian it loads its bundled centos8 build (the default one needs
/// libsasl2.so.3), so the path is taken from /proc/self/maps after forcing the load; calling
/// Library.Load(path) instead would P/Invoke "libdl" and throw.
/// </summary>
internal static unsafe class RdKafkaMockNative
{
    private const int ErrorBytes = 512;
    private const int ProducerType = 0;
    private const int ConfOk = 0;

    private static readonly Lazy<Exports> Functions = new(Load);

    internal sealed class Exports
    {
        public delegate* unmanaged<nint> ConfNew;
        public delegate* unmanaged<nint, byte*, byte*, byte*, nuint, int> ConfSet;
        public delegate* unmanaged<int, nint, byte*, nuint, nint> New;
        public delegate* unmanaged<nint, void> Destroy;
        public delegate* unmanaged<nint, int, nint> ClusterNew;
        public delegate* unmanaged<nint, void> ClusterDestroy;
        public delegate* unmanaged<nint, byte*> ClusterBootstraps;
        public delegate* unmanaged<nint, byte*, int, int, int> TopicCreate;
        public delegate* unmanaged<nint, int, void> GroupInitialRebalanceDelayMs;
        public delegate* unmanaged<int, byte*> ErrorToString;
    }

    public static Exports Get() => Functions.Value;

    /// <summary>A producer handle to host the mock cluster; it needs no brokers of its own.</summary>
    public static nint NewHostHandle()
    {
        var f = Get();
        var conf = f.ConfNew();
        // Quiet: the host handle never connects anywhere, so it has nothing useful to log.
        SetConf(f, conf, "log_level", "3");
        var error = stackalloc byte[ErrorBytes];
        var rk = f.New(ProducerType, conf, error, ErrorBytes);
        if (rk == 0)
        {
            throw new InvalidOperationException("rd_kafka_new failed: " + Marshal.PtrToStringUTF8((nint)error));
        }
        return rk;
    }

    public static string ErrorName(int code) => Marshal.PtrToStringUTF8((nint)Get().ErrorToString(code)) ?? code.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public static byte[] Utf8(string text)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(text) + 1];
        Encoding.UTF8.GetBytes(text, bytes);
        return bytes;
    }

    private static void SetConf(Exports f, nint conf, string name, string value)
    {
        var error = stackalloc byte[ErrorBytes];
        fixed (byte* n = Utf8(name))
        fixed (byte* v = Utf8(value))
        {
            if (f.ConfSet(conf, n, v, error, ErrorBytes) != ConfOk)
            {
                throw new InvalidOperationException($"rd_kafka_conf_set({name}) failed: {Marshal.PtrToStringUTF8((nint)error)}");
            }
        }
    }

    private static Exports Load()
    {
        // Makes Confluent.Kafka load its librdkafka into this process.
        _ = Library.Version;
        var path = File.ReadLines("/proc/self/maps")
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(fields => fields.Length >= 6 && fields[5].Contains("librdkafka", StringComparison.Ordinal))
            .Select(fields => fields[5])
            .FirstOrDefault()
            ?? throw new InvalidOperationException("librdkafka is not mapped into this process after Confluent.Kafka loaded it; the mock cluster needs the librdkafka.redist native library");
        var handle = NativeLibrary.Load(path);
        nint Export(string name) => NativeLibrary.TryGetExport(handle, name, out var address)
            ? address
            : throw new InvalidOperationException($"{path} has no export {name}; the mock cluster needs librdkafka ≥ 2.x built with the mock API");
        return new Exports
        {
            ConfNew = (delegate* unmanaged<nint>)Export("rd_kafka_conf_new"),
            ConfSet = (delegate* unmanaged<nint, byte*, byte*, byte*, nuint, int>)Export("rd_kafka_conf_set"),
            New = (delegate* unmanaged<int, nint, byte*, nuint, nint>)Export("rd_kafka_new"),
            Destroy = (delegate* unmanaged<nint, void>)Export("rd_kafka_destroy"),
            ClusterNew = (delegate* unmanaged<nint, int, nint>)Export("rd_kafka_mock_cluster_new"),
            ClusterDestroy = (delegate* unmanaged<nint, void>)Export("rd_kafka_mock_cluster_destroy"),
            ClusterBootstraps = (delegate* unmanaged<nint, byte*>)Export("rd_kafka_mock_cluster_bootstraps"),
            TopicCreate = (delegate* unmanaged<nint, byte*, int, int, int>)Export("rd_kafka_mock_topic_create"),
            GroupInitialRebalanceDelayMs = (delegate* unmanaged<nint, int, void>)Export("rd_kafka_mock_group_initial_rebalance_delay_ms"),
            ErrorToString = (delegate* unmanaged<int, byte*>)Export("rd_kafka_err2str"),
        };
    }
}
