using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Net;
using Concord.Scheduler.Backends;

namespace Concord.Scheduler;

/// <summary>A command line the scheduler cannot run with; the message says what to change.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>
/// The scheduler's command line, parsed with System.CommandLine (as the <c>concord</c> CLI is):
/// <c>Concord.Scheduler [--home DIR] [--port N] [--metrics-port N] [--executor PATH]
/// [--log-format text|json] [--store NAME] [--runtime NAME] [--tls-cert PATH --tls-key PATH --tls-ca PATH]</c>. Values are checked here, with
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
        return new SchedulerOptions
        {
            Home = Path.GetFullPath(parse.GetValue(o.Home) ?? SchedulerHome.DefaultDirectory()),
            Port = parse.GetValue(o.Port),
            MetricsPort = parse.GetValue(o.MetricsPort),
            ExecutorDll = FindExecutorDll(parse.GetValue(o.Executor)),
            LogFormat = parse.GetValue(o.LogFormat),
            Store = parse.GetValue(o.Store)!,
            Runtime = parse.GetValue(o.Runtime)!,
            Tls = TlsFrom(parse, o),
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
            OptionResult option when option.Tokens.Count > 1 => $"{option.Option.Name} is given {option.Tokens.Count} times; give it once",
            _ => error.Message,
        };

    private static string MissingValue(Option option) => $"{option.Name} needs a value\n\n{Synopsis}";

    private sealed record Options(
        Option<string?> Home,
        Option<int> Port,
        Option<int?> MetricsPort,
        Option<string?> Executor,
        Option<LogFormat> LogFormat,
        Option<string> Store,
        Option<string> Runtime,
        Option<string?> TlsCert,
        Option<string?> TlsKey,
        Option<string?> TlsCa);

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
            Description = $"gRPC port on 127.0.0.1; 0 picks a free port (read the address from <home>/{SchedulerHome.InfoFileName})",
            DefaultValueFactory = _ => SchedulerLimits.DefaultPort,
            CustomParser = result => ParsePort("--port", result),
        };
        var metricsPort = new Option<int?>("--metrics-port")
        {
            HelpName = "N",
            Description = "HTTP/1.1 port on 127.0.0.1 for /metrics and Prometheus service discovery (/prometheus/targets); " +
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
        // A Command, not a RootCommand: no directives, no --version, and the name does not
        // depend on the host executable (a test host parses too).
        var command = new Command(ProgramName, "The Concord scheduler: keeps the deployed topology running and serves the gRPC API the CLI and the executors use.")
        {
            home, port, metricsPort, executor, logFormat, store, runtime, tlsCert, tlsKey, tlsCa, new HelpOption(),
        };
        return (command, new Options(home, port, metricsPort, executor, logFormat, store, runtime, tlsCert, tlsKey, tlsCa));
    }

    private static (Option<string?> Cert, Option<string?> Key, Option<string?> Ca) TlsOptions() =>
    (
        new Option<string?>("--tls-cert") { HelpName = "PATH", Description = "This host's certificate (PEM, from `concord certs`): serve HTTPS with client certificates required, on every endpoint; needs --tls-key and --tls-ca" },
        new Option<string?>("--tls-key") { HelpName = "PATH", Description = "The private key of --tls-cert (PEM)" },
        new Option<string?>("--tls-ca") { HelpName = "PATH", Description = "The CA certificate (PEM) every client and executor certificate must chain to" }
    );

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

    private static int ParsePort(string option, ArgumentResult result)
    {
        var text = result.Tokens[0].Value;
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port <= IPEndPoint.MaxPort
            ? port
            : Error(result, $"{option} '{text}' is not a port; {PortFix}", 0);
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
