namespace Concord.Scheduler.Runtime;

/// <summary>A program and the arguments that come before anything the runtime adds.</summary>
public sealed record LaunchCommand(string FileName, IReadOnlyList<string> Arguments)
{
    /// <summary>
    /// `dotnet &lt;executor.dll&gt;` (using the dotnet host that runs this process when it is
    /// one), or the file itself when it is not a .dll (an apphost or a wrapper script).
    /// </summary>
    public static LaunchCommand ForExecutor(string executor)
    {
        if (!executor.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
        {
            return new LaunchCommand(executor, []);
        }
        var host = Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";
        return new LaunchCommand(host, [executor]);
    }

    public override string ToString() => string.Join(' ', [FileName, .. Arguments]);
}

/// <summary>Options of <see cref="LocalProcessRuntime"/>.</summary>
public sealed class LocalProcessRuntimeOptions
{
    /// <summary>Required. The scheduler's home; instances live under <c>instances/</c> in it.</summary>
    public required string Home { get; init; }

    /// <summary>
    /// Required. What to start for each instance: normally `dotnet Concord.Executor.dll`
    /// (<see cref="LaunchCommand.ForExecutor"/>). Tests start a shell script instead.
    /// </summary>
    public required LaunchCommand ExecutorCommand { get; init; }

    /// <summary>
    /// TLS files given to every executor (CONCORD_TLS_CERT, _KEY, _CA): they run on this host, so
    /// the host's certificate is theirs too. Null: none (plain HTTP on loopback).
    /// </summary>
    public Hosting.TlsOptions? Tls { get; init; }

    /// <summary>
    /// Required. The group each instance runs in: <see cref="Containment.InstanceContainment.Detect"/>
    /// (cgroups), or <see cref="Containment.InstanceContainment.None"/> only when explicitly asked
    /// for (--no-containment), never as a silent fallback.
    /// </summary>
    public required Containment.IInstanceContainment Containment { get; init; }

    /// <summary>
    /// Directories the "files" of a spec may come from (links resolved). Empty (the default):
    /// the deploy file's directory the client sends as source_directory. docs/security.md.
    /// </summary>
    public IReadOnlyList<string> FilesRoots { get; init; } = [];

    /// <summary>
    /// Directories executables may be in (links resolved). Empty (the default): any
    /// executable the scheduler's user may run. docs/security.md.
    /// </summary>
    public IReadOnlyList<string> ExecutablesRoots { get; init; } = [];

    /// <summary>
    /// Directories built-in operators may read and write besides the instance's own directory,
    /// passed to each executor as CONCORD_DATA_ROOTS. Empty (the default): the deploy file's
    /// directory (source_directory). docs/security.md.
    /// </summary>
    public IReadOnlyList<string> DataRoots { get; init; } = [];

    /// <summary>
    /// Optional. Variables added to (a null value: removed from) each executor's environment
    /// only: the launch's secrets (<see cref="Security.SchedulerSecrets.ExecutorEnvironment"/>).
    /// </summary>
    public Func<InstanceLaunch, IReadOnlyDictionary<string, string?>>? PrivateEnvironment { get; init; }

    /// <summary>Size at which executor.log is rolled, in bytes (tests use a small one).</summary>
    public long ExecutorLogBytesMax { get; init; } = SchedulerLimits.ExecutorLogBytesMax;

    /// <summary>Rolled executor logs kept per instance (executor.log.1, .2, …).</summary>
    public int ExecutorLogFilesKept { get; init; } = SchedulerLimits.ExecutorLogFilesKept;

    /// <summary>How often a running instance's executor.log size is checked, in ms.</summary>
    public int ExecutorLogCheckMs { get; init; } = SchedulerLimits.ExecutorLogCheckMs;

    /// <summary>
    /// Where executors launched by this runtime bind their data-plane and metrics endpoints
    /// (CONCORD_LISTEN_ADDRESS). Loopback for the embedded single-host mode; an agent on a
    /// cluster host binds its host's address (docs/cluster.md). Beyond loopback only with TLS.
    /// </summary>
    public System.Net.IPAddress ExecutorListenAddress { get; init; } = System.Net.IPAddress.Loopback;

    /// <summary>
    /// The host name or address executors launched by this runtime advertise to their peers
    /// and the scheduler (CONCORD_ADVERTISED_HOST): what other hosts can reach them at.
    /// </summary>
    public string ExecutorAdvertisedHost { get; init; } = "127.0.0.1";

    /// <summary>
    /// Optional. A directory put first on PYTHONPATH of every instance (its executor, and so its
    /// operator): the repository's sdk/python, so a plain <c>"executable": "python3", "args":
    /// ["op.py"]</c> imports <c>concord</c> without a wrapper script. Null adds nothing; a
    /// deploy file's own "environment" PYTHONPATH replaces it (docs/sdk-python.md).
    /// </summary>
    public string? OperatorPythonPath { get; init; }

    /// <summary>
    /// The repository's sdk/python found from <paramref name="baseDirectory"/> (a build under
    /// artifacts/bin/…) upwards, or null when this build is not inside a Concord checkout.
    /// </summary>
    public static string? FindPythonSdk(string baseDirectory)
    {
        for (var directory = new DirectoryInfo(baseDirectory); directory is not null; directory = directory.Parent)
        {
            var sdk = Path.Combine(directory.FullName, "sdk", "python");
            if (File.Exists(Path.Combine(sdk, "concord", "__init__.py")))
            {
                return sdk;
            }
        }
        return null;
    }
}
