using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Concord.Scheduler.Runtime.Agents;

/// <summary>
/// The command line of the scheduler binary's agent mode (<c>Concord.Scheduler agent …</c>, which
/// <c>concord agent</c> runs): <c>--scheduler URL --cpus N --mem MB --home DIR [--agent-id ID]
/// [--advertise-host H] [--agent-secret-file F] [--executor PATH] [--no-containment]
/// [--log-format text|json] [--tls-cert PATH --tls-key PATH --tls-ca PATH]</c>.
/// </summary>
public static class AgentCommandLine
{
    /// <summary>The first argument that selects the agent mode.</summary>
    public const string ModeArgument = "agent";

    /// <summary>The full help (`agent --help`).</summary>
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

    private sealed record Options(
        Option<string?> Scheduler, Option<double> Cpus, Option<int> Mem, Option<string?> Home, Option<string?> AgentId, Option<string> AdvertiseHost,
        Option<string?> SecretFile, Option<string?> Executor, Option<bool> NoContainment, Option<string> LogFormat,
        Option<string?> TlsCert, Option<string?> TlsKey, Option<string?> TlsCa);

    /// <summary>Parses the arguments after "agent"; null when help was asked for.</summary>
    /// <exception cref="UsageException">An unknown option, a missing one or a bad value; the message names the fix.</exception>
    public static AgentOptions? Parse(IReadOnlyList<string> args)
    {
        var (command, o) = Build();
        var parse = command.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (parse.Action is HelpAction)
        {
            return null;
        }
        if (parse.UnmatchedTokens.Count > 0)
        {
            throw new UsageException($"unknown argument '{parse.UnmatchedTokens[0]}'; see `concord agent --help`");
        }
        if (parse.Errors.Count > 0)
        {
            throw new UsageException(string.Join("\n", parse.Errors.Select(e => e.Message).Distinct()));
        }
        var schedulerText = parse.GetValue(o.Scheduler);
        var schedulers = Hosting.LeaderRedirect.SplitAddresses(schedulerText ?? "");
        if (schedulers.Count == 0)
        {
            throw new UsageException("--scheduler is required: the scheduler's gRPC address, e.g. --scheduler http://10.0.0.1:7400 (https:// with TLS), or several schedulers' as A,B");
        }
        Uri uri = null!;
        foreach (var scheduler in schedulers)
        {
            if (!Uri.TryCreate(scheduler, UriKind.Absolute, out uri!) || uri.Scheme is not ("http" or "https"))
            {
                throw new UsageException($"--scheduler '{scheduler}' is not a scheduler address; give its gRPC address, e.g. --scheduler http://10.0.0.1:7400 (https:// with TLS)");
            }
        }
        if (schedulers.Select(a => new Uri(a).Scheme).Distinct().Count() > 1)
        {
            throw new UsageException($"--scheduler mixes http:// and https:// addresses ({schedulerText}); every scheduler of a cluster uses TLS or none does");
        }
        var cpus = parse.GetValue(o.Cpus);
        var mem = parse.GetValue(o.Mem);
        if (!(cpus > 0) || double.IsInfinity(cpus))
        {
            throw new UsageException("--cpus is required and must be above 0: the CPUs the scheduler may place on this host, e.g. --cpus 4");
        }
        if (mem <= 0)
        {
            throw new UsageException("--mem is required and must be above 0: the memory in MiB the scheduler may place on this host, e.g. --mem 8192");
        }
        var home = parse.GetValue(o.Home);
        if (string.IsNullOrEmpty(home))
        {
            throw new UsageException("--home is required: the agent's own state directory (instances/), e.g. --home ~/.concord-agent; never the scheduler's home");
        }
        var tls = TlsFrom(parse, o);
        if (uri.Scheme == "https" != (tls is not null))
        {
            throw new UsageException(tls is null
                ? "--scheduler is https:// but no --tls-cert/--tls-key/--tls-ca were given; give this host's certificate (`concord certs`)"
                : "--tls-* were given but --scheduler is http://; use https:// for a scheduler with TLS");
        }
        var secretFile = parse.GetValue(o.SecretFile) ?? Path.Combine(SchedulerHome.DefaultDirectory(), AgentSecret.FileName);
        return new AgentOptions
        {
            SchedulerAddress = schedulers[0],
            SchedulerAddresses = schedulers,
            Cpus = cpus,
            MemMb = mem,
            Home = Path.GetFullPath(home),
            AgentId = parse.GetValue(o.AgentId) is { Length: > 0 } id ? id : Environment.MachineName,
            AdvertisedHost = parse.GetValue(o.AdvertiseHost)!,
            Secret = AgentSecret.ReadForAgent(Path.GetFullPath(secretFile)),
            ExecutorDll = SchedulerCommandLine.FindExecutorDll(parse.GetValue(o.Executor)),
            NoContainment = parse.GetValue(o.NoContainment),
            LogFormat = parse.GetValue(o.LogFormat) == "json" ? LogFormat.Json : LogFormat.Text,
            Tls = tls,
        };
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

    private static (Command Command, Options Options) Build()
    {
        var o = new Options(
            new Option<string?>("--scheduler") { HelpName = "URL", Description = "Required. The scheduler's gRPC address, e.g. http://10.0.0.1:7400 (https:// with TLS); with standbys, every scheduler's, comma-separated: the agent serves whichever leads" },
            new Option<double>("--cpus") { HelpName = "N", Description = "Required. CPUs the scheduler may place on this host (instances' `cpus` add up to at most this)" },
            new Option<int>("--mem") { HelpName = "MB", Description = "Required. Memory in MiB the scheduler may place on this host (instances' `mem` add up to at most this)" },
            new Option<string?>("--home") { HelpName = "DIR", Description = "Required. The agent's own state directory (instances/ with each instance's log); not the scheduler's home" },
            new Option<string?>("--agent-id") { HelpName = "ID", Description = $"Name of this agent, [A-Za-z0-9._-]{{1,{SchedulerLimits.AgentIdCharsMax}}}, shown by `concord list` as the host of its instances; default: the host name" },
            new Option<string>("--advertise-host") { HelpName = "HOST", Description = "Host name or address other hosts reach this host's executors at; default 127.0.0.1 (one machine)", DefaultValueFactory = _ => "127.0.0.1" },
            new Option<string?>("--agent-secret-file") { HelpName = "PATH", Description = $"The cluster's agent secret: a copy of <scheduler home>/{AgentSecret.FileName}; default: {AgentSecret.FileName} in $CONCORD_HOME, else ~/.concord" },
            new Option<string?>("--executor") { HelpName = "PATH", Description = "Concord.Executor.dll to launch per instance; default: $CONCORD_EXECUTOR_DLL, else the build next to this binary" },
            new Option<bool>("--no-containment") { Description = "Run instances without cgroups (mem/cpus not enforced); only where the host has no writable cgroups (docs/security.md)" },
            new Option<string>("--log-format") { HelpName = "text|json", Description = "Console log format", DefaultValueFactory = _ => "text", CustomParser = r => r.Tokens[0].Value is "text" or "json" ? r.Tokens[0].Value : Error(r, $"--log-format '{r.Tokens[0].Value}' is not a format; use text or json", "text") },
            new Option<string?>("--tls-cert") { HelpName = "PATH", Description = "This host's certificate (PEM, from `concord certs`): mutual TLS to the scheduler and for the executors here; needs --tls-key and --tls-ca" },
            new Option<string?>("--tls-key") { HelpName = "PATH", Description = "The private key of --tls-cert (PEM)" },
            new Option<string?>("--tls-ca") { HelpName = "PATH", Description = "The CA certificate (PEM) the scheduler's certificate must chain to" });
        var command = new Command(ModeArgument, "A Concord agent: registers this host's cpus and memory with the scheduler and runs the executors it places here.")
        {
            o.Scheduler, o.Cpus, o.Mem, o.Home, o.AgentId, o.AdvertiseHost, o.SecretFile, o.Executor, o.NoContainment, o.LogFormat, o.TlsCert, o.TlsKey, o.TlsCa, new HelpOption(),
        };
        return (command, o);
    }

    private static T Error<T>(ArgumentResult result, string message, T placeholder)
    {
        result.AddError(message);
        return placeholder;
    }
}
