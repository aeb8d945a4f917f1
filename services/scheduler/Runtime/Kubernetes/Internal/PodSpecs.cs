using System.Globalization;
using System.Text;
using Concord.Contracts;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Runtime.Containment;
using Google.Protobuf;
using k8s.Models;

namespace Concord.Scheduler.Runtime.Kubernetes.Internal;

/// <summary>
/// The objects the Kubernetes runtime sends, built from a launch: one Pod per instance (the
/// operator's container, the executor as a native sidecar sharing an emptyDir with it) and the
/// topology's ConfigMap every pod is owned by. Pure functions, so tests check them against the
/// schema without an API server.
/// </summary>
internal static class PodSpecs
{
    public const string ExecutorContainer = "executor";
    public const string OperatorContainer = "operator";
    public const string SharedVolume = "concord-shared";
    public const string TlsVolume = "concord-tls";
    public const string CheckpointsVolume = "concord-checkpoints";
    public const string SharedPath = "/concord/shared";
    public const string TlsPath = "/concord/tls";
    public const string SocketPath = SharedPath + "/operator.sock";

    /// <summary>Variables of the executor's environment the runtime sets, for adoption to read back.</summary>
    public const string SpecJsonVariable = "CONCORD_SPEC_JSON";
    public const string SchedulerAddressVariable = "CONCORD_SCHEDULER_ADDRESS";

    /// <summary>The grace period of a pod (<see cref="KubernetesLimits.PodTerminationGraceSeconds"/>).</summary>
    public const long TerminationGraceSeconds = KubernetesLimits.PodTerminationGraceSeconds;

    /// <summary>The operator's image (the deploy file's <c>image</c>); null for a built-in, which runs in the executor's.</summary>
    public static string? ImageOf(OperatorSpec spec) => spec.Builtin is null ? spec.Image.Trim() : null;

    /// <summary>Why <paramref name="spec"/> cannot run as a pod, naming the field and the fix; null when it can.</summary>
    public static string? Check(OperatorSpec spec, KubernetesRuntimeOptions options)
    {
        if (spec.Delivery is DeliveryGuarantee.DeliveryAtLeastOnce or DeliveryGuarantee.DeliveryExactlyOnce && options.CheckpointClaim is null)
        {
            return $"delivery: \"{(spec.Delivery == DeliveryGuarantee.DeliveryAtLeastOnce ? "at_least_once" : "exactly_once")}\" needs checkpoints, which the executors in pods write to a volume the scheduler reads too, and none is set: " +
                   $"create a ReadWriteMany PersistentVolumeClaim, mount it in the scheduler's pod at its --checkpoint-dir, and set {KubernetesRuntimeOptions.CheckpointClaimVariable} to the claim's name " +
                   "(docs/kubernetes.md, \"Checkpoints\"); or deploy the operator without a guarantee";
        }
        if (spec.Builtin is null)
        {
            if (string.IsNullOrWhiteSpace(spec.Image))
            {
                if (spec.Environment.TryGetValue(KubernetesNames.RetiredImageVariable, out var retired))
                {
                    return $"image: is not set, and environment.{KubernetesNames.RetiredImageVariable} (\"{OperatorSpecValidator.Echo(retired)}\") is no longer read; " +
                           $"move it to the deploy file's own field: \"image\": \"{OperatorSpecValidator.Echo(retired)}\", and remove it from \"environment\" (docs/kubernetes.md)";
                }
                return "image: is not set; with --runtime kubernetes every operator that is not a built-in runs in its own image: " +
                       "add \"image\": \"<registry>/<image>:<tag>\" to the deploy file (docs/kubernetes.md)";
            }
            if (KubernetesNames.CheckImage(spec.Image) is { } problem)
            {
                return $"image: {problem}";
            }
            if (string.IsNullOrWhiteSpace(spec.Executable))
            {
                return "executable: is required; name the operator's command inside its image";
            }
        }
        if (spec.Files.Count > 0)
        {
            return $"files: {spec.Files.Count} file(s) listed, but --runtime kubernetes copies no files into pods; put them in the operator's image and remove \"files\"";
        }
        var json = Encoding.UTF8.GetByteCount(JsonFormatter.Default.Format(spec));
        if (json > KubernetesLimits.SpecJsonBytesMax)
        {
            return $"the operator's spec is {json} bytes as JSON, over the {KubernetesLimits.SpecJsonBytesMax} the executor's environment can carry (KubernetesLimits.SpecJsonBytesMax); shorten its environment or args";
        }
        return null;
    }

    /// <summary>The topology's ConfigMap: the owner of every pod of the cluster.</summary>
    public static V1ConfigMap TopologyObject(KubernetesRuntimeOptions options) => new()
    {
        ApiVersion = "v1",
        Kind = "ConfigMap",
        Metadata = new V1ObjectMeta
        {
            Name = options.TopologyObjectName,
            NamespaceProperty = options.Namespace,
            Labels = new Dictionary<string, string>
            {
                [KubernetesNames.ManagedByLabel] = KubernetesNames.ManagedByValue,
                [KubernetesNames.ClusterLabel] = options.Cluster,
            },
        },
        Data = new Dictionary<string, string>
        {
            ["README"] = "Owner of the pods of Concord cluster '" + options.Cluster + "': `kubectl delete configmap " + options.TopologyObjectName + "` deletes them all (docs/kubernetes.md).",
        },
    };

    /// <summary>
    /// The Secret holding the launch's private environment (launch secret, data-plane key:
    /// <see cref="KubernetesRuntimeOptions.PrivateEnvironment"/>), named as its pod and owned by
    /// the topology object (<paramref name="ownerUid"/>); null when there is none. Values in a
    /// Secret, not in the pod spec, so whoever may read pods (kubectl get pod -o yaml, the
    /// dashboard of a cluster) does not read them. Created before the pod (kubelet resolves
    /// the executor's secretKeyRef when it starts the container) and deleted with it.
    /// </summary>
    public static V1Secret? Secret(InstanceLaunch launch, KubernetesRuntimeOptions options, string ownerUid)
    {
        var values = PrivateValues(launch, options);
        if (values.Count == 0)
        {
            return null;
        }
        return new V1Secret
        {
            ApiVersion = "v1",
            Kind = "Secret",
            Type = "Opaque",
            Metadata = new V1ObjectMeta
            {
                Name = KubernetesNames.PodName(launch.OperatorName, launch.Index, launch.Incarnation),
                NamespaceProperty = options.Namespace,
                Labels = Labels(launch, options),
                OwnerReferences = [TopologyOwner(options, ownerUid)],
            },
            Data = values.ToDictionary(v => v.Key, v => Encoding.UTF8.GetBytes(v.Value), StringComparer.Ordinal),
        };
    }

    /// <summary>The private environment's set values, by name (a null value means "not set": left out).</summary>
    private static SortedDictionary<string, string> PrivateValues(InstanceLaunch launch, KubernetesRuntimeOptions options)
    {
        var values = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in options.PrivateEnvironment?.Invoke(launch) ?? new Dictionary<string, string?>())
        {
            if (value is not null)
            {
                values[key] = value;
            }
        }
        return values;
    }

    private static Dictionary<string, string> Labels(InstanceLaunch launch, KubernetesRuntimeOptions options) => new()
    {
        [KubernetesNames.ManagedByLabel] = KubernetesNames.ManagedByValue,
        [KubernetesNames.ClusterLabel] = options.Cluster,
        [KubernetesNames.OperatorLabel] = KubernetesNames.LabelValue(launch.OperatorName),
        [KubernetesNames.InstanceLabel] = launch.Index.ToString(CultureInfo.InvariantCulture),
        [KubernetesNames.IncarnationLabel] = KubernetesNames.LabelValue(launch.Incarnation),
        [KubernetesNames.ReleaseLabel] = launch.Release.ToString(CultureInfo.InvariantCulture),
    };

    private static V1OwnerReference TopologyOwner(KubernetesRuntimeOptions options, string ownerUid) => new()
    {
        ApiVersion = "v1",
        Kind = "ConfigMap",
        Name = options.TopologyObjectName,
        Uid = ownerUid,
    };

    /// <summary>
    /// The checkpoint claim, mounted at the scheduler's own checkpoint directory: BeginCheckpoint
    /// names directories under it, and a restore reads from it, so the path must be the same in
    /// every pod and in the scheduler's.
    /// </summary>
    private static V1VolumeMount[] CheckpointMounts(KubernetesRuntimeOptions options) =>
        options is { CheckpointClaim: not null, CheckpointDirectory: { } directory }
            ? [new V1VolumeMount { Name = CheckpointsVolume, MountPath = directory }]
            : [];

    private static V1Volume[] CheckpointVolumes(KubernetesRuntimeOptions options) =>
        options is { CheckpointClaim: { } claim, CheckpointDirectory: not null }
            ? [new V1Volume { Name = CheckpointsVolume, PersistentVolumeClaim = new V1PersistentVolumeClaimVolumeSource { ClaimName = claim } }]
            : [];

    /// <summary>The pod of one launch, owned by the topology object (<paramref name="ownerUid"/>).</summary>
    public static V1Pod Pod(InstanceLaunch launch, KubernetesRuntimeOptions options, string ownerUid)
    {
        var name = KubernetesNames.PodName(launch.OperatorName, launch.Index, launch.Incarnation);
        var builtin = launch.Spec.Builtin is not null;
        var executor = new V1Container
        {
            Name = ExecutorContainer,
            Image = options.ExecutorImage,
            Env = ExecutorEnvironment(launch, options, name, builtin),
            VolumeMounts =
            [
                new V1VolumeMount { Name = SharedVolume, MountPath = SharedPath },
                new V1VolumeMount { Name = TlsVolume, MountPath = TlsPath, ReadOnlyProperty = true },
                .. CheckpointMounts(options),
            ],
            // A built-in is the executor alone: the instance's resources are its.
            Resources = builtin ? Resources(InstanceResources.For(launch.Spec)) : Resources(KubernetesLimits.ExecutorCpuMillis, KubernetesLimits.ExecutorMemoryMiB),
        };
        var spec = new V1PodSpec
        {
            // A failed instance is relaunched by the scheduler as a new pod (new incarnation), never restarted in place.
            RestartPolicy = "Never",
            Hostname = name,
            Subdomain = options.ExecutorsService,
            TerminationGracePeriodSeconds = TerminationGraceSeconds,
            // Neither the executor nor the operator talks to the API server.
            AutomountServiceAccountToken = false,
            Volumes =
            [
                new V1Volume { Name = SharedVolume, EmptyDir = new V1EmptyDirVolumeSource() },
                new V1Volume { Name = TlsVolume, Secret = new V1SecretVolumeSource { SecretName = options.TlsSecret } },
                .. CheckpointVolumes(options),
            ],
        };
        if (builtin)
        {
            spec.Containers = [executor];
        }
        else
        {
            // The native sidecar (Kubernetes ≥ 1.29): an init container that keeps running
            // beside the main container, started before it and stopped after it.
            executor.RestartPolicy = "Always";
            spec.InitContainers = [executor];
            spec.Containers = [OperatorContainerOf(launch)];
        }
        return new V1Pod
        {
            ApiVersion = "v1",
            Kind = "Pod",
            Metadata = new V1ObjectMeta
            {
                Name = name,
                NamespaceProperty = options.Namespace,
                Labels = Labels(launch, options),
                OwnerReferences = [TopologyOwner(options, ownerUid)],
            },
            Spec = spec,
        };
    }

    private static V1Container OperatorContainerOf(InstanceLaunch launch)
    {
        var env = new List<V1EnvVar>();
        foreach (var (key, value) in launch.Spec.Environment.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            env.Add(new V1EnvVar { Name = key, Value = value });
        }
        env.Add(new V1EnvVar { Name = ProtocolLimits.OperatorAddressVariable, Value = SocketPath });
        env.Add(new V1EnvVar { Name = "CONCORD_OPERATOR_NAME", Value = launch.OperatorName });
        return new V1Container
        {
            Name = OperatorContainer,
            Image = ImageOf(launch.Spec),
            Command = [launch.Spec.Executable],
            Args = launch.Spec.Args.Count > 0 ? [.. launch.Spec.Args] : null,
            WorkingDir = SharedPath,
            Env = env,
            VolumeMounts = [new V1VolumeMount { Name = SharedVolume, MountPath = SharedPath }],
            Resources = Resources(InstanceResources.For(launch.Spec)),
        };
    }

    private static List<V1EnvVar> ExecutorEnvironment(InstanceLaunch launch, KubernetesRuntimeOptions options, string podName, bool builtin)
    {
        var env = new List<V1EnvVar>
        {
            new() { Name = SchedulerAddressVariable, Value = launch.SchedulerAddress },
            new() { Name = "CONCORD_OPERATOR_NAME", Value = launch.OperatorName },
            new() { Name = "CONCORD_INSTANCE_INDEX", Value = launch.Index.ToString(CultureInfo.InvariantCulture) },
            new() { Name = "CONCORD_INCARNATION", Value = launch.Incarnation },
            new() { Name = SpecJsonVariable, Value = JsonFormatter.Default.Format(launch.Spec) },
            new() { Name = "CONCORD_WORK_DIR", Value = SharedPath },
            // Peers and the scheduler dial the pod's DNS name (hostname.subdomain), which the
            // cluster's certificate can cover with one wildcard (docs/kubernetes.md).
            new() { Name = LocalProcessRuntime.ListenAddressVariable, Value = "0.0.0.0" },
            new() { Name = LocalProcessRuntime.AdvertisedHostVariable, Value = $"{podName}.{options.ExecutorsService}.{options.Namespace}.svc" },
            new() { Name = Hosting.TlsOptions.CertVariable, Value = TlsPath + "/tls.crt" },
            new() { Name = Hosting.TlsOptions.KeyVariable, Value = TlsPath + "/tls.key" },
            new() { Name = Hosting.TlsOptions.CaVariable, Value = TlsPath + "/ca.crt" },
        };
        if (!builtin)
        {
            env.Add(new V1EnvVar { Name = "CONCORD_OPERATOR_ATTACH", Value = SocketPath });
            env.Add(new V1EnvVar { Name = "CONCORD_OPERATOR_ATTACH_TIMEOUT_MS", Value = KubernetesLimits.OperatorAttachTimeoutMs.ToString(CultureInfo.InvariantCulture) });
        }
        if (launch.RestoreCheckpoint is { } restore)
        {
            env.Add(new V1EnvVar { Name = LocalProcessRuntime.RestoreCheckpointVariable, Value = restore });
        }
        // The private values by reference to the pod's Secret (same name as the pod), never as values.
        foreach (var key in PrivateValues(launch, options).Keys)
        {
            env.Add(new V1EnvVar { Name = key, ValueFrom = new V1EnvVarSource { SecretKeyRef = new V1SecretKeySelector { Name = podName, Key = key } } });
        }
        return env;
    }

    private static V1ResourceRequirements Resources(InstanceResources resources) =>
        Resources((int)Math.Max(1, Math.Round(resources.Cpus * 1000)), (int)(resources.MemoryBytes / (1024 * 1024)));

    /// <summary>Requests equal to limits: the instance gets what it asked for, and no more (as the local runtime's cgroup).</summary>
    private static V1ResourceRequirements Resources(int cpuMillis, int memoryMiB)
    {
        var amounts = new Dictionary<string, ResourceQuantity>
        {
            ["cpu"] = new ResourceQuantity($"{cpuMillis.ToString(CultureInfo.InvariantCulture)}m"),
            ["memory"] = new ResourceQuantity($"{memoryMiB.ToString(CultureInfo.InvariantCulture)}Mi"),
        };
        return new V1ResourceRequirements { Requests = amounts, Limits = new Dictionary<string, ResourceQuantity>(amounts) };
    }
}
