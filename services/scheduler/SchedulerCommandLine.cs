using System.Globalization;

namespace Concord.Scheduler;

/// <summary>A command line the scheduler cannot run with; the message says what to change.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>
/// The scheduler's command line:
/// <c>Concord.Scheduler [--home DIR] [--port N] [--executor PATH] [--log-format text|json] [--no-containment]</c>.
/// Hand-written: four options do not need a parser library, and errors can name the fix.
/// </summary>
public static class SchedulerCommandLine
{
    public const string Usage = """
        Usage: Concord.Scheduler [--home DIR] [--port N] [--metrics-port N] [--executor PATH] [--log-format text|json] [--no-containment]

          --home DIR         state directory (topology.json, scheduler.json, instances/);
                             default: $CONCORD_HOME, else ~/.concord
          --port N           gRPC port on 127.0.0.1; default 7400; 0 picks a free port
                             (read the address from <home>/scheduler.json)
          --metrics-port N   HTTP/1.1 port on 127.0.0.1 for /metrics and Prometheus
                             service discovery (/prometheus/targets); default: the
                             gRPC port + 1 (7401), or a free one with --port 0
          --executor PATH    Concord.Executor.dll to launch per instance (with dotnet;
                             a path not ending in .dll is run directly); default:
                             $CONCORD_EXECUTOR_DLL, else the build next to this scheduler
                             (artifacts/bin/Concord.Executor/<config>/Concord.Executor.dll)
          --log-format F     text (default) or json
          --no-containment   run instances without cgroups: mem/cpus not enforced and
                             processes an operator forks not killed on stop; only where
                             the host has no writable cgroup v1/v2 (docs/security.md)
        """;

    /// <summary>Parses <paramref name="args"/>; null when help was asked for.</summary>
    /// <exception cref="UsageException">An unknown option or a bad value.</exception>
    public static SchedulerOptions? Parse(IReadOnlyList<string> args)
    {
        string? home = null, executor = null;
        var port = SchedulerLimits.DefaultPort;
        int? metricsPort = null;
        var format = LogFormat.Text;
        var noContainment = false;
        for (var i = 0; i < args.Count; i++)
        {
            var (name, inlineValue) = args[i].Split('=', 2) is [var n, var v] && n.StartsWith("--", StringComparison.Ordinal) ? (n, v) : (args[i], null);
            string Value()
            {
                if (inlineValue is not null)
                {
                    return inlineValue;
                }
                if (i + 1 >= args.Count)
                {
                    throw new UsageException($"{name} needs a value\n\n{Usage}");
                }
                return args[++i];
            }
            switch (name)
            {
                case "-h" or "--help":
                    return null;
                case "--home":
                    home = Value();
                    break;
                case "--port":
                    var text = Value();
                    if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port > 65535)
                    {
                        throw new UsageException($"--port '{text}' is not a port; use 0..65535 (0 picks a free one)");
                    }
                    break;
                case "--metrics-port":
                    var metricsText = Value();
                    if (!int.TryParse(metricsText, NumberStyles.None, CultureInfo.InvariantCulture, out var parsedMetricsPort) || parsedMetricsPort > 65535)
                    {
                        throw new UsageException($"--metrics-port '{metricsText}' is not a port; use 0..65535 (0 picks a free one)");
                    }
                    metricsPort = parsedMetricsPort;
                    break;
                case "--executor":
                    executor = Value();
                    break;
                case "--log-format":
                    var f = Value();
                    format = f switch
                    {
                        "text" => LogFormat.Text,
                        "json" => LogFormat.Json,
                        _ => throw new UsageException($"--log-format '{f}' is not a format; use text or json"),
                    };
                    break;
                case "--no-containment":
                    noContainment = true;
                    break;
                default:
                    throw new UsageException($"unknown argument '{args[i]}'\n\n{Usage}");
            }
        }
        return new SchedulerOptions
        {
            Home = Path.GetFullPath(home ?? SchedulerHome.DefaultDirectory()),
            Port = port,
            MetricsPort = metricsPort,
            ExecutorDll = FindExecutorDll(executor),
            LogFormat = format,
            NoContainment = noContainment,
        };
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
