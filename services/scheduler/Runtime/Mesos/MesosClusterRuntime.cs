using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Runtime.Mesos.Internal;
using Microsoft.Extensions.Logging;

namespace Concord.Scheduler.Runtime.Mesos;

/// <summary>
/// The Mesos runtime (<c>--runtime mesos</c>, docs/mesos.md): a framework speaking the Mesos v1
/// scheduler HTTP API. It subscribes (following a non-leading master's 307 to the leader, with
/// the framework id kept in <see cref="IFrameworkIdStore"/> so a restarted scheduler fails over
/// to the same framework), reads the RecordIO event stream, and makes every later call with the
/// subscription's <c>Mesos-Stream-Id</c>. A launch waits for an offer that fits and is accepted
/// as one LAUNCH_GROUP: Mesos' default executor running the Concord executor's task (attach
/// mode) and the operator's task, sharing a directory of the executor's sandbox for the
/// session's unix socket. Offers nothing waits for are declined with a long filter; status
/// updates are acknowledged and mapped onto the instance lifecycle (<see cref="TaskStateMapping"/>);
/// stops are KILLs with the stop's grace period. After every (re)subscription the runtime
/// reconciles the tasks it knows; a subscription that misses
/// <see cref="MesosLimits.MissedHeartbeatsMax"/> heartbeats is made again, with bounded backoff.
/// </summary>
public sealed partial class MesosClusterRuntime : IClusterRuntime, IAsyncDisposable
{
    /// <summary>The name of this runtime for <c>--runtime</c>.</summary>
    public const string RuntimeName = "mesos";

    /// <summary>The v1 scheduler API's path on a master.</summary>
    public const string SchedulerPath = "/api/v1/scheduler";

    /// <summary>The header carrying the subscription's id on every call after SUBSCRIBE.</summary>
    public const string StreamIdHeader = "Mesos-Stream-Id";

    private readonly MesosRuntimeOptions _options;
    private readonly IFrameworkIdStore _ids;
    private readonly ILogger<MesosClusterRuntime> _logger;
    private readonly TimeProvider _time;
    private readonly HttpClient _http;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _lock = new();

    /// <summary>Every launched task's instance, by task id (executor and operator task both).</summary>
    private readonly Dictionary<string, TaskGroupInstance> _byTask = new(StringComparer.Ordinal);

    /// <summary>Launches waiting for an offer, oldest first.</summary>
    private readonly List<TaskGroupInstance> _pending = [];

    /// <summary>Tasks of an earlier run this run killed and awaits the end of.</summary>
    private readonly HashSet<string> _reaping = new(StringComparer.Ordinal);

    private TaskCompletionSource _subscribed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _loop;
    private string? _frameworkId;
    private string? _streamId;
    private Uri? _leader;
    private int _nextMaster;
    private long _lastUpdateTicks;
    private int _disposed;

    public MesosClusterRuntime(MesosRuntimeOptions options, IFrameworkIdStore ids, ILogger<MesosClusterRuntime> logger, TimeProvider time, HttpMessageHandler? handler = null)
    {
        _options = options;
        _ids = ids;
        _logger = logger;
        _time = time;
        // Redirects are followed by hand: a 307 names the leading master, which every later call must use too.
        _http = new HttpClient(handler ?? new SocketsHttpHandler { AllowAutoRedirect = false }) { Timeout = Timeout.InfiniteTimeSpan };
    }

    public string Name => RuntimeName;

    /// <summary>Raised with the framework id after every SUBSCRIBED (tests await failovers with it).</summary>
    public event Action<string>? Subscribed;

    /// <summary>Raised when a subscription ended (dropped, silent past its heartbeats, refused), with why.</summary>
    public event Action<string>? SubscriptionEnded;

    /// <summary>The framework id of the current (or last) subscription; null before the first.</summary>
    public string? FrameworkId
    {
        get
        {
            lock (_lock)
            {
                return _frameworkId;
            }
        }
    }

    public string? Validate(OperatorSpec spec) => MesosCalls.Check(spec);

    public Task<IInstanceHandle> LaunchAsync(InstanceLaunch launch, CancellationToken cancellationToken)
    {
        if (MesosCalls.Check(launch.Spec) is { } problem)
        {
            throw new InvalidOperationException($"cannot launch {launch.OperatorName}/{launch.Index} on Mesos: {problem}");
        }
        var taskId = MesosCalls.TaskId(launch.OperatorName, launch.Index, launch.Incarnation);
        var handle = new TaskGroupInstance(this, launch, taskId);
        lock (_lock)
        {
            if (_pending.Count >= MesosLimits.PendingLaunchesMax)
            {
                throw new InvalidOperationException(
                    $"cannot launch {launch.OperatorName}/{launch.Index}: {_pending.Count} launches already wait for Mesos offers (MesosLimits.PendingLaunchesMax); " +
                    "the cluster has no room for them: add agents or lower instances");
            }
            _pending.Add(handle);
        }
        handle.StartTimer(_options.TaskStartTimeoutMs);
        EnsureSubscribing();
        LogQueued(launch.OperatorName, launch.Index, taskId);
        // Declined offers are filtered for a while: REVIVE has the master offer them again now.
        _ = ReviveAsync();
        return Task.FromResult<IInstanceHandle>(handle);
    }

    public async Task StopAsync(IInstanceHandle handle, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (handle is not TaskGroupInstance instance || instance.Exited.IsCompleted)
        {
            return;
        }
        instance.StopRequested = true;
        bool wasPending;
        lock (_lock)
        {
            wasPending = _pending.Remove(instance);
        }
        if (wasPending)
        {
            instance.End(new InstanceExit(128 + InstanceExit.SigTerm, "stopped before Mesos offered room for it"));
            return;
        }
        try
        {
            await KillAsync(instance.TaskId, instance.AgentId, timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is MesosCallException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            LogKillFailed(instance.TaskId, e.Message);
        }
        try
        {
            await instance.Exited.WaitAsync(timeout + TimeSpan.FromMilliseconds(MesosLimits.StopSlackMs), _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The task stays known: when a reconciliation finds it still running it is killed again.
            instance.End(new InstanceExit(128 + InstanceExit.SigKill,
                $"stopped: Mesos reported no end of task {instance.TaskId} within {(long)timeout.TotalMilliseconds + MesosLimits.StopSlackMs} ms of its KILL; it is killed again if a reconciliation finds it"));
        }
    }

    /// <summary>Mesos removes a task's sandbox itself (the agent's gc); nothing is kept per instance here.</summary>
    public Task ForgetInstanceAsync(string operatorName, int index, int release, bool keepLog, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task ForgetOperatorAsync(string operatorName, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// Kills the tasks an earlier run of this framework left (found by implicit reconciliation,
    /// which only the same framework id can make: that is why it is kept). Adoption is not
    /// offered: Mesos gives back a task's state, not the spec it was launched with.
    /// </summary>
    public async Task ReapLeftoversAsync(CancellationToken cancellationToken)
    {
        EnsureSubscribing();
        await WaitSubscribedAsync(cancellationToken).ConfigureAwait(false);
        Interlocked.Exchange(ref _lastUpdateTicks, _time.GetTimestamp());
        var started = _time.GetTimestamp();
        await SendAsync(MesosCalls.Reconcile(RequireFrameworkId(), []), cancellationToken).ConfigureAwait(false);
        // Implicit reconciliation has no end marker: the answer is complete once updates stop.
        while (_time.GetElapsedTime(started).TotalMilliseconds < MesosLimits.ReconcileWindowMs &&
               _time.GetElapsedTime(Interlocked.Read(ref _lastUpdateTicks)).TotalMilliseconds < _options.ReconcileQuietMs)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(_options.ReconcileQuietMs / 4), _time, cancellationToken).ConfigureAwait(false);
        }
        // The kills are in flight; their ends free the resources the relaunches need.
        while (_time.GetElapsedTime(started).TotalMilliseconds < MesosLimits.ReconcileWindowMs + MesosLimits.StopSlackMs)
        {
            lock (_lock)
            {
                if (_reaping.Count == 0)
                {
                    return;
                }
            }
            await Task.Delay(TimeSpan.FromMilliseconds(_options.ReconcileQuietMs / 4), _time, cancellationToken).ConfigureAwait(false);
        }
        LogReapUnconfirmed(string.Join(", ", ReapingSnapshot()));
    }

    private string[] ReapingSnapshot()
    {
        lock (_lock)
        {
            return [.. _reaping];
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        // No TEARDOWN: that would kill every task. The master keeps them for the failover
        // timeout, for the next scheduler (or a standby) subscribing with the same framework id.
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        lock (_lock)
        {
            foreach (var instance in _byTask.Values.Concat(_pending))
            {
                instance.DisposeTimers();
            }
        }
        _http.Dispose();
        // _stopping is not disposed: timers and fire-and-forget kills may still read its token.
    }

    private void EnsureSubscribing()
    {
        lock (_lock)
        {
            if (_loop is null || _loop.IsCompleted)
            {
                _loop = Task.Run(() => SubscriptionLoopAsync(_stopping.Token));
            }
        }
    }

    private async Task WaitSubscribedAsync(CancellationToken cancellationToken)
    {
        Task subscribed;
        lock (_lock)
        {
            subscribed = _subscribed.Task;
        }
        try
        {
            await subscribed.WaitAsync(TimeSpan.FromMilliseconds(MesosLimits.SubscribedWaitMs), _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new MesosCallException(
                $"not subscribed to a Mesos master within {MesosLimits.SubscribedWaitMs} ms (MesosLimits.SubscribedWaitMs); check {MesosRuntimeOptions.MasterVariable} " +
                $"({string.Join(",", _options.Masters)}) and the scheduler's log");
        }
    }

    private string RequireFrameworkId() => FrameworkId ?? throw new MesosCallException("not subscribed to a Mesos master yet");

    /// <summary>Subscribes, reads events until the stream ends or goes silent, and subscribes again with backoff; ends only when disposed or superseded.</summary>
    private async Task SubscriptionLoopAsync(CancellationToken stopping)
    {
        var delayMs = MesosLimits.SubscribeRetryMinMs;
        while (!stopping.IsCancellationRequested)
        {
            string why;
            var superseded = false;
            try
            {
                var outcome = await SubscribeOnceAsync(stopping).ConfigureAwait(false);
                why = outcome.Why;
                superseded = outcome.Superseded;
                if (outcome.WasSubscribed)
                {
                    delayMs = MesosLimits.SubscribeRetryMinMs;
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is HttpRequestException or MesosCallException or InvalidDataException or JsonException or IOException or OperationCanceledException)
            {
                why = e is OperationCanceledException ? $"the master did not answer SUBSCRIBE within {MesosLimits.SubscribeTimeoutMs} ms" : e.Message;
                lock (_lock)
                {
                    // The next attempt tries the next master.
                    _nextMaster = (_nextMaster + 1) % _options.Masters.Count;
                }
            }
            lock (_lock)
            {
                _streamId = null;
                if (_subscribed.Task.IsCompleted)
                {
                    _subscribed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }
            }
            SubscriptionEnded?.Invoke(why);
            if (superseded)
            {
                LogSuperseded(why);
                return;
            }
            LogSubscriptionEnded(why, delayMs);
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(delayMs), _time, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            delayMs = Math.Min(_options.SubscribeRetryMaxMs, delayMs * 2);
        }
    }

    private readonly record struct Outcome(bool WasSubscribed, string Why, bool Superseded = false);

    private async Task<Outcome> SubscribeOnceAsync(CancellationToken stopping)
    {
        var frameworkId = FrameworkId ?? await _ids.ReadAsync(stopping).ConfigureAwait(false);
        Uri master;
        lock (_lock)
        {
            master = _options.Masters[_nextMaster];
        }
        var body = MesosCalls.Subscribe(_options, frameworkId).ToJsonString();
        HttpResponseMessage? response = null;
        for (var redirects = 0; ; redirects++)
        {
            using var headers = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            headers.CancelAfter(TimeSpan.FromMilliseconds(MesosLimits.SubscribeTimeoutMs));
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(master, SchedulerPath)) { Content = Json(body) };
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, headers.Token).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.TemporaryRedirect)
            {
                break;
            }
            var location = response.Headers.Location;
            response.Dispose();
            if (location is null)
            {
                throw new MesosCallException($"master {master} answered SUBSCRIBE with 307 but no Location: it does not know the leading master yet");
            }
            if (redirects >= MesosLimits.RedirectsMax)
            {
                throw new MesosCallException($"SUBSCRIBE was redirected more than {MesosLimits.RedirectsMax} times (MesosLimits.RedirectsMax), last to {location}: the masters disagree on their leader");
            }
            // Mesos answers with a scheme-relative "//host:port/api/v1/scheduler".
            var target = new Uri(master, location);
            LogRedirected(master.ToString(), target.GetLeftPart(UriPartial.Authority));
            master = new Uri(target.GetLeftPart(UriPartial.Authority));
        }
        using (response)
        {
            if (response.StatusCode != HttpStatusCode.OK)
            {
                var text = await response.Content.ReadAsStringAsync(stopping).ConfigureAwait(false);
                throw new MesosCallException($"master {master} refused SUBSCRIBE: {(int)response.StatusCode} {response.ReasonPhrase} ({text.Trim()})");
            }
            if (!response.Headers.TryGetValues(StreamIdHeader, out var ids) || ids.FirstOrDefault() is not { Length: > 0 } streamId)
            {
                throw new MesosCallException($"master {master} answered SUBSCRIBE without a {StreamIdHeader} header; is {MesosRuntimeOptions.MasterVariable} a Mesos master (1.0 or later)?");
            }
            lock (_lock)
            {
                _leader = master;
                _streamId = streamId;
            }
            var reader = new RecordIoReader(await response.Content.ReadAsStreamAsync(stopping).ConfigureAwait(false));
            var heartbeatSeconds = MesosLimits.DefaultHeartbeatSeconds;
            var subscribed = false;
            while (true)
            {
                byte[]? record;
                using (var silence = CancellationTokenSource.CreateLinkedTokenSource(stopping))
                {
                    var allowed = TimeSpan.FromSeconds(heartbeatSeconds * MesosLimits.MissedHeartbeatsMax);
                    silence.CancelAfter(allowed);
                    try
                    {
                        record = await reader.ReadAsync(silence.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
                    {
                        return new Outcome(subscribed, $"master {master} sent nothing for {allowed.TotalSeconds} s ({MesosLimits.MissedHeartbeatsMax} heartbeats, MesosLimits.MissedHeartbeatsMax)");
                    }
                }
                if (record is null)
                {
                    return new Outcome(subscribed, $"master {master} closed the event stream");
                }
                var ev = JsonNode.Parse(record)?.AsObject() ?? throw new InvalidDataException("the master sent an event that is not a JSON object");
                switch ((string?)ev["type"])
                {
                    case "SUBSCRIBED":
                        var sub = ev["subscribed"];
                        var id = (string?)sub?["framework_id"]?["value"] ?? throw new InvalidDataException("SUBSCRIBED without framework_id");
                        heartbeatSeconds = (double?)sub?["heartbeat_interval_seconds"] ?? MesosLimits.DefaultHeartbeatSeconds;
                        await OnSubscribedAsync(id, frameworkId, stopping).ConfigureAwait(false);
                        subscribed = true;
                        break;
                    case "OFFERS":
                        await OnOffersAsync(ev["offers"]?["offers"]?.AsArray() ?? [], stopping).ConfigureAwait(false);
                        break;
                    case "UPDATE":
                        await OnUpdateAsync(ev["update"]?["status"]?.AsObject(), stopping).ConfigureAwait(false);
                        break;
                    case "FAILURE":
                        await OnFailureAsync(ev["failure"]?.AsObject(), stopping).ConfigureAwait(false);
                        break;
                    case "ERROR":
                        var message = (string?)ev["error"]?["message"] ?? "";
                        return await OnErrorAsync(message, subscribed, stopping).ConfigureAwait(false);
                    case "HEARTBEAT":
                    case "RESCIND":
                    case "RESCIND_INVERSE_OFFER":
                    case "INVERSE_OFFERS":
                    case "MESSAGE":
                    case "UPDATE_OPERATION_STATUS":
                    default:
                        // Offers are answered at once, so a rescinded one is already answered;
                        // inverse offers (maintenance) are not acted on (docs/mesos.md).
                        break;
                }
            }
        }
    }

    private async Task OnSubscribedAsync(string id, string? previous, CancellationToken stopping)
    {
        if (id != previous)
        {
            await _ids.WriteAsync(id, stopping).ConfigureAwait(false);
        }
        List<(string, string?)> known;
        TaskCompletionSource subscribed;
        lock (_lock)
        {
            _frameworkId = id;
            subscribed = _subscribed;
            known = [.. _byTask.Where(t => !t.Value.IsTaskEnded(t.Key)).Select(t => (t.Key, t.Value.AgentId))];
        }
        LogSubscribed(id, _leader?.ToString() ?? "", previous == id);
        subscribed.TrySetResult();
        Subscribed?.Invoke(id);
        if (known.Count > 0)
        {
            // Updates sent while no subscription was there (a master failover, a dropped stream) are
            // resent by the master only until acknowledged; explicit reconciliation makes sure.
            await TrySendAsync(MesosCalls.Reconcile(id, known), stopping).ConfigureAwait(false);
        }
    }

    private async Task<Outcome> OnErrorAsync(string message, bool subscribed, CancellationToken stopping)
    {
        LogMasterError(message);
        if (message.Contains("failed over", StringComparison.OrdinalIgnoreCase))
        {
            // Another scheduler subscribed with this framework id (a new leader): subscribing
            // again would take the framework back from it. The next use of this runtime does.
            return new Outcome(subscribed, $"the master says: {message}", Superseded: true);
        }
        if (message.Contains("removed", StringComparison.OrdinalIgnoreCase) || message.Contains("unknown framework", StringComparison.OrdinalIgnoreCase))
        {
            // The master no longer knows the framework (past its failover timeout, or torn down):
            // its id is useless, and the next subscription makes a new framework.
            await _ids.WriteAsync(null, stopping).ConfigureAwait(false);
            lock (_lock)
            {
                _frameworkId = null;
            }
        }
        return new Outcome(subscribed, $"the master sent ERROR: {message}");
    }

    private async Task OnFailureAsync(JsonObject? failure, CancellationToken stopping)
    {
        var agent = (string?)failure?["agent_id"]?["value"];
        var executor = (string?)failure?["executor_id"]?["value"];
        LogFailure(agent ?? "", executor ?? "", (int?)failure?["status"] ?? 0);
        if (agent is null || FrameworkId is not { } framework)
        {
            return;
        }
        List<(string, string?)> onAgent;
        lock (_lock)
        {
            onAgent = [.. _byTask.Where(t => t.Value.AgentId == agent && !t.Value.IsTaskEnded(t.Key)).Select(t => (t.Key, t.Value.AgentId))];
        }
        // The task updates normally follow; asking makes sure a lost one is noticed.
        if (onAgent.Count > 0)
        {
            await TrySendAsync(MesosCalls.Reconcile(framework, onAgent), stopping).ConfigureAwait(false);
        }
    }

    private async Task OnOffersAsync(JsonArray offers, CancellationToken stopping)
    {
        var framework = RequireFrameworkId();
        var declineIdle = new List<string>();
        var declineWaiting = new List<string>();
        foreach (var node in offers)
        {
            if (node is not JsonObject offer || (string?)offer["id"]?["value"] is not { } offerId || (string?)offer["agent_id"]?["value"] is not { } agentId)
            {
                continue;
            }
            var hostname = (string?)offer["hostname"] ?? "";
            var (cpus, mem) = Unreserved(offer["resources"]?.AsArray());
            var taken = new List<TaskGroupInstance>();
            bool anyWaiting;
            lock (_lock)
            {
                foreach (var waiting in _pending.ToList())
                {
                    var (needCpus, needMem) = MesosCalls.Needs(waiting.Launch.Spec);
                    // Three decimals, as Mesos compares scalars.
                    if (Math.Round(needCpus, 3) <= Math.Round(cpus, 3) && Math.Round(needMem, 3) <= Math.Round(mem, 3))
                    {
                        cpus -= needCpus;
                        mem -= needMem;
                        taken.Add(waiting);
                        _pending.Remove(waiting);
                        waiting.Placed(agentId, hostname);
                        _byTask[waiting.TaskId] = waiting;
                        if (waiting.OperatorTaskId is { } operatorTask)
                        {
                            _byTask[operatorTask] = waiting;
                        }
                    }
                }
                anyWaiting = _pending.Count > 0;
            }
            if (taken.Count == 0)
            {
                (anyWaiting ? declineWaiting : declineIdle).Add(offerId);
                continue;
            }
            var accept = MesosCalls.Accept(framework, offerId, agentId, hostname, taken.Select(t => t.Launch), _options,
                anyWaiting ? MesosLimits.DeclineWhileWaitingSeconds : MesosLimits.DeclineIdleSeconds);
            try
            {
                await SendAsync(accept, stopping).ConfigureAwait(false);
                foreach (var instance in taken)
                {
                    LogLaunched(instance.Launch.OperatorName, instance.Launch.Index, instance.TaskId, agentId, hostname);
                }
            }
            catch (Exception e) when (e is MesosCallException or HttpRequestException or OperationCanceledException && !stopping.IsCancellationRequested)
            {
                LogAcceptFailed(offerId, e.Message);
                lock (_lock)
                {
                    foreach (var instance in taken)
                    {
                        _byTask.Remove(instance.TaskId);
                        if (instance.OperatorTaskId is { } operatorTask)
                        {
                            _byTask.Remove(operatorTask);
                        }
                        if (!instance.Exited.IsCompleted)
                        {
                            instance.Unplaced();
                            _pending.Insert(0, instance);
                        }
                    }
                }
            }
        }
        if (declineWaiting.Count > 0)
        {
            await TrySendAsync(MesosCalls.Decline(framework, declineWaiting, MesosLimits.DeclineWhileWaitingSeconds), stopping).ConfigureAwait(false);
        }
        if (declineIdle.Count > 0)
        {
            await TrySendAsync(MesosCalls.Decline(framework, declineIdle, MesosLimits.DeclineIdleSeconds), stopping).ConfigureAwait(false);
        }
    }

    /// <summary>The offer's unreserved cpus and mem (reserved resources would have to be named with their reservation, which launches do not).</summary>
    private static (double Cpus, double Mem) Unreserved(JsonArray? resources)
    {
        double cpus = 0, mem = 0;
        foreach (var node in resources ?? [])
        {
            if (node is not JsonObject r || (string?)r["type"] != "SCALAR")
            {
                continue;
            }
            var reserved = r["reservations"] is JsonArray { Count: > 0 } || r["reservation"] is not null || ((string?)r["role"] is { } role && role != "*");
            if (reserved)
            {
                continue;
            }
            var value = (double?)r["scalar"]?["value"] ?? 0;
            switch ((string?)r["name"])
            {
                case "cpus":
                    cpus += value;
                    break;
                case "mem":
                    mem += value;
                    break;
            }
        }
        return (cpus, mem);
    }

    private async Task OnUpdateAsync(JsonObject? status, CancellationToken stopping)
    {
        if (status is null || (string?)status["task_id"]?["value"] is not { } taskId || (string?)status["state"] is not { } state)
        {
            return;
        }
        Interlocked.Exchange(ref _lastUpdateTicks, _time.GetTimestamp());
        var agentId = (string?)status["agent_id"]?["value"];
        var message = (string?)status["message"];
        var reason = (string?)status["reason"];
        TaskGroupInstance? instance;
        bool wasReaping;
        lock (_lock)
        {
            _byTask.TryGetValue(taskId, out instance);
            wasReaping = _reaping.Contains(taskId);
            if (wasReaping && TaskStateMapping.IsTerminal(state))
            {
                _reaping.Remove(taskId);
            }
        }
        if (instance is not null)
        {
            instance.Observe(taskId, state, message, reason);
            if (TaskStateMapping.IsTerminal(state))
            {
                lock (_lock)
                {
                    if (instance.AllTasksEnded)
                    {
                        _byTask.Remove(instance.TaskId);
                        if (instance.OperatorTaskId is { } operatorTask)
                        {
                            _byTask.Remove(operatorTask);
                        }
                    }
                }
            }
            else if (instance.Exited.IsCompleted)
            {
                // Its instance ended (a stop that was not confirmed, the other task's failure): it must not run on.
                await TryKillAsync(taskId, agentId ?? instance.AgentId, stopping).ConfigureAwait(false);
            }
        }
        else if (!TaskStateMapping.IsTerminal(state) && !wasReaping)
        {
            // A task of this framework this run did not launch: left by an earlier run.
            lock (_lock)
            {
                _reaping.Add(taskId);
            }
            LogReaping(taskId, state);
            await TryKillAsync(taskId, agentId, stopping).ConfigureAwait(false);
        }
        // Updates with a uuid are resent until acknowledged; reconciliation answers carry none.
        if ((string?)status["uuid"] is { Length: > 0 } uuid && agentId is not null && FrameworkId is { } framework)
        {
            await TrySendAsync(MesosCalls.Acknowledge(framework, agentId, taskId, uuid), stopping).ConfigureAwait(false);
        }
    }

    private async Task TryKillAsync(string taskId, string? agentId, CancellationToken cancellationToken)
    {
        try
        {
            await KillAsync(taskId, agentId, TimeSpan.FromMilliseconds(SchedulerLimits.StopTimeoutMs), cancellationToken).ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
            // The runtime was disposed meanwhile: the next scheduler run kills what is left.
        }
        catch (Exception e) when (e is MesosCallException or HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            LogKillFailed(taskId, e.Message);
        }
    }

    private async Task KillAsync(string taskId, string? agentId, TimeSpan grace, CancellationToken cancellationToken)
    {
        await WaitSubscribedAsync(cancellationToken).ConfigureAwait(false);
        await SendAsync(MesosCalls.Kill(RequireFrameworkId(), taskId, agentId, grace), cancellationToken).ConfigureAwait(false);
    }

    private async Task ReviveAsync()
    {
        try
        {
            if (FrameworkId is { } framework && _streamId is not null)
            {
                await SendAsync(MesosCalls.Revive(framework), _stopping.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is MesosCallException or HttpRequestException or OperationCanceledException or ObjectDisposedException)
        {
            // Best effort: without it, the offer comes back once the decline filter expires.
            LogReviveFailed(e.Message);
        }
    }

    private async Task TrySendAsync(JsonObject call, CancellationToken cancellationToken)
    {
        try
        {
            await SendAsync(call, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is MesosCallException or HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            LogCallFailed((string?)call["type"] ?? "", e.Message);
        }
    }

    /// <summary>One call to the leading master on the current subscription; 202 Accepted is success.</summary>
    private async Task SendAsync(JsonObject call, CancellationToken cancellationToken)
    {
        Uri leader;
        string streamId;
        lock (_lock)
        {
            leader = _leader ?? throw new MesosCallException("not subscribed to a Mesos master yet");
            streamId = _streamId ?? throw new MesosCallException($"the subscription to {_leader} has ended; the call is made again after the next one");
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromMilliseconds(MesosLimits.CallTimeoutMs));
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(leader, SchedulerPath)) { Content = Json(call.ToJsonString()) };
        request.Headers.Add(StreamIdHeader, streamId);
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new MesosCallException($"{(string?)call["type"]}: master {leader} did not answer within {MesosLimits.CallTimeoutMs} ms (MesosLimits.CallTimeoutMs)");
        }
        using (response)
        {
            if (response.StatusCode != HttpStatusCode.Accepted && response.StatusCode != HttpStatusCode.OK)
            {
                var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
                throw new MesosCallException($"{(string?)call["type"]}: master {leader} answered {(int)response.StatusCode} {response.ReasonPhrase} ({text.Trim()})");
            }
        }
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    [LoggerMessage(EventId = 950, Level = LogLevel.Information, Message = "Subscribed to Mesos master {Master} as framework {FrameworkId} (failed over to the stored id: {Failover})")]
    private partial void LogSubscribed(string frameworkId, string master, bool failover);

    [LoggerMessage(EventId = 951, Level = LogLevel.Warning, Message = "Mesos subscription ended: {Why}; subscribing again in {DelayMs} ms")]
    private partial void LogSubscriptionEnded(string why, int delayMs);

    [LoggerMessage(EventId = 952, Level = LogLevel.Information, Message = "Mesos master {Master} is not the leader; following its redirect to {Leader}")]
    private partial void LogRedirected(string master, string leader);

    [LoggerMessage(EventId = 953, Level = LogLevel.Information, Message = "{Operator}/{Index} (task {TaskId}) waits for a Mesos offer")]
    private partial void LogQueued(string @operator, int index, string taskId);

    [LoggerMessage(EventId = 954, Level = LogLevel.Information, Message = "Launched {Operator}/{Index} as task group {TaskId} on agent {AgentId} ({Hostname})")]
    private partial void LogLaunched(string @operator, int index, string taskId, string agentId, string hostname);

    [LoggerMessage(EventId = 955, Level = LogLevel.Warning, Message = "ACCEPT of offer {OfferId} failed: {Problem}; its launches wait for the next offer")]
    private partial void LogAcceptFailed(string offerId, string problem);

    [LoggerMessage(EventId = 956, Level = LogLevel.Warning, Message = "KILL of task {TaskId} failed: {Problem}; a reconciliation finding it running kills it again")]
    private partial void LogKillFailed(string taskId, string problem);

    [LoggerMessage(EventId = 957, Level = LogLevel.Warning, Message = "Mesos call {Type} failed: {Problem}")]
    private partial void LogCallFailed(string type, string problem);

    [LoggerMessage(EventId = 958, Level = LogLevel.Warning, Message = "Killing task {TaskId} ({State}) left by an earlier scheduler run")]
    private partial void LogReaping(string taskId, string state);

    [LoggerMessage(EventId = 959, Level = LogLevel.Error, Message = "The Mesos master sent ERROR: {Message}")]
    private partial void LogMasterError(string message);

    [LoggerMessage(EventId = 960, Level = LogLevel.Warning, Message = "Mesos reports a failure on agent {AgentId} (executor {ExecutorId}, status {Status}); reconciling its tasks")]
    private partial void LogFailure(string agentId, string executorId, int status);

    [LoggerMessage(EventId = 961, Level = LogLevel.Warning, Message = "Another scheduler took over the Mesos framework ({Why}); this one stops subscribing until it is used again")]
    private partial void LogSuperseded(string why);

    [LoggerMessage(EventId = 962, Level = LogLevel.Debug, Message = "REVIVE failed: {Problem}")]
    private partial void LogReviveFailed(string problem);

    [LoggerMessage(EventId = 963, Level = LogLevel.Warning, Message = "Leftover Mesos tasks not confirmed ended: {Tasks}; they are killed again when seen")]
    private partial void LogReapUnconfirmed(string tasks);

    [LoggerMessage(EventId = 964, Level = LogLevel.Warning, Message = "Task group {TaskId} of {Operator}/{Index} ended: {Description}")]
    private partial void LogEnded(string taskId, string @operator, int index, string description);

    /// <summary>A call the master refused or did not answer, or no subscription to make it on.</summary>
    private sealed class MesosCallException(string message) : InvalidOperationException(message);

    /// <summary>One launch: a task group of the executor's task and (unless a built-in) the operator's.</summary>
    private sealed class TaskGroupInstance(MesosClusterRuntime runtime, InstanceLaunch launch, string taskId) : IInstanceHandle
    {
        private readonly TaskCompletionSource<InstanceExit> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly Lock _lock = new();
        private readonly Dictionary<string, string> _states = new(StringComparer.Ordinal);
        private ITimer? _startTimer;
        private ITimer? _operatorGrace;
        private InstanceExit? _operatorExit;
        private bool _running;
        private string _lastState = "waiting for an offer";

        public InstanceLaunch Launch { get; } = launch;

        public string TaskId { get; } = taskId;

        public string? OperatorTaskId { get; } = launch.Spec.Builtin is null ? MesosCalls.OperatorTaskId(taskId) : null;

        public string OperatorName => Launch.OperatorName;

        public int Index => Launch.Index;

        public string Incarnation => Launch.Incarnation;

        public int Pid => 0;

        public string Host { get; private set; } = "";

        public string? AgentId { get; private set; }

        public Task<InstanceExit> Exited => _exited.Task;

        public volatile bool StopRequested;

        public bool AllTasksEnded
        {
            get
            {
                lock (_lock)
                {
                    return IsTaskEndedLocked(TaskId) && (OperatorTaskId is null || IsTaskEndedLocked(OperatorTaskId));
                }
            }
        }

        public bool IsTaskEnded(string task)
        {
            lock (_lock)
            {
                return IsTaskEndedLocked(task);
            }
        }

        private bool IsTaskEndedLocked(string task) => _states.TryGetValue(task, out var state) && TaskStateMapping.IsTerminal(state);

        public void Placed(string agentId, string hostname)
        {
            AgentId = agentId;
            Host = hostname;
            _lastState = $"launched on {hostname}";
        }

        public void Unplaced()
        {
            AgentId = null;
            Host = "";
            _lastState = "waiting for an offer (an ACCEPT failed)";
        }

        public void StartTimer(int startTimeoutMs) =>
            _startTimer = runtime._time.CreateTimer(_ => NeverStarted(startTimeoutMs), null, TimeSpan.FromMilliseconds(startTimeoutMs), Timeout.InfiniteTimeSpan);

        public void Observe(string task, string state, string? message, string? reason)
        {
            var observation = TaskStateMapping.Observe(state, message, reason, StopRequested);
            InstanceExit? end = null;
            string? killOther = null;
            lock (_lock)
            {
                _states[task] = state;
                _lastState = string.Join(", ", new[] { state, reason, message }.Where(s => !string.IsNullOrEmpty(s)));
                var allRunning = _states.TryGetValue(TaskId, out var e) && e == "TASK_RUNNING" &&
                                 (OperatorTaskId is null || (_states.TryGetValue(OperatorTaskId, out var o) && o == "TASK_RUNNING"));
                if (allRunning && !_running)
                {
                    _running = true;
                    _startTimer?.Dispose();
                }
                if (observation.Ended is { } ended)
                {
                    if (task == TaskId)
                    {
                        // The operator's exit code says more than the executor's that followed it.
                        end = _operatorExit ?? ended;
                        if (OperatorTaskId is not null && !IsTaskEndedLocked(OperatorTaskId))
                        {
                            killOther = OperatorTaskId;
                        }
                    }
                    else if (_operatorExit is null)
                    {
                        _operatorExit = ended;
                        // The executor notices the closed session at once; if it does not end, the instance ends anyway.
                        _operatorGrace = runtime._time.CreateTimer(_ => OperatorGone(), null,
                            TimeSpan.FromMilliseconds(MesosLimits.OperatorEndGraceMs), Timeout.InfiniteTimeSpan);
                    }
                }
            }
            if (end is not null)
            {
                End(end);
            }
            if (killOther is not null)
            {
                _ = runtime.TryKillAsync(killOther, AgentId, runtime._stopping.Token);
            }
        }

        private void OperatorGone()
        {
            InstanceExit? exit;
            lock (_lock)
            {
                exit = _operatorExit;
            }
            if (exit is not null && End(exit))
            {
                _ = runtime.TryKillAsync(TaskId, AgentId, runtime._stopping.Token);
            }
        }

        public bool End(InstanceExit exit)
        {
            if (!_exited.TrySetResult(exit))
            {
                return false;
            }
            DisposeTimers();
            runtime.LogEnded(TaskId, OperatorName, Index, exit.Description);
            return true;
        }

        public void DisposeTimers()
        {
            lock (_lock)
            {
                _startTimer?.Dispose();
                _operatorGrace?.Dispose();
            }
        }

        private void NeverStarted(int startTimeoutMs)
        {
            string last;
            lock (_lock)
            {
                if (_running)
                {
                    return;
                }
                last = _lastState;
            }
            bool wasPending;
            lock (runtime._lock)
            {
                wasPending = runtime._pending.Remove(this);
            }
            if (End(new InstanceExit(-1,
                    $"its Mesos task group {TaskId} was not running within {startTimeoutMs} ms (last: {last}); " +
                    (wasPending ? "no offer had room for it: check the agents' free cpus and mem and the framework's role" : "see the task's sandbox on the agent (stdout, stderr)"))) &&
                !wasPending)
            {
                _ = runtime.TryKillAsync(TaskId, AgentId, runtime._stopping.Token);
            }
        }
    }
}
