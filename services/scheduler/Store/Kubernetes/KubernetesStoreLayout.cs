using Concord.Scheduler.Runtime.Kubernetes;

namespace Concord.Scheduler.Store.Kubernetes;

/// <summary>
/// Where a Concord cluster keeps its state in Kubernetes with <c>--store kubernetes</c>, one set
/// per cluster name and namespace:
/// <code>
/// Lease     concord-leader-&lt;cluster&gt;       leadership: spec.holderIdentity, renewTime …; annotations: term, leader address
/// ConfigMap concord-store-&lt;cluster&gt;        the topology: one key per operator (JSON); annotations: revision, term
/// ConfigMap concord-checkpoints-&lt;cluster&gt;  completed checkpoints (JSON array); annotation: term
/// </code>
/// </summary>
public sealed record KubernetesStoreLayout(string Namespace, string Cluster)
{
    /// <summary>The leader's term (fencing token), on the Lease and on every ConfigMap written in that term.</summary>
    public const string TermAnnotation = "concord.io/term";

    /// <summary>The topology's revision, on its ConfigMap: the version of its last write.</summary>
    public const string RevisionAnnotation = "concord.io/revision";

    /// <summary>The address the leader serves at (what executors, agents and clients dial), on the Lease.</summary>
    public const string LeaderAddressAnnotation = "concord.io/leader-address";

    /// <summary>The key of the checkpoints ConfigMap holding the records.</summary>
    public const string CheckpointsKey = "checkpoints.json";

    public string LeaseName => $"concord-leader-{Cluster}";

    public string TopologyName => $"concord-store-{Cluster}";

    public string CheckpointsName => $"concord-checkpoints-{Cluster}";

    /// <summary>
    /// The namespace and cluster name from the variables the Kubernetes runtime reads
    /// (<see cref="KubernetesRuntimeOptions.NamespaceVariable"/>, <see cref="KubernetesRuntimeOptions.ClusterVariable"/>);
    /// the namespace defaults to the scheduler pod's own. Throws <see cref="UsageException"/> naming the fix.
    /// </summary>
    public static KubernetesStoreLayout FromEnvironment(Func<string, string?> environment, Func<string, bool> fileExists, Func<string, string> readFile)
    {
        var ns = environment(KubernetesRuntimeOptions.NamespaceVariable) is { Length: > 0 } given ? given.Trim()
            : fileExists(KubernetesRuntimeOptions.InClusterNamespaceFile) ? readFile(KubernetesRuntimeOptions.InClusterNamespaceFile).Trim()
            : throw new UsageException(
                $"--store kubernetes: {KubernetesRuntimeOptions.NamespaceVariable} is not set and the scheduler is not in a pod; set it to the namespace the Lease and the store's ConfigMaps go to");
        var cluster = environment(KubernetesRuntimeOptions.ClusterVariable) is { Length: > 0 } name ? name.Trim() : "concord";
        foreach (var (variable, value) in new[] { (KubernetesRuntimeOptions.NamespaceVariable, ns), (KubernetesRuntimeOptions.ClusterVariable, cluster) })
        {
            if (!Runtime.Kubernetes.Internal.KubernetesNames.IsDnsLabel(value))
            {
                throw new UsageException(
                    $"--store kubernetes: {variable}='{value}' is not a DNS label (lower case letters, digits and '-', at most 63, starting and ending alphanumeric); rename it");
            }
        }
        return new KubernetesStoreLayout(ns, cluster);
    }
}
