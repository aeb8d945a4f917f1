namespace Concord.Scheduler.Runtime.Mesos;

/// <summary>
/// Settings of the Mesos runtime. The scheduler reads them from its environment
/// (<see cref="FromEnvironment"/>), so its command line does not grow options only one runtime uses.
/// </summary>
public sealed record MesosRuntimeOptions
{
    public const string MasterVariable = "CONCORD_MESOS_MASTER";
    public const string RoleVariable = "CONCORD_MESOS_ROLE";
    public const string FrameworkNameVariable = "CONCORD_MESOS_FRAMEWORK_NAME";
    public const string ExecutorCommandVariable = "CONCORD_MESOS_EXECUTOR_COMMAND";
    public const string TlsDirectoryVariable = "CONCORD_MESOS_TLS_DIR";
    public const string UserVariable = "CONCORD_MESOS_USER";

    /// <summary>The file in the scheduler's home holding the framework id (with the file store).</summary>
    public const string FrameworkIdFileName = "mesos-framework-id";

    /// <summary>
    /// The masters to subscribe to, tried in turn (http://host:5050); a non-leading one answers
    /// 307 with the leader's address, which is followed.
    /// </summary>
    public required IReadOnlyList<Uri> Masters { get; init; }

    /// <summary>The role the framework subscribes with (its share of the cluster): "*" is the default role.</summary>
    public string Role { get; init; } = "*";

    /// <summary>The framework's name in the master's UI and API.</summary>
    public string FrameworkName { get; init; } = "concord";

    /// <summary>The user tasks run as on the agents; empty: the agent's own user.</summary>
    public string User { get; init; } = "";

    /// <summary>
    /// The command starting the Concord executor on an agent (run by /bin/sh), e.g.
    /// <c>/opt/concord/executor/Concord.Executor</c>: it must be installed on every agent.
    /// </summary>
    public required string ExecutorCommand { get; init; }

    /// <summary>The directory on every agent holding the cluster's TLS files (tls.crt, tls.key, ca.crt from `concord certs`).</summary>
    public required string TlsDirectory { get; init; }

    /// <summary>Secrets of each launch (launch secret, data-plane key) for the executor's environment.</summary>
    public Func<InstanceLaunch, IReadOnlyDictionary<string, string?>>? PrivateEnvironment { get; init; }

    /// <summary><see cref="MesosLimits.TaskStartTimeoutMs"/>; tests shorten it.</summary>
    public int TaskStartTimeoutMs { get; init; } = MesosLimits.TaskStartTimeoutMs;

    /// <summary><see cref="MesosLimits.SubscribeRetryMaxMs"/>; tests shorten it.</summary>
    public int SubscribeRetryMaxMs { get; init; } = MesosLimits.SubscribeRetryMaxMs;

    /// <summary><see cref="MesosLimits.ReconcileQuietMs"/>; tests shorten it.</summary>
    public int ReconcileQuietMs { get; init; } = MesosLimits.ReconcileQuietMs;

    /// <summary>
    /// Reads the settings; throws <see cref="UsageException"/> naming the variable and the fix.
    /// </summary>
    public static MesosRuntimeOptions FromEnvironment(Func<string, string?> environment, bool schedulerHasTls)
    {
        if (!schedulerHasTls)
        {
            throw new UsageException(
                "--runtime mesos needs TLS: executors on Mesos agents are reached over the network, which they listen on only with TLS; " +
                "start the scheduler with --tls-cert, --tls-key and --tls-ca (`concord certs`, docs/mesos.md)");
        }
        string Require(string name, string fix) =>
            environment(name) is { Length: > 0 } value ? value.Trim() : throw new UsageException($"--runtime mesos: {name} is not set; {fix}");

        var masters = new List<Uri>();
        foreach (var part in Require(MasterVariable, "set it to the master's address, e.g. http://mesos-master:5050 (several: comma-separated)")
                     .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!Uri.TryCreate(part, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                throw new UsageException($"--runtime mesos: {MasterVariable}: '{part}' is not an http:// or https:// address; write it as http://host:5050");
            }
            masters.Add(uri);
        }
        if (masters.Count == 0)
        {
            throw new UsageException($"--runtime mesos: {MasterVariable} names no master; set it to the master's address, e.g. http://mesos-master:5050 (several: comma-separated)");
        }
        return new MesosRuntimeOptions
        {
            Masters = masters,
            Role = environment(RoleVariable) is { Length: > 0 } role ? role.Trim() : "*",
            FrameworkName = environment(FrameworkNameVariable) is { Length: > 0 } name ? name.Trim() : "concord",
            User = environment(UserVariable)?.Trim() ?? "",
            ExecutorCommand = Require(ExecutorCommandVariable, "set it to the command that starts Concord.Executor on the agents, e.g. /opt/concord/executor/Concord.Executor"),
            TlsDirectory = Require(TlsDirectoryVariable, "set it to the directory on every agent holding tls.crt, tls.key and ca.crt from `concord certs` (docs/mesos.md)"),
        };
    }
}
