using System.Globalization;
using System.Text;
using k8s;
using k8s.Models;
using Microsoft.AspNetCore.Http;

namespace Concord.Scheduler.Tests.Kubernetes;

/// <summary>
/// The TEST DOUBLE's part for <c>--store kubernetes</c>: <c>coordination.k8s.io/v1</c> Leases
/// (get, create, replace) and ConfigMap replaces, with the API server's optimistic concurrency
/// (a replace whose metadata.resourceVersion is not the current one is answered 409 Conflict),
/// its 1 MiB ConfigMap size rule (422), and faults a test turns on: an API server that is away
/// (<see cref="Unavailable"/>: 503 to everything) and a leader whose renews never arrive
/// (<see cref="HoldLeaseWritesOf"/>: a partitioned or frozen process).
/// </summary>
internal sealed partial class KubernetesApiServerDouble
{
    /// <summary>What the API server allows in one ConfigMap's data, in bytes (1 MiB; validation of core/v1 ConfigMap).</summary>
    public const int ConfigMapDataBytesMax = 1024 * 1024;

    private readonly Dictionary<string, V1Lease> _leases = new(StringComparer.Ordinal);
    private string? _heldHolder;
    private TaskCompletionSource _leaseWritesReleased = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _unavailable;

    /// <summary>While true every request is answered 503 (an API server restarting, or cut off by the network).</summary>
    public bool Unavailable
    {
        get => Volatile.Read(ref _unavailable) == 1;
        set => Volatile.Write(ref _unavailable, value ? 1 : 0);
    }

    public V1Lease? Lease(string name)
    {
        lock (_lock)
        {
            return _leases.GetValueOrDefault(name) is { } lease ? KubernetesJson.Deserialize<V1Lease>(KubernetesJson.Serialize(lease)) : null;
        }
    }

    /// <summary>Changes a Lease from outside (kubectl edit, another client): a new resourceVersion.</summary>
    public void EditLease(string name, Action<V1Lease> change)
    {
        lock (_lock)
        {
            var lease = _leases[name];
            change(lease);
            lease.Metadata.ResourceVersion = (++_version).ToString(CultureInfo.InvariantCulture);
        }
    }

    /// <summary>
    /// Writes of Leases held by <paramref name="holder"/> are held (not answered, not applied)
    /// until <see cref="ReleaseLeaseWrites"/>: that scheduler's renews stop arriving.
    /// </summary>
    public void HoldLeaseWritesOf(string holder)
    {
        lock (_lock)
        {
            _heldHolder = holder;
            _leaseWritesReleased = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    /// <summary>The held writes go on, late, and are judged against the Lease as it is now.</summary>
    public void ReleaseLeaseWrites()
    {
        lock (_lock)
        {
            _heldHolder = null;
            _leaseWritesReleased.TrySetResult();
        }
    }

    /// <summary>Count of Lease writes held so far (each renew attempt of the held holder).</summary>
    public int HeldLeaseWrites => Volatile.Read(ref _heldLeaseWrites);

    private int _heldLeaseWrites;

    /// <summary>Each change of a Lease's holder as the double applied it, with <see cref="System.Diagnostics.Stopwatch"/> timestamps.</summary>
    public IReadOnlyList<(string? Holder, long At)> LeaseHolderChanges
    {
        get
        {
            lock (_lock)
            {
                return _holderChanges.ToList();
            }
        }
    }

    private readonly List<(string? Holder, long At)> _holderChanges = [];

    /// <summary>Handles what this part serves; false for the rest (pods, configmap create and get).</summary>
    private async Task<bool> HandleCoordinationAsync(HttpContext context)
    {
        if (Unavailable)
        {
            await StatusAsync(context, 503, "ServiceUnavailable", "the API server is unavailable (the test double is away)");
            return true;
        }
        var request = context.Request;
        var parts = request.Path.Value!.Trim('/').Split('/');
        // apis/coordination.k8s.io/v1/namespaces/{ns}/leases[/{name}]
        if (parts.Length >= 6 && parts[0] == "apis" && parts[1] == "coordination.k8s.io" && parts[2] == "v1" && parts[3] == "namespaces" && parts[5] == "leases")
        {
            var ns = parts[4];
            var name = parts.Length > 6 ? parts[6] : null;
            var body = await new StreamReader(request.Body, Encoding.UTF8).ReadToEndAsync();
            switch (request.Method, name)
            {
                case ("GET", { } leaseName):
                    V1Lease? lease;
                    lock (_lock)
                    {
                        lease = _leases.GetValueOrDefault(leaseName);
                    }
                    await (lease is null ? StatusAsync(context, 404, "NotFound", $"leases.coordination.k8s.io \"{leaseName}\" not found") : JsonAsync(context, 200, lease));
                    return true;
                case ("POST", null):
                    await CreateLeaseAsync(context, ns, body);
                    return true;
                case ("PUT", { } leaseName):
                    await ReplaceLeaseAsync(context, ns, leaseName, body);
                    return true;
                default:
                    await StatusAsync(context, 405, "MethodNotAllowed", $"the double does not serve {request.Method} {request.Path}");
                    return true;
            }
        }
        // api/v1/namespaces/{ns}/configmaps/{name}: replace (create and get are the pod part's).
        if (parts.Length == 6 && parts[0] == "api" && parts[1] == "v1" && parts[2] == "namespaces" && parts[4] == "configmaps" && request.Method == "PUT")
        {
            var body = await new StreamReader(request.Body, Encoding.UTF8).ReadToEndAsync();
            await ReplaceConfigMapAsync(context, parts[3], parts[5], body);
            return true;
        }
        return false;
    }

    private async Task CreateLeaseAsync(HttpContext context, string ns, string body)
    {
        var lease = Strict<V1Lease>(body, out var problem);
        problem ??= CheckLease(lease, ns, null);
        if (problem is not null)
        {
            await RefuseAsync(context, problem);
            return;
        }
        bool exists;
        lock (_lock)
        {
            exists = _leases.ContainsKey(lease!.Metadata.Name);
            if (!exists)
            {
                lease.Metadata.Uid = Guid.NewGuid().ToString();
                lease.Metadata.CreationTimestamp = DateTime.UtcNow;
                lease.Metadata.ResourceVersion = (++_version).ToString(CultureInfo.InvariantCulture);
                _leases[lease.Metadata.Name] = lease;
                _holderChanges.Add((lease.Spec?.HolderIdentity, System.Diagnostics.Stopwatch.GetTimestamp()));
            }
        }
        await (exists
            ? StatusAsync(context, 409, "AlreadyExists", $"leases.coordination.k8s.io \"{lease.Metadata.Name}\" already exists")
            : JsonAsync(context, 201, lease));
    }

    private async Task ReplaceLeaseAsync(HttpContext context, string ns, string name, string body)
    {
        var lease = Strict<V1Lease>(body, out var problem);
        problem ??= CheckLease(lease, ns, name);
        if (problem is not null)
        {
            await RefuseAsync(context, problem);
            return;
        }
        Task? held = null;
        lock (_lock)
        {
            if (_heldHolder is { } holder && lease!.Spec?.HolderIdentity == holder)
            {
                held = _leaseWritesReleased.Task;
                _heldLeaseWrites++;
            }
        }
        if (held is not null)
        {
            await held.WaitAsync(context.RequestAborted);
        }
        string? conflict = null;
        bool found;
        lock (_lock)
        {
            found = _leases.TryGetValue(name, out var current);
            if (found && lease!.Metadata.ResourceVersion is { Length: > 0 } rv && rv != current!.Metadata.ResourceVersion)
            {
                conflict = $"Operation cannot be fulfilled on leases.coordination.k8s.io \"{name}\": the object has been modified; please apply your changes to the latest version and try again";
            }
            else if (found)
            {
                lease!.Metadata.Uid = current!.Metadata.Uid;
                lease.Metadata.CreationTimestamp = current.Metadata.CreationTimestamp;
                lease.Metadata.ResourceVersion = (++_version).ToString(CultureInfo.InvariantCulture);
                if (lease.Spec?.HolderIdentity != current.Spec?.HolderIdentity)
                {
                    _holderChanges.Add((lease.Spec?.HolderIdentity, System.Diagnostics.Stopwatch.GetTimestamp()));
                }
                _leases[name] = lease;
            }
        }
        await (!found ? StatusAsync(context, 404, "NotFound", $"leases.coordination.k8s.io \"{name}\" not found")
            : conflict is not null ? StatusAsync(context, 409, "Conflict", conflict)
            : JsonAsync(context, 200, lease!));
    }

    private async Task ReplaceConfigMapAsync(HttpContext context, string ns, string name, string body)
    {
        var map = Strict<V1ConfigMap>(body, out var problem);
        problem ??= map?.Metadata?.Name != name || (map.Metadata.NamespaceProperty ?? ns) != ns
            ? $"configmap: metadata.name must be {name} in namespace {ns}, as in the path"
            : CheckLabels(map.Metadata.Labels);
        var dataBytes = map?.Data?.Sum(p => Encoding.UTF8.GetByteCount(p.Key) + Encoding.UTF8.GetByteCount(p.Value)) ?? 0;
        if (problem is null && dataBytes > ConfigMapDataBytesMax)
        {
            // The API server's own answer; not a violation of the client (it may send one), but the store should refuse first.
            await StatusAsync(context, 422, "Invalid", $"ConfigMap \"{name}\" is invalid: []: Too long: must have at most {ConfigMapDataBytesMax} bytes");
            return;
        }
        if (problem is not null)
        {
            await RefuseAsync(context, problem);
            return;
        }
        string? conflict = null;
        bool found;
        lock (_lock)
        {
            found = _configMaps.TryGetValue(name, out var current);
            if (found && map!.Metadata.ResourceVersion is { Length: > 0 } rv && rv != current!.Metadata.ResourceVersion)
            {
                conflict = $"Operation cannot be fulfilled on configmaps \"{name}\": the object has been modified; please apply your changes to the latest version and try again";
            }
            else if (found)
            {
                map!.Metadata.Uid = current!.Metadata.Uid;
                map.Metadata.ResourceVersion = (++_version).ToString(CultureInfo.InvariantCulture);
                _configMaps[name] = map;
            }
        }
        await (!found ? StatusAsync(context, 404, "NotFound", $"configmaps \"{name}\" not found")
            : conflict is not null ? StatusAsync(context, 409, "Conflict", conflict)
            : JsonAsync(context, 200, map!));
    }

    private async Task RefuseAsync(HttpContext context, string problem)
    {
        lock (_lock)
        {
            Violations.Add(problem);
        }
        await StatusAsync(context, 422, "Invalid", problem);
    }

    /// <summary>The rules of the API server's Lease validation that the gate's Leases touch.</summary>
    private static string? CheckLease(V1Lease? lease, string ns, string? pathName)
    {
        if (lease?.Metadata?.Name is not { } name || !IsSubdomain(name) || (pathName is not null && name != pathName))
        {
            return "lease: metadata.name must be a DNS subdomain (and the path's name on a replace)";
        }
        if ((lease.Metadata.NamespaceProperty ?? ns) != ns)
        {
            return $"lease: metadata.namespace is not the request's {ns}";
        }
        if (CheckLabels(lease.Metadata.Labels) is { } labels)
        {
            return "lease: " + labels;
        }
        if (lease.Spec?.LeaseDurationSeconds is <= 0)
        {
            return "lease: spec.leaseDurationSeconds must be greater than 0";
        }
        if (lease.Spec?.LeaseTransitions is < 0)
        {
            return "lease: spec.leaseTransitions must be 0 or more";
        }
        return null;
    }
}
