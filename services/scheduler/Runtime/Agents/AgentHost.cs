using System.Threading.Channels;
using Concord.Contracts.Agent.V1;
using Concord.Hosting;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;

namespace Concord.Scheduler.Runtime.Agents;

/// <summary>
/// The agent (<c>concord agent</c>, docs/cluster.md "Agents"): keeps one session with the
/// scheduler (reconnecting with bounded back-off when it goes away), reports its resources, the
/// instances it runs, heartbeats and every instance's start and end, and carries out the
/// scheduler's launch, stop and forget commands with a local runtime (normally
/// <see cref="LocalProcessRuntime"/> on the agent's own home: cgroups, process groups). Its
/// instances keep running while the scheduler is away; stopping the agent stops them.
/// </summary>
public sealed partial class AgentHost(AgentOptions options, IClusterRuntime runtime, ILogger<AgentHost> logger, TimeProvider time)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Running> _instances = new(StringComparer.Ordinal);
    /// <summary>Private environment of each launch by incarnation, handed to the runtime as it starts the executor.</summary>
    private readonly Dictionary<string, IReadOnlyDictionary<string, string?>> _environments = new(StringComparer.Ordinal);
    private Channel<AgentReport>? _reports;
    /// <summary>Completed while the agent may connect; a test's <see cref="Partition"/> replaces it until <see cref="Heal"/>.</summary>
    private TaskCompletionSource _reachable = CompletedSource();
    private CancellationTokenSource? _session;
    /// <summary>The forgets asked for so far, in order: a later launch waits for them, so a forget never removes the directory of a newer instance.</summary>
    private Task _forgets = Task.CompletedTask;
    /// <summary>Set once the agent stops its instances: a launch asked for later is refused, one still starting is stopped when it has started.</summary>
    private bool _stoppingAll;

    /// <summary>Raised after each hello was sent (tests await connections with it).</summary>
    public event Action? Connected;

    /// <summary>The private environment of <paramref name="launch"/> (for <see cref="LocalProcessRuntimeOptions.PrivateEnvironment"/>).</summary>
    public IReadOnlyDictionary<string, string?> EnvironmentOf(InstanceLaunch launch)
    {
        lock (_lock)
        {
            return _environments.GetValueOrDefault(launch.Incarnation) ?? new Dictionary<string, string?>();
        }
    }

    /// <summary>Incarnations of the instances running here now.</summary>
    public IReadOnlyList<string> RunningIncarnations
    {
        get
        {
            lock (_lock)
            {
                return _instances.Values.Where(r => r.Handle is not null).Select(r => r.Launch.Incarnation).ToList();
            }
        }
    }

    /// <summary>
    /// Takes over what a previous run of this agent left running, then serves sessions until
    /// <paramref name="stopping"/>; then stops every instance (reporting their end while the
    /// session lasts) and returns.
    /// </summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        // An agent restarted on the same home keeps its executors: they are reported in the hello,
        // and the scheduler keeps those it still wants.
        var leftovers = new Dictionary<string, LeftoverInstance>(StringComparer.Ordinal);
        var adopted = await runtime.AdoptLeftoversAsync(leftover => leftovers.TryAdd(leftover.Incarnation, leftover), stopping).ConfigureAwait(false);
        foreach (var instance in adopted)
        {
            var handle = instance.Handle;
            var leftover = leftovers[handle.Incarnation];
            var launch = new InstanceLaunch(handle.OperatorName, handle.Index, handle.Incarnation, leftover.Spec ?? new Contracts.Types.V1.OperatorSpec(),
                leftover.SchedulerAddress, instance.Release);
            var running = new Running(launch) { Handle = handle, SpecKnown = leftover.Spec is not null };
            lock (_lock)
            {
                _instances[handle.Incarnation] = running;
            }
            _ = WatchAsync(running, handle);
        }

        using var sessions = new CancellationTokenSource();
        var loop = ConnectLoopAsync(sessions.Token);
        try
        {
            await Task.Delay(Timeout.Infinite, stopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopping: stop the instances below.
        }
        await StopAllAsync().ConfigureAwait(false);
        Channel<AgentReport>? reports;
        lock (_lock)
        {
            reports = _reports;
        }
        // Let the session carry the last "ended" reports, bounded.
        reports?.Writer.TryComplete();
        if (reports is not null)
        {
            await reports.Reader.Completion.WaitAsync(TimeSpan.FromMilliseconds(options.HeartbeatIntervalMs), time, CancellationToken.None)
                .ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
        }
        await sessions.CancelAsync().ConfigureAwait(false);
        await loop.ConfigureAwait(false);
    }

    private async Task ConnectLoopAsync(CancellationToken cancellationToken)
    {
        var backoff = Backoff.FromMs(SchedulerLimits.AgentReconnectBackoffInitialMs, SchedulerLimits.AgentReconnectBackoffMsMax, BackoffJitter.Full);
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                Task reachable;
                lock (_lock)
                {
                    reachable = _reachable.Task;
                }
                await reachable.WaitAsync(cancellationToken).ConfigureAwait(false);
                await SessionAsync(backoff, cancellationToken).ConfigureAwait(false);
                LogSessionEnded(CurrentScheduler, "the scheduler ended it");
                NextScheduler();
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable && LeaderRedirect.LeaderIn(e.Status.Detail) is { } leader && leader != CurrentScheduler)
            {
                // A standby: straight to the leader it names, no back-off.
                LogRedirected(CurrentScheduler, leader);
                Volatile.Write(ref _scheduler, leader);
                continue;
            }
            catch (RpcException e) when (e.StatusCode is StatusCode.Unauthenticated or StatusCode.PermissionDenied or StatusCode.InvalidArgument or StatusCode.FailedPrecondition)
            {
                // Retried (the operator may fix the scheduler side), but said loudly.
                LogRefused(CurrentScheduler, e.Status.Detail);
                NextScheduler();
            }
            catch (Exception e) when (e is RpcException or IOException or HttpRequestException or InvalidOperationException or OperationCanceledException)
            {
                LogSessionEnded(CurrentScheduler, e.Message);
                NextScheduler();
            }
            try
            {
                await backoff.DelayAsync(time, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>The scheduler this agent tries now: the leader a standby named, else the next in its list.</summary>
    private string? _scheduler;

    private string CurrentScheduler => Volatile.Read(ref _scheduler) ?? options.SchedulerAddress;

    /// <summary>After a failure: the next scheduler of the list (the leader may have moved there).</summary>
    private void NextScheduler()
    {
        var all = options.SchedulerAddresses.Count > 0 ? options.SchedulerAddresses : [options.SchedulerAddress];
        var at = all.ToList().IndexOf(CurrentScheduler);
        Volatile.Write(ref _scheduler, all[(at + 1) % all.Count]);
    }

    private async Task SessionAsync(Backoff backoff, CancellationToken cancellationToken)
    {
        var handler = new SocketsHttpHandler
        {
            // A scheduler that vanished without closing the stream is noticed by pings.
            KeepAlivePingDelay = TimeSpan.FromMilliseconds(SchedulerLimits.AgentHeartbeatTimeoutMs),
            KeepAlivePingTimeout = TimeSpan.FromMilliseconds(SchedulerLimits.AgentHeartbeatTimeoutMs),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
            ConnectTimeout = TimeSpan.FromMilliseconds(SchedulerLimits.AgentHeartbeatTimeoutMs),
        };
        using var tls = options.Tls?.Load();
        using var channel = GrpcChannel.ForAddress(CurrentScheduler, new GrpcChannelOptions
        {
            HttpHandler = tls?.ConfigureClient(handler) ?? handler,
            MaxReceiveMessageSize = SchedulerLimits.AgentMessageBytesMax,
            MaxSendMessageSize = SchedulerLimits.AgentMessageBytesMax,
        });
        using var session = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        lock (_lock)
        {
            _session = session;
            if (!_reachable.Task.IsCompleted)
            {
                session.Cancel();
            }
        }
        using var call = new global::Concord.Contracts.Agent.V1.Agents.AgentsClient(channel).AgentSession(new Metadata { { AgentSecret.Header, options.Secret } }, cancellationToken: session.Token);
        var reports = Channel.CreateBounded<AgentReport>(new BoundedChannelOptions(SchedulerLimits.AgentCommandsInFlightMax) { SingleReader = true });
        AgentHello hello;
        lock (_lock)
        {
            // Atomically with the snapshot: every start or end after it goes to this session.
            hello = Hello();
            _reports = reports;
        }
        try
        {
            await call.RequestStream.WriteAsync(new AgentReport { Hello = hello }, session.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException && !session.IsCancellationRequested)
        {
            // The call ended before the hello went out (a standby refuses at once): its status
            // says why, and names the leader; reading the response stream throws it.
            await call.ResponseStream.MoveNext(session.Token).ConfigureAwait(false);
            throw;
        }
        var writer = WriteReportsAsync(reports, call.RequestStream, session);
        var heartbeats = HeartbeatAsync(reports, session.Token);
        Connected?.Invoke();
        try
        {
            await foreach (var command in call.ResponseStream.ReadAllAsync(session.Token).ConfigureAwait(false))
            {
                // A command means the scheduler took the hello: the next loss starts the back-off over.
                backoff.Reset();
                Handle(command);
            }
        }
        finally
        {
            lock (_lock)
            {
                if (_reports == reports)
                {
                    _reports = null;
                }
                if (_session == session)
                {
                    _session = null;
                }
            }
            reports.Writer.TryComplete();
            await session.CancelAsync().ConfigureAwait(false);
            await writer.ConfigureAwait(false);
            await heartbeats.ConfigureAwait(false);
        }
    }

    /// <summary>
    /// For tests: cuts the agent off the scheduler (the session ends, no reconnect) as a network
    /// partition would, while its instances keep running; <see cref="Heal"/> lets it reconnect.
    /// </summary>
    internal void Partition()
    {
        lock (_lock)
        {
            if (_reachable.Task.IsCompleted)
            {
                _reachable = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
            _session?.Cancel();
        }
    }

    /// <summary>Ends a <see cref="Partition"/>.</summary>
    internal void Heal()
    {
        lock (_lock)
        {
            _reachable.TrySetResult();
        }
    }

    private static TaskCompletionSource CompletedSource()
    {
        var source = new TaskCompletionSource();
        source.SetResult();
        return source;
    }

    /// <summary>The hello: resources and every instance running here, specs left out when they would not fit one message.</summary>
    private AgentHello Hello()
    {
        var hello = new AgentHello
        {
            AgentId = options.AgentId,
            HostName = Environment.MachineName,
            AdvertisedHost = options.AdvertisedHost,
            Cpus = options.Cpus,
            MemMb = options.MemMb,
        };
        foreach (var running in _instances.Values.Where(r => r.Handle is not null).Take(SchedulerLimits.AgentInstancesMax))
        {
            hello.Instances.Add(new AgentInstance
            {
                OperatorName = running.Launch.OperatorName,
                Index = running.Launch.Index,
                Incarnation = running.Launch.Incarnation,
                Release = running.Launch.Release,
                Pid = running.Handle!.Pid,
                Spec = running.SpecKnown ? running.Launch.Spec : null,
                SchedulerAddress = running.Launch.SchedulerAddress,
            });
        }
        if (hello.CalculateSize() > SchedulerLimits.AgentMessageBytesMax - SchedulerLimits.GrpcFrameHeaderBytes)
        {
            foreach (var instance in hello.Instances)
            {
                instance.Spec = null;
            }
        }
        return hello;
    }

    private static async Task WriteReportsAsync(Channel<AgentReport> reports, IClientStreamWriter<AgentReport> stream, CancellationTokenSource session)
    {
        try
        {
            await foreach (var report in reports.Reader.ReadAllAsync(session.Token).ConfigureAwait(false))
            {
                await stream.WriteAsync(report, session.Token).ConfigureAwait(false);
            }
            await stream.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or RpcException or IOException or InvalidOperationException)
        {
            // The session is over; the next hello tells the scheduler what runs.
        }
        finally
        {
            reports.Writer.TryComplete();
            // Drain so Completion finishes even when nothing more can be written.
            while (reports.Reader.TryRead(out _))
            {
            }
        }
    }

    private async Task HeartbeatAsync(Channel<AgentReport> reports, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(options.HeartbeatIntervalMs), time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                if (!reports.Writer.TryWrite(new AgentReport { Heartbeat = new AgentHeartbeat() }))
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Session over.
        }
    }

    /// <summary>Sends a report on the current session; dropped when there is none (the next hello covers it).</summary>
    private void Report(AgentReport report)
    {
        Channel<AgentReport>? reports;
        lock (_lock)
        {
            reports = _reports;
        }
        reports?.Writer.TryWrite(report);
    }

    private void Handle(AgentCommand command)
    {
        switch (command.CommandCase)
        {
            case AgentCommand.CommandOneofCase.Launch:
                Launch(command.Launch);
                break;
            case AgentCommand.CommandOneofCase.Stop:
                Stop(command.Stop.Incarnation, command.Stop.TimeoutMs);
                break;
            case AgentCommand.CommandOneofCase.ForgetInstance:
                ForgetInstance(command.ForgetInstance);
                break;
            case AgentCommand.CommandOneofCase.ForgetOperator:
                ForgetOperator(command.ForgetOperator.OperatorName);
                break;
            case AgentCommand.CommandOneofCase.LogRequest:
                var request = command.LogRequest;
                // Off the command loop: reading a large tail must not delay launches and stops.
                _ = Task.Run(() => Report(new AgentReport { LogAnswer = AnswerLog(request) }));
                break;
        }
    }

    private void Launch(AgentLaunch command)
    {
        var launch = new InstanceLaunch(command.OperatorName, command.Index, command.Incarnation, command.Spec ?? new Contracts.Types.V1.OperatorSpec(),
            command.SchedulerAddress, command.Release)
        {
            RestoreCheckpoint = command.RestoreCheckpoint.Length > 0 ? command.RestoreCheckpoint : null,
        };
        var running = new Running(launch);
        var stopping = false;
        lock (_lock)
        {
            if (_instances.ContainsKey(launch.Incarnation))
            {
                return;
            }
            if (_stoppingAll)
            {
                stopping = true;
                running = null;
            }
            else if (_instances.Count >= SchedulerLimits.AgentInstancesMax)
            {
                running = null;
            }
            else
            {
                _instances[launch.Incarnation] = running;
                var environment = command.PrivateEnvironment.ToDictionary(e => e.Key, e => (string?)e.Value, StringComparer.Ordinal);
                // Never the operator token an agent may have in its own environment.
                environment[Contracts.Credentials.TokenVariable] = null;
                _environments[launch.Incarnation] = environment;
            }
        }
        if (running is null)
        {
            ReportLaunchFailed(launch, stopping
                ? "this agent is stopping; the scheduler places the instance on another agent"
                : $"this agent runs {SchedulerLimits.AgentInstancesMax} instances already (SchedulerLimits.AgentInstancesMax)");
            return;
        }
        Task forgets;
        lock (_lock)
        {
            forgets = _forgets;
        }
        _ = Task.Run(async () =>
        {
            await forgets.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await LaunchAsync(running).ConfigureAwait(false);
        });
    }

    private async Task LaunchAsync(Running running)
    {
        var launch = running.Launch;
        IInstanceHandle handle;
        try
        {
            if (runtime.Validate(launch.Spec) is { } problem)
            {
                throw new InvalidOperationException(problem);
            }
            handle = await runtime.LaunchAsync(launch, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            lock (_lock)
            {
                _instances.Remove(launch.Incarnation);
                _environments.Remove(launch.Incarnation);
            }
            LogLaunchFailed(launch.OperatorName, launch.Index, e.Message);
            ReportLaunchFailed(launch, e.Message);
            return;
        }
        int stopTimeoutMs;
        lock (_lock)
        {
            running.Handle = handle;
            stopTimeoutMs = running.StopTimeoutMs;
        }
        Report(new AgentReport { Started = new AgentInstanceStarted { Incarnation = launch.Incarnation, Pid = handle.Pid } });
        _ = WatchAsync(running, handle);
        if (stopTimeoutMs >= 0)
        {
            _ = runtime.StopAsync(handle, TimeSpan.FromMilliseconds(stopTimeoutMs), CancellationToken.None);
        }
    }

    /// <summary>
    /// Reads the tail (or, following, the lines since an offset) the scheduler asks for from this
    /// agent's own home, the path built here from checked names only (a request never names a
    /// file), and keeps the newest lines that fit one answer: the oldest of a read can be left
    /// out only when it holds more than <see cref="SchedulerLimits.AgentLogAnswerBytesMax"/>.
    /// </summary>
    internal AgentLogAnswer AnswerLog(AgentLogRequest request)
    {
        var answer = new AgentLogAnswer { RequestId = request.RequestId };
        if (runtime is not LocalProcessRuntime local)
        {
            answer.Error = $"this agent's runtime ({runtime.Name}) keeps no executor logs";
            return answer;
        }
        if (!Observability.ObservabilityQueries.IsPlainName(request.OperatorName) || request.Index is < 0 or >= Contracts.ProtocolLimits.InstancesMax
            || request.Release < 0 || request.TailLines is < 0 or > Observability.ObservabilityLimits.LogTailLinesMax || request.FromOffset < 0
            || (request.Follow && request.Kept))
        {
            answer.Error = $"log request for '{request.OperatorName}'/{request.Index} release {request.Release} ({request.TailLines} lines) is out of range; upgrade the agent and the scheduler to one version";
            return answer;
        }
        try
        {
            var index = request.Index;
            string path;
            if (request.Kept)
            {
                var kept = local.LastFailedDirectory(request.OperatorName);
                path = Path.Combine(kept, LocalProcessRuntime.LogFileName);
                var indexFile = Path.Combine(kept, LocalProcessRuntime.LastFailedIndexFileName);
                if (!File.Exists(path) || !File.Exists(indexFile)
                    || !int.TryParse(File.ReadAllText(indexFile), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out index))
                {
                    answer.NotFound = true;
                    return answer;
                }
                answer.KeptIndex = index;
            }
            else
            {
                path = Path.Combine(local.InstanceDirectory(request.OperatorName, index, request.Release), LocalProcessRuntime.LogFileName);
            }
            if (!File.Exists(path))
            {
                answer.NotFound = true;
                return answer;
            }
            answer.ModifiedUnixMs = new DateTimeOffset(File.GetLastWriteTimeUtc(path)).ToUnixTimeMilliseconds();
            var file = new Observability.ObservabilityQueries.LogFile(request.OperatorName, index, path);
            var lines = (request.Follow ? file.ReadFrom(request.FromOffset) : file.ReadTail(request.TailLines)).Select(l => file.Line(l).Line).ToList();
            // A line longer than a whole read never ends within one: skip it rather than ask for it forever.
            answer.NextOffset = lines.Count == 0 && file.ReadPosition - Math.Max(0, request.FromOffset) >= Observability.ObservabilityLimits.LogTailBytesMax
                ? file.ReadPosition
                : file.FollowOffset;
            var first = lines.Count;
            var bytes = 0;
            while (first > 0)
            {
                var cost = 1 + Google.Protobuf.CodedOutputStream.ComputeStringSize(lines[first - 1]);
                if (bytes + cost > SchedulerLimits.AgentLogAnswerBytesMax)
                {
                    break;
                }
                bytes += cost;
                first--;
            }
            answer.Lines.AddRange(lines.Skip(first));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            answer.Lines.Clear();
            answer.Error = $"reading its executor.log failed: {e.Message}";
        }
        return answer;
    }

    private void ReportLaunchFailed(InstanceLaunch launch, string message) =>
        Report(new AgentReport { Ended = new AgentInstanceEnded { Incarnation = launch.Incarnation, ExitCode = -1, Description = message, LaunchFailed = true } });

    private async Task WatchAsync(Running running, IInstanceHandle handle)
    {
        var exit = await handle.Exited.ConfigureAwait(false);
        lock (_lock)
        {
            _instances.Remove(running.Launch.Incarnation);
            _environments.Remove(running.Launch.Incarnation);
        }
        LogEnded(running.Launch.OperatorName, running.Launch.Index, running.Launch.Incarnation, exit.Description);
        Report(new AgentReport
        {
            Ended = new AgentInstanceEnded { Incarnation = running.Launch.Incarnation, ExitCode = exit.ExitCode, Description = exit.Description, OutOfMemory = exit.OutOfMemory },
        });
    }

    private void Stop(string incarnation, int timeoutMs)
    {
        IInstanceHandle? handle = null;
        bool known;
        lock (_lock)
        {
            known = _instances.TryGetValue(incarnation, out var running);
            if (known)
            {
                running!.StopTimeoutMs = Math.Max(0, timeoutMs);
                handle = running.Handle;
            }
        }
        if (!known)
        {
            // Already ended (the report may have been lost with a session): say so again.
            Report(new AgentReport { Ended = new AgentInstanceEnded { Incarnation = incarnation, ExitCode = -1, Description = "not running on this agent" } });
            return;
        }
        if (handle is not null)
        {
            _ = runtime.StopAsync(handle, TimeSpan.FromMilliseconds(Math.Max(0, timeoutMs)), CancellationToken.None);
        }
    }

    private void ForgetInstance(AgentForgetInstance forget)
    {
        lock (_lock)
        {
            // The working directory of a release parity is shared: never remove one an instance here uses.
            if (_instances.Values.Any(r => r.Launch.OperatorName == forget.OperatorName && r.Launch.Index == forget.Index && r.Launch.Release % 2 == forget.Release % 2))
            {
                return;
            }
        }
        Forget(() => runtime.ForgetInstanceAsync(forget.OperatorName, forget.Index, forget.Release, forget.KeepLog, CancellationToken.None));
    }

    private void Forget(Func<Task> forget)
    {
        lock (_lock)
        {
            var previous = _forgets;
            _forgets = Task.Run(async () =>
            {
                await previous.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                await forget().ConfigureAwait(false);
            });
        }
    }

    private void ForgetOperator(string operatorName)
    {
        lock (_lock)
        {
            if (_instances.Values.Any(r => r.Launch.OperatorName == operatorName))
            {
                return;
            }
        }
        Forget(() => runtime.ForgetOperatorAsync(operatorName, CancellationToken.None));
    }

    private async Task StopAllAsync()
    {
        List<IInstanceHandle> handles;
        lock (_lock)
        {
            _stoppingAll = true;
            handles = _instances.Values.Select(r => r.Handle).OfType<IInstanceHandle>().ToList();
            // A launch still starting has no handle yet: LaunchAsync stops it as soon as it has
            // started, so no executor outlives its agent.
            foreach (var starting in _instances.Values.Where(r => r.Handle is null))
            {
                starting.StopTimeoutMs = SchedulerLimits.StopTimeoutMs;
            }
        }
        LogStoppingAll(handles.Count);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(SchedulerLimits.ShutdownTimeoutMs));
        try
        {
            await Task.WhenAll(handles.Select(h => runtime.StopAsync(h, TimeSpan.FromMilliseconds(SchedulerLimits.StopTimeoutMs), timeout.Token))).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            LogStopTimedOut(SchedulerLimits.ShutdownTimeoutMs);
        }
    }

    /// <summary>One instance on this agent: launching (no handle yet) or running.</summary>
    private sealed class Running(InstanceLaunch launch)
    {
        public InstanceLaunch Launch { get; } = launch;

        public IInstanceHandle? Handle { get; set; }

        /// <summary>False for an instance taken over from a previous agent run whose spec.json was unreadable (the scheduler then stops it).</summary>
        public bool SpecKnown { get; init; } = true;

        /// <summary>A stop the scheduler asked for (ms), carried out once the launch completes; -1: none.</summary>
        public int StopTimeoutMs { get; set; } = -1;
    }

    [LoggerMessage(EventId = 700, Level = LogLevel.Warning, Message = "Session with the scheduler at {Address} ended ({Reason}); reconnecting, the instances keep running")]
    private partial void LogSessionEnded(string address, string reason);

    [LoggerMessage(EventId = 701, Level = LogLevel.Error, Message = "The scheduler at {Address} refused this agent: {Reason}")]
    private partial void LogRefused(string address, string reason);

    [LoggerMessage(EventId = 707, Level = LogLevel.Information, Message = "The scheduler at {Address} is a standby; connecting to the leader at {Leader}")]
    private partial void LogRedirected(string address, string leader);

    [LoggerMessage(EventId = 702, Level = LogLevel.Warning, Message = "Could not launch {Operator}/{Index}: {Reason}")]
    private partial void LogLaunchFailed(string @operator, int index, string reason);

    [LoggerMessage(EventId = 703, Level = LogLevel.Information, Message = "{Operator}/{Index} incarnation {Incarnation} ended: {Description}")]
    private partial void LogEnded(string @operator, int index, string incarnation, string description);

    [LoggerMessage(EventId = 704, Level = LogLevel.Information, Message = "Agent stopping: stopping its {Instances} instance(s)")]
    private partial void LogStoppingAll(int instances);

    [LoggerMessage(EventId = 705, Level = LogLevel.Warning, Message = "Not every instance stopped within {TimeoutMs} ms")]
    private partial void LogStopTimedOut(int timeoutMs);
}
