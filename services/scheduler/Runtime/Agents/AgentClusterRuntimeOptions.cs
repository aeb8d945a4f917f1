namespace Concord.Scheduler.Runtime.Agents;

/// <summary>Settings of <see cref="AgentClusterRuntime"/>; the defaults are the SchedulerLimits constants (tests shorten the times).</summary>
public sealed class AgentClusterRuntimeOptions
{
    /// <summary>Silence after which an agent is lost, in ms.</summary>
    public int HeartbeatTimeoutMs { get; init; } = SchedulerLimits.AgentHeartbeatTimeoutMs;

    /// <summary>How often agents are checked for silence, in ms.</summary>
    public int LossCheckIntervalMs { get; init; } = SchedulerLimits.AgentHeartbeatIntervalMs;

    /// <summary>Time a starting scheduler waits for agents to report their instances before adopting, in ms.</summary>
    public int AdoptWaitMs { get; init; } = SchedulerLimits.AgentAdoptWaitMs;

    /// <summary>Time a launch waits for the agent's "started", in ms.</summary>
    public int LaunchTimeoutMs { get; init; } = SchedulerLimits.AgentLaunchTimeoutMs;

    /// <summary>
    /// The private environment of each launch (its launch secret, the data-plane key), sent to
    /// the agent with the launch; null values are dropped (the agent removes the token itself).
    /// </summary>
    public Func<InstanceLaunch, IReadOnlyDictionary<string, string?>>? PrivateEnvironment { get; init; }
}
