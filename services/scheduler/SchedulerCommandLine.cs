using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Net;
using Concord.Scheduler.Backends;
using Concord.ZooKeeper;

namespace Concord.Scheduler;

/// <summary>A command line the scheduler cannot run with; the message says what to change.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>
/// The scheduler's command line, parsed with System.CommandLine (as the <c>concord</c> CLI is):
/// <c>Concord.Scheduler [--home DIR] [--port N | --listen HOST:PORT] [--advertise HOST[:PORT]] [--metrics-port N | --metrics-listen HOST:PORT] [--executor PATH]
/// [--log-format text|json] [--store NAME] [--zookeeper HOST:PORT,...] [--runtime NAME] [--no-containment] [--token TOKEN] [--checkpoint-interval-ms MS] [--checkpoint-dir DIR] [--checkpoints-retained N] [--dashboard-dir DIR] [--tls-cert PATH --tls-key PATH --tls-ca PATH]</c>. Values are checked here, with
/// messages that name the fix, so a bad command line fails before anything starts.
/// </summary>
public static class SchedulerCommandLine
{
    /// <summary>Name in the help and usage lines: the assembly, as `dotnet Concord.Scheduler.dll` starts it.</summary>
    public const string ProgramName = "Concord.Scheduler";

    private const string PortFix = "use 0..65535 (0 picks a free one)";

    /// <summary>The full help (`--help`): every option with its default.</summary>
    public static string Usage
    {
        get
        {
            var (command, _) = Build();
            using var text = new StringWriter(CultureInfo.InvariantCulture);
            command.Parse(["--help"]).Invoke(new InvocationConfiguration { Output = text, Error = text });
            return text.ToString().TrimEnd();
        }
    }

    /// <summary>One line with every option, appended to usage errors (the full help is `--help`).</summary>
    public static string Synopsis
    {
        get
        {
            var (command, _) = Build();
            var options = command.Options.Where(o => o is not HelpOption).Select(o => $"[{o.Name} {o.HelpName}]");
            return $"Usage: {ProgramName} {string.Join(' ', options)} (see --help)";
        }
    }

    /// <summary>Parses <paramref name="args"/>; null when help was asked for.</summary>
    /// <exception cref="UsageException">An unknown option or a bad value.</exception>
    public static SchedulerOptions? Parse(IReadOnlyList<string> args)
    {
        var (command, o) = Build();
        // No response files: an argument starting with @ is not a file to read here.
        var parse = command.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (parse.Action is HelpAction)
        {
            return null;
        }
        if (parse.UnmatchedTokens.Count > 0)
        {
            throw new UsageException($"unknown argument '{parse.UnmatchedTokens[0]}'\n\n{Synopsis}");
        }
        if (parse.Errors.Count > 0)
        {
            throw new UsageException(string.Join("\n", parse.Errors.Select(Describe).Distinct()));
        }
        var listen = parse.GetValue(o.Listen);
        var metricsListen = parse.GetValue(o.MetricsListen);
        if (listen is not null && IsGiven(parse, o.Port))
        {
            throw new UsageException("--port and --listen both give the gRPC port; give one (--listen HOST:PORT carries the port)");
        }
        if (metricsListen is not null && IsGiven(parse, o.MetricsPort))
        {
            throw new UsageException("--metrics-port and --metrics-listen both give the metrics port; give one (--metrics-listen HOST:PORT carries the port)");
        }
        string? advertiseHost = null;
        int? advertisePort = null;
        if (parse.GetValue(o.Advertise) is { } advertise)
        {
            // Checked by the option's parser already.
            Hosting.NetworkAddress.TryParseAdvertised(advertise, out var host, out advertisePort);
            advertiseHost = host;
        }
        return new SchedulerOptions
        {
            Home = Path.GetFullPath(parse.GetValue(o.Home) ?? SchedulerHome.DefaultDirectory()),
            Port = listen?.Port ?? parse.GetValue(o.Port),
            ListenAddress = listen?.Address ?? IPAddress.Loopback,
            AdvertiseHost = advertiseHost,
            AdvertisePort = advertisePort,
            MetricsPort = metricsListen?.Port ?? parse.GetValue(o.MetricsPort),
            MetricsListenAddress = metricsListen?.Address,
            ExecutorDll = FindExecutorDll(parse.GetValue(o.Executor)),
            LogFormat = parse.GetValue(o.LogFormat),
            Store = parse.GetValue(o.Store)!,
            ZooKeeper = ZooKeeperFrom(parse, o),
            ZooKeeperSessionTimeoutMs = SessionTimeoutFrom(parse, o),
            Runtime = parse.GetValue(o.Runtime)!,
            NoContainment = parse.GetValue(o.NoContainment),
            FilesRoots = parse.GetValue(o.FilesRoots) ?? [],
            ExecutablesRoots = parse.GetValue(o.ExecutablesRoots) ?? [],
            DataRoots = parse.GetValue(o.DataRoots) ?? [],
            Token = parse.GetValue(o.Token) is { Length: > 0 } token ? token : Environment.GetEnvironmentVariable(Contracts.Credentials.TokenVariable),
            Tls = TlsFrom(parse, o),
            CheckpointIntervalMs = parse.GetValue(o.CheckpointIntervalMs),
            CheckpointDirectory = parse.GetValue(o.CheckpointDir) is { Length: > 0 } checkpointDir ? Path.GetFullPath(checkpointDir) : null,
            CheckpointsRetained = parse.GetValue(o.CheckpointsRetained),
            DashboardDirectory = parse.GetValue(o.DashboardDir) is { Length: > 0 } dashboardDir ? Path.GetFullPath(dashboardDir) : SchedulerOptions.DefaultDashboardDirectory,
        };
    }

    /// <summary>
    /// Our own messages come from the parsers below; System.CommandLine's own are for a missing
    /// value or a repeated option, which get the option's name and the fix instead.
    /// </summary>
    private static string Describe(ParseError error) =>
        error.SymbolResult switch
        {
            ArgumentResult { Parent: OptionResult option } when option.Tokens.Count == 0 => MissingValue(option.Option),
            OptionResult option when option.Tokens.Count == 0 => MissingValue(option.Option),
            OptionResult option when option.Tokens.Count > 1 && option.Option is not Option<string[]> => $"{option.Option.Name} is given {option.Tokens.Count} times; give it once",
            _ => error.Message,
        };

    private static bool IsGiven(ParseResult parse, Option option) => parse.GetResult(option) is { Implicit: false };

    private static string MissingValue(Option option) => $"{option.Name} needs a value\n\n{Synopsis}";

    private sealed record Options(
        Option<string?> Home,
        Option<int> Port,
        Option<IPEndPoint?> Listen,
        Option<string?> Advertise,
        Option<int?> MetricsPort,
        Option<IPEndPoint?> MetricsListen,
        Option<string?> Executor,
        Option<LogFormat> LogFormat,
        Option<string> Store,
        Option<string?> ZooKeeper,
        Option<string> Runtime,
        Option<bool> NoContainment,
        Option<string[]> FilesRoots,
        Option<string[]> ExecutablesRoots,
        Option<string[]> DataRoots,
        Option<string?> Token,
        Option<string?> TlsCert,
        Option<string?> TlsKey,
        Option<string?> TlsCa,
        Option<int> CheckpointIntervalMs,
        Option<string?> CheckpointDir,
        Option<int> CheckpointsRetained,
        Option<int?> ZooKeeperSessionTimeoutMs,
        Option<string?> DashboardDir);

    private static (Command Command, Options Options) Build()
    {
        var home = new Option<string?>("--home")
        {
            HelpName = "DIR",
            Description = "State directory (topology.json, scheduler.json, instances/); default: $CONCORD_HOME, else ~/.concord",
        };
        var port = new Option<int>("--port")
        {
            HelpName = "N",
            Description = $"gRPC port on 127.0.0.1 (or on the --listen address); 0 picks a free port (read the address from <home>/{SchedulerHome.InfoFileName})",
            DefaultValueFactory = _ => SchedulerLimits.DefaultPort,
            CustomParser = result => ParsePort("--port", result),
        };
        var listen = new Option<IPEndPoint?>("--listen")
        {
            HelpName = "HOST:PORT",
            Description = "Where the gRPC endpoint listens: an IP address of this host (or 0.0.0.0) and a port, e.g. 10.0.0.5:7400; " +
                $"beyond 127.0.0.1 only with --tls-cert, --tls-key and --tls-ca. Executors of the local runtime bind this address too. Default: 127.0.0.1:{SchedulerLimits.DefaultPort} (--port)",
            CustomParser = result => ParseListen("--listen", result),
        };
        var advertise = new Option<string?>("--advertise")
        {
            HelpName = "HOST[:PORT]",
            Description = $"The address other hosts dial: what executors call back on, what <home>/{SchedulerHome.InfoFileName} and Prometheus service discovery publish; " +
                "a DNS name or IP address in the TLS certificate. Default: the --listen address (127.0.0.1 when listening on 0.0.0.0), with the bound port",
            CustomParser = result => Hosting.NetworkAddress.TryParseAdvertised(result.Tokens[0].Value, out _, out _)
                ? result.Tokens[0].Value.Trim()
                : Error<string?>(result, $"--advertise '{result.Tokens[0].Value}' is not an address; use HOST or HOST:PORT with a DNS name or IP address, e.g. node1.example:7400 or 10.0.0.5", null),
        };
        var metricsListen = new Option<IPEndPoint?>("--metrics-listen")
        {
            HelpName = "HOST:PORT",
            Description = "Where the HTTP/1.1 metrics endpoint listens, e.g. 10.0.0.5:7401; beyond 127.0.0.1 only with TLS. Default: the --listen address, port --metrics-port",
            CustomParser = result => ParseListen("--metrics-listen", result),
        };
        var metricsPort = new Option<int?>("--metrics-port")
        {
            HelpName = "N",
            Description = "HTTP/1.1 port on the --listen address (127.0.0.1 by default) for /metrics and Prometheus service discovery (/prometheus/targets); " +
                $"default: the gRPC port + 1 ({SchedulerLimits.DefaultPort + 1}), or a free one with --port 0",
            CustomParser = result => ParsePort("--metrics-port", result),
        };
        var executor = new Option<string?>("--executor")
        {
            HelpName = "PATH",
            Description = "Concord.Executor.dll to launch per instance (with dotnet; a path not ending in .dll is run directly); " +
                "default: $CONCORD_EXECUTOR_DLL, else the build next to this scheduler (artifacts/bin/Concord.Executor/<config>/Concord.Executor.dll)",
        };
        var logFormat = new Option<LogFormat>("--log-format")
        {
            HelpName = "text|json",
            Description = "Console log format: text (default) or json",
            CustomParser = result => result.Tokens[0].Value switch
            {
                "text" => LogFormat.Text,
                "json" => LogFormat.Json,
                var other => Error(result, $"--log-format '{other}' is not a format; use text or json", LogFormat.Text),
            },
        };
        var store = new Option<string>("--store")
        {
            HelpName = "NAME",
            Description = $"Where the topology lives: {string.Join(" or ", SchedulerBackends.Stores.Keys)} (file: <home>/{SchedulerHome.TopologyFileName})",
            DefaultValueFactory = _ => SchedulerBackends.DefaultStore,
            CustomParser = result => result.Tokens[0].Value is var name && SchedulerBackends.Stores.ContainsKey(name)
                ? name
                : Error(result, SchedulerBackends.UnknownStore(name), SchedulerBackends.DefaultStore),
        };
        var zooKeeper = new Option<string?>("--zookeeper")
        {
            HelpName = "HOST:PORT,...",
            Description = "The ZooKeeper ensemble's client addresses, for --store zookeeper (docs/cluster.md, \"ZooKeeper\")",
        };
        var zooKeeperSessionTimeout = new Option<int?>("--zookeeper-session-timeout-ms")
        {
            HelpName = "MS",
            Description = $"The ZooKeeper session timeout of --store zookeeper, {ZooKeeperLimits.SessionTimeoutMsMin}..{ZooKeeperLimits.SessionTimeoutMsMax} ms (default {SchedulerLimits.ZooKeeperSessionTimeoutMsDefault}): how long a dead leader holds office before a standby takes over, and how long a cut-off leader acts before it stops",
        };
        var runtime = new Option<string>("--runtime")
        {
            HelpName = "NAME",
            Description = $"Where instances run: {string.Join(" or ", SchedulerBackends.Runtimes.Keys)} (local: executor processes on this machine)",
            DefaultValueFactory = _ => SchedulerBackends.DefaultRuntime,
            CustomParser = result => result.Tokens[0].Value is var name && SchedulerBackends.Runtimes.ContainsKey(name)
                ? name
                : Error(result, SchedulerBackends.UnknownRuntime(name), SchedulerBackends.DefaultRuntime),
        };
        var (tlsCert, tlsKey, tlsCa) = TlsOptions();
        var noContainment = new Option<bool>("--no-containment")
        {
            Description = "Run instances without cgroups: mem/cpus not enforced and processes an operator forks not killed on stop; " +
                "only where the host has no writable cgroup v1/v2 (docs/security.md)",
        };
        var filesRoot = RootOption("--files-root",
            "Directory the \"files\" of a deploy may come from (links resolved); repeat for several. Default: the deploy file's directory, as the client sends it");
        var executablesRoot = RootOption("--executables-root",
            "Directory operator executables must be in (links resolved); repeat for several. Default: any program the scheduler's user may run");
        var dataRoot = RootOption("--data-root",
            "Directory built-in operators may read and write (generator.dictionary, csv-sink.path, stats) besides the instance's own; repeat for several. " +
            "Default: the deploy file's directory, as the client sends it");
        var token = new Option<string?>("--token")
        {
            HelpName = "TOKEN",
            Description = $"Operator token clients must send (at least {SchedulerLimits.TokenCharsMin} characters; visible in `ps`, so prefer ${Contracts.Credentials.TokenVariable}); " +
                $"default: ${Contracts.Credentials.TokenVariable}, else <home>/{Contracts.Credentials.TokenFileName}, made with a random token on first start",
        };
        var checkpointInterval = new Option<int>("--checkpoint-interval-ms")
        {
            HelpName = "MS",
            Description = $"Time between checkpoints of the operators with a delivery guarantee (docs/guarantees.md), " +
                $"{SchedulerLimits.CheckpointIntervalMsMin}..{SchedulerLimits.CheckpointIntervalMsMax}; default {SchedulerLimits.CheckpointIntervalMsDefault}",
            DefaultValueFactory = _ => SchedulerLimits.CheckpointIntervalMsDefault,
            CustomParser = result => ParseRange("--checkpoint-interval-ms", result, SchedulerLimits.CheckpointIntervalMsMin, SchedulerLimits.CheckpointIntervalMsMax),
        };
        var checkpointDir = new Option<string?>("--checkpoint-dir")
        {
            HelpName = "DIR",
            Description = "Where checkpoints are written (a path every host's executors can reach); default: <home>/checkpoints, made with mode 0700",
        };
        var checkpointsRetained = new Option<int>("--checkpoints-retained")
        {
            HelpName = "N",
            Description = $"Completed checkpoints kept (savepoints are kept besides), 1..{SchedulerLimits.CheckpointsRetainedMax}; default {SchedulerLimits.CheckpointsRetainedDefault}",
            DefaultValueFactory = _ => SchedulerLimits.CheckpointsRetainedDefault,
            CustomParser = result => ParseRange("--checkpoints-retained", result, 1, SchedulerLimits.CheckpointsRetainedMax),
        };
        var dashboardDir = new Option<string?>("--dashboard-dir")
        {
            HelpName = "DIR",
            Description = "The built web dashboard (scripts/build-ui.sh) served at /ui; default: ui/ beside the scheduler's binary",
        };
        // A Command, not a RootCommand: no directives, no --version, and the name does not
        // depend on the host executable (a test host parses too).
        var command = new Command(ProgramName, "The Concord scheduler: keeps the deployed topology running and serves the gRPC API the CLI and the executors use.")
        {
            home, port, listen, advertise, metricsPort, metricsListen, executor, logFormat, store, zooKeeper, runtime, noContainment, filesRoot, executablesRoot, dataRoot, token, tlsCert, tlsKey, tlsCa,
            checkpointInterval, checkpointDir, checkpointsRetained, zooKeeperSessionTimeout, dashboardDir, new HelpOption(),
        };
        return (command, new Options(home, port, listen, advertise, metricsPort, metricsListen, executor, logFormat, store, zooKeeper, runtime, noContainment, filesRoot, executablesRoot, dataRoot, token, tlsCert, tlsKey, tlsCa,
            checkpointInterval, checkpointDir, checkpointsRetained, zooKeeperSessionTimeout, dashboardDir));
    }

    private static (Option<string?> Cert, Option<string?> Key, Option<string?> Ca) TlsOptions() =>
    (
        new Option<string?>("--tls-cert") { HelpName = "PATH", Description = "This host's certificate (PEM, from `concord certs`): serve HTTPS with client certificates required, on every endpoint; needs --tls-key and --tls-ca" },
        new Option<string?>("--tls-key") { HelpName = "PATH", Description = "The private key of --tls-cert (PEM)" },
        new Option<string?>("--tls-ca") { HelpName = "PATH", Description = "The CA certificate (PEM) every client and executor certificate must chain to" }
    );

    /// <summary>--zookeeper-session-timeout-ms: only with --store zookeeper, within what the client accepts.</summary>
    private static int SessionTimeoutFrom(ParseResult parse, Options o)
    {
        if (parse.GetValue(o.ZooKeeperSessionTimeoutMs) is not { } timeoutMs)
        {
            return SchedulerLimits.ZooKeeperSessionTimeoutMsDefault;
        }
        if (parse.GetValue(o.Store) != Store.ZooKeeper.ZooKeeperStoreBackend.Name)
        {
            throw new UsageException("--zookeeper-session-timeout-ms is only used with --store zookeeper; add that, or drop it");
        }
        return timeoutMs is >= ZooKeeperLimits.SessionTimeoutMsMin and <= ZooKeeperLimits.SessionTimeoutMsMax
            ? timeoutMs
            : throw new UsageException($"--zookeeper-session-timeout-ms {timeoutMs} is out of range; give {ZooKeeperLimits.SessionTimeoutMsMin}..{ZooKeeperLimits.SessionTimeoutMsMax}");
    }

    /// <summary>--zookeeper goes with --store zookeeper, both ways; the addresses are checked as the client will read them.</summary>
    private static string? ZooKeeperFrom(ParseResult parse, Options o)
    {
        var servers = parse.GetValue(o.ZooKeeper);
        var zooKeeperStore = parse.GetValue(o.Store) == Store.ZooKeeper.ZooKeeperStoreBackend.Name;
        if (servers is null)
        {
            return zooKeeperStore
                ? throw new UsageException("--store zookeeper needs --zookeeper HOST:PORT[,HOST:PORT...] (the ensemble's client addresses)")
                : null;
        }
        if (!zooKeeperStore)
        {
            throw new UsageException("--zookeeper is only used with --store zookeeper; add that, or drop --zookeeper");
        }
        var hosts = servers.Split(',');
        if (hosts.Length > ZooKeeperLimits.ServersMax || hosts.Any(h => h.LastIndexOf(':') is var colon && (colon <= 0
            || !int.TryParse(h.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var p) || p is 0 or > IPEndPoint.MaxPort)))
        {
            throw new UsageException($"--zookeeper '{servers}' is not HOST:PORT[,HOST:PORT...] (at most {ZooKeeperLimits.ServersMax} servers)");
        }
        return servers;
    }

    private static Hosting.TlsOptions? TlsFrom(ParseResult parse, Options o)
    {
        try
        {
            return Hosting.TlsOptions.FromParts(parse.GetValue(o.TlsCert), parse.GetValue(o.TlsKey), parse.GetValue(o.TlsCa), ("--tls-cert", "--tls-key", "--tls-ca"));
        }
        catch (Hosting.TlsConfigurationException e)
        {
            throw new UsageException(e.Message);
        }
    }

    /// <summary>
    /// A repeatable directory option (one directory per occurrence): made absolute, and it must
    /// exist now, since a root that does not exist would silently allow nothing.
    /// </summary>
    private static Option<string[]> RootOption(string name, string description) => new(name)
    {
        HelpName = "DIR",
        Description = description,
        Arity = ArgumentArity.OneOrMore,
        AllowMultipleArgumentsPerToken = false,
        CustomParser = result =>
        {
            var roots = new List<string>();
            foreach (var token in result.Tokens)
            {
                var full = Path.GetFullPath(token.Value);
                if (!Directory.Exists(full))
                {
                    return Error(result, $"{name} '{token.Value}' is not a directory; create it or fix the path", Array.Empty<string>());
                }
                if (full.Contains(Path.PathSeparator, StringComparison.Ordinal))
                {
                    return Error(result, $"{name} '{token.Value}' contains '{Path.PathSeparator}', which separates directories in CONCORD_DATA_ROOTS; use a path without it", Array.Empty<string>());
                }
                roots.Add(full);
            }
            return roots.ToArray();
        },
    };

    private static int ParsePort(string option, ArgumentResult result)
    {
        var text = result.Tokens[0].Value;
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port <= IPEndPoint.MaxPort
            ? port
            : Error(result, $"{option} '{text}' is not a port; {PortFix}", 0);
    }

    private static IPEndPoint? ParseListen(string option, ArgumentResult result)
    {
        var text = result.Tokens[0].Value;
        return Hosting.NetworkAddress.TryParseListen(text, out var address, out var port)
            ? new IPEndPoint(address, port)
            : Error<IPEndPoint?>(result, $"{option} '{text}' is not a listen address; use IP:PORT with an address of this host, e.g. 10.0.0.5:7400, 0.0.0.0:7400 or [::1]:7400 (0 picks a free port)", null);
    }

    private static int ParseRange(string option, ArgumentResult result, int min, int max)
    {
        var text = result.Tokens[0].Value;
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : Error(result, $"{option} '{text}' is out of range; use a whole number {min}..{max}", min);
    }

    private static T Error<T>(ArgumentResult result, string message, T placeholder)
    {
        result.AddError(message);
        return placeholder;
    }

    /// <summary>
    /// The executor to launch: <paramref name="explicitPath"/>, else $CONCORD_EXECUTOR_DLL,
    /// else the artifacts layout: artifacts/bin/Concord.Scheduler/&lt;config&gt;/ →
    /// artifacts/bin/Concord.Executor/&lt;config&gt;/Concord.Executor.dll.
    /// </summary>
    /// <exception cref="UsageException">Not found; the message lists where it looked.</exception>
    public static string FindExecutorDll(string? explicitPath)
    {
        var configured = explicitPath ?? Environment.GetEnvironmentVariable("CONCORD_EXECUTOR_DLL");
        if (!string.IsNullOrEmpty(configured))
        {
            var full = Path.GetFullPath(configured);
            return File.Exists(full)
                ? full
                : throw new UsageException(
                    $"executor '{full}' does not exist (from {(explicitPath is null ? "$CONCORD_EXECUTOR_DLL" : "--executor")}); " +
                    "build it with `dotnet build services/executor` or point --executor at Concord.Executor.dll");
        }
        var baseDirectory = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);
        var config = Path.GetFileName(baseDirectory);
        string[] candidates =
        [
            Path.GetFullPath(Path.Combine(baseDirectory, "..", "..", "Concord.Executor", config, "Concord.Executor.dll")),
            Path.Combine(baseDirectory, "Concord.Executor.dll"),
        ];
        return candidates.FirstOrDefault(File.Exists)
            ?? throw new UsageException(
                "Concord.Executor.dll not found; looked at:\n  " + string.Join("\n  ", candidates) +
                $"\nbuild it (`dotnet build services/executor{(config == "release" ? " -c Release" : "")}`), or pass --executor PATH or set CONCORD_EXECUTOR_DLL");
    }
}
