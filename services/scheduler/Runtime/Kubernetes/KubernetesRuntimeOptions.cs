namespace Concord.Scheduler.Runtime.Kubernetes;

/// <summary>
/// Settings of the Kubernetes runtime. The scheduler reads them from its environment
/// (<see cref="FromEnvironment"/>; the Deployment in deploy/kubernetes sets them), so the
/// scheduler's command line does not grow options only one runtime uses.
/// </summary>
public sealed record KubernetesRuntimeOptions
{
    public const string NamespaceVariable = "CONCORD_KUBERNETES_NAMESPACE";
    public const string ClusterVariable = "CONCORD_KUBERNETES_CLUSTER";
    public const string ExecutorImageVariable = "CONCORD_KUBERNETES_EXECUTOR_IMAGE";
    public const string TlsSecretVariable = "CONCORD_KUBERNETES_TLS_SECRET";
    public const string ExecutorsServiceVariable = "CONCORD_KUBERNETES_EXECUTORS_SERVICE";
    public const string CheckpointClaimVariable = "CONCORD_KUBERNETES_CHECKPOINT_CLAIM";

    /// <summary>The file Kubernetes mounts in every pod with its namespace (in-cluster default).</summary>
    public const string InClusterNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

    /// <summary>The namespace the pods and the topology's ConfigMap live in.</summary>
    public required string Namespace { get; init; }

    /// <summary>The cluster's name: the value of the cluster label, and part of the topology object's name (one Concord cluster per name and namespace).</summary>
    public string Cluster { get; init; } = "concord";

    /// <summary>The executor's image (deploy/kubernetes/executor.Dockerfile).</summary>
    public required string ExecutorImage { get; init; }

    /// <summary>
    /// The Secret holding the cluster's TLS files (<c>tls.crt</c>, <c>tls.key</c>, <c>ca.crt</c>),
    /// mounted in every executor; required: executors in pods are reached over the pod network,
    /// which they listen on only with TLS (docs/security.md).
    /// </summary>
    public required string TlsSecret { get; init; }

    /// <summary>The headless Service that gives every pod a DNS name (pod hostname + this subdomain), the name executors advertise.</summary>
    public string ExecutorsService { get; init; } = "concord-executors";

    /// <summary>Secrets of each launch (launch secret, data-plane key) for the executor's environment.</summary>
    public Func<InstanceLaunch, IReadOnlyDictionary<string, string?>>? PrivateEnvironment { get; init; }

    /// <summary>
    /// A ReadWriteMany PersistentVolumeClaim the scheduler's pod mounts at its checkpoint
    /// directory: every pod mounts it at the same path (<see cref="CheckpointDirectory"/>), where
    /// the scheduler's BeginCheckpoint tells executors to write. Null: operators with a delivery
    /// guarantee are refused at deploy, naming this setting.
    /// </summary>
    public string? CheckpointClaim { get; init; }

    /// <summary>The scheduler's checkpoint directory (--checkpoint-dir, absolute), where pods mount <see cref="CheckpointClaim"/>.</summary>
    public string? CheckpointDirectory { get; init; }

    /// <summary><see cref="KubernetesLimits.PodStartTimeoutMs"/>; tests shorten it.</summary>
    public int PodStartTimeoutMs { get; init; } = KubernetesLimits.PodStartTimeoutMs;

    /// <summary><see cref="KubernetesLimits.OperatorEndGraceMs"/>; tests shorten it.</summary>
    public int OperatorEndGraceMs { get; init; } = KubernetesLimits.OperatorEndGraceMs;

    /// <summary><see cref="KubernetesLimits.WatchTimeoutSeconds"/>; tests shorten it.</summary>
    public int WatchTimeoutSeconds { get; init; } = KubernetesLimits.WatchTimeoutSeconds;

    /// <summary>The name of the ConfigMap every pod of this cluster is owned by: deleting it deletes them all.</summary>
    public string TopologyObjectName => $"concord-topology-{Cluster}";

    /// <summary>
    /// Reads the settings; throws <see cref="UsageException"/> naming the variable and the fix.
    /// The namespace defaults to the scheduler pod's own.
    /// </summary>
    public static KubernetesRuntimeOptions FromEnvironment(Func<string, string?> environment, bool schedulerHasTls)
    {
        if (!schedulerHasTls)
        {
            throw new UsageException(
                "--runtime kubernetes needs TLS: executors in pods are reached over the pod network, which they listen on only with TLS; " +
                "start the scheduler with --tls-cert, --tls-key and --tls-ca (`concord certs`, docs/kubernetes.md)");
        }
        string Require(string name, string fix) =>
            environment(name) is { Length: > 0 } value ? value.Trim() : throw new UsageException($"--runtime kubernetes: {name} is not set; {fix}");

        var ns = environment(NamespaceVariable) is { Length: > 0 } given ? given.Trim()
            : File.Exists(InClusterNamespaceFile) ? File.ReadAllText(InClusterNamespaceFile).Trim()
            : throw new UsageException($"--runtime kubernetes: {NamespaceVariable} is not set and the scheduler is not in a pod; set it to the namespace the operators' pods go to");
        var options = new KubernetesRuntimeOptions
        {
            Namespace = ns,
            Cluster = environment(ClusterVariable) is { Length: > 0 } cluster ? cluster.Trim() : "concord",
            ExecutorImage = Require(ExecutorImageVariable, "set it to the executor's image (deploy/kubernetes/executor.Dockerfile)"),
            TlsSecret = Require(TlsSecretVariable, "set it to the Secret holding tls.crt, tls.key and ca.crt from `concord certs` (docs/kubernetes.md)"),
            ExecutorsService = environment(ExecutorsServiceVariable) is { Length: > 0 } service ? service.Trim() : "concord-executors",
            CheckpointClaim = environment(CheckpointClaimVariable) is { Length: > 0 } claim ? claim.Trim() : null,
        };
        return options.Check();
    }

    /// <summary>Checks the names against Kubernetes' rules; throws <see cref="UsageException"/> naming the fix.</summary>
    public KubernetesRuntimeOptions Check()
    {
        foreach (var (what, value) in new[] { (NamespaceVariable, Namespace), (ClusterVariable, Cluster), (ExecutorsServiceVariable, ExecutorsService), (TlsSecretVariable, TlsSecret) })
        {
            if (!Internal.KubernetesNames.IsDnsLabel(value))
            {
                throw new UsageException($"--runtime kubernetes: {what}='{value}' is not a DNS label (lower case letters, digits and '-', at most 63, starting and ending alphanumeric); rename it");
            }
        }
        if (Internal.KubernetesNames.CheckImage(ExecutorImage) is { } problem)
        {
            throw new UsageException($"--runtime kubernetes: {ExecutorImageVariable}: {problem}");
        }
        if (CheckpointClaim is { } claim && !Internal.KubernetesNames.IsDnsSubdomain(claim))
        {
            throw new UsageException($"--runtime kubernetes: {CheckpointClaimVariable}='{claim}' is not a PersistentVolumeClaim name (lower case letters, digits, '-' and '.', at most 253); give the claim's name");
        }
        return this;
    }
}
