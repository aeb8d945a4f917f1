using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Concord.Scheduler.Tests.Mesos;

/// <summary>
/// A TEST DOUBLE of a Mesos master — not Mesos: an in-process Kestrel on 127.0.0.1 serving the
/// v1 scheduler API's wire format (POST /api/v1/scheduler; SUBSCRIBE answered 200 with a
/// <c>Mesos-Stream-Id</c> header and a RecordIO stream of JSON events; every other call answered
/// 202, or 400 without the current stream id, as the master does). It has no allocator and no
/// agents: a test plays them, sending offers (<see cref="OfferAsync"/>) and status updates
/// (<see cref="UpdateAsync"/>). What it does by itself, as a master would: SUBSCRIBED and
/// HEARTBEATs, keeping a framework id given back on SUBSCRIBE (failover), TASK_STARTING and
/// TASK_RUNNING for every task of an accepted LAUNCH_GROUP (unless <see cref="AutoRun"/> is
/// off), TASK_KILLED for every task of the group on KILL (the default executor's group policy),
/// answering RECONCILE with the states it knows, 307 to the leader from a non-leading
/// instance (<see cref="StartNonLeaderAsync"/>), and dropping a subscription on demand
/// (<see cref="DropSubscription"/>). Every call received and every event sent is kept, so a
/// test can check them against Debian's v1 protos (MesosWireFormatTests).
/// </summary>
internal sealed class MesosMasterDouble : IAsyncDisposable
{
    public const string DefaultAgentId = "agent-1";
    public const string DefaultHostname = "agent-1.example";

    private readonly Lock _lock = new();
    private readonly List<JsonObject> _calls = [];
    private readonly List<JsonObject> _events = [];
    private readonly List<string> _refused = [];
    private readonly Dictionary<string, TaskRecord> _tasks = new(StringComparer.Ordinal);
    private readonly HashSet<string> _unacknowledged = new(StringComparer.Ordinal);
    private readonly string? _leader;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Subscription? _current;
    private WebApplication _app = null!;
    private int _frameworks;
    private int _offers;
    private int _subscriptions;
    private int _redirects;

    private MesosMasterDouble(string? leader) => _leader = leader;

    private sealed record TaskRecord(string TaskId, string AgentId, string Group)
    {
        public string State { get; set; } = "TASK_STAGING";
    }

    private sealed class Subscription(string streamId)
    {
        public string StreamId { get; } = streamId;

        public Channel<JsonObject> Events { get; } = Channel.CreateUnbounded<JsonObject>();
    }

    public Uri Address { get; private set; } = null!;

    /// <summary>The heartbeat interval SUBSCRIBED announces, in s.</summary>
    public double HeartbeatSeconds { get; set; } = 15;

    /// <summary>Off: the master goes silent after SUBSCRIBED (no heartbeats), as one behind a dead connection.</summary>
    public bool SendHeartbeats { get; set; } = true;

    /// <summary>Tasks of an accepted LAUNCH_GROUP go through TASK_STARTING to TASK_RUNNING by themselves.</summary>
    public bool AutoRun { get; set; } = true;

    /// <summary>The framework id of the last SUBSCRIBED.</summary>
    public string? FrameworkId { get; private set; }

    /// <summary>Every call received, in order.</summary>
    public IReadOnlyList<JsonObject> Calls
    {
        get
        {
            lock (_lock)
            {
                return [.. _calls];
            }
        }
    }

    /// <summary>Every event sent, in order (HEARTBEATs included).</summary>
    public IReadOnlyList<JsonObject> Events
    {
        get
        {
            lock (_lock)
            {
                return [.. _events];
            }
        }
    }

    /// <summary>Calls answered 400, with why (a stale stream id, an unknown framework).</summary>
    public IReadOnlyList<string> Refused
    {
        get
        {
            lock (_lock)
            {
                return [.. _refused];
            }
        }
    }

    /// <summary>Updates sent with a uuid that no ACKNOWLEDGE has answered yet, as "task/uuid".</summary>
    public IReadOnlyCollection<string> Unacknowledged
    {
        get
        {
            lock (_lock)
            {
                return [.. _unacknowledged];
            }
        }
    }

    /// <summary>Requests a non-leading instance answered with 307.</summary>
    public int Redirects
    {
        get
        {
            lock (_lock)
            {
                return _redirects;
            }
        }
    }

    public int Subscriptions
    {
        get
        {
            lock (_lock)
            {
                return _subscriptions;
            }
        }
    }

    public static Task<MesosMasterDouble> StartAsync() => StartCoreAsync(null);

    /// <summary>A master that is not the leader: it answers every call 307 to <paramref name="leader"/>.</summary>
    public static Task<MesosMasterDouble> StartNonLeaderAsync(MesosMasterDouble leader) =>
        StartCoreAsync($"//{leader.Address.Host}:{leader.Address.Port.ToString(CultureInfo.InvariantCulture)}/api/v1/scheduler");

    private static async Task<MesosMasterDouble> StartCoreAsync(string? leader)
    {
        var master = new MesosMasterDouble(leader);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        master._app = builder.Build();
        master._app.Run(master.HandleAsync);
        await master._app.StartAsync();
        master.Address = new Uri(master._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return master;
    }

    /// <summary>A task of this framework the master knows from an earlier scheduler run (still running on <paramref name="agentId"/>).</summary>
    public void AddRunningTask(string taskId, string agentId = DefaultAgentId)
    {
        lock (_lock)
        {
            _tasks[taskId] = new TaskRecord(taskId, agentId, taskId) { State = "TASK_RUNNING" };
        }
    }

    public string? TaskState(string taskId)
    {
        lock (_lock)
        {
            return _tasks.TryGetValue(taskId, out var task) ? task.State : null;
        }
    }

    /// <summary>Awaits (bounded) the first call, from the <paramref name="skip"/>-th on, that <paramref name="match"/>es.</summary>
    public async Task<JsonObject> WaitCallAsync(Func<JsonObject, bool> match, TimeSpan bound, int skip = 0)
    {
        var deadline = DateTime.UtcNow + bound;
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                if (_calls.Skip(skip).FirstOrDefault(match) is { } found)
                {
                    return found;
                }
                changed = _changed.Task;
            }
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                throw new TimeoutException($"no matching call within {bound}; calls: {string.Join(", ", Calls.Select(c => (string?)c["type"]))}");
            }
            await changed.WaitAsync(left).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    public Task<JsonObject> WaitCallAsync(string type, TimeSpan bound, int skip = 0) => WaitCallAsync(c => (string?)c["type"] == type, bound, skip);

    /// <summary>Awaits (bounded) the <paramref name="count"/>-th SUBSCRIBED sent.</summary>
    public async Task WaitSubscribedAsync(int count, TimeSpan bound)
    {
        var deadline = DateTime.UtcNow + bound;
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                if (_events.Count(e => (string?)e["type"] == "SUBSCRIBED") >= count)
                {
                    return;
                }
                changed = _changed.Task;
            }
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                throw new TimeoutException($"SUBSCRIBED #{count} not sent within {bound}");
            }
            await changed.WaitAsync(left).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>Sends one offer of an agent's unreserved cpus and mem; returns its id.</summary>
    public string Offer(double cpus, double memMiB, string agentId = DefaultAgentId, string hostname = DefaultHostname)
    {
        string id;
        lock (_lock)
        {
            id = "offer-" + (++_offers).ToString(CultureInfo.InvariantCulture);
        }
        Send(new JsonObject
        {
            ["type"] = "OFFERS",
            ["offers"] = new JsonObject
            {
                ["offers"] = new JsonArray(new JsonObject
                {
                    ["id"] = Id(id),
                    ["framework_id"] = Id(FrameworkId!),
                    ["agent_id"] = Id(agentId),
                    ["hostname"] = hostname,
                    ["resources"] = new JsonArray(Scalar("cpus", cpus), Scalar("mem", memMiB), Scalar("disk", 10_000)),
                }),
            },
        });
        return id;
    }

    public Task<string> OfferAsync(double cpus, double memMiB) => Task.FromResult(Offer(cpus, memMiB));

    /// <summary>Sends a status update of <paramref name="taskId"/> as its agent would (with a uuid to acknowledge).</summary>
    public void Update(string taskId, string state, string? message = null, string? reason = null) =>
        SendUpdate(taskId, state, message, reason, reconciliation: false);

    public Task UpdateAsync(string taskId, string state, string? message = null, string? reason = null)
    {
        Update(taskId, state, message, reason);
        return Task.CompletedTask;
    }

    /// <summary>Ends the current subscription's stream, as a master failover or a cut connection does.</summary>
    public void DropSubscription()
    {
        Subscription? current;
        lock (_lock)
        {
            current = _current;
            _current = null;
        }
        current?.Events.Writer.TryComplete();
    }

    /// <summary>Sends ERROR and ends the stream, as the master does.</summary>
    public void Error(string message)
    {
        Send(new JsonObject { ["type"] = "ERROR", ["error"] = new JsonObject { ["message"] = message } });
        DropSubscription();
    }

    public void Failure(string agentId)
    {
        Send(new JsonObject { ["type"] = "FAILURE", ["failure"] = new JsonObject { ["agent_id"] = Id(agentId) } });
    }

    public async ValueTask DisposeAsync()
    {
        DropSubscription();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private void SendUpdate(string taskId, string state, string? message, string? reason, bool reconciliation)
    {
        string agentId;
        lock (_lock)
        {
            if (!_tasks.TryGetValue(taskId, out var task))
            {
                task = new TaskRecord(taskId, DefaultAgentId, taskId);
                if (!reconciliation)
                {
                    _tasks[taskId] = task;
                }
            }
            if (!reconciliation)
            {
                task.State = state;
            }
            agentId = task.AgentId;
        }
        var status = new JsonObject
        {
            ["task_id"] = Id(taskId),
            ["state"] = state,
            ["source"] = reconciliation ? "SOURCE_MASTER" : "SOURCE_EXECUTOR",
            ["agent_id"] = Id(agentId),
            ["timestamp"] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0,
        };
        if (message is not null)
        {
            status["message"] = message;
        }
        if (reason is not null)
        {
            status["reason"] = reason;
        }
        if (!reconciliation)
        {
            // Status update uuids are bytes: base64 in JSON.
            var uuid = Convert.ToBase64String(Guid.NewGuid().ToByteArray());
            status["uuid"] = uuid;
            lock (_lock)
            {
                _unacknowledged.Add(taskId + "/" + uuid);
            }
        }
        Send(new JsonObject { ["type"] = "UPDATE", ["update"] = new JsonObject { ["status"] = status } });
    }

    private void Send(JsonObject ev)
    {
        Subscription? current;
        lock (_lock)
        {
            current = _current;
            _events.Add(ev);
            Changed();
        }
        current?.Events.Writer.TryWrite(ev);
    }

    private void Changed()
    {
        _changed.TrySetResult();
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private async Task HandleAsync(HttpContext context)
    {
        if (context.Request.Path != "/api/v1/scheduler" || context.Request.Method != "POST")
        {
            context.Response.StatusCode = 404;
            return;
        }
        if (_leader is not null)
        {
            lock (_lock)
            {
                _redirects++;
            }
            context.Response.StatusCode = 307;
            context.Response.Headers.Location = _leader;
            return;
        }
        JsonObject call;
        try
        {
            call = (await JsonNode.ParseAsync(context.Request.Body))!.AsObject();
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException)
        {
            await Refuse(context, "Failed to parse body into JSON: " + e.Message);
            return;
        }
        lock (_lock)
        {
            _calls.Add(call);
            Changed();
        }
        var type = (string?)call["type"];
        if (type == "SUBSCRIBE")
        {
            await SubscribeAsync(context, call);
            return;
        }
        string? problem;
        lock (_lock)
        {
            problem = _current is null ? "Framework is not subscribed"
                : context.Request.Headers["Mesos-Stream-Id"].ToString() != _current.StreamId ? "The stream ID included in this request didn't match the stream ID currently associated with framework ID"
                : (string?)call["framework_id"]?["value"] != FrameworkId ? "Call is originating from an unsubscribed framework"
                : null;
        }
        if (problem is not null)
        {
            await Refuse(context, $"{type}: {problem}");
            return;
        }
        context.Response.StatusCode = 202;
        switch (type)
        {
            case "ACCEPT":
                Accept(call["accept"]!.AsObject());
                break;
            case "KILL":
                Kill((string)call["kill"]!["task_id"]!["value"]!);
                break;
            case "ACKNOWLEDGE":
                lock (_lock)
                {
                    _unacknowledged.Remove((string)call["acknowledge"]!["task_id"]!["value"]! + "/" + (string)call["acknowledge"]!["uuid"]!);
                }
                break;
            case "RECONCILE":
                Reconcile(call["reconcile"]?["tasks"]?.AsArray() ?? []);
                break;
        }
        lock (_lock)
        {
            // Waiters look at what the call changed (acknowledgements, task states) too.
            Changed();
        }
    }

    private async Task Refuse(HttpContext context, string why)
    {
        lock (_lock)
        {
            _refused.Add(why);
        }
        context.Response.StatusCode = 400;
        await context.Response.WriteAsync(why);
    }

    private async Task SubscribeAsync(HttpContext context, JsonObject call)
    {
        var info = call["subscribe"]?["framework_info"];
        var given = (string?)info?["id"]?["value"];
        var subscription = new Subscription(Guid.NewGuid().ToString());
        Subscription? previous;
        string frameworkId;
        lock (_lock)
        {
            _subscriptions++;
            frameworkId = given ?? "framework-" + (++_frameworks).ToString(CultureInfo.InvariantCulture);
            FrameworkId = frameworkId;
            previous = _current;
            _current = subscription;
        }
        // A second subscription with the same id takes the framework over from the first.
        if (previous is not null)
        {
            previous.Events.Writer.TryWrite(new JsonObject { ["type"] = "ERROR", ["error"] = new JsonObject { ["message"] = "Framework failed over" } });
            previous.Events.Writer.TryComplete();
        }
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        context.Response.Headers["Mesos-Stream-Id"] = subscription.StreamId;
        Send(new JsonObject
        {
            ["type"] = "SUBSCRIBED",
            ["subscribed"] = new JsonObject
            {
                ["framework_id"] = Id(frameworkId),
                ["heartbeat_interval_seconds"] = HeartbeatSeconds,
                ["master_info"] = new JsonObject { ["id"] = "master-double", ["ip"] = 16777343, ["port"] = Address.Port, ["hostname"] = "127.0.0.1" },
            },
        });
        using var heartbeats = new CancellationTokenSource();
        var beating = Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(HeartbeatSeconds));
            try
            {
                while (await timer.WaitForNextTickAsync(heartbeats.Token))
                {
                    if (SendHeartbeats && ReferenceEquals(_current, subscription))
                    {
                        Send(new JsonObject { ["type"] = "HEARTBEAT" });
                    }
                }
            }
            catch (OperationCanceledException)
            {
                // The subscription ended.
            }
        });
        try
        {
            await context.Response.Body.FlushAsync(context.RequestAborted);
            await foreach (var ev in subscription.Events.Reader.ReadAllAsync(context.RequestAborted))
            {
                var body = Encoding.UTF8.GetBytes(ev.ToJsonString());
                await context.Response.Body.WriteAsync(Encoding.ASCII.GetBytes(body.Length.ToString(CultureInfo.InvariantCulture) + "\n"), context.RequestAborted);
                await context.Response.Body.WriteAsync(body, context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
            }
        }
        catch (OperationCanceledException)
        {
            // The scheduler went away.
        }
        finally
        {
            await heartbeats.CancelAsync();
            await beating;
            lock (_lock)
            {
                if (ReferenceEquals(_current, subscription))
                {
                    _current = null;
                }
            }
        }
    }

    private void Accept(JsonObject accept)
    {
        var launched = new List<string>();
        foreach (var operation in accept["operations"]?.AsArray() ?? [])
        {
            if ((string?)operation?["type"] != "LAUNCH_GROUP")
            {
                continue;
            }
            var tasks = operation!["launch_group"]!["task_group"]!["tasks"]!.AsArray();
            var group = (string)tasks[0]!["task_id"]!["value"]!;
            lock (_lock)
            {
                foreach (var task in tasks)
                {
                    var id = (string)task!["task_id"]!["value"]!;
                    _tasks[id] = new TaskRecord(id, (string)task["agent_id"]!["value"]!, group);
                    launched.Add(id);
                }
            }
        }
        if (AutoRun)
        {
            foreach (var id in launched)
            {
                Update(id, "TASK_STARTING");
            }
            foreach (var id in launched)
            {
                Update(id, "TASK_RUNNING");
            }
        }
    }

    private void Kill(string taskId)
    {
        List<string> group;
        lock (_lock)
        {
            if (!_tasks.TryGetValue(taskId, out var task))
            {
                group = [];
            }
            else
            {
                // The default executor kills the whole task group when one of its tasks is killed.
                group = [.. _tasks.Values.Where(t => t.Group == task.Group && t.State is "TASK_STAGING" or "TASK_STARTING" or "TASK_RUNNING" or "TASK_KILLING").Select(t => t.TaskId)];
            }
        }
        foreach (var id in group)
        {
            Update(id, "TASK_KILLING");
        }
        foreach (var id in group)
        {
            Update(id, "TASK_KILLED", "Command terminated with signal Terminated");
        }
    }

    private void Reconcile(JsonArray tasks)
    {
        List<(string Id, string State)> answers;
        lock (_lock)
        {
            answers = tasks.Count == 0
                // Implicit: every task the master knows of the framework that is not terminal.
                ? [.. _tasks.Values.Where(t => t.State is "TASK_STAGING" or "TASK_STARTING" or "TASK_RUNNING" or "TASK_KILLING").Select(t => (t.TaskId, t.State))]
                : [.. tasks.Select(t => (string)t!["task_id"]!["value"]!).Select(id => (id, _tasks.TryGetValue(id, out var known) ? known.State : "TASK_UNKNOWN"))];
        }
        foreach (var (id, state) in answers)
        {
            SendUpdate(id, state, "Reconciliation: latest task state", "REASON_RECONCILIATION", reconciliation: true);
        }
    }

    private static JsonObject Id(string value) => new() { ["value"] = value };

    private static JsonObject Scalar(string name, double value) => new() { ["name"] = name, ["type"] = "SCALAR", ["scalar"] = new JsonObject { ["value"] = value } };
}
