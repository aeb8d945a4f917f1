using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using System.Threading.Channels;
using k8s;
using k8s.Models;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Concord.Scheduler.Tests.Kubernetes;

/// <summary>
/// A TEST DOUBLE of the Kubernetes API server — not Kubernetes: an in-process Kestrel serving
/// the real JSON wire format of the calls the Kubernetes runtime makes (pods create, get, list,
/// watch, delete; configmaps create, get; secrets create, get, delete in KubernetesApiServerDouble.Secrets.cs), with resourceVersions, watch streams that resume
/// from a resourceVersion, 410 Gone for a compacted one, 404 and 409 Status objects. It has
/// no scheduler, kubelet or container engine: a test plays the kubelet by setting pod statuses
/// (<see cref="UpdateStatus"/>), and on a graceful delete the double removes the pod unless
/// told that the kubelet is stuck (<see cref="KubeletIgnoresGracefulDelete"/>).
/// Every object received is checked against the official schema through KubernetesClient's
/// models: it must survive deserialization and re-serialization unchanged (an unknown or
/// misspelt field, a wrong type would not), and pass the API server's own rules the runtime
/// relies on (names, labels, native sidecars, volume mounts, quantities); what fails is
/// answered 422 and kept in <see cref="Violations"/>.
/// </summary>
internal sealed partial class KubernetesApiServerDouble : IAsyncDisposable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, V1Pod> _pods = new(StringComparer.Ordinal);
    private readonly Dictionary<string, V1ConfigMap> _configMaps = new(StringComparer.Ordinal);
    private readonly List<(long Version, string Type, string Json, IDictionary<string, string>? Labels)> _history = [];
    private readonly List<Watcher> _watchers = [];
    private long _version = 1000;
    private long _compactedThrough;
    private WebApplication _app = null!;

    public string Address { get; private set; } = "";

    /// <summary>Schema or rule violations of objects received (should stay empty).</summary>
    public List<string> Violations { get; } = [];

    /// <summary>Every request as "METHOD path?query", in order.</summary>
    public IReadOnlyList<string> Requests
    {
        get
        {
            lock (_lock)
            {
                return _requests.ToList();
            }
        }
    }

    private readonly List<string> _requests = [];

    /// <summary>Every pod the runtime created, as received (after the schema check).</summary>
    public List<V1Pod> CreatedPods { get; } = [];

    /// <summary>Every delete's options, by pod name.</summary>
    public List<(string Pod, V1DeleteOptions? Options)> Deletes { get; } = [];

    /// <summary>When set, a delete with grace > 0 only marks the pod terminating (a kubelet that does not act); grace 0 still removes it.</summary>
    public bool KubeletIgnoresGracefulDelete { get; set; }

    public static async Task<KubernetesApiServerDouble> StartAsync()
    {
        var server = new KubernetesApiServerDouble();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        server._app = builder.Build();
        server._app.Run(server.HandleOrReportAsync);
        await server._app.StartAsync();
        server.Address = server._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return server;
    }

    public IKubernetes Client() => new k8s.Kubernetes(new KubernetesClientConfiguration { Host = Address });

    public async ValueTask DisposeAsync()
    {
        CutWatches();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    public V1Pod? Pod(string name)
    {
        lock (_lock)
        {
            return _pods.GetValueOrDefault(name) is { } pod ? Copy(pod) : null;
        }
    }

    public IReadOnlyList<string> PodNames()
    {
        lock (_lock)
        {
            return _pods.Keys.Order(StringComparer.Ordinal).ToList();
        }
    }

    public V1ConfigMap? ConfigMap(string name)
    {
        lock (_lock)
        {
            return _configMaps.GetValueOrDefault(name);
        }
    }

    /// <summary>Puts a pod in place as if made earlier (a previous scheduler run, another client).</summary>
    public void Seed(V1Pod pod)
    {
        lock (_lock)
        {
            pod.Metadata.Uid ??= Guid.NewGuid().ToString();
            pod.Status ??= new V1PodStatus { Phase = "Pending" };
            Record("ADDED", pod);
            _pods[pod.Metadata.Name] = pod;
        }
    }

    /// <summary>Plays the kubelet: changes a pod's status, which watchers see as MODIFIED.</summary>
    public void UpdateStatus(string name, Action<V1PodStatus> change)
    {
        lock (_lock)
        {
            var pod = _pods[name];
            pod.Status ??= new V1PodStatus();
            change(pod.Status);
            Record("MODIFIED", pod);
        }
    }

    /// <summary>Removes a pod as kubectl delete --grace-period=0 --force would, behind the runtime's back.</summary>
    public void DeleteFromOutside(string name)
    {
        lock (_lock)
        {
            Remove(name);
        }
    }

    /// <summary>Completes once pod <paramref name="name"/> is gone (at once when it is already).</summary>
    public Task WhenRemovedAsync(string name)
    {
        lock (_lock)
        {
            if (!_pods.ContainsKey(name))
            {
                return Task.CompletedTask;
            }
            var removed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _removals.Add((name, removed));
            return removed.Task;
        }
    }

    /// <summary>Completes once a watch request has arrived (at once when one has).</summary>
    public Task WhenWatchedAsync()
    {
        lock (_lock)
        {
            return _watched.Task;
        }
    }

    private readonly List<(string Pod, TaskCompletionSource Removed)> _removals = [];
    private readonly TaskCompletionSource _watched = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Ends every open watch stream (an API server restart, a load balancer's idle cut).</summary>
    public void CutWatches()
    {
        lock (_lock)
        {
            foreach (var watcher in _watchers)
            {
                watcher.Events.Writer.TryComplete();
            }
            _watchers.Clear();
        }
    }

    /// <summary>New watch requests wait (an API server that is away) until <see cref="ResumeWatches"/>.</summary>
    public void PauseWatches()
    {
        lock (_lock)
        {
            _watchGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    public void ResumeWatches()
    {
        lock (_lock)
        {
            _watchGate.TrySetResult();
        }
    }

    private TaskCompletionSource _watchGate = CompletedGate();

    /// <summary>List requests (not watches) wait until <see cref="ResumeLists"/>: a slow list, served after later changes.</summary>
    public void PauseLists()
    {
        lock (_lock)
        {
            _listGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    public void ResumeLists()
    {
        lock (_lock)
        {
            _listGate.TrySetResult();
        }
    }

    /// <summary>Completes once a list request is waiting at the paused gate.</summary>
    public Task WhenListWaitingAsync()
    {
        lock (_lock)
        {
            return _listWaiting.Task;
        }
    }

    private TaskCompletionSource _listGate = CompletedGate();
    private readonly TaskCompletionSource _listWaiting = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static TaskCompletionSource CompletedGate()
    {
        var gate = new TaskCompletionSource();
        gate.SetResult();
        return gate;
    }

    /// <summary>Forgets the event history up to now (etcd compaction): a watch from an older resourceVersion gets 410 Gone.</summary>
    public void Compact()
    {
        lock (_lock)
        {
            _compactedThrough = _version;
            _history.Clear();
        }
    }

    /// <summary>Executor of a pod in the shape of a running native sidecar and operator.</summary>
    public static void Running(V1PodStatus status)
    {
        status.Phase = "Running";
        status.InitContainerStatuses = [new V1ContainerStatus { Name = "executor", Image = "e", ImageID = "", Ready = true, RestartCount = 0, Started = true, State = new V1ContainerState { Running = new V1ContainerStateRunning { StartedAt = DateTime.UtcNow } } }];
        status.ContainerStatuses = [new V1ContainerStatus { Name = "operator", Image = "o", ImageID = "", Ready = true, RestartCount = 0, Started = true, State = new V1ContainerState { Running = new V1ContainerStateRunning { StartedAt = DateTime.UtcNow } } }];
    }

    private sealed class Watcher(IDictionary<string, string> selector)
    {
        public IDictionary<string, string> Selector { get; } = selector;

        public Channel<string> Events { get; } = Channel.CreateUnbounded<string>();
    }

    /// <summary>A bug in the double is an answer the test can read, not a bare 500.</summary>
    private async Task HandleOrReportAsync(HttpContext context)
    {
        try
        {
            await HandleAsync(context);
        }
        catch (Exception e) when (e is Microsoft.AspNetCore.Http.BadHttpRequestException or OperationCanceledException or IOException)
        {
            // The client went away mid-request (a runtime disposed at the end of a test): not a finding.
        }
        catch (Exception e) when (!context.Response.HasStarted)
        {
            lock (_lock)
            {
                Violations.Add($"the double failed on {context.Request.Method} {context.Request.Path}: {e}");
            }
            await StatusAsync(context, 500, "InternalError", e.ToString());
        }
    }

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        lock (_lock)
        {
            _requests.Add($"{request.Method} {request.Path}{request.QueryString}");
        }
        if (await HandleCoordinationAsync(context))
        {
            return;
        }
        var parts = request.Path.Value!.Trim('/').Split('/');
        // api/v1/namespaces/{ns}/{resource}[/{name}]
        if (parts.Length < 5 || parts[0] != "api" || parts[1] != "v1" || parts[2] != "namespaces")
        {
            await StatusAsync(context, 404, "NotFound", $"the double serves no {request.Path}");
            return;
        }
        var ns = parts[3];
        var resource = parts[4];
        var name = parts.Length > 5 ? parts[5] : null;
        var body = await new StreamReader(request.Body, Encoding.UTF8).ReadToEndAsync();
        switch (resource, request.Method, name)
        {
            case ("pods", "POST", null):
                await CreatePodAsync(context, ns, body);
                return;
            case ("pods", "GET", null) when request.Query["watch"] is { Count: > 0 } w && (w[0] == "true" || w[0] == "1"):
                await WatchAsync(context, request);
                return;
            case ("pods", "GET", null):
                await ListAsync(context, request);
                return;
            case ("pods", "GET", { } podName):
                V1Pod? found;
                lock (_lock)
                {
                    found = _pods.GetValueOrDefault(podName);
                }
                await (found is null ? StatusAsync(context, 404, "NotFound", $"pods \"{podName}\" not found") : JsonAsync(context, 200, found));
                return;
            case ("pods", "DELETE", { } podName):
                await DeletePodAsync(context, podName, body);
                return;
            case ("configmaps", "POST", null):
                await CreateConfigMapAsync(context, ns, body);
                return;
            case ("configmaps", "GET", { } mapName):
                V1ConfigMap? map;
                lock (_lock)
                {
                    map = _configMaps.GetValueOrDefault(mapName);
                }
                await (map is null ? StatusAsync(context, 404, "NotFound", $"configmaps \"{mapName}\" not found") : JsonAsync(context, 200, map));
                return;
            case ("secrets", _, _):
                await HandleSecretAsync(context, ns, name, body);
                return;
            default:
                await StatusAsync(context, 405, "MethodNotAllowed", $"the double does not serve {request.Method} {request.Path}");
                return;
        }
    }

    private async Task CreatePodAsync(HttpContext context, string ns, string body)
    {
        var pod = Strict<V1Pod>(body, out var problem);
        problem ??= pod is null ? "no pod" : CheckPod(pod, ns);
        if (problem is not null)
        {
            lock (_lock)
            {
                Violations.Add(problem);
            }
            await StatusAsync(context, 422, "Invalid", problem);
            return;
        }
        lock (_lock)
        {
            CreatedPods.Add(Copy(pod!));
            if (_pods.ContainsKey(pod!.Metadata.Name))
            {
                goto conflict;
            }
            pod.Metadata.Uid = Guid.NewGuid().ToString();
            pod.Metadata.CreationTimestamp = DateTime.UtcNow;
            pod.Status = new V1PodStatus { Phase = "Pending" };
            Record("ADDED", pod);
            _pods[pod.Metadata.Name] = pod;
        }
        await JsonAsync(context, 201, pod);
        return;
    conflict:
        await StatusAsync(context, 409, "AlreadyExists", $"pods \"{pod.Metadata.Name}\" already exists");
    }

    private async Task CreateConfigMapAsync(HttpContext context, string ns, string body)
    {
        var map = Strict<V1ConfigMap>(body, out var problem);
        problem ??= map?.Metadata?.Name is { } n && IsSubdomain(n) && (map.Metadata.NamespaceProperty ?? ns) == ns
            ? CheckLabels(map.Metadata.Labels) : "configmap: metadata.name must be a DNS subdomain in the request's namespace";
        if (problem is not null)
        {
            lock (_lock)
            {
                Violations.Add(problem);
            }
            await StatusAsync(context, 422, "Invalid", problem);
            return;
        }
        bool exists;
        lock (_lock)
        {
            exists = _configMaps.ContainsKey(map!.Metadata.Name);
            if (!exists)
            {
                map.Metadata.Uid = Guid.NewGuid().ToString();
                map.Metadata.ResourceVersion = (++_version).ToString(CultureInfo.InvariantCulture);
                _configMaps[map.Metadata.Name] = map;
            }
        }
        await (exists ? StatusAsync(context, 409, "AlreadyExists", $"configmaps \"{map.Metadata.Name}\" already exists") : JsonAsync(context, 201, map));
    }

    private async Task DeletePodAsync(HttpContext context, string name, string body)
    {
        V1DeleteOptions? options = null;
        if (body.Length > 0)
        {
            options = Strict<V1DeleteOptions>(body, out var problem);
            if (problem is not null)
            {
                lock (_lock)
                {
                    Violations.Add(problem);
                }
                await StatusAsync(context, 422, "Invalid", problem);
                return;
            }
        }
        V1Pod? pod;
        lock (_lock)
        {
            Deletes.Add((name, options));
            pod = _pods.GetValueOrDefault(name);
            if (pod is not null)
            {
                if (options?.GracePeriodSeconds == 0 || !KubeletIgnoresGracefulDelete)
                {
                    Remove(name);
                }
                else
                {
                    pod.Metadata.DeletionTimestamp = DateTime.UtcNow;
                    pod.Metadata.DeletionGracePeriodSeconds = options?.GracePeriodSeconds;
                    Record("MODIFIED", pod);
                }
            }
        }
        await (pod is null ? StatusAsync(context, 404, "NotFound", $"pods \"{name}\" not found") : JsonAsync(context, 200, pod));
    }

    private async Task ListAsync(HttpContext context, HttpRequest request)
    {
        Task gate;
        lock (_lock)
        {
            gate = _listGate.Task;
            if (!gate.IsCompleted)
            {
                _listWaiting.TrySetResult();
            }
        }
        await gate.WaitAsync(context.RequestAborted);
        var selector = Selector(request.Query["labelSelector"].ToString());
        V1PodList list;
        lock (_lock)
        {
            list = new V1PodList
            {
                ApiVersion = "v1",
                Kind = "PodList",
                Metadata = new V1ListMeta { ResourceVersion = _version.ToString(CultureInfo.InvariantCulture) },
                Items = _pods.Values.Where(p => Matches(selector, p.Metadata.Labels)).Select(Copy).ToList(),
            };
        }
        await JsonAsync(context, 200, list);
    }

    private async Task WatchAsync(HttpContext context, HttpRequest request)
    {
        var selector = Selector(request.Query["labelSelector"].ToString());
        var from = long.TryParse(request.Query["resourceVersion"].ToString(), out var rv) ? rv : 0;
        var timeout = int.TryParse(request.Query["timeoutSeconds"].ToString(), out var s) ? TimeSpan.FromSeconds(s) : TimeSpan.FromMinutes(30);
        var watcher = new Watcher(selector);
        Task gate;
        lock (_lock)
        {
            gate = _watchGate.Task;
        }
        await gate.WaitAsync(context.RequestAborted);
        lock (_lock)
        {
            if (from < _compactedThrough)
            {
                var gone = StatusJson(410, "Expired", $"too old resource version: {from} ({_compactedThrough})");
                watcher.Events.Writer.TryWrite($"{{\"type\":\"ERROR\",\"object\":{gone}}}");
                watcher.Events.Writer.TryComplete();
            }
            else
            {
                foreach (var (version, type, json, labels) in _history.Where(h => h.Version > from && Matches(selector, h.Labels)))
                {
                    watcher.Events.Writer.TryWrite($"{{\"type\":\"{type}\",\"object\":{json}}}");
                }
                _watchers.Add(watcher);
                _watched.TrySetResult();
            }
        }
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        await context.Response.Body.FlushAsync();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        deadline.CancelAfter(timeout);
        try
        {
            await foreach (var line in watcher.Events.Reader.ReadAllAsync(deadline.Token))
            {
                await context.Response.WriteAsync(line + "\n", deadline.Token);
                await context.Response.Body.FlushAsync(deadline.Token);
            }
        }
        catch (OperationCanceledException)
        {
            // The watch's timeout or the client going away: the stream ends.
        }
        lock (_lock)
        {
            _watchers.Remove(watcher);
        }
    }

    /// <summary>Adds an event for <paramref name="pod"/> with a new resourceVersion and sends it to matching watchers. Under the lock.</summary>
    private void Record(string type, V1Pod pod)
    {
        pod.Metadata.ResourceVersion = (++_version).ToString(CultureInfo.InvariantCulture);
        var json = KubernetesJson.Serialize(pod);
        _history.Add((_version, type, json, pod.Metadata.Labels));
        foreach (var watcher in _watchers.Where(w => Matches(w.Selector, pod.Metadata.Labels)))
        {
            watcher.Events.Writer.TryWrite($"{{\"type\":\"{type}\",\"object\":{json}}}");
        }
    }

    private void Remove(string name)
    {
        if (_pods.Remove(name, out var pod))
        {
            Record("DELETED", pod);
            foreach (var waiter in _removals.Where(r => r.Pod == name).ToList())
            {
                waiter.Removed.TrySetResult();
                _removals.Remove(waiter);
            }
        }
    }

    private static V1Pod Copy(V1Pod pod) => KubernetesJson.Deserialize<V1Pod>(KubernetesJson.Serialize(pod));

    /// <summary>
    /// The schema check: the body must deserialize into the official model and serialize back
    /// to the same JSON (unknown, misspelt or mistyped fields do not survive the round trip).
    /// </summary>
    private static T? Strict<T>(string body, out string? problem)
        where T : class
    {
        problem = null;
        try
        {
            var model = KubernetesJson.Deserialize<T>(body);
            var sent = JsonNode.Parse(body);
            var back = JsonNode.Parse(KubernetesJson.Serialize(model));
            if (!JsonNode.DeepEquals(sent, back))
            {
                problem = $"{typeof(T).Name}: the object does not match the schema (fields lost or changed in the round trip through the model): sent {body} / model {back}";
                return null;
            }
            return model;
        }
        catch (JsonException e)
        {
            problem = $"{typeof(T).Name}: not valid against the model: {e.Message}";
            return null;
        }
    }

    [GeneratedRegex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    private static partial Regex DnsLabel();

    [GeneratedRegex(@"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")]
    private static partial Regex DnsSubdomain();

    [GeneratedRegex("^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")]
    private static partial Regex LabelValue();

    [GeneratedRegex("^[-._a-zA-Z][-._a-zA-Z0-9]*$")]
    private static partial Regex EnvName();

    private static bool IsSubdomain(string value) => value.Length <= 253 && DnsSubdomain().IsMatch(value);

    private static string? CheckLabels(IDictionary<string, string>? labels)
    {
        foreach (var (key, value) in labels ?? new Dictionary<string, string>())
        {
            var name = key.Contains('/') ? key[(key.IndexOf('/') + 1)..] : key;
            var prefix = key.Contains('/') ? key[..key.IndexOf('/')] : null;
            if (name.Length is 0 or > 63 || !LabelValue().IsMatch(name) || (prefix is not null && !IsSubdomain(prefix)))
            {
                return $"label key '{key}' is invalid";
            }
            if (value.Length > 63 || !LabelValue().IsMatch(value))
            {
                return $"label value '{value}' of '{key}' is invalid";
            }
        }
        return null;
    }

    /// <summary>The rules of the API server's pod validation that the runtime's pods touch.</summary>
    private static string? CheckPod(V1Pod pod, string ns)
    {
        var meta = pod.Metadata;
        if (meta?.Name is not { } name || !IsSubdomain(name))
        {
            return "pod: metadata.name must be a DNS subdomain";
        }
        if (meta.NamespaceProperty is { } podNs && podNs != ns)
        {
            return $"pod: metadata.namespace {podNs} is not the request's {ns}";
        }
        if (CheckLabels(meta.Labels) is { } labelProblem)
        {
            return "pod: " + labelProblem;
        }
        foreach (var owner in meta.OwnerReferences ?? [])
        {
            if (string.IsNullOrEmpty(owner.ApiVersion) || string.IsNullOrEmpty(owner.Kind) || string.IsNullOrEmpty(owner.Name) || string.IsNullOrEmpty(owner.Uid))
            {
                return "pod: an ownerReference needs apiVersion, kind, name and uid";
            }
        }
        var spec = pod.Spec;
        if (spec?.Containers is not { Count: > 0 })
        {
            return "pod: spec.containers must not be empty";
        }
        if (spec.Hostname is { } hostname && !DnsLabel().IsMatch(hostname))
        {
            return $"pod: spec.hostname '{hostname}' must be a DNS label";
        }
        if (spec.Subdomain is { } subdomain && !DnsLabel().IsMatch(subdomain))
        {
            return $"pod: spec.subdomain '{subdomain}' must be a DNS label";
        }
        if (spec.RestartPolicy is not (null or "Always" or "OnFailure" or "Never"))
        {
            return $"pod: spec.restartPolicy '{spec.RestartPolicy}' is not Always, OnFailure or Never";
        }
        var volumes = (spec.Volumes ?? []).Select(v => v.Name).ToHashSet(StringComparer.Ordinal);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (container, init) in (spec.InitContainers ?? []).Select(c => (c, true)).Concat(spec.Containers.Select(c => (c, false))))
        {
            if (container.Name is null || !DnsLabel().IsMatch(container.Name) || !names.Add(container.Name))
            {
                return $"pod: container name '{container.Name}' must be a unique DNS label";
            }
            if (string.IsNullOrWhiteSpace(container.Image))
            {
                return $"pod: container {container.Name} has no image";
            }
            if (container.RestartPolicy is { } policy && (!init || policy != "Always"))
            {
                return $"pod: container {container.Name}: restartPolicy may only be set on init containers, to Always (native sidecars)";
            }
            foreach (var mount in container.VolumeMounts ?? [])
            {
                if (!volumes.Contains(mount.Name))
                {
                    return $"pod: container {container.Name} mounts volume '{mount.Name}', which the pod does not declare";
                }
            }
            foreach (var env in container.Env ?? [])
            {
                if (env.Name is null || !EnvName().IsMatch(env.Name))
                {
                    return $"pod: container {container.Name}: env name '{env.Name}' is invalid";
                }
            }
            var requests = container.Resources?.Requests ?? new Dictionary<string, ResourceQuantity>();
            var limits = container.Resources?.Limits ?? new Dictionary<string, ResourceQuantity>();
            foreach (var (resource, request) in requests)
            {
                if (limits.TryGetValue(resource, out var limit) && request.ToDecimal() > limit.ToDecimal())
                {
                    return $"pod: container {container.Name}: {resource} request {request} exceeds its limit {limit}";
                }
            }
        }
        return null;
    }

    private static Dictionary<string, string> Selector(string text) =>
        text.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : "", StringComparer.Ordinal);

    private static bool Matches(IDictionary<string, string> selector, IDictionary<string, string>? labels) =>
        selector.All(s => labels is not null && labels.TryGetValue(s.Key, out var v) && v == s.Value);

    private static Task JsonAsync(HttpContext context, int status, object value)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(KubernetesJson.Serialize(value));
    }

    private static Task StatusAsync(HttpContext context, int code, string reason, string message)
    {
        context.Response.StatusCode = code;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(StatusJson(code, reason, message));
    }

    /// <summary>A metav1.Status as the API server writes it (KubernetesClient reads Status but does not write it).</summary>
    private static string StatusJson(int code, string reason, string message) => new JsonObject
    {
        ["kind"] = "Status",
        ["apiVersion"] = "v1",
        ["metadata"] = new JsonObject(),
        ["status"] = "Failure",
        ["message"] = message,
        ["reason"] = reason,
        ["code"] = code,
    }.ToJsonString();
}
