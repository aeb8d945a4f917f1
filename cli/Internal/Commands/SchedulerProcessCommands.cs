using System.Diagnostics;
using System.Text;

namespace Concord.Cli.Internal.Commands;

/// <summary><c>concord up</c> and <c>concord down</c>: start and stop the local scheduler; <c>concord agent</c>: run an agent.</summary>
/// <summary>What `concord agent` was given (<see cref="SchedulerProcessCommands.AgentAsync"/>).</summary>
internal sealed record AgentArguments(string Home, string Scheduler, double? Cpus, int? MemMb, string? AgentId, string? AdvertiseHost, string? SecretFile,
    string? Executor, bool NoContainment, Concord.Hosting.TlsOptions? Tls);

internal static class SchedulerProcessCommands
{
    public const string SchedulerDllVariable = "CONCORD_SCHEDULER_DLL";
    private const string SchedulerDllName = "Concord.Scheduler.dll";

    /// <param name="listen">--listen, passed on as is (the scheduler checks it, and refuses it with --port).</param>
    /// <param name="advertise">--advertise, passed on as is.</param>
    /// <param name="tls">--tls-cert, --tls-key and --tls-ca from the command line: the scheduler's host certificate, passed on,
    /// and presented by the readiness check (a host certificate allows clientAuth too).</param>
    public static async Task<int> UpAsync(CliContext ctx, string home, int? port, bool detach, string? executor, CancellationToken cancellationToken,
        string? listen = null, string? advertise = null, Hosting.TlsOptions? tls = null, string? runtime = null, string? store = null, string? zooKeeper = null,
        int? zooKeeperSessionTimeoutMs = null)
    {
        if (executor is not null && !File.Exists(executor))
        {
            throw new CliException($"--executor '{executor}' does not exist; give the path of Concord.Executor.dll (build it with `dotnet build services/executor -c Release`)");
        }
        if (port is < 0 or > 65535)
        {
            throw new CliException($"--port {port} is out of range; use 1..65535, or 0 for a free port");
        }
        Directory.CreateDirectory(home);

        if (ConcordHome.ReadSchedulerInfo(home) is { } existing)
        {
            if (ProcessControl.IsAlive(existing.Pid) && ProcessControl.LooksLikeScheduler(existing.Pid))
            {
                if (await IsServingAsync(ctx, home, existing.Address, tls, cancellationToken))
                {
                    ctx.Out.WriteLine($"scheduler already running at {existing.Address} (pid {existing.Pid}, home {home})");
                    return ExitCodes.Success;
                }
                throw new CliException($"a scheduler (pid {existing.Pid}) is recorded at {existing.Address} but does not answer; wait for it to start, or stop it with `concord down --home {home}`");
            }
            // Left behind by a scheduler that was killed: it would fool the readiness check below.
            File.Delete(ConcordHome.SchedulerFile(home));
        }

        var dll = FindSchedulerDll(ctx.Environment, AppContext.BaseDirectory);
        var arguments = new List<string> { dll, "--home", home };
        if (executor is not null)
        {
            arguments.AddRange(["--executor", Path.GetFullPath(executor)]);
        }
        if (port is { } p)
        {
            arguments.AddRange(["--port", p.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        }
        if (runtime is not null)
        {
            // The scheduler checks the name and lists the ones there are.
            arguments.AddRange(["--runtime", runtime]);
        }
        if (store is not null)
        {
            // The scheduler checks the name, and that --zookeeper goes with --store zookeeper.
            arguments.AddRange(["--store", store]);
        }
        if (zooKeeper is not null)
        {
            arguments.AddRange(["--zookeeper", zooKeeper]);
        }
        if (zooKeeperSessionTimeoutMs is { } sessionTimeoutMs)
        {
            arguments.AddRange(["--zookeeper-session-timeout-ms", sessionTimeoutMs.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        }
        if (tls is not null)
        {
            // Checked here, so unreadable files fail before a scheduler starts (it would refuse them too).
            try
            {
                tls.Load().Dispose();
            }
            catch (Hosting.TlsConfigurationException e)
            {
                throw new CliException(e.Message);
            }
            arguments.AddRange(["--tls-cert", tls.CertPath, "--tls-key", tls.KeyPath, "--tls-ca", tls.CaPath]);
        }
        if (listen is not null)
        {
            arguments.AddRange(["--listen", listen]);
        }
        if (advertise is not null)
        {
            arguments.AddRange(["--advertise", advertise]);
        }
        return detach
            ? await StartDetachedAsync(ctx, home, arguments, tls, cancellationToken)
            : await RunForegroundAsync(ctx, home, arguments, cancellationToken);
    }

    /// <summary>
    /// <c>concord agent</c>: runs the scheduler binary in its agent mode in the foreground
    /// (docs/cluster.md "Agents"); it checks the values and reports problems itself.
    /// </summary>
    public static Task<int> AgentAsync(CliContext ctx, AgentArguments agent, CancellationToken cancellationToken)
    {
        if (agent.Cpus is null || agent.MemMb is null)
        {
            throw new CliException("concord agent needs --cpus N and --mem MB: the CPUs and the memory in MiB the scheduler may place on this host");
        }
        var dll = FindSchedulerDll(ctx.Environment, AppContext.BaseDirectory);
        var home = Path.GetFullPath(agent.Home);
        var arguments = new List<string>
        {
            dll, "agent", "--scheduler", agent.Scheduler, "--home", home,
            "--cpus", agent.Cpus.Value.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--mem", agent.MemMb.Value.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        void Add(string option, string? value)
        {
            if (!string.IsNullOrEmpty(value))
            {
                arguments.AddRange([option, value]);
            }
        }
        Add("--agent-id", agent.AgentId);
        Add("--advertise-host", agent.AdvertiseHost);
        Add("--agent-secret-file", agent.SecretFile is null ? null : Path.GetFullPath(agent.SecretFile));
        Add("--executor", agent.Executor is null ? null : Path.GetFullPath(agent.Executor));
        if (agent.NoContainment)
        {
            arguments.Add("--no-containment");
        }
        if (agent.Tls is { } tls)
        {
            Add("--tls-cert", Path.GetFullPath(tls.CertPath));
            Add("--tls-key", Path.GetFullPath(tls.KeyPath));
            Add("--tls-ca", Path.GetFullPath(tls.CaPath));
        }
        Directory.CreateDirectory(home);
        return RunForegroundAsync(ctx, home, arguments, cancellationToken, "the agent");
    }

    public static async Task<int> DownAsync(CliContext ctx, string home, CancellationToken cancellationToken)
    {
        var file = ConcordHome.SchedulerFile(home);
        var info = ConcordHome.ReadSchedulerInfo(home);
        if (info is null)
        {
            ctx.Out.WriteLine($"no scheduler running (no {file})");
            return ExitCodes.Success;
        }
        if (!ProcessControl.IsAlive(info.Pid) || !ProcessControl.LooksLikeScheduler(info.Pid))
        {
            File.Delete(file);
            ctx.Out.WriteLine($"no scheduler running (pid {info.Pid} has exited; removed the stale {file})");
            return ExitCodes.Success;
        }
        ProcessControl.Signal(info.Pid, ProcessControl.SigTerm);
        var timeout = TimeSpan.FromSeconds(CliLimits.SchedulerStopTimeoutSeconds);
        if (await ProcessControl.WaitForExitAsync(info.Pid, timeout, ctx.Time, cancellationToken))
        {
            ctx.Out.WriteLine($"scheduler stopped (pid {info.Pid}, was at {info.Address})");
            return ExitCodes.Success;
        }
        ProcessControl.Signal(info.Pid, ProcessControl.SigKill);
        // The killed scheduler cannot delete its own file.
        File.Delete(file);
        throw new CliException($"the scheduler (pid {info.Pid}) did not stop within {CliLimits.SchedulerStopTimeoutSeconds} s of SIGTERM and was killed; its executors exit on their own once they lose it; see {Path.Combine(home, ConcordHome.SchedulerLogFileName)}");
    }

    /// <summary>
    /// CONCORD_SCHEDULER_DLL, else the artifacts layout next to this CLI:
    /// artifacts/bin/concord/&lt;cfg&gt;/ → artifacts/bin/Concord.Scheduler/&lt;cfg&gt;/Concord.Scheduler.dll
    /// (the same configuration first, then the other one).
    /// </summary>
    public static string FindSchedulerDll(Func<string, string?> environment, string baseDirectory)
    {
        if (environment(SchedulerDllVariable) is { Length: > 0 } configured)
        {
            var full = Path.GetFullPath(configured);
            return File.Exists(full)
                ? full
                : throw new CliException($"{SchedulerDllVariable} is '{configured}', which does not exist; point it at {SchedulerDllName} or unset it");
        }
        var configuration = new DirectoryInfo(baseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var bin = configuration.Parent?.Parent;
        var candidates = new List<string>();
        if (bin is not null)
        {
            foreach (var cfg in new[] { configuration.Name, "release", "debug" }.Distinct())
            {
                candidates.Add(Path.Combine(bin.FullName, "Concord.Scheduler", cfg, SchedulerDllName));
            }
        }
        return candidates.FirstOrDefault(File.Exists)
            ?? throw new CliException($"cannot find the scheduler ({(candidates.Count > 0 ? candidates[0] : SchedulerDllName)} does not exist); build it with `dotnet build services/scheduler -c Release` (or run ./concord, which builds), or set {SchedulerDllVariable}");
    }

    private static async Task<int> RunForegroundAsync(CliContext ctx, string home, List<string> arguments, CancellationToken cancellationToken, string what = "the scheduler")
    {
        var start = new ProcessStartInfo(ProcessControl.DotnetHost(), arguments) { UseShellExecute = false };
        using var process = Process.Start(start)
            ?? throw new CliException($"could not start {start.FileName}; is the .NET runtime installed?");
        try
        {
            await process.WaitForExitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // Ctrl-C or SIGTERM to the CLI: pass it on and give the scheduler (or agent) time to drain.
            var stopped = await ProcessControl.StopChildAsync(process, TimeSpan.FromSeconds(CliLimits.SchedulerStopTimeoutSeconds), CancellationToken.None);
            if (!stopped)
            {
                await process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(CliLimits.SchedulerStopTimeoutSeconds), CancellationToken.None);
                throw new CliException($"{what} did not stop within {CliLimits.SchedulerStopTimeoutSeconds} s and was killed");
            }
            if (process.ExitCode != 0)
            {
                throw new CliException($"{what} exited with code {process.ExitCode} while stopping; its output is above", process.ExitCode);
            }
            return ExitCodes.Success;
        }
        if (process.ExitCode != 0)
        {
            throw new CliException($"{what} exited with code {process.ExitCode}; its output is above (home {home})", process.ExitCode);
        }
        return ExitCodes.Success;
    }

    private static async Task<int> StartDetachedAsync(CliContext ctx, string home, List<string> arguments, Hosting.TlsOptions? tls, CancellationToken cancellationToken)
    {
        var log = Path.Combine(home, ConcordHome.SchedulerLogFileName);
        var startedUnixMs = ctx.Time.GetUtcNow().ToUnixTimeMilliseconds();
        await File.AppendAllTextAsync(log, $"---- concord up --detach at {ctx.Time.GetUtcNow():O} ----\n", cancellationToken);
        var logOffset = new FileInfo(log).Length;

        // The shell redirects the scheduler's output to the log and `setsid` puts it in its own
        // session, so it outlives this CLI and the terminal's Ctrl-C or hang-up.
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("if command -v setsid >/dev/null 2>&1; then exec setsid \"$@\" >>\"$CONCORD_UP_LOG\" 2>&1 </dev/null; else exec \"$@\" >>\"$CONCORD_UP_LOG\" 2>&1 </dev/null; fi");
        start.ArgumentList.Add("concord-up");
        start.ArgumentList.Add(ProcessControl.DotnetHost());
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment["CONCORD_UP_LOG"] = log;
        using var process = Process.Start(start)
            ?? throw new CliException("could not start /bin/sh to launch the scheduler");

        var began = ctx.Time.GetTimestamp();
        var timeout = TimeSpan.FromSeconds(CliLimits.UpReadyTimeoutSeconds);
        while (true)
        {
            if (process.HasExited)
            {
                WriteLogTail(ctx, log, logOffset);
                throw new CliException($"the scheduler exited with code {process.ExitCode} during start-up; its log is above and in {log}");
            }
            if (ConcordHome.ReadSchedulerInfo(home) is { } info
                && (info.Pid == process.Id || info.StartedUnixMs >= startedUnixMs)
                && await IsServingAsync(ctx, home, info.Address, tls, cancellationToken))
            {
                ctx.Out.WriteLine($"scheduler running at {info.Address} (pid {info.Pid}, home {home}, log {log}); stop it with `concord down`");
                return ExitCodes.Success;
            }
            if (ctx.Time.GetElapsedTime(began) >= timeout)
            {
                await ProcessControl.StopChildAsync(process, TimeSpan.FromSeconds(CliLimits.SchedulerStopTimeoutSeconds), CancellationToken.None);
                WriteLogTail(ctx, log, logOffset);
                throw new CliException($"the scheduler did not become ready within {CliLimits.UpReadyTimeoutSeconds} s and was stopped; its log is above and in {log}");
            }
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(CliLimits.UpReadyPollIntervalMs), ctx.Time, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                await ProcessControl.StopChildAsync(process, TimeSpan.FromSeconds(CliLimits.SchedulerStopTimeoutSeconds), CancellationToken.None);
                throw new CliException("interrupted; the starting scheduler was stopped", ExitCodes.Interrupted);
            }
        }
    }

    private static async Task<bool> IsServingAsync(CliContext ctx, string home, string address, Hosting.TlsOptions? tls, CancellationToken cancellationToken)
    {
        Hosting.TlsCredentials? credentials = null;
        try
        {
            // The token is read at each try: the scheduler makes its token file as it starts.
            var (token, source) = SchedulerToken.Resolve(null, ctx.Environment, home);
            if (tls is not null && address.StartsWith("https://", StringComparison.Ordinal))
            {
                credentials = tls.Load();
            }
            using var connection = new SchedulerConnection(address, token, source, credentials);
            await connection.CallAsync((c, o) => c.ListAsync(new(), o), cancellationToken);
            return true;
        }
        catch (CliException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    private static void WriteLogTail(CliContext ctx, string log, long offset)
    {
        try
        {
            using var stream = new FileStream(log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            stream.Seek(Math.Min(offset, stream.Length), SeekOrigin.Begin);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            var lines = reader.ReadToEnd().ReplaceLineEndings("\n").TrimEnd('\n').Split('\n');
            foreach (var line in lines.TakeLast(CliLimits.LogTailLinesMax))
            {
                ctx.Err.WriteLine("  | " + line);
            }
        }
        catch (IOException)
        {
            // The log is a convenience; the error message names the file anyway.
        }
    }
}
