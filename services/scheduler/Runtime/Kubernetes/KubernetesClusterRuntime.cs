using System.Collections.Concurrent;
using System.Net;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Runtime.Kubernetes.Internal;
using Google.Protobuf;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace Concord.Scheduler.Runtime.Kubernetes;

/// <summary>
/// The Kubernetes runtime (<c>--runtime kubernetes</c>, docs/kubernetes.md): every instance is a
/// Pod in <see cref="KubernetesRuntimeOptions.Namespace"/> holding the operator's container and
/// the executor as a native sidecar (attach mode) sharing an emptyDir for the session's socket;
/// a built-in is a pod with the executor alone. Every pod carries the cluster's labels and is
/// owned by the topology's ConfigMap, so <c>kubectl delete configmap</c> removes them all.
/// One list-then-watch over the cluster's label follows every pod (reconnecting from the last
/// resourceVersion, listing again when the server answers 410 Gone) and maps phases and
/// container statuses onto each handle (<see cref="PodStatusMapping"/>). A pod that is not
/// running within <see cref="KubernetesRuntimeOptions.PodStartTimeoutMs"/> is deleted and its
/// instance fails with the reason Kubernetes gave. Stops delete the pod with the stop's grace
/// period, then force it.
/// </summary>
public sealed partial class KubernetesClusterRuntime : IClusterRuntime, IAsyncDisposable
{
    /// <summary>The name of this runtime for <c>--runtime</c>.</summary>
    public const string RuntimeName = "kubernetes";

    private readonly IKubernetes _client;
    private readonly KubernetesRuntimeOptions _options;
    private readonly ILogger<KubernetesClusterRuntime> _logger;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, PodInstance> _pods = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _ownerLock = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _watchLock = new();
    private string? _ownerUid;
    private Task? _watch;

    public KubernetesClusterRuntime(IKubernetes client, KubernetesRuntimeOptions options, ILogger<KubernetesClusterRuntime> logger, TimeProvider time)
    {
        _client = client;
        _options = options.Check();
        _logger = logger;
        _time = time;
    }

    /// <summary>
    /// The client from in-cluster credentials (the pod's service account) when the scheduler runs
    /// in a pod, else from the kubeconfig file ($KUBECONFIG or ~/.kube/config, current context).
    /// </summary>
    public static IKubernetes CreateClient()
    {
        var config = KubernetesClientConfiguration.IsInCluster()
            ? KubernetesClientConfiguration.InClusterConfig()
            : KubernetesClientConfiguration.BuildConfigFromConfigFile(Environment.GetEnvironmentVariable("KUBECONFIG"));
        return new k8s.Kubernetes(config);
    }

    public string Name => RuntimeName;

    /// <summary>Raised after every list of the pods (the first, and each after a 410 Gone); tests await it.</summary>
    public event Action? Listed;

    /// <summary>Raised after every watch request ends (server timeout, cut connection, error); tests await reconnects with it.</summary>
    public event Action? WatchEnded;

    public string? Validate(OperatorSpec spec) => PodSpecs.Check(spec, _options);

    public async Task<IInstanceHandle> LaunchAsync(InstanceLaunch launch, CancellationToken cancellationToken)
    {
        var ownerUid = await EnsureOwnerAsync(cancellationToken).ConfigureAwait(false);
        var pod = PodSpecs.Pod(launch, _options, ownerUid);
        var name = pod.Metadata.Name;
        var handle = new PodInstance(this, name, launch.OperatorName, launch.Index, launch.Incarnation);
        // Registered before the create, so no event of the new pod can be missed.
        // The secret first: kubelet resolves the executor's secretKeyRef when it starts it.
        await CreateSecretAsync(PodSpecs.Secret(launch, _options, ownerUid), launch, cancellationToken).ConfigureAwait(false);
        _pods[name] = handle;
        EnsureWatching();
        try
        {
            using var call = CallTimeout(cancellationToken);
            var created = await _client.CoreV1.CreateNamespacedPodAsync(pod, _options.Namespace, cancellationToken: call.Token).ConfigureAwait(false);
            handle.Identify(created.Metadata.Uid);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            // A create whose answer was lost (and retried) finds its own pod: that is success.
            // Anything else of that name is not ours to take over.
            var existing = await ReadPodAsync(name, cancellationToken).ConfigureAwait(false);
            if (existing is null || PodStatusMapping.Labels(existing)?.Incarnation != launch.Incarnation)
            {
                _pods.TryRemove(new KeyValuePair<string, PodInstance>(name, handle));
                await DeleteSecretAsync(name, CancellationToken.None).ConfigureAwait(false);
                throw new InvalidOperationException(
                    $"cannot create pod {name} for {launch.OperatorName}/{launch.Index}: a pod of that name already exists (409 Conflict) and is not this launch; " +
                    $"delete it (`kubectl delete pod {name} -n {_options.Namespace}`), it is retried");
            }
            LogCreateConflictOwn(name);
            handle.Identify(existing.Metadata.Uid);
            handle.Observe(existing);
        }
        catch (Exception e) when (e is HttpOperationException or HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            _pods.TryRemove(new KeyValuePair<string, PodInstance>(name, handle));
            await DeleteSecretAsync(name, CancellationToken.None).ConfigureAwait(false);
            throw new InvalidOperationException($"cannot create pod {name} for {launch.OperatorName}/{launch.Index}: {Describe(e)}", e);
        }
        handle.Created(_options.PodStartTimeoutMs);
        LogCreated(launch.OperatorName, launch.Index, launch.Incarnation, name, _options.Namespace);
        return handle;
    }

    public async Task StopAsync(IInstanceHandle handle, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (handle is not PodInstance pod || pod.Exited.IsCompleted)
        {
            return;
        }
        pod.StopRequested = true;
        var graceSeconds = Math.Max(1, (long)Math.Ceiling(timeout.TotalSeconds));
        await DeletePodAsync(pod.PodName, graceSeconds, cancellationToken).ConfigureAwait(false);
        try
        {
            await pod.Exited.WaitAsync(timeout + TimeSpan.FromMilliseconds(KubernetesLimits.StopSlackMs), _time, cancellationToken).ConfigureAwait(false);
            return;
        }
        catch (TimeoutException)
        {
            LogForcing(pod.PodName, (long)timeout.TotalMilliseconds + KubernetesLimits.StopSlackMs);
        }
        await DeletePodAsync(pod.PodName, 0, cancellationToken).ConfigureAwait(false);
        try
        {
            await pod.Exited.WaitAsync(TimeSpan.FromMilliseconds(KubernetesLimits.ApiCallTimeoutMs), _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The API server accepted the force delete but no watch event came: the pod is gone
            // for Kubernetes; the handle must end so the stop completes.
            pod.End(new InstanceExit(128 + InstanceExit.SigKill, $"killed: its pod {pod.PodName} was force-deleted and no watch event confirmed it"));
        }
    }

    /// <summary>Pods are deleted when their instance ends; nothing else is kept per instance.</summary>
    public Task ForgetInstanceAsync(string operatorName, int index, int release, bool keepLog, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task ForgetOperatorAsync(string operatorName, CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task ReapLeftoversAsync(CancellationToken cancellationToken) =>
        await AdoptLeftoversAsync(_ => false, cancellationToken).ConfigureAwait(false);

    public async Task<IReadOnlyList<AdoptedInstance>> AdoptLeftoversAsync(Func<LeftoverInstance, bool> adopt, CancellationToken cancellationToken)
    {
        V1PodList list;
        using (var call = CallTimeout(cancellationToken))
        {
            list = await _client.CoreV1.ListNamespacedPodAsync(_options.Namespace, labelSelector: KubernetesNames.ClusterSelector(_options.Cluster),
                cancellationToken: call.Token).ConfigureAwait(false);
        }
        var adopted = new List<AdoptedInstance>();
        foreach (var pod in list.Items)
        {
            var name = pod.Metadata.Name;
            if (_pods.ContainsKey(name) || pod.Metadata.DeletionTimestamp is not null)
            {
                continue;
            }
            var labels = PodStatusMapping.Labels(pod);
            var observation = PodStatusMapping.Observe(pod);
            var leftover = labels is { } l && observation.Ended is null ? Leftover(pod, l) : null;
            if (leftover is not null && adopt(leftover))
            {
                var handle = new PodInstance(this, name, leftover.OperatorName, leftover.Index, leftover.Incarnation);
                _pods[name] = handle;
                handle.Identify(pod.Metadata.Uid);
                handle.Created(_options.PodStartTimeoutMs);
                handle.Observe(pod);
                LogAdopted(name, leftover.OperatorName, leftover.Index, leftover.Incarnation);
                adopted.Add(new AdoptedInstance(handle, leftover.Release));
            }
            else
            {
                LogReaping(name);
                await DeletePodAsync(name, null, cancellationToken).ConfigureAwait(false);
            }
        }
        if (adopted.Count > 0)
        {
            EnsureWatching();
        }
        return adopted;
    }

    private static LeftoverInstance Leftover(V1Pod pod, (string Operator, int Index, string Incarnation, int Release) labels)
    {
        var executor = (pod.Spec.InitContainers ?? []).Concat(pod.Spec.Containers ?? []).FirstOrDefault(c => c.Name == PodSpecs.ExecutorContainer);
        string? Env(string name) => executor?.Env?.FirstOrDefault(e => e.Name == name)?.Value;
        OperatorSpec? spec = null;
        try
        {
            spec = Env(PodSpecs.SpecJsonVariable) is { } json ? JsonParser.Default.Parse<OperatorSpec>(json) : null;
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or InvalidJsonException)
        {
            // Unknown spec: not adoptable, deleted like any leftover.
        }
        return new LeftoverInstance(labels.Operator, labels.Index, labels.Incarnation, labels.Release, 0, spec, Env(PodSpecs.SchedulerAddressVariable) ?? "");
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_watch is not null)
        {
            await _watch.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        foreach (var pod in _pods.Values)
        {
            pod.DisposeTimers();
        }
        _stopping.Dispose();
        _ownerLock.Dispose();
    }

    /// <summary>The topology's ConfigMap's uid, creating it the first time (409: another scheduler run made it).</summary>
    private async Task<string> EnsureOwnerAsync(CancellationToken cancellationToken)
    {
        if (_ownerUid is { } known)
        {
            return known;
        }
        await _ownerLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_ownerUid is { } again)
            {
                return again;
            }
            using var call = CallTimeout(cancellationToken);
            V1ConfigMap owner;
            try
            {
                owner = await _client.CoreV1.ReadNamespacedConfigMapAsync(_options.TopologyObjectName, _options.Namespace, cancellationToken: call.Token).ConfigureAwait(false);
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
            {
                try
                {
                    owner = await _client.CoreV1.CreateNamespacedConfigMapAsync(PodSpecs.TopologyObject(_options), _options.Namespace, cancellationToken: call.Token).ConfigureAwait(false);
                }
                catch (HttpOperationException conflict) when (conflict.Response.StatusCode == HttpStatusCode.Conflict)
                {
                    owner = await _client.CoreV1.ReadNamespacedConfigMapAsync(_options.TopologyObjectName, _options.Namespace, cancellationToken: call.Token).ConfigureAwait(false);
                }
            }
            catch (HttpOperationException e)
            {
                throw new InvalidOperationException($"cannot read ConfigMap {_options.TopologyObjectName}: {Describe(e)}", e);
            }
            _ownerUid = owner.Metadata.Uid ?? throw new InvalidOperationException($"ConfigMap {_options.TopologyObjectName} has no uid; is the API server a real one?");
            return _ownerUid;
        }
        finally
        {
            _ownerLock.Release();
        }
    }

    private async Task<V1Pod?> ReadPodAsync(string name, CancellationToken cancellationToken)
    {
        using var call = CallTimeout(cancellationToken);
        try
        {
            return await _client.CoreV1.ReadNamespacedPodAsync(name, _options.Namespace, cancellationToken: call.Token).ConfigureAwait(false);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>
    /// Deletes a pod (404 is success: it is gone) and then its Secret; other failures are
    /// logged, and a later stop or the next start retries. The Secret goes as soon as the pod
    /// is being deleted: its containers already have their environment.
    /// </summary>
    private async Task DeletePodAsync(string name, long? graceSeconds, CancellationToken cancellationToken)
    {
        using (var call = CallTimeout(cancellationToken))
        {
            try
            {
                await _client.CoreV1.DeleteNamespacedPodAsync(name, _options.Namespace,
                    new V1DeleteOptions { GracePeriodSeconds = graceSeconds, PropagationPolicy = "Background" }, cancellationToken: call.Token).ConfigureAwait(false);
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
            {
                if (_pods.TryRemove(name, out var gone))
                {
                    gone.OnDeleted();
                }
            }
            catch (Exception e) when (e is HttpOperationException or HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                LogDeleteFailed(name, Describe(e));
                return;
            }
        }
        await DeleteSecretAsync(name, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Creates a launch's Secret (<see cref="PodSpecs.Secret"/>; nothing when it has none). A
    /// 409 is success when the Secret of that name carries this launch's incarnation (a create
    /// whose answer was lost: its contents are a function of the launch); otherwise the launch fails.
    /// </summary>
    private async Task CreateSecretAsync(V1Secret? secret, InstanceLaunch launch, CancellationToken cancellationToken)
    {
        if (secret is null)
        {
            return;
        }
        var name = secret.Metadata.Name;
        try
        {
            using var call = CallTimeout(cancellationToken);
            await _client.CoreV1.CreateNamespacedSecretAsync(secret, _options.Namespace, cancellationToken: call.Token).ConfigureAwait(false);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            V1Secret existing;
            try
            {
                using var call = CallTimeout(cancellationToken);
                existing = await _client.CoreV1.ReadNamespacedSecretAsync(name, _options.Namespace, cancellationToken: call.Token).ConfigureAwait(false);
            }
            catch (Exception readFailure) when (readFailure is HttpOperationException or HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                throw new InvalidOperationException($"cannot create secret {name} for {launch.OperatorName}/{launch.Index}: it exists (409 Conflict) but cannot be read back: {Describe(readFailure)}; it is retried", readFailure);
            }
            if (existing.Metadata.Labels is not { } labels || !labels.TryGetValue(KubernetesNames.IncarnationLabel, out var incarnation) || incarnation != KubernetesNames.LabelValue(launch.Incarnation))
            {
                throw new InvalidOperationException(
                    $"cannot create secret {name} for {launch.OperatorName}/{launch.Index}: a secret of that name already exists (409 Conflict) and is not this launch's; " +
                    $"delete it (`kubectl delete secret {name} -n {_options.Namespace}`), it is retried");
            }
        }
        catch (Exception e) when (e is HttpOperationException or HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw new InvalidOperationException($"cannot create secret {name} for {launch.OperatorName}/{launch.Index}: {Describe(e)}", e);
        }
    }

    /// <summary>Deletes the Secret of pod <paramref name="name"/> (404 is success); failures are logged: the topology object's deletion removes it in the end.</summary>
    private async Task DeleteSecretAsync(string name, CancellationToken cancellationToken)
    {
        if (_options.PrivateEnvironment is null)
        {
            return;
        }
        using var call = CallTimeout(cancellationToken);
        try
        {
            await _client.CoreV1.DeleteNamespacedSecretAsync(name, _options.Namespace, cancellationToken: call.Token).ConfigureAwait(false);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            // Gone already (a second delete of a stop, or a launch without private values).
        }
        catch (Exception e) when (e is HttpOperationException or HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            LogSecretDeleteFailed(name, Describe(e));
        }
    }

    private void EnsureWatching()
    {
        lock (_watchLock)
        {
            _watch ??= Task.Run(() => WatchLoopAsync(_stopping.Token));
        }
    }

    /// <summary>List, then watch from the list's resourceVersion; reconnect from the last one seen; list again on 410 Gone; back off on errors.</summary>
    private async Task WatchLoopAsync(CancellationToken stopping)
    {
        var selector = KubernetesNames.ClusterSelector(_options.Cluster);
        string? resourceVersion = null;
        var delayMs = KubernetesLimits.WatchRetryMinMs;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                if (resourceVersion is null)
                {
                    resourceVersion = await ListAsync(selector, stopping).ConfigureAwait(false);
                    Listed?.Invoke();
                }
                KubernetesException? error = null;
                var response = _client.CoreV1.ListNamespacedPodWithHttpMessagesAsync(_options.Namespace, allowWatchBookmarks: true, labelSelector: selector,
                    resourceVersion: resourceVersion, timeoutSeconds: _options.WatchTimeoutSeconds, watch: true, cancellationToken: stopping);
                // Marked obsolete in favour of the ClientSets API, which hides the response; this one
                // keeps the list request's parameters (resourceVersion, bookmarks, timeout) in view.
#pragma warning disable CS0618
                var events = response.WatchAsync<V1Pod, V1PodList>(e => error ??= e as KubernetesException, stopping);
#pragma warning restore CS0618
                var seen = 0;
                await foreach (var (type, pod) in events.ConfigureAwait(false))
                {
                    seen++;
                    resourceVersion = pod.Metadata?.ResourceVersion ?? resourceVersion;
                    delayMs = KubernetesLimits.WatchRetryMinMs;
                    if (type != WatchEventType.Bookmark)
                    {
                        Dispatch(type, pod);
                    }
                }
                if (error?.Status?.Code == (int)HttpStatusCode.Gone)
                {
                    LogWatchExpired(resourceVersion ?? "");
                    resourceVersion = null;
                }
                else if (error is not null)
                {
                    throw error;
                }
                else if (seen == 0)
                {
                    // A watch that ends with nothing in it (an idle server timeout, or a proxy
                    // that cuts at once) is paced like a failure, so reconnects stay bounded.
                    await Task.Delay(TimeSpan.FromMilliseconds(delayMs), _time, stopping).ConfigureAwait(false);
                    delayMs = Math.Min(KubernetesLimits.WatchRetryMaxMs, delayMs * 2);
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                break;
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Gone)
            {
                LogWatchExpired(resourceVersion ?? "");
                resourceVersion = null;
            }
            catch (Exception e)
            {
                LogWatchFailed(Describe(e), delayMs);
                WatchEnded?.Invoke();
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(delayMs), _time, stopping).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                delayMs = Math.Min(KubernetesLimits.WatchRetryMaxMs, delayMs * 2);
                continue;
            }
            WatchEnded?.Invoke();
        }
    }

    /// <summary>Lists the cluster's pods, brings every handle up to date (a handle whose pod is gone ends), returns the list's resourceVersion.</summary>
    private async Task<string> ListAsync(string selector, CancellationToken stopping)
    {
        V1PodList list;
        using (var call = CallTimeout(stopping))
        {
            list = await _client.CoreV1.ListNamespacedPodAsync(_options.Namespace, labelSelector: selector, cancellationToken: call.Token).ConfigureAwait(false);
        }
        var present = new HashSet<string>(StringComparer.Ordinal);
        foreach (var pod in list.Items)
        {
            present.Add(pod.Metadata.Name);
            Dispatch(WatchEventType.Modified, pod);
        }
        // A created pod missing from the list was deleted meanwhile, or was created after the
        // list was served: only the pod itself can tell, and the watch from this list's
        // resourceVersion would not (its deletion may be before it).
        foreach (var handle in _pods.Values.Where(h => h.IsCreated && !present.Contains(h.PodName)).ToList())
        {
            var pod = await ReadPodAsync(handle.PodName, stopping).ConfigureAwait(false);
            if (pod is not null && handle.IsOwnPod(WatchEventType.Modified, pod))
            {
                handle.Observe(pod);
            }
            else if (_pods.TryRemove(new KeyValuePair<string, PodInstance>(handle.PodName, handle)))
            {
                handle.OnDeleted();
            }
        }
        return list.Metadata?.ResourceVersion ?? throw new InvalidOperationException("the API server's pod list has no resourceVersion");
    }

    private void Dispatch(WatchEventType type, V1Pod pod)
    {
        var name = pod.Metadata?.Name;
        if (name is null || !_pods.TryGetValue(name, out var handle))
        {
            return; // not a pod this run launched or adopted
        }
        if (!handle.IsOwnPod(type, pod))
        {
            return; // an earlier pod of the same name (deleted, or not ours), or one whose create has not answered yet
        }
        if (type == WatchEventType.Deleted)
        {
            _pods.TryRemove(new KeyValuePair<string, PodInstance>(name, handle));
            handle.OnDeleted();
        }
        else
        {
            handle.Observe(pod);
        }
    }

    /// <summary>An instance ended without a stop: its pod (the operator container or a restarted sidecar may still run) goes too.</summary>
    private void DeleteEnded(string podName) => _ = DeletePodAsync(podName, null, _stopping.Token);

    private CancellationTokenSource CallTimeout(CancellationToken cancellationToken)
    {
        var call = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        call.CancelAfter(TimeSpan.FromMilliseconds(KubernetesLimits.ApiCallTimeoutMs));
        return call;
    }

    /// <summary>An API error as status, reason and the fix where one is known.</summary>
    private string Describe(Exception e) => e switch
    {
        HttpOperationException { Response.StatusCode: HttpStatusCode.Forbidden } h =>
            $"403 Forbidden ({h.Response.Content}); the scheduler's service account may not do this in namespace {_options.Namespace}: apply deploy/kubernetes/rbac.yaml",
        HttpOperationException { Response.StatusCode: HttpStatusCode.UnprocessableEntity } h =>
            $"422 Unprocessable Entity: the API server refused the object ({h.Response.Content}); is the cluster older than Kubernetes 1.29 (native sidecars)?",
        HttpOperationException h => $"{(int)h.Response.StatusCode} {h.Response.ReasonPhrase} ({h.Response.Content})",
        OperationCanceledException => $"the API server did not answer within {KubernetesLimits.ApiCallTimeoutMs} ms",
        _ => e.Message,
    };

    [LoggerMessage(EventId = 900, Level = LogLevel.Information, Message = "Created pod {Pod} in {Namespace} for {Operator}/{Index} incarnation {Incarnation}")]
    private partial void LogCreated(string @operator, int index, string incarnation, string pod, string @namespace);

    [LoggerMessage(EventId = 901, Level = LogLevel.Information, Message = "Pod {Pod} already existed with this launch's incarnation (an earlier create went through): taken as created")]
    private partial void LogCreateConflictOwn(string pod);

    [LoggerMessage(EventId = 902, Level = LogLevel.Warning, Message = "Pod {Pod} did not go within {TimeoutMs} ms of its stop; deleting it with grace 0")]
    private partial void LogForcing(string pod, long timeoutMs);

    [LoggerMessage(EventId = 903, Level = LogLevel.Information, Message = "Adopting pod {Pod} ({Operator}/{Index} incarnation {Incarnation}) from a previous scheduler run")]
    private partial void LogAdopted(string pod, string @operator, int index, string incarnation);

    [LoggerMessage(EventId = 904, Level = LogLevel.Warning, Message = "Deleting leftover pod {Pod} from a previous scheduler run")]
    private partial void LogReaping(string pod);

    [LoggerMessage(EventId = 905, Level = LogLevel.Warning, Message = "Could not delete pod {Pod}: {Problem}; the next stop or scheduler start retries")]
    private partial void LogDeleteFailed(string pod, string problem);

    [LoggerMessage(EventId = 909, Level = LogLevel.Warning, Message = "Could not delete secret {Secret}: {Problem}; deleting the topology's ConfigMap removes it")]
    private partial void LogSecretDeleteFailed(string secret, string problem);

    [LoggerMessage(EventId = 906, Level = LogLevel.Information, Message = "Pod watch from resourceVersion {ResourceVersion} expired (410 Gone); listing again")]
    private partial void LogWatchExpired(string resourceVersion);

    [LoggerMessage(EventId = 907, Level = LogLevel.Warning, Message = "Pod list or watch failed: {Problem}; retrying in {DelayMs} ms")]
    private partial void LogWatchFailed(string problem, int delayMs);

    [LoggerMessage(EventId = 908, Level = LogLevel.Warning, Message = "Pod {Pod} of {Operator}/{Index} ended: {Description}")]
    private partial void LogEnded(string pod, string @operator, int index, string description);

    /// <summary>One launched (or adopted) pod as the reconcile loop sees it.</summary>
    private sealed class PodInstance(KubernetesClusterRuntime runtime, string podName, string operatorName, int index, string incarnation) : IInstanceHandle
    {
        private readonly TaskCompletionSource<InstanceExit> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly Lock _lock = new();
        private ITimer? _startTimer;
        private ITimer? _operatorGrace;
        private bool _running;
        private string _waiting = "";

        public string PodName { get; } = podName;

        public string OperatorName { get; } = operatorName;

        public int Index { get; } = index;

        public string Incarnation { get; } = incarnation;

        public int Pid => 0;

        public string Host => PodName;

        public Task<InstanceExit> Exited => _exited.Task;

        public volatile bool StopRequested;

        public bool IsCreated { get; private set; }

        /// <summary>The uid of this launch's pod; null until the create answered.</summary>
        private string? _uid;

        /// <summary>The last event that came before the uid was known, replayed once it is.</summary>
        private (WatchEventType Type, V1Pod Pod)? _early;

        /// <summary>
        /// Whether an event is about this launch's pod (by uid, since a deleted pod of the same
        /// name can still have events in flight). Events before the create answered are kept and
        /// replayed by <see cref="Identify"/>.
        /// </summary>
        public bool IsOwnPod(WatchEventType type, V1Pod pod)
        {
            lock (_lock)
            {
                if (_uid is null)
                {
                    _early = (type, pod);
                    return false;
                }
                return pod.Metadata?.Uid == _uid;
            }
        }

        public void Identify(string? uid)
        {
            (WatchEventType Type, V1Pod Pod)? early;
            lock (_lock)
            {
                _uid = uid ?? "";
                early = _early is { } e && e.Pod.Metadata?.Uid == _uid ? e : null;
                _early = null;
            }
            if (early is not { } replay)
            {
                return;
            }
            if (replay.Type == WatchEventType.Deleted)
            {
                runtime._pods.TryRemove(new KeyValuePair<string, PodInstance>(PodName, this));
                OnDeleted();
            }
            else
            {
                Observe(replay.Pod);
            }
        }

        /// <summary>The pod exists: from now on a pod missing from a list was deleted, and it has a bounded time to start.</summary>
        public void Created(int startTimeoutMs)
        {
            lock (_lock)
            {
                IsCreated = true;
                if (!_running && !_exited.Task.IsCompleted)
                {
                    _startTimer ??= runtime._time.CreateTimer(_ => NeverStarted(startTimeoutMs), null, TimeSpan.FromMilliseconds(startTimeoutMs), Timeout.InfiniteTimeSpan);
                }
            }
        }

        public void Observe(V1Pod pod)
        {
            var observation = PodStatusMapping.Observe(pod);
            lock (_lock)
            {
                if (observation.Waiting.Length > 0)
                {
                    _waiting = observation.Waiting;
                }
                if (observation.Running && !_running)
                {
                    _running = true;
                    _startTimer?.Dispose();
                }
                if (observation.Ended is null && observation.OperatorEnded is { } operatorEnd && _operatorGrace is null)
                {
                    _operatorGrace = runtime._time.CreateTimer(_ => End(operatorEnd), null,
                        TimeSpan.FromMilliseconds(runtime._options.OperatorEndGraceMs), Timeout.InfiniteTimeSpan);
                }
            }
            if (observation.Ended is { } ended)
            {
                End(ended);
            }
        }

        public void OnDeleted() => End(PodStatusMapping.Deleted(StopRequested));

        public void End(InstanceExit exit)
        {
            if (!_exited.TrySetResult(exit))
            {
                return;
            }
            DisposeTimers();
            runtime.LogEnded(PodName, OperatorName, Index, exit.Description);
            if (!StopRequested && runtime._pods.ContainsKey(PodName))
            {
                runtime.DeleteEnded(PodName);
            }
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
            string waiting;
            lock (_lock)
            {
                if (_running)
                {
                    return;
                }
                waiting = _waiting;
            }
            End(new InstanceExit(-1,
                $"its pod {PodName} was not running within {startTimeoutMs} ms{(waiting.Length > 0 ? ": " + waiting : "")}; " +
                $"see `kubectl describe pod {PodName} -n {runtime._options.Namespace}` (image names, pull secrets, resources)"));
        }
    }
}
