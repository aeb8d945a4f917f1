using System.Diagnostics;
using System.Text;
using Concord.Contracts;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Runtime.Containment;
using Concord.Scheduler.Runtime.Internal;
using Concord.Scheduler.Store;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace Concord.Scheduler.Runtime;

/// <summary>
/// The embedded runtime: every instance is an executor process on this machine, with its
/// working directory <c>&lt;home&gt;/instances/&lt;operator&gt;/&lt;index&gt;/</c> holding
/// <c>spec.json</c>, <c>executor.log</c> (stdout and stderr, appended across restarts, rolled to
/// <c>executor.log.1</c>, <c>.2</c> past <see cref="LocalProcessRuntimeOptions.ExecutorLogBytesMax"/>) and
/// <c>executor.pid</c> (pid, incarnation and release, so a restarted scheduler can adopt or
/// stop leftovers). Odd releases (rolling replace) use <c>&lt;index&gt;.b</c> instead, so the
/// old and the new instance of one index never share a directory (socket, pid file).
/// Every instance runs in a group of its own (<see cref="LocalProcessRuntimeOptions.Containment"/>:
/// a cgroup limited by the spec's mem and cpus) that it enters before the executor starts; when
/// the executor has exited, however it ended, whatever is left in the group is killed and the
/// group removed, so no process of an instance outlives it (docs/security.md, "Containment").
/// </summary>
public sealed partial class LocalProcessRuntime(LocalProcessRuntimeOptions options, ILogger<LocalProcessRuntime> logger, TimeProvider timeProvider)
    : IClusterRuntime
{
    /// <summary>File in the instance directory holding the executor's pid and incarnation.</summary>
    public const string PidFileName = "executor.pid";

    /// <summary>File in the instance directory the executor's stdout and stderr go to.</summary>
    public const string LogFileName = "executor.log";

    /// <summary>File in the instance directory holding the OperatorSpec as protobuf JSON.</summary>
    public const string SpecFileName = "spec.json";

    /// <summary>Socket file name the executor puts in the working directory (architecture.md).</summary>
    private const string OperatorSocketFileName = "operator.sock";

    /// <summary>Where an operator serving loopback TCP announces its port (ExecutorLimits.OperatorPortFileName).</summary>
    private const string OperatorPortFileName = "operator.port";

    /// <summary>
    /// The shell line that starts the executor: it first writes its own pid to each of the
    /// instance group's cgroup.procs files (the arguments up to "--"), so the executor and
    /// everything it starts are inside the group from their first instruction (no window in
    /// which a fork could escape); stdout and stderr go straight to the log file (not through a
    /// pipe to the scheduler, so the executor never dies of SIGPIPE when the scheduler goes
    /// away), stdin is closed, and `exec` makes the executor keep this pid.
    /// $1 is the log file; then the procs files, "--", and the command.
    /// </summary>
    private const string LaunchScript =
        "log=\"$1\"; shift; " +
        "while [ \"$1\" != -- ]; do echo $$ >\"$1\" || { echo \"concord: cannot enter the instance's group ($1)\" >>\"$log\"; exit " + EnterGroupFailedExitCodeText + "; }; shift; done; shift; " +
        "exec \"$@\" >>\"$log\" 2>&1 </dev/null";

    /// <summary>Exit code of the launch shell when it cannot enter the instance's group.</summary>
    public const int EnterGroupFailedExitCode = 125;

    private const string EnterGroupFailedExitCodeText = "125";

    /// <summary>The instance's group: <c>&lt;operator&gt;-&lt;index&gt;-&lt;incarnation&gt;</c> (the incarnation last, without '-').</summary>
    public static string GroupName(string operatorName, int index, string incarnation) =>
        $"{operatorName}-{index.ToString(System.Globalization.CultureInfo.InvariantCulture)}-{incarnation}";

    /// <summary>The incarnation a group name ends with.</summary>
    public static string IncarnationOfGroup(string groupName) => groupName[(groupName.LastIndexOf('-') + 1)..];

    /// <summary>
    /// Variable telling the executor where built-ins may read and write besides the instance's
    /// directory (the scheduler's --data-root, joined with ':'); empty: the deploy file's directory.
    /// </summary>
    public const string DataRootsVariable = "CONCORD_DATA_ROOTS";

    /// <summary>The checkpoint directory an instance restores from (docs/guarantees.md); absent when it starts empty.</summary>
    public const string RestoreCheckpointVariable = "CONCORD_RESTORE_CHECKPOINT";

    /// <summary>Where the executor binds its data plane and metrics (<see cref="LocalProcessRuntimeOptions.ExecutorListenAddress"/>).</summary>
    public const string ListenAddressVariable = "CONCORD_LISTEN_ADDRESS";

    /// <summary>The host the executor advertises to its peers and the scheduler (<see cref="LocalProcessRuntimeOptions.ExecutorAdvertisedHost"/>).</summary>
    public const string AdvertisedHostVariable = "CONCORD_ADVERTISED_HOST";

    // Checked when the runtime is made, not at each launch: executors beyond loopback without
    // TLS would fail one by one, each with the same message in its log.
    private readonly bool _listenChecked = CheckListen(options);

    /// <summary>Files this runtime keeps in an instance directory: no file of "files" may take their name.</summary>
    private static readonly IReadOnlySet<string> ReservedFileNames = new HashSet<string>(
        [
            PidFileName, LogFileName, SpecFileName, OperatorSocketFileName, OperatorPortFileName,
            .. Enumerable.Range(1, SchedulerLimits.ExecutorLogFilesKept).Select(i => ExecutorLogRotation.Rolled(LogFileName, i)),
        ],
        StringComparer.Ordinal);

    public string Name => "local";

    private TimeProvider Time => timeProvider;

    /// <summary>Instances directory: <c>&lt;home&gt;/instances</c>.</summary>
    public string InstancesDirectory => Path.Combine(options.Home, "instances");

    /// <summary>Suffix of the working directory of odd releases (see the class comment).</summary>
    public const string OddReleaseSuffix = ".b";

    /// <summary>Working directory of one instance of one release.</summary>
    public string InstanceDirectory(string operatorName, int index, int release = 0) =>
        Path.Combine(InstancesDirectory, operatorName,
            index.ToString(System.Globalization.CultureInfo.InvariantCulture) + (release % 2 == 0 ? "" : OddReleaseSuffix));

    public string? Validate(OperatorSpec spec)
    {
        if (spec.Builtin is null)
        {
            var (executable, error) = ResolveExecutable(spec.Executable);
            if ((error ?? InputConfinement.CheckExecutable(executable!, options.ExecutablesRoots)) is { } problem)
            {
                return problem;
            }
        }
        if (InstanceFiles.Check(spec, options.FilesRoots, ReservedFileNames) is { } filesProblem)
        {
            return filesProblem;
        }
        // The longest path: the highest index, in the directory of an odd release.
        var socket = Path.Combine(InstanceDirectory(spec.Name, Math.Max(0, spec.Instances - 1), release: 1), OperatorSocketFileName);
        if (Encoding.UTF8.GetByteCount(socket) > ProtocolLimits.UnixSocketPathBytesMax)
        {
            return $"operator socket path '{socket}' would be longer than {ProtocolLimits.UnixSocketPathBytesMax} bytes; " +
                   "start the scheduler with a shorter --home or give the operator a shorter name";
        }
        return null;
    }

    /// <summary>
    /// Where an executable is: an absolute path must exist and be executable; a bare name is
    /// looked up on PATH. Anything else is an error that says how to fix the deploy file.
    /// </summary>
    public static (string? Path, string? Error) ResolveExecutable(string executable)
    {
        if (string.IsNullOrEmpty(executable))
        {
            return (null, "executable: is required; name the program that runs the operator");
        }
        if (Path.IsPathFullyQualified(executable))
        {
            if (!File.Exists(executable))
            {
                return (null, $"executable '{executable}' does not exist; build it or fix \"executable\" in the deploy file");
            }
            if (!IsExecutable(executable))
            {
                return (null, $"executable '{executable}' is not executable; run `chmod +x {executable}` or fix \"executable\" in the deploy file");
            }
            return (executable, null);
        }
        if (executable.Contains('/'))
        {
            return (null, $"executable '{executable}' is a relative path; use an absolute path or a command on PATH (the CLI resolves paths relative to the deploy file)");
        }
        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, executable);
            if (File.Exists(candidate) && IsExecutable(candidate))
            {
                return (candidate, null);
            }
        }
        return (null, $"executable '{executable}' was not found on the scheduler's PATH; install it, use an absolute path, or fix \"executable\" in the deploy file");
    }

    /// <exception cref="Hosting.TlsConfigurationException">Executors would listen beyond loopback without TLS.</exception>
    private static bool CheckListen(LocalProcessRuntimeOptions options)
    {
        Hosting.ListenPolicy.Check(options.ExecutorListenAddress, options.Tls is not null, "executors' data-plane and metrics endpoints", "the scheduler's --tls-cert, --tls-key and --tls-ca");
        if (!Hosting.NetworkAddress.IsHost(options.ExecutorAdvertisedHost))
        {
            throw new ArgumentException(
                $"ExecutorAdvertisedHost '{options.ExecutorAdvertisedHost}' is not a host; give a DNS name or an IP address other hosts can dial, without a port", nameof(options));
        }
        return true;
    }

    public async Task<IInstanceHandle> LaunchAsync(InstanceLaunch launch, CancellationToken cancellationToken)
    {
        var directory = InstanceDirectory(launch.OperatorName, launch.Index, launch.Release);
        Directory.CreateDirectory(directory);
        // Owner only, set explicitly (not left to the umask): it holds the operator's socket.
        Security.SchedulerSecrets.RestrictDirectory(directory);
        // Never two executors for one instance: a leftover from a previous run (or a stop that
        // timed out) is stopped before the new one starts.
        await StopLeftoverAsync(directory, cancellationToken).ConfigureAwait(false);

        await InstanceFiles.CopyAsync(launch.Spec, options.FilesRoots, ReservedFileNames, directory, timeProvider, cancellationToken).ConfigureAwait(false);
        var specFile = Path.Combine(directory, SpecFileName);
        await AtomicFile.WriteAllTextAsync(specFile, JsonFormatter.Default.Format(launch.Spec), cancellationToken).ConfigureAwait(false);
        var logFile = Path.Combine(directory, LogFileName);
        // An instance failing in a loop appends a launch line and its error at every start.
        ExecutorLogRotation.RotateIfOver(logFile, options.ExecutorLogBytesMax, options.ExecutorLogFilesKept);
        await File.AppendAllTextAsync(
            logFile,
            $"---- {timeProvider.GetUtcNow():O} scheduler launches {launch.OperatorName}/{launch.Index} incarnation {launch.Incarnation}: {options.ExecutorCommand}\n",
            cancellationToken).ConfigureAwait(false);

        var group = options.Containment.Create(GroupName(launch.OperatorName, launch.Index, launch.Incarnation), InstanceResources.For(launch.Spec));
        var start = new ProcessStartInfo("/bin/sh")
        {
            UseShellExecute = false,
            WorkingDirectory = directory,
        };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(LaunchScript);
        start.ArgumentList.Add("concord-executor"); // $0 of the script
        start.ArgumentList.Add(logFile);
        foreach (var procs in group.ProcsFiles)
        {
            start.ArgumentList.Add(procs);
        }
        start.ArgumentList.Add("--");
        start.ArgumentList.Add(options.ExecutorCommand.FileName);
        foreach (var argument in options.ExecutorCommand.Arguments)
        {
            start.ArgumentList.Add(argument);
        }
        // Labels only (the environment below configures the executor): `ps` tells clusters and instances apart.
        start.ArgumentList.Add("--operator");
        start.ArgumentList.Add(launch.OperatorName);
        start.ArgumentList.Add("--instance");
        start.ArgumentList.Add(launch.Index.ToString(System.Globalization.CultureInfo.InvariantCulture));
        start.ArgumentList.Add("--home");
        start.ArgumentList.Add(options.Home);
        start.Environment["CONCORD_SCHEDULER_ADDRESS"] = launch.SchedulerAddress;
        start.Environment["CONCORD_OPERATOR_NAME"] = launch.OperatorName;
        start.Environment["CONCORD_INSTANCE_INDEX"] = launch.Index.ToString(System.Globalization.CultureInfo.InvariantCulture);
        start.Environment["CONCORD_INCARNATION"] = launch.Incarnation;
        start.Environment["CONCORD_SPEC_FILE"] = specFile;
        start.Environment["CONCORD_WORK_DIR"] = directory;
        start.Environment[ListenAddressVariable] = options.ExecutorListenAddress.ToString();
        start.Environment[AdvertisedHostVariable] = options.ExecutorAdvertisedHost;
        // Set or removed, never inherited from the scheduler's own environment.
        if (launch.RestoreCheckpoint is { } restore)
        {
            start.Environment[RestoreCheckpointVariable] = restore;
        }
        else
        {
            start.Environment.Remove(RestoreCheckpointVariable);
        }
        if (options.Tls is { } tls)
        {
            start.Environment[Hosting.TlsOptions.CertVariable] = tls.CertPath;
            start.Environment[Hosting.TlsOptions.KeyVariable] = tls.KeyPath;
            start.Environment[Hosting.TlsOptions.CaVariable] = tls.CaPath;
        }
        else
        {
            // Not inherited from the scheduler's own environment: an executor with TLS would not be reachable by a plain scheduler.
            start.Environment.Remove(Hosting.TlsOptions.CertVariable);
            start.Environment.Remove(Hosting.TlsOptions.KeyVariable);
            start.Environment.Remove(Hosting.TlsOptions.CaVariable);
        }
        if (options.DataRoots.Count > 0)
        {
            start.Environment[DataRootsVariable] = string.Join(Path.PathSeparator, options.DataRoots);
        }
        // Secrets go in the environment, which only the executor's user can read, never on its command line.
        foreach (var (name, value) in options.PrivateEnvironment?.Invoke(launch) ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }
        if (options.OperatorPythonPath is { } sdk)
        {
            start.Environment["PYTHONPATH"] = start.Environment.TryGetValue("PYTHONPATH", out var inherited) && !string.IsNullOrEmpty(inherited) ? $"{sdk}:{inherited}" : sdk;
        }

        Process process;
        try
        {
            process = Process.Start(start)
                ?? throw new InvalidOperationException($"could not start {options.ExecutorCommand} for {launch.OperatorName}/{launch.Index}");
        }
        catch
        {
            await group.KillAndRemoveAsync(timeProvider, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
        var pidFile = Path.Combine(directory, PidFileName);
        // "<pid>\n<incarnation>\n", plus "<release>\n" after a rolling replace (absent means 0).
        var releaseLine = launch.Release == 0 ? "" : $"{launch.Release}\n";
        await AtomicFile.WriteAllTextAsync(pidFile, $"{process.Id}\n{launch.Incarnation}\n{releaseLine}", CancellationToken.None).ConfigureAwait(false);
        LogLaunched(launch.OperatorName, launch.Index, launch.Incarnation, process.Id, logFile);
        return new LocalInstance(launch, process, pidFile, group, this);
    }

    public async Task StopAsync(IInstanceHandle handle, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var instance = (ILocalInstance)handle;
        if (instance.Exited.IsCompleted)
        {
            return;
        }
        Posix.TrySignal(instance.Pid, Posix.SigTerm);
        try
        {
            await instance.Exited.WaitAsync(timeout, timeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            LogKilling(handle.OperatorName, handle.Index, handle.Pid, (int)timeout.TotalMilliseconds);
            // The whole group: an operator the executor could not stop dies with it.
            instance.Kill();
            // SIGKILL cannot be ignored; the wait only guards against a process stuck in the kernel.
            await instance.Exited.WaitAsync(TimeSpan.FromMilliseconds(SchedulerLimits.LeftoverStopTimeoutMs), timeProvider, cancellationToken)
                .ConfigureAwait(false);
        }
    }

    public async Task ReapLeftoversAsync(CancellationToken cancellationToken)
    {
        if (!Directory.Exists(InstancesDirectory))
        {
            return;
        }
        var stops = Directory.EnumerateFiles(InstancesDirectory, PidFileName, SearchOption.AllDirectories)
            .Select(pidFile => StopLeftoverAsync(Path.GetDirectoryName(pidFile)!, cancellationToken));
        await Task.WhenAll(stops).ConfigureAwait(false);
        await RemoveLeftoverGroupsAsync(new HashSet<string>(), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Kills and removes the groups of a previous run, except those of adopted instances: what
    /// an operator forked (or an executor SIGKILLed with the scheduler) left there dies here.
    /// </summary>
    private async Task RemoveLeftoverGroupsAsync(IReadOnlySet<string> keep, CancellationToken cancellationToken)
    {
        var removals = options.Containment.List()
            .Where(name => !keep.Contains(IncarnationOfGroup(name)))
            .Select(name => options.Containment.Open(name))
            .OfType<IContainmentGroup>()
            .Select(async group =>
            {
                var pids = group.Pids().Count;
                if (pids > 0)
                {
                    LogKillingLeftoverGroup(group.Name, pids);
                }
                if (!await group.KillAndRemoveAsync(timeProvider, cancellationToken).ConfigureAwait(false))
                {
                    LogGroupNotRemoved(group.Name, ContainmentLimits.GroupKillTimeoutMs);
                }
            });
        await Task.WhenAll(removals).ConfigureAwait(false);
        options.Containment.RemoveParentIfEmpty();
    }

    public async Task<IReadOnlyList<AdoptedInstance>> AdoptLeftoversAsync(Func<LeftoverInstance, bool> adopt, CancellationToken cancellationToken)
    {
        if (!Directory.Exists(InstancesDirectory))
        {
            return [];
        }
        var adopted = new List<AdoptedInstance>();
        var stops = new List<Task>();
        // One at a time: `adopt` decides between two leftovers of one index (a replace cut short).
        foreach (var pidFile in Directory.EnumerateFiles(InstancesDirectory, PidFileName, SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var directory = Path.GetDirectoryName(pidFile)!;
            var leftover = await ReadLeftoverAsync(directory, cancellationToken).ConfigureAwait(false);
            if (leftover is not null && adopt(leftover))
            {
                LogAdopted(leftover.OperatorName, leftover.Index, leftover.Incarnation, leftover.Pid, leftover.Release);
                var group = options.Containment.Open(GroupName(leftover.OperatorName, leftover.Index, leftover.Incarnation));
                adopted.Add(new AdoptedInstance(new AdoptedProcess(leftover, pidFile, group, this), leftover.Release));
            }
            else
            {
                stops.Add(StopLeftoverAsync(directory, cancellationToken));
            }
        }
        await Task.WhenAll(stops).ConfigureAwait(false);
        await RemoveLeftoverGroupsAsync(adopted.Select(a => a.Handle.Incarnation).ToHashSet(StringComparer.Ordinal), cancellationToken).ConfigureAwait(false);
        return adopted;
    }

    /// <summary>
    /// The live executor a pid file names, with what adoption needs to know about it; null when
    /// the file is unreadable, the process is gone, or the pid now belongs to someone else.
    /// </summary>
    private async Task<LeftoverInstance?> ReadLeftoverAsync(string directory, CancellationToken cancellationToken)
    {
        var pidFile = Path.Combine(directory, PidFileName);
        string[] lines;
        try
        {
            lines = (await File.ReadAllTextAsync(pidFile, cancellationToken).ConfigureAwait(false)).Split('\n');
        }
        catch (IOException)
        {
            return null;
        }
        if (lines.Length < 2 || !int.TryParse(lines[0], out var pid) || pid <= 0 || !Posix.IsAlive(pid))
        {
            return null;
        }
        var incarnation = lines[1].Trim();
        var release = lines.Length >= 3 && int.TryParse(lines[2], out var r) ? r : 0;
        // A process caught mid-exec shows no environment for a moment: ask again, bounded.
        var deadline = timeProvider.GetUtcNow().AddMilliseconds(SchedulerLimits.LeftoverStopTimeoutMs);
        var environment = Posix.ReadEnvironment(pid);
        while (environment is null && Posix.IsAlive(pid) && timeProvider.GetUtcNow() < deadline)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(SchedulerLimits.LeftoverPollMs), timeProvider, cancellationToken).ConfigureAwait(false);
            environment = Posix.ReadEnvironment(pid);
        }
        if (environment is null || !environment.TryGetValue("CONCORD_INCARNATION", out var found) || found != incarnation)
        {
            return null;
        }
        OperatorSpec? spec = null;
        try
        {
            spec = JsonParser.Default.Parse<OperatorSpec>(
                await File.ReadAllTextAsync(Path.Combine(directory, SpecFileName), cancellationToken).ConfigureAwait(false));
        }
        catch (Exception e) when (e is IOException or InvalidProtocolBufferException or InvalidJsonException)
        {
            // Unknown spec: not adoptable, stopped like any leftover.
        }
        return new LeftoverInstance(
            environment.GetValueOrDefault("CONCORD_OPERATOR_NAME", ""),
            int.TryParse(environment.GetValueOrDefault("CONCORD_INSTANCE_INDEX"), out var index) ? index : -1,
            incarnation,
            release,
            pid,
            spec,
            environment.GetValueOrDefault("CONCORD_SCHEDULER_ADDRESS", ""));
    }

    private async Task StopLeftoverAsync(string directory, CancellationToken cancellationToken)
    {
        var pidFile = Path.Combine(directory, PidFileName);
        if (!File.Exists(pidFile))
        {
            return;
        }
        var lines = (await File.ReadAllTextAsync(pidFile, cancellationToken).ConfigureAwait(false)).Split('\n');
        if (lines.Length >= 2 && int.TryParse(lines[0], out var pid) && pid > 0)
        {
            var deadline = timeProvider.GetUtcNow().AddMilliseconds(SchedulerLimits.LeftoverStopTimeoutMs);
            // The pid may have been reused by an unrelated process since: only a process that
            // carries the recorded incarnation in its environment is ours. A process caught
            // mid-exec shows no environment for a moment, so that answer is asked again.
            var ours = Posix.HasEnvironment(pid, "CONCORD_INCARNATION", lines[1].Trim());
            while (ours is null && Posix.IsAlive(pid) && timeProvider.GetUtcNow() < deadline)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(SchedulerLimits.LeftoverPollMs), timeProvider, cancellationToken).ConfigureAwait(false);
                ours = Posix.HasEnvironment(pid, "CONCORD_INCARNATION", lines[1].Trim());
            }
            if (ours == true && Posix.IsAlive(pid))
            {
                LogStoppingLeftover(pid, directory);
                Posix.TrySignal(pid, Posix.SigTerm);
                while (Posix.IsAlive(pid) && timeProvider.GetUtcNow() < deadline)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(SchedulerLimits.LeftoverPollMs), timeProvider, cancellationToken).ConfigureAwait(false);
                }
                if (Posix.IsAlive(pid))
                {
                    Posix.TrySignal(pid, Posix.SigKill);
                }
            }
        }
        File.Delete(pidFile);
    }

    private static bool IsExecutable(string path) =>
        OperatingSystem.IsWindows() ||
        (File.GetUnixFileMode(path) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;

    [LoggerMessage(EventId = 200, Level = LogLevel.Information, Message = "Launched {Operator}/{Index} incarnation {Incarnation} as pid {Pid}; log {LogFile}")]
    private partial void LogLaunched(string @operator, int index, string incarnation, int pid, string logFile);

    [LoggerMessage(EventId = 201, Level = LogLevel.Warning, Message = "{Operator}/{Index} (pid {Pid}) did not exit within {TimeoutMs} ms of SIGTERM; sending SIGKILL")]
    private partial void LogKilling(string @operator, int index, int pid, int timeoutMs);

    [LoggerMessage(EventId = 202, Level = LogLevel.Warning, Message = "Stopping leftover executor pid {Pid} from a previous scheduler run in {Directory}")]
    private partial void LogStoppingLeftover(int pid, string directory);

    [LoggerMessage(EventId = 203, Level = LogLevel.Information, Message = "Adopting {Operator}/{Index} incarnation {Incarnation} (pid {Pid}, release {Release}) from a previous scheduler run")]
    private partial void LogAdopted(string @operator, int index, string incarnation, int pid, int release);

    [LoggerMessage(EventId = 204, Level = LogLevel.Warning, Message = "Killing {Pids} leftover processes in instance group {Group} from a previous scheduler run")]
    private partial void LogKillingLeftoverGroup(string group, int pids);

    [LoggerMessage(EventId = 205, Level = LogLevel.Warning, Message = "Instance group {Group} still had processes {TimeoutMs} ms after SIGKILL (stuck in the kernel?); left in place, the next scheduler start retries")]
    private partial void LogGroupNotRemoved(string group, int timeoutMs);

    /// <summary>
    /// After the executor has exited: kills what is left of the instance (an operator that
    /// ignored SIGTERM, its forks) and removes the group. Returns " (…OOM…)" when the kernel
    /// OOM-killed a process of the group, for the exit description.
    /// </summary>
    private async Task<string> EndGroupAsync(IContainmentGroup? group, OperatorSpec? spec, string operatorName, int index)
    {
        if (group is null)
        {
            return "";
        }
        var limit = spec is null ? "its" : $"{InstanceResources.For(spec).MemoryBytes / (1024 * 1024)} MiB";
        var oom = group.OomKills() > 0
            ? $"; the kernel OOM-killed a process of the instance: it used more memory than `mem` allows ({limit}, executor and operator together); raise `mem` in the deploy file or make the operator use less"
            : "";
        try
        {
            if (!await group.KillAndRemoveAsync(timeProvider, CancellationToken.None).ConfigureAwait(false))
            {
                LogGroupNotRemoved(group.Name, ContainmentLimits.GroupKillTimeoutMs);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogGroupNotRemoved($"{group.Name} of {operatorName}/{index} ({e.Message})", ContainmentLimits.GroupKillTimeoutMs);
        }
        options.Containment.RemoveParentIfEmpty();
        return oom;
    }

    /// <summary>The roller of the executor.log beside <paramref name="pidFile"/>.</summary>
    private ExecutorLogRotation LogRotation(string pidFile) =>
        new(Path.Combine(Path.GetDirectoryName(pidFile)!, LogFileName), options.ExecutorLogBytesMax, options.ExecutorLogFilesKept);

    /// <summary>Keeps the log bounded while the instance runs.</summary>
    private void WatchLog(ExecutorLogRotation log, Task exited) =>
        _ = log.WatchAsync(TimeSpan.FromMilliseconds(options.ExecutorLogCheckMs), exited, timeProvider);

    /// <summary>What StopAsync needs of either kind of instance.</summary>
    private interface ILocalInstance : IInstanceHandle
    {
        void Kill();
    }

    /// <summary>
    /// An executor a previous scheduler run launched: not our child, so its exit is noticed by
    /// polling /proc (every <see cref="SchedulerLimits.AdoptedExitPollMs"/>) and its exit code
    /// is unknown. The pid is only trusted while it carries the incarnation.
    /// </summary>
    private sealed class AdoptedProcess : ILocalInstance
    {
        private readonly TimeProvider _time;
        private readonly IContainmentGroup? _group;
        private readonly LocalProcessRuntime _runtime;
        private readonly OperatorSpec? _spec;
        private readonly ExecutorLogRotation _log;

        public AdoptedProcess(LeftoverInstance leftover, string pidFile, IContainmentGroup? group, LocalProcessRuntime runtime)
        {
            OperatorName = leftover.OperatorName;
            Index = leftover.Index;
            Incarnation = leftover.Incarnation;
            Pid = leftover.Pid;
            _time = runtime.Time;
            _group = group;
            _runtime = runtime;
            _spec = leftover.Spec;
            _log = runtime.LogRotation(pidFile);
            Exited = WaitAsync(pidFile);
            runtime.WatchLog(_log, Exited);
        }

        public string OperatorName { get; }

        public int Index { get; }

        public string Incarnation { get; }

        public int Pid { get; }

        public Task<InstanceExit> Exited { get; }

        public void Kill()
        {
            _group?.Signal();
            if (Posix.HasEnvironment(Pid, "CONCORD_INCARNATION", Incarnation) == true)
            {
                Posix.TrySignal(Pid, Posix.SigKill);
            }
        }

        private async Task<InstanceExit> WaitAsync(string pidFile)
        {
            while (Posix.IsAlive(Pid) && Posix.HasEnvironment(Pid, "CONCORD_INCARNATION", Incarnation) != false)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(SchedulerLimits.AdoptedExitPollMs), _time).ConfigureAwait(false);
            }
            try
            {
                if (File.Exists(pidFile) && File.ReadAllText(pidFile).StartsWith($"{Pid}\n", StringComparison.Ordinal))
                {
                    File.Delete(pidFile);
                }
            }
            catch (IOException)
            {
                // Best effort, as for a child.
            }
            var oom = await _runtime.EndGroupAsync(_group, _spec, OperatorName, Index).ConfigureAwait(false);
            // What the executor wrote after the last check: bounded before anyone reads it.
            _log.RotateIfOver();
            return new InstanceExit(-1, "exited (adopted from a previous scheduler run, so its exit code is unknown)" + oom);
        }
    }

    /// <summary>One executor process.</summary>
    private sealed class LocalInstance : ILocalInstance
    {
        private readonly Process _process;
        private readonly IContainmentGroup _group;
        private readonly LocalProcessRuntime _runtime;
        private readonly OperatorSpec _spec;
        private readonly ExecutorLogRotation _log;

        public LocalInstance(InstanceLaunch launch, Process process, string pidFile, IContainmentGroup group, LocalProcessRuntime runtime)
        {
            _group = group;
            _runtime = runtime;
            _spec = launch.Spec;
            OperatorName = launch.OperatorName;
            Index = launch.Index;
            Incarnation = launch.Incarnation;
            Pid = process.Id;
            _process = process;
            _log = runtime.LogRotation(pidFile);
            Exited = WaitAsync(pidFile);
            runtime.WatchLog(_log, Exited);
        }

        public string OperatorName { get; }

        public int Index { get; }

        public string Incarnation { get; }

        public int Pid { get; }

        public Task<InstanceExit> Exited { get; }

        public void Kill()
        {
            _group.Signal();
            try
            {
                _process.Kill(entireProcessTree: false);
            }
            catch (InvalidOperationException)
            {
                // Already exited.
            }
        }

        private async Task<InstanceExit> WaitAsync(string pidFile)
        {
            await _process.WaitForExitAsync().ConfigureAwait(false);
            var code = _process.ExitCode;
            _process.Dispose();
            // Only our own pid file: a newer launch may already have written its own.
            try
            {
                if (File.Exists(pidFile) && File.ReadAllText(pidFile).StartsWith($"{Pid}\n", StringComparison.Ordinal))
                {
                    File.Delete(pidFile);
                }
            }
            catch (IOException)
            {
                // Best effort: a stale pid file is checked against the incarnation before use.
            }
            var oom = await _runtime.EndGroupAsync(_group, _spec, OperatorName, Index).ConfigureAwait(false);
            // What the executor wrote after the last check: bounded before anyone reads it.
            _log.RotateIfOver();
            var description = code > 128 && code < 128 + 32 ? $"killed by signal {code - 128}" : $"exited with code {code}";
            if (code == EnterGroupFailedExitCode && _group.ProcsFiles.Count > 0)
            {
                description += $" (it could not enter its group {_group.Name}; see {LogFileName})";
            }
            return new InstanceExit(code, description + oom, OutOfMemory: oom.Length > 0);
        }
    }
}
