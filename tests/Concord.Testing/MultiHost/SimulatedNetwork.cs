using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;

namespace Concord.Testing.MultiHost;

/// <summary>
/// Several hosts on one machine, for tests that must cross real interfaces: one bridge and one
/// network namespace per host, joined by a veth pair, each with a private address
/// (<c>10.203.R.N/24</c>) that exists only inside the namespaces. Nothing routes beyond the
/// bridge and the root namespace has no address on it, so only loopback and these addresses
/// carry traffic. Every name starts with a per-run prefix (<c>cc&lt;pid&gt;-&lt;n&gt;</c>, which
/// also records the creating process, so <see cref="SweepStale"/> can tell leftovers of dead
/// runs from live ones). Disposing kills every process still in the namespaces and removes
/// every namespace and link it created, also when the test failed; a process that exits
/// without disposing leaves them to the next run's sweep.
/// Needs root and iproute2 (<c>ip</c>) and util-linux (<c>nsenter</c>).
/// </summary>
public sealed partial class SimulatedNetwork : IDisposable
{
    /// <summary>Every name this kit creates starts with it (namespaces, bridge, veth ends).</summary>
    public const string ProjectPrefix = "cc";

    /// <summary>Hosts in one network, at most: "-h99" keeps the longest name within <see cref="InterfaceNameCharsMax"/>.</summary>
    public const int HostsMax = 99;

    /// <summary>Longest interface name Linux accepts, in characters (IFNAMSIZ 16, less the terminating NUL).</summary>
    public const int InterfaceNameCharsMax = 15;

    /// <summary>Longest one `ip` or `nsenter` command may take, in ms: they are kernel calls, a hang is a bug to report.</summary>
    public const int CommandTimeoutMs = 10_000;

    /// <summary>Longest killed processes of a namespace may take to be gone, in ms, before disposing reports them.</summary>
    public const int KillWaitMs = 10_000;

    /// <summary>Interval between checks that killed processes are gone, in ms.</summary>
    public const int KillPollMs = 20;

    private static readonly ConcurrentDictionary<SimulatedNetwork, bool> Live = new();
    private static int _runs;

    private readonly List<SimulatedHost> _hosts = [];
    private int _disposed;

    static SimulatedNetwork()
    {
        // A test run that ends without disposing (an exception in a fixture) still cleans up;
        // a killed one leaves its names to the next run's sweep.
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            foreach (var network in Live.Keys)
            {
                try
                {
                    network.Dispose();
                }
                catch (Exception e) when (e is InvalidOperationException or TimeoutException or IOException)
                {
                    // Nothing more can be done while exiting; the next sweep removes the rest.
                }
            }
        };
    }

    private SimulatedNetwork(string prefix, int subnet)
    {
        Prefix = prefix;
        Subnet = subnet;
        Bridge = $"{prefix}-br";
    }

    /// <summary>This run's prefix, e.g. "cc1a2b-3".</summary>
    public string Prefix { get; }

    /// <summary>The bridge every host's veth end is attached to.</summary>
    public string Bridge { get; }

    /// <summary>The third octet of this run's addresses: 10.203.<see cref="Subnet"/>.N.</summary>
    public int Subnet { get; }

    /// <summary>The hosts h1..hN, in order.</summary>
    public IReadOnlyList<SimulatedHost> Hosts => _hosts;

    /// <summary>Host hN, 1-based as the names are.</summary>
    public SimulatedHost Host(int number) => _hosts[number - 1];

    /// <summary>
    /// Creates a bridge and <paramref name="hostCount"/> hosts (h1..hN at 10.203.R.1..N), after
    /// sweeping leftovers of dead runs.
    /// </summary>
    /// <exception cref="SimulatedNetworkUnavailableException">Not root, or `ip` or `nsenter` missing.</exception>
    public static SimulatedNetwork Create(int hostCount)
    {
        if (hostCount is < 1 or > HostsMax)
        {
            throw new ArgumentOutOfRangeException(nameof(hostCount), hostCount, $"a simulated network has 1..{HostsMax} hosts");
        }
        Commands.EnsureAvailable();
        SweepStale();
        var run = Interlocked.Increment(ref _runs);
        var prefix = PrefixFor(Environment.ProcessId, run);
        // Namespaces have no route to each other's subnets, so equal subnets of parallel runs
        // would not collide; distinct ones keep logs and captures unambiguous.
        var subnet = (int)((((uint)Environment.ProcessId * 31u) + (uint)run) % 250u) + 1;
        var network = new SimulatedNetwork(prefix, subnet);
        Live[network] = true;
        try
        {
            Commands.Ip("link", "add", network.Bridge, "type", "bridge");
            Commands.Ip("link", "set", network.Bridge, "up");
            for (var n = 1; n <= hostCount; n++)
            {
                network.AddHost(n);
            }
            return network;
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    private void AddHost(int number)
    {
        var name = $"{Prefix}-h{number.ToString(CultureInfo.InvariantCulture)}";
        if (name.Length > InterfaceNameCharsMax)
        {
            throw new InvalidOperationException($"interface name '{name}' is longer than {InterfaceNameCharsMax} characters; the prefix scheme must keep names short");
        }
        var address = IPAddress.Parse($"10.203.{Subnet.ToString(CultureInfo.InvariantCulture)}.{number.ToString(CultureInfo.InvariantCulture)}");
        var host = new SimulatedHost($"h{number.ToString(CultureInfo.InvariantCulture)}", name, name, address);
        Commands.Ip("netns", "add", host.Namespace);
        _hosts.Add(host); // From here on, disposing removes it.
        Commands.Ip("link", "add", host.HostLink, "type", "veth", "peer", "name", SimulatedHost.Interface, "netns", host.Namespace);
        Commands.Ip("link", "set", host.HostLink, "master", Bridge, "up");
        Commands.Ip("-n", host.Namespace, "addr", "add", $"{address}/24", "dev", SimulatedHost.Interface);
        Commands.Ip("-n", host.Namespace, "link", "set", SimulatedHost.Interface, "up");
        Commands.Ip("-n", host.Namespace, "link", "set", "lo", "up");
    }

    /// <summary>
    /// Kills every process left in the hosts, then removes the links, the namespaces and the
    /// bridge. Goes on past a failure and reports them all at the end.
    /// </summary>
    /// <exception cref="InvalidOperationException">Something could not be removed; the message names it.</exception>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        Live.TryRemove(this, out _);
        var problems = new List<string>();
        foreach (var host in _hosts)
        {
            problems.AddRange(RemoveNamespace(host.Namespace, host.HostLink));
        }
        problems.AddRange(Commands.TryIp("link", "del", Bridge, ignoreMissing: true));
        if (problems.Count > 0)
        {
            throw new InvalidOperationException($"simulated network {Prefix} was not fully removed:\n  " + string.Join("\n  ", problems));
        }
    }

    /// <summary>
    /// Removes namespaces, bridges and veth ends with the project prefix whose creating process
    /// (the pid in the name) is gone: what runs killed before they could dispose left behind.
    /// </summary>
    /// <returns>How many names were removed.</returns>
    public static int SweepStale()
    {
        Commands.EnsureAvailable();
        var removed = 0;
        foreach (var ns in Commands.IpLines("netns", "list").Select(l => l.Split(' ', 2)[0]))
        {
            if (IsStale(ns))
            {
                RemoveNamespace(ns, hostLink: ns);
                removed++;
            }
        }
        foreach (var link in Commands.IpLines("-o", "link", "show").Select(LinkName))
        {
            if (IsStale(link))
            {
                Commands.TryIp("link", "del", link, ignoreMissing: true);
                removed++;
            }
        }
        return removed;
    }

    /// <summary>The name prefix of run <paramref name="run"/> of process <paramref name="pid"/>: "cc", the pid and the run in base 36.</summary>
    public static string PrefixFor(int pid, int run) => $"{ProjectPrefix}{Base36(pid)}-{Base36(run)}";

    /// <summary>True for a name of this kit whose creating process is no longer alive.</summary>
    public static bool IsStale(string name)
    {
        var match = OwnName().Match(name);
        return match.Success && !IsAlive(ParseBase36(match.Groups["pid"].Value));
    }

    private static IEnumerable<string> RemoveNamespace(string ns, string hostLink)
    {
        var problems = new List<string>();
        problems.AddRange(KillProcessesIn(ns));
        // Deleting one end of a veth pair deletes both, at once; left to the namespace's
        // deletion, the host end would disappear only some time later.
        problems.AddRange(Commands.TryIp("link", "del", hostLink, ignoreMissing: true));
        problems.AddRange(Commands.TryIp("netns", "del", ns, ignoreMissing: true));
        return problems;
    }

    private static IEnumerable<string> KillProcessesIn(string ns)
    {
        if (!File.Exists(SimulatedHost.NamespaceFile(ns)))
        {
            return [];
        }
        var pids = Commands.IpLines("netns", "pids", ns)
            .Select(l => int.TryParse(l.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : 0)
            .Where(pid => pid > 0 && pid != Environment.ProcessId)
            .ToList();
        foreach (var pid in pids)
        {
            HostProcess.Signal(pid, HostProcess.SigKill);
        }
        var deadline = Environment.TickCount64 + KillWaitMs;
        while (pids.Any(IsAlive))
        {
            if (Environment.TickCount64 > deadline)
            {
                return [$"processes {string.Join(", ", pids.Where(IsAlive))} in {ns} did not die within {KillWaitMs} ms of SIGKILL"];
            }
            Thread.Sleep(KillPollMs);
        }
        return [];
    }

    /// <summary>Alive and not a zombie (a killed child of this process is a zombie until reaped).</summary>
    internal static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..][0];
            return state is not ('Z' or 'X');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static string LinkName(string line)
    {
        // "7: cc1a2b-3-h2@if2: <BROADCAST,...": the name is the second field, without "@peer".
        var fields = line.Split(": ", 3);
        return fields.Length < 2 ? "" : fields[1].Split('@')[0];
    }

    private static string Base36(int value)
    {
        const string digits = "0123456789abcdefghijklmnopqrstuvwxyz";
        var text = "";
        var rest = (uint)value;
        do
        {
            text = digits[(int)(rest % 36)] + text;
            rest /= 36;
        }
        while (rest > 0);
        return text;
    }

    private static int ParseBase36(string text)
    {
        long value = 0;
        foreach (var c in text)
        {
            value = (value * 36) + (char.IsDigit(c) ? c - '0' : c - 'a' + 10);
            if (value > int.MaxValue)
            {
                return 0;
            }
        }
        return (int)value;
    }

    [GeneratedRegex("^cc(?<pid>[0-9a-z]{1,6})-(?<run>[0-9a-z]{1,4})-(br|h[0-9]{1,2})$")]
    private static partial Regex OwnName();
}

/// <summary>The simulated network cannot be made here; the message says what is missing and what to do.</summary>
public sealed class SimulatedNetworkUnavailableException(string message) : Exception(message);
