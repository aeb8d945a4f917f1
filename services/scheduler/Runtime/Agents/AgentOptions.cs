namespace Concord.Scheduler.Runtime.Agents;

/// <summary>Options of one agent (<c>concord agent</c>, see <see cref="AgentCommandLine"/>).</summary>
public sealed class AgentOptions
{
    /// <summary>Required. The scheduler's gRPC address, e.g. http://10.0.0.1:7400 (https:// with TLS).</summary>
    public required string SchedulerAddress { get; init; }

    /// <summary>
    /// Every scheduler of the cluster (leader and standbys), <see cref="SchedulerAddress"/> first;
    /// empty: that one only. The agent tries them in turn and follows a standby's refusal to the
    /// leader it names (docs/cluster.md, "High availability").
    /// </summary>
    public IReadOnlyList<string> SchedulerAddresses { get; init; } = [];

    /// <summary>Required. Stable name of this agent; `concord list` shows it as the host of its instances.</summary>
    public required string AgentId { get; init; }

    /// <summary>Required. CPUs the scheduler may place here.</summary>
    public required double Cpus { get; init; }

    /// <summary>Required. Memory in MiB the scheduler may place here.</summary>
    public required int MemMb { get; init; }

    /// <summary>Required. The agent's own home: instances/ (as a scheduler home's), agent.lock.</summary>
    public required string Home { get; init; }

    /// <summary>Host (name or address) the executors here advertise to other hosts; default 127.0.0.1.</summary>
    public string AdvertisedHost { get; init; } = "127.0.0.1";

    /// <summary>Required. The cluster's agent secret (from the file --agent-secret-file names).</summary>
    public required string Secret { get; init; }

    /// <summary>Mutual TLS to the scheduler, and for the executors here; null: plain HTTP, loopback only.</summary>
    public Hosting.TlsOptions? Tls { get; init; }

    /// <summary>Concord.Executor.dll (or an executable) to launch per instance; null only when a test supplies the runtime.</summary>
    public string? ExecutorDll { get; init; }

    /// <summary>Run instances without cgroups (as the scheduler's --no-containment).</summary>
    public bool NoContainment { get; init; }

    /// <summary>Console log format.</summary>
    public LogFormat LogFormat { get; init; } = LogFormat.Text;

    /// <summary>Time between heartbeats, in ms (tests shorten it).</summary>
    public int HeartbeatIntervalMs { get; init; } = SchedulerLimits.AgentHeartbeatIntervalMs;
}
