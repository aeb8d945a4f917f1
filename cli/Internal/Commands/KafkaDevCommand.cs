using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Concord.Cli.Internal.Commands;

/// <summary>
/// <c>concord kafka-dev</c>: runs the development Kafka (tools/Concord.KafkaDev, librdkafka's
/// in-memory mock cluster) as its own long-lived process, in the foreground or with --detach
/// in the background; it writes its bootstrap address to &lt;home&gt;/kafka.json, where the Kafka
/// built-ins find it (docs/kafka.md). <c>--stop</c> stops the one recorded there.
/// </summary>
internal static class KafkaDevCommand
{
    public const string KafkaDevDllVariable = "CONCORD_KAFKA_DEV_DLL";
    public const string KafkaFileName = "kafka.json";
    public const string KafkaLogFileName = "kafka-dev.log";
    private const string KafkaDevDllName = "Concord.KafkaDev.dll";

    /// <summary>How long a detached development Kafka may take to write kafka.json, in seconds (cold JIT on 2 cores).</summary>
    private const int ReadyTimeoutSeconds = 30;

    /// <summary>How often kafka.json is checked while it starts, in ms.</summary>
    private const int ReadyPollIntervalMs = 100;

    /// <summary>How long the development Kafka has to exit after SIGTERM, in seconds; then it is killed.</summary>
    private const int StopTimeoutSeconds = 10;

    /// <summary>
    /// Printed whenever the CLI reports a running development Kafka: its retention cap drops
    /// records without an error, which a newcomer prefilling one hot key would never suspect.
    /// </summary>
    public const string RetentionWarning =
        "warning: each partition keeps at most 5 MiB or 100,000 message sets and silently drops the oldest; " +
        "a prefill skewed onto few partitions (one hot key) loses records: create more partitions (--partitions), spread the keys, or consume while producing (docs/kafka.md)";

    public static async Task<int> RunAsync(CliContext ctx, string home, int partitions, string? topics, int brokers, bool detach, bool stop, CancellationToken cancellationToken)
    {
        if (stop)
        {
            return await StopAsync(ctx, home, cancellationToken);
        }
        if (partitions is < 1 or > 1024)
        {
            throw new CliException($"--partitions {partitions} is out of range; use 1..1024 (16 or more for a million small records: the development Kafka keeps at most 100,000 message sets per partition)");
        }
        if (brokers is < 1 or > 16)
        {
            throw new CliException($"--brokers {brokers} is out of range; use 1..16");
        }
        Directory.CreateDirectory(home);
        if (Read(home) is { } existing && ProcessControl.IsAlive(existing.Pid))
        {
            ctx.Out.WriteLine($"development Kafka already running at {existing.Bootstrap} (pid {existing.Pid}, home {home}); stop it with `concord kafka-dev --stop`");
            ctx.Out.WriteLine(RetentionWarning);
            return ExitCodes.Success;
        }
        var arguments = new List<string> { FindDll(ctx.Environment, AppContext.BaseDirectory), "--home", home,
            "--partitions", partitions.ToString(CultureInfo.InvariantCulture), "--brokers", brokers.ToString(CultureInfo.InvariantCulture) };
        if (!string.IsNullOrWhiteSpace(topics))
        {
            arguments.AddRange(["--topics", topics]);
        }
        return detach ? await StartDetachedAsync(ctx, home, arguments, cancellationToken) : await RunForegroundAsync(arguments, cancellationToken);
    }

    private static async Task<int> RunForegroundAsync(List<string> arguments, CancellationToken cancellationToken)
    {
        using var process = Process.Start(new ProcessStartInfo(ProcessControl.DotnetHost(), arguments) { UseShellExecute = false })
            ?? throw new CliException("could not start the development Kafka; is the .NET runtime installed?");
        try
        {
            await process.WaitForExitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            await ProcessControl.StopChildAsync(process, TimeSpan.FromSeconds(StopTimeoutSeconds), CancellationToken.None);
            return ExitCodes.Success;
        }
        return process.ExitCode == 0 ? ExitCodes.Success : throw new CliException($"the development Kafka exited with code {process.ExitCode}; its output is above", process.ExitCode);
    }

    private static async Task<int> StartDetachedAsync(CliContext ctx, string home, List<string> arguments, CancellationToken cancellationToken)
    {
        var log = Path.Combine(home, KafkaLogFileName);
        var startedUnixMs = ctx.Time.GetUtcNow().ToUnixTimeMilliseconds();
        // Same launch as `concord up --detach`: own session, output to the log, outlives the CLI.
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("if command -v setsid >/dev/null 2>&1; then exec setsid \"$@\" >>\"$CONCORD_KAFKA_LOG\" 2>&1 </dev/null; else exec \"$@\" >>\"$CONCORD_KAFKA_LOG\" 2>&1 </dev/null; fi");
        start.ArgumentList.Add("concord-kafka-dev");
        start.ArgumentList.Add(ProcessControl.DotnetHost());
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment["CONCORD_KAFKA_LOG"] = log;
        using var process = Process.Start(start) ?? throw new CliException("could not start /bin/sh to launch the development Kafka");
        var began = ctx.Time.GetTimestamp();
        while (true)
        {
            if (Read(home) is { } info && info.StartedUnixMs >= startedUnixMs && ProcessControl.IsAlive(info.Pid))
            {
                ctx.Out.WriteLine($"development Kafka (in memory, capped retention) at {info.Bootstrap} (pid {info.Pid}, {KafkaFileName} and log in {home}); stop it with `concord kafka-dev --stop`");
                ctx.Out.WriteLine(RetentionWarning);
                return ExitCodes.Success;
            }
            if (process.HasExited)
            {
                throw new CliException($"the development Kafka exited with code {process.ExitCode} during start-up; see {log}");
            }
            if (ctx.Time.GetElapsedTime(began) >= TimeSpan.FromSeconds(ReadyTimeoutSeconds))
            {
                await ProcessControl.StopChildAsync(process, TimeSpan.FromSeconds(StopTimeoutSeconds), CancellationToken.None);
                throw new CliException($"the development Kafka did not write {Path.Combine(home, KafkaFileName)} within {ReadyTimeoutSeconds} s and was stopped; see {log}");
            }
            await Task.Delay(TimeSpan.FromMilliseconds(ReadyPollIntervalMs), ctx.Time, cancellationToken);
        }
    }

    private static async Task<int> StopAsync(CliContext ctx, string home, CancellationToken cancellationToken)
    {
        var file = Path.Combine(home, KafkaFileName);
        if (Read(home) is not { } info || !ProcessControl.IsAlive(info.Pid))
        {
            File.Delete(file);
            ctx.Out.WriteLine($"no development Kafka running in {home}");
            return ExitCodes.Success;
        }
        ProcessControl.Signal(info.Pid, ProcessControl.SigTerm);
        if (!await ProcessControl.WaitForExitAsync(info.Pid, TimeSpan.FromSeconds(StopTimeoutSeconds), ctx.Time, cancellationToken))
        {
            ProcessControl.Signal(info.Pid, ProcessControl.SigKill);
            File.Delete(file);
        }
        ctx.Out.WriteLine($"development Kafka stopped (pid {info.Pid}, was at {info.Bootstrap}); its topics and records are gone");
        return ExitCodes.Success;
    }

    private sealed record KafkaInfo(string Bootstrap, int Pid, long StartedUnixMs);

    private static KafkaInfo? Read(string home)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(home, KafkaFileName)));
            var root = doc.RootElement;
            return new KafkaInfo(root.GetProperty("bootstrap").GetString() ?? "", root.GetProperty("pid").GetInt32(), root.GetProperty("started_unix_ms").GetInt64());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>CONCORD_KAFKA_DEV_DLL, else the artifacts layout next to this CLI (as for the scheduler).</summary>
    private static string FindDll(Func<string, string?> environment, string baseDirectory)
    {
        if (environment(KafkaDevDllVariable) is { Length: > 0 } configured)
        {
            return File.Exists(configured) ? Path.GetFullPath(configured)
                : throw new CliException($"{KafkaDevDllVariable} is '{configured}', which does not exist; point it at {KafkaDevDllName} or unset it");
        }
        var configuration = new DirectoryInfo(baseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var bin = configuration.Parent?.Parent;
        var candidates = bin is null ? [] : new[] { configuration.Name, "release", "debug" }.Distinct()
            .Select(cfg => Path.Combine(bin.FullName, "Concord.KafkaDev", cfg, KafkaDevDllName)).ToList();
        return candidates.FirstOrDefault(File.Exists)
            ?? throw new CliException($"cannot find the development Kafka ({(candidates.Count > 0 ? candidates[0] : KafkaDevDllName)} does not exist); build it with `dotnet build tools/Concord.KafkaDev -c Release`, or set {KafkaDevDllVariable}");
    }
}
