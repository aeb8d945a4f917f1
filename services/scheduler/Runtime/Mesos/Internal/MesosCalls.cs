using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Concord.Contracts;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Runtime.Containment;
using Google.Protobuf;

namespace Concord.Scheduler.Runtime.Mesos.Internal;

/// <summary>
/// The calls of the Mesos v1 scheduler API (mesos/v1/scheduler/scheduler.proto) in their JSON
/// form (protobuf's JSON mapping with the proto field names, as the master parses it), built
/// from launches. Pure functions, so tests check them without a master.
/// </summary>
internal static class MesosCalls
{
    /// <summary>Variables of the executor's environment the runtime sets.</summary>
    public const string SpecJsonVariable = "CONCORD_SPEC_JSON";
    public const string SchedulerAddressVariable = "CONCORD_SCHEDULER_ADDRESS";

    /// <summary>The task id of an instance's executor task: operator, index and incarnation, unique per launch.</summary>
    public static string TaskId(string operatorName, int index, string incarnation) =>
        $"concord.{operatorName}.{index.ToString(CultureInfo.InvariantCulture)}.{incarnation}";

    /// <summary>The Mesos executor id of the task group of one launch (the default executor supervising it).</summary>
    public static string ExecutorId(string taskId) => taskId + ".group";

    /// <summary>Why <paramref name="spec"/> cannot run as a Mesos task, naming the field and the fix; null when it can.</summary>
    public static string? Check(OperatorSpec spec)
    {
        if (spec.Builtin is null && string.IsNullOrWhiteSpace(spec.Executable))
        {
            return "executable: is required; name the operator's command as installed on the Mesos agents";
        }
        if (spec.Files.Count > 0)
        {
            return $"files: {spec.Files.Count} file(s) listed, but --runtime mesos copies no files to agents; install them on the agents and remove \"files\" (docs/mesos.md)";
        }
        var json = Encoding.UTF8.GetByteCount(JsonFormatter.Default.Format(spec));
        if (json > MesosLimits.SpecJsonBytesMax)
        {
            return $"the operator's spec is {json} bytes as JSON, over the {MesosLimits.SpecJsonBytesMax} the executor's environment can carry (MesosLimits.SpecJsonBytesMax); shorten its environment or args";
        }
        return null;
    }

    /// <summary>What one launch takes from an offer: the instance's resources, the Concord executor's and the default executor's.</summary>
    public static (double Cpus, double MemMiB) Needs(OperatorSpec spec)
    {
        var instance = InstanceResources.For(spec);
        var mem = instance.MemoryBytes / (1024.0 * 1024.0);
        // A built-in is the executor alone: the instance's resources are its.
        return spec.Builtin is not null
            ? (instance.Cpus + MesosLimits.DefaultExecutorCpus, mem + MesosLimits.DefaultExecutorMemMiB)
            : (instance.Cpus + MesosLimits.ConcordExecutorCpus + MesosLimits.DefaultExecutorCpus, mem + MesosLimits.ConcordExecutorMemMiB + MesosLimits.DefaultExecutorMemMiB);
    }

    public static JsonObject Subscribe(MesosRuntimeOptions options, string? frameworkId)
    {
        var info = new JsonObject
        {
            ["user"] = options.User,
            ["name"] = options.FrameworkName,
            ["role"] = options.Role,
            ["failover_timeout"] = MesosLimits.FailoverTimeoutSeconds,
            ["checkpoint"] = true,
            ["capabilities"] = new JsonArray(new JsonObject { ["type"] = "TASK_KILLING_STATE" }, new JsonObject { ["type"] = "PARTITION_AWARE" }),
        };
        var call = new JsonObject { ["type"] = "SUBSCRIBE", ["subscribe"] = new JsonObject { ["framework_info"] = info } };
        if (frameworkId is not null)
        {
            info["id"] = Id(frameworkId);
            call["framework_id"] = Id(frameworkId);
        }
        return call;
    }

    /// <summary>ACCEPT of one offer with one LAUNCH_GROUP per launch (an empty list declines it for <paramref name="refuseSeconds"/>).</summary>
    public static JsonObject Accept(string frameworkId, string offerId, string agentId, string hostname, IEnumerable<InstanceLaunch> launches, MesosRuntimeOptions options, double refuseSeconds)
    {
        var operations = new JsonArray();
        foreach (var launch in launches)
        {
            operations.Add(LaunchGroup(frameworkId, agentId, hostname, launch, options));
        }
        return Call(frameworkId, "ACCEPT", "accept", new JsonObject
        {
            ["offer_ids"] = new JsonArray(Id(offerId)),
            ["operations"] = operations,
            ["filters"] = new JsonObject { ["refuse_seconds"] = refuseSeconds },
        });
    }

    public static JsonObject Decline(string frameworkId, IEnumerable<string> offerIds, double refuseSeconds) =>
        Call(frameworkId, "DECLINE", "decline", new JsonObject
        {
            ["offer_ids"] = new JsonArray([.. offerIds.Select(o => (JsonNode)Id(o))]),
            ["filters"] = new JsonObject { ["refuse_seconds"] = refuseSeconds },
        });

    public static JsonObject Kill(string frameworkId, string taskId, string? agentId, TimeSpan grace)
    {
        var kill = new JsonObject
        {
            ["task_id"] = Id(taskId),
            ["kill_policy"] = new JsonObject { ["grace_period"] = new JsonObject { ["nanoseconds"] = (long)grace.TotalMilliseconds * 1_000_000 } },
        };
        if (agentId is not null)
        {
            kill["agent_id"] = Id(agentId);
        }
        return Call(frameworkId, "KILL", "kill", kill);
    }

    public static JsonObject Acknowledge(string frameworkId, string agentId, string taskId, string uuid) =>
        Call(frameworkId, "ACKNOWLEDGE", "acknowledge", new JsonObject { ["agent_id"] = Id(agentId), ["task_id"] = Id(taskId), ["uuid"] = uuid });

    /// <summary>RECONCILE: explicit for <paramref name="tasks"/>; with none, implicit (the master reports every task of the framework).</summary>
    public static JsonObject Reconcile(string frameworkId, IEnumerable<(string TaskId, string? AgentId)> tasks)
    {
        var list = new JsonArray();
        foreach (var (taskId, agentId) in tasks)
        {
            var task = new JsonObject { ["task_id"] = Id(taskId) };
            if (agentId is not null)
            {
                task["agent_id"] = Id(agentId);
            }
            list.Add(task);
        }
        return Call(frameworkId, "RECONCILE", "reconcile", new JsonObject { ["tasks"] = list });
    }

    public static JsonObject Revive(string frameworkId) => new() { ["framework_id"] = Id(frameworkId), ["type"] = "REVIVE" };

    /// <summary>The task id of the operator's task beside the executor task <paramref name="executorTaskId"/>.</summary>
    public static string OperatorTaskId(string executorTaskId) => executorTaskId + ".operator";

    /// <summary>The directory of the executor's sandbox both tasks mount (a PARENT sandbox path volume): the session's unix socket lives in it.</summary>
    public const string SharedVolume = "concord-shared";

    /// <summary>The socket's file name in the shared directory.</summary>
    public const string SocketName = "operator.sock";

    /// <summary>
    /// One LAUNCH_GROUP: Mesos' default executor running a task group of the Concord executor
    /// task (attach mode) and the operator's task; both mount the same directory of the default
    /// executor's sandbox, where the operator serves the session's unix socket and the executor
    /// connects to it. A built-in is
    /// the executor task alone.
    /// </summary>
    public static JsonObject LaunchGroup(string frameworkId, string agentId, string hostname, InstanceLaunch launch, MesosRuntimeOptions options)
    {
        var taskId = TaskId(launch.OperatorName, launch.Index, launch.Incarnation);
        var builtin = launch.Spec.Builtin is not null;
        var instance = InstanceResources.For(launch.Spec);
        var instanceMem = instance.MemoryBytes / (1024.0 * 1024.0);
        var executor = new JsonObject
        {
            ["type"] = "DEFAULT",
            ["executor_id"] = Id(ExecutorId(taskId)),
            ["framework_id"] = Id(frameworkId),
            ["resources"] = Resources(MesosLimits.DefaultExecutorCpus, MesosLimits.DefaultExecutorMemMiB),
        };
        var executorEnv = ExecutorEnvironment(launch, hostname, options);
        if (!builtin)
        {
            executorEnv[OperatorAttachTimeoutVariable] = MesosLimits.OperatorAttachTimeoutMs.ToString(CultureInfo.InvariantCulture);
        }
        var tasks = new JsonArray(Task(
            $"{launch.OperatorName}/{launch.Index.ToString(CultureInfo.InvariantCulture)}/executor",
            taskId, agentId, launch,
            // A built-in is the executor alone: the instance's resources are its.
            builtin ? Resources(instance.Cpus, instanceMem) : Resources(MesosLimits.ConcordExecutorCpus, MesosLimits.ConcordExecutorMemMiB),
            ExecutorShellCommand(options.ExecutorCommand, attach: !builtin),
            executorEnv, options.User));
        if (!builtin)
        {
            var operatorEnv = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (key, value) in launch.Spec.Environment)
            {
                operatorEnv[key] = value;
            }
            operatorEnv["CONCORD_OPERATOR_NAME"] = launch.OperatorName;
            tasks.Add(Task(
                $"{launch.OperatorName}/{launch.Index.ToString(CultureInfo.InvariantCulture)}/operator",
                OperatorTaskId(taskId), agentId, launch,
                Resources(instance.Cpus, instanceMem),
                OperatorShellCommand(launch.Spec),
                operatorEnv, options.User));
        }
        return new JsonObject
        {
            ["type"] = "LAUNCH_GROUP",
            ["launch_group"] = new JsonObject
            {
                ["executor"] = executor,
                ["task_group"] = new JsonObject { ["tasks"] = tasks },
            },
        };
    }

    private static JsonObject Task(string name, string taskId, string agentId, InstanceLaunch launch, JsonArray resources, string shell,
        Dictionary<string, string> env, string user)
    {
        var command = new JsonObject
        {
            ["shell"] = true,
            ["value"] = shell,
            ["environment"] = new JsonObject { ["variables"] = Variables(env) },
        };
        if (user.Length > 0)
        {
            command["user"] = user;
        }
        return new JsonObject
        {
            ["name"] = name,
            ["task_id"] = Id(taskId),
            ["agent_id"] = Id(agentId),
            ["resources"] = resources,
            ["command"] = command,
            // Both tasks see the same directory of the default executor's sandbox at
            // $MESOS_SANDBOX/concord-shared (Mesos' way of sharing a volume inside a task group).
            ["container"] = new JsonObject
            {
                ["type"] = "MESOS",
                ["volumes"] = new JsonArray(new JsonObject
                {
                    ["mode"] = "RW",
                    ["container_path"] = SharedVolume,
                    ["source"] = new JsonObject
                    {
                        ["type"] = "SANDBOX_PATH",
                        ["sandbox_path"] = new JsonObject { ["type"] = "PARENT", ["path"] = SharedVolume },
                    },
                }),
            },
            ["labels"] = new JsonObject
            {
                ["labels"] = new JsonArray(
                    Label("concord.operator", launch.OperatorName),
                    Label("concord.instance", launch.Index.ToString(CultureInfo.InvariantCulture)),
                    Label("concord.incarnation", launch.Incarnation),
                    Label("concord.release", launch.Release.ToString(CultureInfo.InvariantCulture))),
            },
        };
    }

    /// <summary>
    /// The shell prologue of both tasks: <c>$w</c> becomes the shared directory. The session's
    /// unix socket lives in it, and a Mesos sandbox path is too long for a
    /// socket path (Linux: 107 bytes), so past <see cref="MesosLimits.WorkDirCharsMax"/> it is
    /// a short symlink in /tmp to the directory: the files stay in the sandbox, which Mesos
    /// cleans up. Each task makes its own link; both resolve to the same directory.
    /// </summary>
    private static string SharedDirectoryPrologue() =>
        $"w=\"$MESOS_SANDBOX/{SharedVolume}\"; " +
        $"if [ ${{#w}} -gt {MesosLimits.WorkDirCharsMax.ToString(CultureInfo.InvariantCulture)} ]; then " +
        "l=$(mktemp -u /tmp/concord.XXXXXXXX) && ln -s \"$w\" \"$l\" && w=\"$l\" || exit 125; fi; ";

    /// <summary>The shell command of the executor task (attach mode: it waits for the operator task on the shared socket).</summary>
    public static string ExecutorShellCommand(string executorCommand, bool attach) =>
        SharedDirectoryPrologue() +
        "export CONCORD_WORK_DIR=\"$w\"; " +
        (attach ? $"export {OperatorAttachVariable}=\"$w/{SocketName}\"; " : "") +
        $"exec {executorCommand}";

    /// <summary>The shell command of the operator task: its executable and args, quoted, run in the shared directory with the socket's path.</summary>
    public static string OperatorShellCommand(OperatorSpec spec) =>
        SharedDirectoryPrologue() +
        "cd \"$w\" || exit 125; " +
        $"export {ProtocolLimits.OperatorAddressVariable}=\"$w/{SocketName}\"; " +
        "exec " + string.Join(' ', new[] { spec.Executable }.Concat(spec.Args).Select(ShellQuote));

    /// <summary>One word for /bin/sh, whatever it holds.</summary>
    public static string ShellQuote(string word) => "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    /// <summary>The executor's attach-mode variables (services/executor ExecutorOptions, ExecutorLimits).</summary>
    public const string OperatorAttachVariable = "CONCORD_OPERATOR_ATTACH";
    public const string OperatorAttachTimeoutVariable = "CONCORD_OPERATOR_ATTACH_TIMEOUT_MS";

    public static Dictionary<string, string> ExecutorEnvironment(InstanceLaunch launch, string hostname, MesosRuntimeOptions options)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [SchedulerAddressVariable] = launch.SchedulerAddress,
            ["CONCORD_OPERATOR_NAME"] = launch.OperatorName,
            ["CONCORD_INSTANCE_INDEX"] = launch.Index.ToString(CultureInfo.InvariantCulture),
            ["CONCORD_INCARNATION"] = launch.Incarnation,
            [SpecJsonVariable] = JsonFormatter.Default.Format(launch.Spec),
            // Peers and the scheduler dial the agent's address; the executor picks a free port
            // (host networking, the Mesos containerizer's default) and registers it.
            [LocalProcessRuntime.ListenAddressVariable] = "0.0.0.0",
            [LocalProcessRuntime.AdvertisedHostVariable] = hostname,
            [Hosting.TlsOptions.CertVariable] = options.TlsDirectory + "/tls.crt",
            [Hosting.TlsOptions.KeyVariable] = options.TlsDirectory + "/tls.key",
            [Hosting.TlsOptions.CaVariable] = options.TlsDirectory + "/ca.crt",
        };
        if (launch.RestoreCheckpoint is { } restore)
        {
            env[LocalProcessRuntime.RestoreCheckpointVariable] = restore;
        }
        foreach (var (key, value) in options.PrivateEnvironment?.Invoke(launch) ?? new Dictionary<string, string?>())
        {
            if (value is not null)
            {
                env[key] = value;
            }
        }
        return env;
    }

    private static JsonArray Variables(Dictionary<string, string> env) =>
        new([.. env.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => (JsonNode)Variable(e.Key, e.Value))]);

    private static JsonObject Variable(string name, string value) => new() { ["name"] = name, ["type"] = "VALUE", ["value"] = value };

    private static JsonObject Label(string key, string value) => new() { ["key"] = key, ["value"] = value };

    /// <summary>
    /// Unreserved scalars: the master takes them from the offer's unreserved resources (resources
    /// reserved for the role are not used, docs/mesos.md).
    /// </summary>
    private static JsonArray Resources(double cpus, double memMiB) => new(Scalar("cpus", cpus), Scalar("mem", memMiB));

    private static JsonObject Scalar(string name, double value) =>
        // Mesos keeps three decimals of scalars; rounding here keeps sums exact on both sides.
        new() { ["name"] = name, ["type"] = "SCALAR", ["scalar"] = new JsonObject { ["value"] = Math.Round(value, 3) } };

    private static JsonObject Id(string value) => new() { ["value"] = value };

    private static JsonObject Call(string frameworkId, string type, string field, JsonObject body) =>
        new() { ["framework_id"] = Id(frameworkId), ["type"] = type, [field] = body };
}
