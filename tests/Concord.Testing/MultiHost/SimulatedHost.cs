using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Concord.Testing.MultiHost;

/// <summary>
/// One host of a <see cref="SimulatedNetwork"/>: a network namespace with loopback and one
/// interface (<see cref="Interface"/>) at <see cref="Address"/>. Processes started here see only
/// that network (the file system, cgroups and everything else are the machine's); the test
/// process itself can open sockets here too (<see cref="InNamespace{T}"/>,
/// <see cref="CreateHttpHandler"/>), e.g. a gRPC client "on" this host.
/// </summary>
public sealed class SimulatedHost
{
    /// <summary>The host's interface inside its namespace.</summary>
    public const string Interface = "eth0";

    /// <summary>setns(2) type for a network namespace.</summary>
    private const int CloneNewNet = 0x40000000;

    internal SimulatedHost(string name, string ns, string hostLink, IPAddress address)
    {
        Name = name;
        Namespace = ns;
        HostLink = hostLink;
        Address = address;
    }

    /// <summary>"h1", "h2", …</summary>
    public string Name { get; }

    /// <summary>The network namespace, e.g. "cc1a2b-3-h1" (/run/netns/NAME).</summary>
    public string Namespace { get; }

    /// <summary>The veth end on the bridge, in the root namespace.</summary>
    public string HostLink { get; }

    /// <summary>This host's private address, e.g. 10.203.17.1.</summary>
    public IPAddress Address { get; }

    /// <summary>True between <see cref="CutOff"/> and <see cref="Heal"/>.</summary>
    public bool IsCutOff { get; private set; }

    internal static string NamespaceFile(string ns) => $"/run/netns/{ns}";

    /// <summary>
    /// Starts <paramref name="fileName"/> on this host (nsenter into the network namespace only,
    /// so cgroups and mounts are the machine's). Output is captured; the handle kills it.
    /// </summary>
    /// <param name="environment">Variables set (a null value: removed) on top of this process's environment.</param>
    public HostProcess Start(string fileName, IEnumerable<string> arguments, IReadOnlyDictionary<string, string?>? environment = null, string? workingDirectory = null) =>
        HostProcess.Start(this, Commands.NsenterPath, ["--net=" + NamespaceFile(Namespace), "--", fileName, .. arguments], environment, workingDirectory);

    /// <summary>A partition: takes the host's interface down, so it reaches no other host and none reaches it (loopback still works).</summary>
    public void CutOff()
    {
        Commands.Ip("-n", Namespace, "link", "set", Interface, "down");
        IsCutOff = true;
    }

    /// <summary>Ends a <see cref="CutOff"/>: the interface up again, with its address and route.</summary>
    public void Heal()
    {
        Commands.Ip("-n", Namespace, "link", "set", Interface, "up");
        IsCutOff = false;
    }

    /// <summary>
    /// Runs <paramref name="action"/> on a thread of its own that has entered this host's network
    /// namespace: sockets it creates belong to this host for their whole life, whichever thread
    /// uses them afterwards. The thread ends with the action, so no other work runs in the namespace.
    /// </summary>
    public T InNamespace<T>(Func<T> action)
    {
        T? result = default;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var handle = File.OpenHandle(NamespaceFile(Namespace));
                if (SetNamespace((int)handle.DangerousGetHandle(), CloneNewNet) != 0)
                {
                    throw new InvalidOperationException($"setns into {Namespace} failed (errno {Marshal.GetLastPInvokeError()}); the test process must run as root");
                }
                result = action();
            }
            catch (Exception e)
            {
                error = e;
            }
        })
        { IsBackground = true, Name = $"netns {Namespace}" };
        thread.Start();
        if (!thread.Join(TimeSpan.FromMilliseconds(SimulatedNetwork.CommandTimeoutMs)))
        {
            throw new TimeoutException($"an action in {Namespace} did not finish within {SimulatedNetwork.CommandTimeoutMs} ms; InNamespace is for creating sockets, not for waiting");
        }
        if (error is not null)
        {
            throw new InvalidOperationException($"the action in {Namespace} failed: {error.Message}", error);
        }
        return result!;
    }

    /// <summary>A TCP listener on this host, started.</summary>
    public TcpListener Listen(IPAddress address, int port) => InNamespace(() =>
    {
        var listener = new TcpListener(address, port);
        listener.Start();
        return listener;
    });

    /// <summary>Connects from this host to <paramref name="endpoint"/>.</summary>
    public async Task<Socket> ConnectAsync(EndPoint endpoint, CancellationToken cancellationToken)
    {
        var socket = InNamespace(() => new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true });
        try
        {
            await socket.ConnectAsync(endpoint, cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>An HTTP handler whose connections start on this host (for HttpClient or a gRPC channel "on" it).</summary>
    public SocketsHttpHandler CreateHttpHandler() => new()
    {
        ConnectCallback = async (context, cancellationToken) =>
            new NetworkStream(await ConnectAsync(context.DnsEndPoint, cancellationToken).ConfigureAwait(false), ownsSocket: true),
    };

    public override string ToString() => $"{Name} ({Address}, netns {Namespace})";

    // DllImport rather than LibraryImport: blittable ints only, and the test kit is not compiled with unsafe code, which the generator needs.
    [DllImport("libc", EntryPoint = "setns", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int SetNamespace(int fd, int nsType);
}
