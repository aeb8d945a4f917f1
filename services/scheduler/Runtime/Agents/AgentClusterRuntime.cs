using System.Globalization;
using System.Text.RegularExpressions;
using Concord.Contracts.Agent.V1;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Runtime.Agents.Internal;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Concord.Scheduler.Runtime.Agents;

/// <summary>
/// The standalone cluster runtime (<c>--runtime agents</c>, docs/cluster.md "Agents"): every host
/// runs <c>concord agent</c>, which holds one <see cref="RunSessionAsync">session</see> with this
/// scheduler and launches executors with its own local runtime (cgroups, process groups). This
/// runtime keeps the registered agents and their resources, places each launch on the connected
/// agent with the most free cpus (then memory) that fits the spec's <c>cpus</c> and <c>mem</c>,
/// refuses a topology that does not fit (<see cref="CheckCapacity"/>), and ends the handles of an
/// agent that is silent for the heartbeat timeout as "host lost", so the reconcile loop relaunches
/// them on other agents at once. An agent that comes back reports what it runs: the instances
/// this scheduler still has on it are kept, every other one is stopped, so no duplicate keeps running.
/// </summary>
public sealed partial class AgentClusterRuntime : IClusterRuntime, IDisposable
{
    /// <summary>The name of this runtime for <c>--runtime</c>.</summary>
    public const string RuntimeName = "agents";

    private static readonly Regex AgentIdPattern = new($"^[A-Za-z0-9._-]{{1,{SchedulerLimits.AgentIdCharsMax}}}$", RegexOptions.CultureInvariant);

    private readonly AgentClusterRuntimeOptions _options;
    private readonly ILogger<AgentClusterRuntime> _logger;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, AgentState> _agents = new(StringComparer.Ordinal);
    /// <summary>Where each instance was last placed (for `concord logs`); an operator's entries go when it is forgotten.</summary>
    private readonly Dictionary<(string Operator, int Index), PlacedOn> _placed = [];
    private readonly ITimer _lossCheck;
    /// <summary>Set once leftovers were offered for adoption: later unknown instances are stopped at once.</summary>
    private bool _adoptionDone;

    public AgentClusterRuntime(AgentClusterRuntimeOptions options, ILogger<AgentClusterRuntime> logger, TimeProvider time)
    {
        _options = options;
        _logger = logger;
        _time = time;
        var every = TimeSpan.FromMilliseconds(options.LossCheckIntervalMs);
        _lossCheck = time.CreateTimer(_ => DropSilentAgents(), null, every, every);
    }

    public string Name => RuntimeName;

    /// <summary>The connected agents' ids, ordered (for tests and logs).</summary>
    public IReadOnlyList<string> ConnectedAgents
    {
        get
        {
            lock (_lock)
            {
                return _agents.Values.Where(a => a.Session is not null).Select(a => a.Id).Order(StringComparer.Ordinal).ToList();
            }
        }
    }

    /// <summary>Raised (outside the lock) whenever an agent connects; tests await agents with it.</summary>
    public event Action<string>? AgentConnected;

    /// <summary>Executables and files are on the agents' hosts: each agent checks them as it launches.</summary>
    public string? Validate(OperatorSpec spec) => null;

    public string? CheckCapacity(IReadOnlyList<OperatorSpec> desired, OperatorSpec changed)
    {
        List<AgentCapacity> totals;
        lock (_lock)
        {
            totals = _agents.Values.Select(a => new AgentCapacity(a.Id, a.Cpus, a.MemMb)).ToList();
        }
        var need = InstanceNeed.Of(changed);
        if (totals.Count == 0)
        {
            return $"it needs {changed.Instances} instance(s) of {need} and no agent is connected; start `concord agent --scheduler <this scheduler>` on each host (docs/cluster.md)";
        }
        var (unplaced, _) = Placement.Pack(desired, totals);
        if (unplaced.Count == 0)
        {
            return null;
        }
        var others = desired.Where(s => s.Name != changed.Name).ToList();
        var (_, freeForChanged) = Placement.Pack(others, totals);
        return $"the cluster's resources do not fit it: it needs {changed.Instances} instance(s) of {need}, " +
               $"and with the other operators placed the agents have free {string.Join(", ", freeForChanged)} " +
               $"(total {InstanceNeed.Number(totals.Sum(t => t.FreeCpus))} cpus, {totals.Sum(t => t.FreeMemMb)} MiB); " +
               "add agents (`concord agent`), give them more --cpus/--mem, or lower instances, cpus or mem";
    }

    public async Task<IInstanceHandle> LaunchAsync(InstanceLaunch launch, CancellationToken cancellationToken)
    {
        var need = InstanceNeed.Of(launch.Spec);
        AgentInstanceHandle handle;
        AgentState agent;
        AgentSession session;
        lock (_lock)
        {
            var connected = _agents.Values.Where(a => a.Session is not null).ToList();
            var chosen = Placement.Choose(connected.Select(a => new AgentCapacity(a.Id, a.FreeCpus, a.FreeMemMb)), need)
                ?? throw new InvalidOperationException(NoRoom(launch, need, connected));
            agent = _agents[chosen];
            session = agent.Session!;
            handle = new AgentInstanceHandle(launch.OperatorName, launch.Index, launch.Incarnation, agent.Id, need.Cpus, need.MemMb);
            agent.Instances[launch.Incarnation] = handle;
            _placed[(launch.OperatorName, launch.Index)] = new PlacedOn(agent.Id, launch.Release);
        }
        if (!session.TrySend(new AgentCommand { Launch = LaunchCommand(launch) }))
        {
            Drop(agent, session, $"agent {agent.Id} does not read its commands ({SchedulerLimits.AgentCommandsInFlightMax} queued)");
        }
        LogPlaced(launch.OperatorName, launch.Index, launch.Incarnation, agent.Id);
        try
        {
            await handle.Started.WaitAsync(TimeSpan.FromMilliseconds(_options.LaunchTimeoutMs), _time, cancellationToken).ConfigureAwait(false);
            return handle;
        }
        catch (TimeoutException)
        {
            RequestStop(handle, SchedulerLimits.LeftoverStopTimeoutMs);
            throw new InvalidOperationException(
                $"agent {agent.Id} did not report {launch.OperatorName}/{launch.Index} started within {_options.LaunchTimeoutMs} ms; see the agent's log on {agent.HostName}");
        }
        catch (OperationCanceledException)
        {
            // The loop no longer wants it: the agent stops it once it runs (or as it starts).
            RequestStop(handle, SchedulerLimits.LeftoverStopTimeoutMs);
            throw;
        }
    }

    private static string NoRoom(InstanceLaunch launch, InstanceNeed need, List<AgentState> connected) =>
        connected.Count == 0
            ? $"no agent is connected to place {launch.OperatorName}/{launch.Index} on; start `concord agent` on the hosts (docs/cluster.md)"
            : $"no connected agent has room for {launch.OperatorName}/{launch.Index} ({need}); free: " +
              string.Join(", ", connected.OrderBy(a => a.Id, StringComparer.Ordinal).Select(a => new AgentCapacity(a.Id, a.FreeCpus, a.FreeMemMb))) +
              "; it is retried as capacity frees up, or add agents";

    private AgentLaunch LaunchCommand(InstanceLaunch launch)
    {
        var command = new AgentLaunch
        {
            OperatorName = launch.OperatorName,
            Index = launch.Index,
            Incarnation = launch.Incarnation,
            Spec = launch.Spec,
            SchedulerAddress = launch.SchedulerAddress,
            Release = launch.Release,
            RestoreCheckpoint = launch.RestoreCheckpoint ?? "",
        };
        foreach (var (name, value) in _options.PrivateEnvironment?.Invoke(launch) ?? new Dictionary<string, string?>())
        {
            if (value is not null)
            {
                command.PrivateEnvironment[name] = value;
            }
        }
        return command;
    }

    public async Task StopAsync(IInstanceHandle handle, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var instance = (AgentInstanceHandle)handle;
        if (instance.Exited.IsCompleted)
        {
            return;
        }
        RequestStop(instance, (int)Math.Min(int.MaxValue, timeout.TotalMilliseconds));
        try
        {
            // The agent kills it after the timeout; a silent agent is lost within the heartbeat timeout, which ends it too.
            await instance.Exited.WaitAsync(timeout + TimeSpan.FromMilliseconds(_options.HeartbeatTimeoutMs + SchedulerLimits.LeftoverStopTimeoutMs), _time, cancellationToken)
                .ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            LogStopUnconfirmed(instance.OperatorName, instance.Index, instance.Host);
        }
    }

    /// <summary>Tells the instance's agent to stop it (now if connected, else when it reconnects).</summary>
    private void RequestStop(AgentInstanceHandle instance, int timeoutMs)
    {
        AgentSession? session;
        lock (_lock)
        {
            instance.StopTimeoutMs = timeoutMs;
            session = _agents.TryGetValue(instance.Host, out var agent) && agent.Instances.ContainsKey(instance.Incarnation) ? agent.Session : null;
        }
        session?.TrySend(new AgentCommand { Stop = new AgentStop { Incarnation = instance.Incarnation, TimeoutMs = timeoutMs } });
    }

    /// <summary>Every connected agent forgets it: any of them may have run the instance.</summary>
    public Task ForgetInstanceAsync(string operatorName, int index, int release, bool keepLog, CancellationToken cancellationToken)
    {
        Broadcast(new AgentCommand { ForgetInstance = new AgentForgetInstance { OperatorName = operatorName, Index = index, Release = release, KeepLog = keepLog } });
        return Task.CompletedTask;
    }

    public Task ForgetOperatorAsync(string operatorName, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            foreach (var key in _placed.Keys.Where(k => k.Operator == operatorName).ToList())
            {
                _placed.Remove(key);
            }
        }
        Broadcast(new AgentCommand { ForgetOperator = new AgentForgetOperator { OperatorName = operatorName } });
        return Task.CompletedTask;
    }

    private void Broadcast(AgentCommand command)
    {
        List<AgentSession> sessions;
        lock (_lock)
        {
            sessions = _agents.Values.Select(a => a.Session).OfType<AgentSession>().ToList();
        }
        foreach (var session in sessions)
        {
            session.TrySend(command);
        }
    }

    public async Task ReapLeftoversAsync(CancellationToken cancellationToken) =>
        await AdoptLeftoversAsync(_ => false, cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Waits <see cref="AgentClusterRuntimeOptions.AdoptWaitMs"/> for agents to connect and report
    /// what they run, then offers each reported instance to <paramref name="adopt"/>; the refused
    /// ones are stopped on their agent. Agents that connect later have every instance this
    /// scheduler does not know stopped.
    /// </summary>
    public async Task<IReadOnlyList<AdoptedInstance>> AdoptLeftoversAsync(Func<LeftoverInstance, bool> adopt, CancellationToken cancellationToken)
    {
        await Task.Delay(TimeSpan.FromMilliseconds(_options.AdoptWaitMs), _time, cancellationToken).ConfigureAwait(false);
        var adopted = new List<AdoptedInstance>();
        var stops = new List<(AgentSession, string)>();
        lock (_lock)
        {
            _adoptionDone = true;
            foreach (var agent in _agents.Values)
            {
                foreach (var reported in agent.Leftovers.Values)
                {
                    var leftover = new LeftoverInstance(reported.OperatorName, reported.Index, reported.Incarnation, reported.Release, reported.Pid, reported.Spec, reported.SchedulerAddress);
                    if (adopt(leftover))
                    {
                        var need = reported.Spec is null ? new InstanceNeed(0, 0) : InstanceNeed.Of(reported.Spec);
                        var handle = new AgentInstanceHandle(reported.OperatorName, reported.Index, reported.Incarnation, agent.Id, need.Cpus, need.MemMb);
                        handle.SetStarted(reported.Pid);
                        agent.Instances[reported.Incarnation] = handle;
                        _placed[(reported.OperatorName, reported.Index)] = new PlacedOn(agent.Id, reported.Release);
                        adopted.Add(new AdoptedInstance(handle, reported.Release));
                        LogAdopted(reported.OperatorName, reported.Index, reported.Incarnation, agent.Id);
                    }
                    else if (agent.Session is { } session)
                    {
                        stops.Add((session, reported.Incarnation));
                    }
                }
                agent.Leftovers.Clear();
            }
        }
        foreach (var (session, incarnation) in stops)
        {
            session.TrySend(new AgentCommand { Stop = new AgentStop { Incarnation = incarnation, TimeoutMs = SchedulerLimits.LeftoverStopTimeoutMs } });
        }
        return adopted;
    }

    // ================================ sessions ================================

    /// <summary>
    /// Serves one agent's session until it ends: checks the hello, takes the agent in (a
    /// reconnect replaces its previous session), writes its commands, and applies its reports.
    /// The caller (the Agents gRPC service) has checked the agent secret.
    /// </summary>
    public async Task RunSessionAsync(IAsyncStreamReader<AgentReport> reports, IServerStreamWriter<AgentCommand> commands, CancellationToken cancellationToken)
    {
        AgentHello hello;
        using (var first = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            first.CancelAfter(TimeSpan.FromMilliseconds(_options.HeartbeatTimeoutMs));
            if (!await reports.MoveNext(first.Token).ConfigureAwait(false))
            {
                return;
            }
            hello = reports.Current.Hello
                ?? throw new RpcException(new Status(StatusCode.InvalidArgument, "the first report of an agent session must be a hello; upgrade the agent to this scheduler's version"));
        }
        CheckHello(hello);
        using var session = new AgentSession(cancellationToken);
        var agent = Connect(hello, session);
        AgentConnected?.Invoke(agent.Id);
        var writer = WriteCommandsAsync(session, commands);
        try
        {
            while (await reports.MoveNext(session.Ended).ConfigureAwait(false))
            {
                Apply(agent, session, reports.Current);
            }
        }
        catch (OperationCanceledException) when (session.Ended.IsCancellationRequested)
        {
            // Replaced by a newer session of the agent, dropped, or the call ended.
        }
        catch (IOException)
        {
            // The connection broke: the agent reconnects, or is lost after the heartbeat timeout.
        }
        finally
        {
            lock (_lock)
            {
                if (agent.Session == session)
                {
                    agent.Session = null;
                    LogDisconnected(agent.Id);
                }
            }
            session.End();
            await writer.ConfigureAwait(false);
        }
    }

    private static async Task WriteCommandsAsync(AgentSession session, IServerStreamWriter<AgentCommand> commands)
    {
        try
        {
            await foreach (var command in session.Commands.ReadAllAsync(session.Ended).ConfigureAwait(false))
            {
                session.Taken();
                await commands.WriteAsync(command, session.Ended).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or InvalidOperationException)
        {
            // The session is over; what was not written is decided again when the agent reconnects.
            session.End();
        }
    }

    private static void CheckHello(AgentHello hello)
    {
        string? problem = null;
        if (!AgentIdPattern.IsMatch(hello.AgentId))
        {
            problem = $"agent id '{hello.AgentId}' is not [A-Za-z0-9._-]{{1,{SchedulerLimits.AgentIdCharsMax}}}; start the agent with a valid --agent-id";
        }
        else if (!(hello.Cpus > 0) || double.IsInfinity(hello.Cpus) || hello.MemMb <= 0)
        {
            problem = $"agent {hello.AgentId} offers {hello.Cpus} cpus and {hello.MemMb} MiB; give --cpus and --mem above 0";
        }
        else if (string.IsNullOrEmpty(hello.AdvertisedHost))
        {
            problem = $"agent {hello.AgentId} advertises no host; give --advertise-host";
        }
        if (problem is not null)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, problem));
        }
        if (hello.Instances.Count > SchedulerLimits.AgentInstancesMax)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted,
                $"agent {hello.AgentId} reports {hello.Instances.Count} instances, more than an agent may run ({SchedulerLimits.AgentInstancesMax}, SchedulerLimits.AgentInstancesMax)"));
        }
    }

    /// <summary>Takes an agent in: its instances are matched against what this scheduler has on it.</summary>
    private AgentState Connect(AgentHello hello, AgentSession session)
    {
        var ended = new List<AgentInstanceHandle>();
        var stops = new List<AgentStop>();
        AgentState agent;
        lock (_lock)
        {
            if (!_agents.TryGetValue(hello.AgentId, out agent!))
            {
                agent = new AgentState(hello.AgentId);
                _agents[agent.Id] = agent;
            }
            else
            {
                agent.Session?.End();
            }
            agent.Session = session;
            agent.HostName = hello.HostName;
            agent.AdvertisedHost = hello.AdvertisedHost;
            agent.Cpus = hello.Cpus;
            agent.MemMb = hello.MemMb;
            agent.LastHeard = _time.GetTimestamp();
            var reported = hello.Instances.GroupBy(i => i.Incarnation, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
            foreach (var handle in agent.Instances.Values.ToList())
            {
                if (!reported.ContainsKey(handle.Incarnation))
                {
                    agent.Instances.Remove(handle.Incarnation);
                    ended.Add(handle);
                }
            }
            foreach (var instance in reported.Values)
            {
                if (agent.Instances.TryGetValue(instance.Incarnation, out var handle))
                {
                    handle.SetStarted(instance.Pid);
                    if (handle.StopTimeoutMs >= 0)
                    {
                        stops.Add(new AgentStop { Incarnation = instance.Incarnation, TimeoutMs = handle.StopTimeoutMs });
                    }
                }
                else if (!_adoptionDone)
                {
                    agent.Leftovers[instance.Incarnation] = instance;
                }
                else
                {
                    // Moved elsewhere while the agent was away (or never this scheduler's): no duplicate may keep running.
                    LogStoppingStale(instance.OperatorName, instance.Index, instance.Incarnation, agent.Id);
                    stops.Add(new AgentStop { Incarnation = instance.Incarnation, TimeoutMs = SchedulerLimits.LeftoverStopTimeoutMs });
                }
            }
        }
        LogConnected(agent.Id, hello.HostName, hello.AdvertisedHost, InstanceNeed.Number(hello.Cpus), hello.MemMb, hello.Instances.Count);
        foreach (var stop in stops)
        {
            session.TrySend(new AgentCommand { Stop = stop });
        }
        foreach (var handle in ended)
        {
            handle.End(new InstanceExit(-1, $"agent {agent.Id} came back without it (the agent restarted?)") { HostLost = true });
        }
        return agent;
    }

    private void Apply(AgentState agent, AgentSession session, AgentReport report)
    {
        AgentInstanceHandle? handle = null;
        lock (_lock)
        {
            if (agent.Session != session)
            {
                return;
            }
            agent.LastHeard = _time.GetTimestamp();
            switch (report.ReportCase)
            {
                case AgentReport.ReportOneofCase.Started:
                    agent.Instances.TryGetValue(report.Started.Incarnation, out handle);
                    break;
                case AgentReport.ReportOneofCase.LogAnswer:
                    session.Answer(report.LogAnswer);
                    break;
                case AgentReport.ReportOneofCase.Ended:
                    if (agent.Instances.Remove(report.Ended.Incarnation, out handle))
                    {
                        break;
                    }
                    agent.Leftovers.Remove(report.Ended.Incarnation);
                    break;
            }
        }
        if (handle is null)
        {
            return;
        }
        if (report.ReportCase == AgentReport.ReportOneofCase.Started)
        {
            handle.SetStarted(report.Started.Pid);
        }
        else if (report.Ended.LaunchFailed)
        {
            handle.FailLaunch($"agent {agent.Id} could not launch it: {report.Ended.Description}");
        }
        else
        {
            handle.End(new InstanceExit(report.Ended.ExitCode, report.Ended.Description, report.Ended.OutOfMemory));
        }
    }

    /// <summary>Loses every agent not heard from within the heartbeat timeout.</summary>
    private void DropSilentAgents()
    {
        List<AgentState> silent;
        lock (_lock)
        {
            var timeout = TimeSpan.FromMilliseconds(_options.HeartbeatTimeoutMs);
            silent = _agents.Values.Where(a => _time.GetElapsedTime(a.LastHeard) > timeout).ToList();
        }
        foreach (var agent in silent)
        {
            Drop(agent, agent.Session, $"agent {agent.Id} lost: no heartbeat for {(_options.HeartbeatTimeoutMs / 1000.0).ToString("0.#", CultureInfo.InvariantCulture)} s");
        }
    }

    /// <summary>Forgets an agent: its session ends and its instances end as lost (relaunched elsewhere).</summary>
    private void Drop(AgentState agent, AgentSession? session, string reason)
    {
        List<AgentInstanceHandle> lost;
        lock (_lock)
        {
            if (!_agents.TryGetValue(agent.Id, out var current) || current != agent || (session is not null && agent.Session != session))
            {
                return;
            }
            _agents.Remove(agent.Id);
            agent.Session?.End();
            agent.Session = null;
            lost = agent.Instances.Values.ToList();
            agent.Instances.Clear();
        }
        LogLost(reason, lost.Count);
        foreach (var handle in lost)
        {
            handle.End(new InstanceExit(-1, reason) { HostLost = true });
        }
    }

    public void Dispose()
    {
        _lossCheck.Dispose();
        lock (_lock)
        {
            foreach (var agent in _agents.Values)
            {
                agent.Session?.End();
            }
        }
    }

    [LoggerMessage(EventId = 600, Level = LogLevel.Information, Message = "Agent {Agent} connected (host {HostName}, advertises {Advertised}, {Cpus} cpus, {MemMb} MiB, runs {Instances} instance(s))")]
    private partial void LogConnected(string agent, string hostName, string advertised, string cpus, int memMb, int instances);

    [LoggerMessage(EventId = 601, Level = LogLevel.Warning, Message = "Agent {Agent} disconnected; its instances keep their place until it reconnects or is lost")]
    private partial void LogDisconnected(string agent);

    [LoggerMessage(EventId = 602, Level = LogLevel.Warning, Message = "{Reason}: its {Instances} instance(s) are rescheduled on other agents")]
    private partial void LogLost(string reason, int instances);

    [LoggerMessage(EventId = 603, Level = LogLevel.Information, Message = "Placed {Operator}/{Index} incarnation {Incarnation} on agent {Agent}")]
    private partial void LogPlaced(string @operator, int index, string incarnation, string agent);

    [LoggerMessage(EventId = 604, Level = LogLevel.Warning, Message = "Stopping {Operator}/{Index} incarnation {Incarnation} on agent {Agent}: this scheduler runs it elsewhere or no longer wants it")]
    private partial void LogStoppingStale(string @operator, int index, string incarnation, string agent);

    [LoggerMessage(EventId = 605, Level = LogLevel.Information, Message = "Adopting {Operator}/{Index} incarnation {Incarnation} on agent {Agent}")]
    private partial void LogAdopted(string @operator, int index, string incarnation, string agent);

    [LoggerMessage(EventId = 606, Level = LogLevel.Warning, Message = "{Operator}/{Index} on agent {Agent} did not confirm its stop in time; it is considered gone")]
    private partial void LogStopUnconfirmed(string @operator, int index, string agent);
}
