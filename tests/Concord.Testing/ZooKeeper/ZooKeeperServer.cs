using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace Concord.Testing.ZooKeeper;

/// <summary>How to run one server of a test ensemble.</summary>
public sealed record ZooKeeperServerOptions
{
    /// <summary>Address the server listens on for clients and peers (an address inside a network namespace, say).</summary>
    public string Address { get; init; } = "127.0.0.1";

    /// <summary>
    /// Words put before the java command line, e.g. <c>["ip", "netns", "exec", "cc1-h1"]</c> to
    /// run the server on a simulated host. The prefix must exec the command (so that SIGTERM to
    /// the process reaches java), as <c>ip netns exec</c> and <c>nsenter</c> do.
    /// </summary>
    public IReadOnlyList<string> CommandPrefix { get; init; } = [];

    /// <summary>
    /// Fixed ports (client, peer = +1, election = +2) for a server alone in a network namespace of
    /// its own, where they are free and where the test's namespace cannot look for free ones;
    /// null: free ports of this namespace.
    /// </summary>
    public int? BasePort { get; init; }

    /// <summary>
    /// How the readiness probe dials the server, e.g. <c>SimulatedHost.ConnectAsync</c> for a
    /// server on a simulated host (unreachable from the test's namespace); null: a plain connect.
    /// </summary>
    public Func<EndPoint, CancellationToken, Task<Socket>>? Connect { get; init; }
}

/// <summary>
/// One ZooKeeper server from the Debian package (/usr/share/java/zookeeper.jar), with its own
/// temp data directory and free ports; stopped with SIGTERM (SIGKILL after a bound), and
/// restartable with the same data. Part of a <see cref="ZooKeeperEnsemble"/>.
/// </summary>
public sealed partial class ZooKeeperServer : IAsyncDisposable
{
    /// <summary>The server's tick, in ms: short so sessions can be short (the minimum session is 2 ticks).</summary>
    public const int TickMs = 500;

    /// <summary>Smallest session timeout the server grants, in ms.</summary>
    public const int SessionTimeoutMsMin = 1_000;

    /// <summary>Largest session timeout the server grants, in ms.</summary>
    public const int SessionTimeoutMsMax = 60_000;

    /// <summary>Bound of one readiness probe, in ms: a probe during start-up can hang (the port accepts before the server answers).</summary>
    private const int ProbeTimeoutMs = 1_000;

    /// <summary>Pause between readiness probes, in ms.</summary>
    private const int ProbeIntervalMs = 100;

    /// <summary>How long a stop waits after SIGTERM before SIGKILL, in ms.</summary>
    private const int StopTimeoutMs = 10_000;

    /// <summary>Heap of one test server: tiny data, and up to 3 JVMs share a small CI machine.</summary>
    private const string JavaHeap = "-Xmx256m";

    private const int Sigterm = 15;

    /// <summary>Lines of the server's log kept for a failing test's message: the server logs every connection, so not all of it.</summary>
    private const int OutputLinesKept = 200;

    private static readonly string[] ClassPath = ["/usr/share/java/zookeeper.jar", "/usr/share/java/zookeeper-jute.jar", "/usr/share/java/slf4j-api.jar", "/usr/share/java/slf4j-simple.jar"];

    private readonly TempDirectory _dir;
    private readonly ZooKeeperServerOptions _options;
    private readonly Queue<string> _output = new();
    private Process? _process;

    internal ZooKeeperServer(int id, ZooKeeperServerOptions options, int clientPort, int peerPort, int electionPort, TempDirectory dir)
    {
        Id = id;
        _options = options;
        ClientPort = clientPort;
        PeerPort = peerPort;
        ElectionPort = electionPort;
        _dir = dir;
    }

    /// <summary>Server id in the ensemble (myid), from 1.</summary>
    public int Id { get; }

    public string Host => _options.Address;

    public int ClientPort { get; }

    internal int PeerPort { get; }

    internal int ElectionPort { get; }

    /// <summary>HOST:PORT of the client port, for a connect string.</summary>
    public string ClientAddress => $"{Host}:{ClientPort}";

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>The last lines of the server's output (for a failing test's message).</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return string.Join('\n', _output);
            }
        }
    }

    internal string DataDirectory => _dir.Combine("data");

    internal void WriteConfig(IReadOnlyList<ZooKeeperServer> ensemble)
    {
        Directory.CreateDirectory(DataDirectory);
        var config = new StringBuilder()
            .AppendLine($"tickTime={TickMs}")
            .AppendLine($"dataDir={DataDirectory}")
            .AppendLine($"clientPort={ClientPort}")
            .AppendLine($"clientPortAddress={Host}")
            // Else the admin server's Jetty binds :8080 on every address.
            .AppendLine("admin.enableServer=false")
            .AppendLine("4lw.commands.whitelist=ruok,srvr,stat,mntr")
            .AppendLine($"minSessionTimeout={SessionTimeoutMsMin}")
            .AppendLine($"maxSessionTimeout={SessionTimeoutMsMax}")
            .AppendLine("initLimit=10")
            .AppendLine("syncLimit=5");
        if (ensemble.Count > 1)
        {
            foreach (var server in ensemble)
            {
                config.AppendLine($"server.{server.Id}={server.Host}:{server.PeerPort}:{server.ElectionPort}");
            }
            File.WriteAllText(Path.Combine(DataDirectory, "myid"), $"{Id}\n");
        }
        File.WriteAllText(_dir.Combine("zoo.cfg"), config.ToString());
    }

    /// <summary>Starts the server process (not waiting until it serves: see <see cref="WaitServingAsync"/>).</summary>
    public void Start(bool ensemble)
    {
        if (IsRunning)
        {
            throw new InvalidOperationException($"ZooKeeper server {Id} is running already");
        }
        var start = new ProcessStartInfo(_options.CommandPrefix.Count > 0 ? _options.CommandPrefix[0] : "java")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var word in _options.CommandPrefix.Skip(1))
        {
            start.ArgumentList.Add(word);
        }
        if (_options.CommandPrefix.Count > 0)
        {
            start.ArgumentList.Add("java");
        }
        foreach (var word in new[]
        {
            JavaHeap, "-Dzookeeper.log.dir=" + _dir.Path, "-cp", string.Join(':', ClassPath),
            ensemble ? "org.apache.zookeeper.server.quorum.QuorumPeerMain" : "org.apache.zookeeper.server.ZooKeeperServerMain",
            _dir.Combine("zoo.cfg"),
        })
        {
            start.ArgumentList.Add(word);
        }
        var process = Process.Start(start) ?? throw new InvalidOperationException("java did not start; install the Debian packages zookeeper and a JRE (scripts/install-zookeeper.sh)");
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
    }

    /// <summary>Polls <c>srvr</c> until the server answers with its mode (serving), each probe bounded.</summary>
    public async Task WaitServingAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (_process is { HasExited: true })
            {
                throw new InvalidOperationException($"ZooKeeper server {Id} exited with {_process.ExitCode} while starting:\n{Tail(Output)}");
            }
            if (await ProbeAsync().ConfigureAwait(false) is { } mode)
            {
                Mode = mode;
                return;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"ZooKeeper server {Id} at {ClientAddress} did not serve within {timeout.TotalSeconds} s:\n{Tail(Output)}");
            }
            await Task.Delay(ProbeIntervalMs).ConfigureAwait(false);
        }
    }

    /// <summary>standalone, leader or follower, as the last probe said.</summary>
    public string? Mode { get; private set; }

    /// <summary>SIGTERM, then SIGKILL if it does not exit within a bound. Idempotent.</summary>
    public async Task StopAsync()
    {
        var process = _process;
        if (process is null)
        {
            return;
        }
        _process = null;
        try
        {
            if (!process.HasExited)
            {
                _ = kill(process.Id, Sigterm);
                using var timeout = new CancellationTokenSource(StopTimeoutMs);
                try
                {
                    await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMilliseconds(StopTimeoutMs)).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            process.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync().ConfigureAwait(false);
        }
        finally
        {
            _dir.Dispose();
        }
    }

    private async Task<string?> ProbeAsync()
    {
        using var timeout = new CancellationTokenSource(ProbeTimeoutMs);
        try
        {
            var endpoint = new IPEndPoint(IPAddress.Parse(Host), ClientPort);
            Socket socket;
            if (_options.Connect is { } connect)
            {
                socket = await connect(endpoint, timeout.Token).ConfigureAwait(false);
            }
            else
            {
                socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    await socket.ConnectAsync(endpoint, timeout.Token).ConfigureAwait(false);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            }
            using var stream = new NetworkStream(socket, ownsSocket: true);
            await stream.WriteAsync("srvr"u8.ToArray(), timeout.Token).ConfigureAwait(false);
            using var reader = new StreamReader(stream);
            while (await reader.ReadLineAsync(timeout.Token).ConfigureAwait(false) is { } line)
            {
                if (line.StartsWith("Mode:", StringComparison.Ordinal))
                {
                    return line["Mode:".Length..].Trim();
                }
            }
            return null;
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
        {
            return null;
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_output)
        {
            _output.Enqueue(line);
            if (_output.Count > OutputLinesKept)
            {
                _output.Dequeue();
            }
        }
    }

    private static string Tail(string text) => string.Join('\n', text.Split('\n').TakeLast(30));

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
}
