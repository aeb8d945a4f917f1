using Concord.Contracts.Types.V1;
using Concord.Scheduler.Runtime;
using Concord.Scheduler.Runtime.Kubernetes;
using Concord.Scheduler.Runtime.Kubernetes.Internal;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;

namespace Concord.Scheduler.Tests.Kubernetes;

/// <summary>
/// The Kubernetes runtime against <see cref="KubernetesApiServerDouble"/>, a TEST DOUBLE of the
/// API server (not a cluster: no kubelet, no containers; the tests play the kubelet).
/// Every object the runtime sends passes the double's schema check (asserted at the end of
/// each test).
/// </summary>
public sealed class KubernetesClusterRuntimeTests : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TestTimeouts.Step;
    private KubernetesApiServerDouble _api = null!;
    private KubernetesClusterRuntime _runtime = null!;

    private static KubernetesRuntimeOptions Options => new()
    {
        Namespace = "streams",
        Cluster = "test",
        ExecutorImage = "registry.example.com/concord/executor:1.0",
        TlsSecret = "concord-tls",
        PrivateEnvironment = launch => new Dictionary<string, string?> { ["CONCORD_LAUNCH_SECRET"] = "s-" + launch.Incarnation, ["CONCORD_TOKEN"] = null },
    };

    public async Task InitializeAsync()
    {
        _api = await KubernetesApiServerDouble.StartAsync();
        _runtime = New(Options);
    }

    public async Task DisposeAsync()
    {
        await _runtime.DisposeAsync();
        await _api.DisposeAsync();
        Assert.True(_api.Violations.Count == 0, string.Join("\n", _api.Violations));
    }

    private KubernetesClusterRuntime New(KubernetesRuntimeOptions options) =>
        new(_api.Client(), options, NullLogger<KubernetesClusterRuntime>.Instance, TimeProvider.System);

    private static OperatorSpec Counter(int instances = 2) => new()
    {
        Name = "counter",
        Executable = "/app/counter",
        Args = { "--verbose" },
        Instances = instances,
        Cpus = 0.5,
        MemMb = 256,
        Image = "registry.example.com/team/counter:1.2",
        Environment = { ["GREETING"] = "hi" },
        ExpectedOutputs = { "counts" },
    };

    private static InstanceLaunch Launch(int index = 0, string? incarnation = null, OperatorSpec? spec = null) =>
        new("counter", index, incarnation ?? Guid.NewGuid().ToString("N"), spec ?? Counter(), "https://concord-scheduler.streams.svc:7400");

    /// <summary>Awaits the next raising of a runtime event, bounded.</summary>
    private static Task NextAsync(Action<Action> subscribe)
    {
        var raised = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        subscribe(() => raised.TrySetResult());
        return raised.Task.WaitAsync(Bound);
    }

    [Fact]
    public async Task A_launch_creates_one_pod_with_the_executor_as_a_native_sidecar_owned_by_the_topology_configmap()
    {
        var launch = Launch(index: 1);
        var handle = await _runtime.LaunchAsync(launch, CancellationToken.None).WaitAsync(Bound);
        await _runtime.LaunchAsync(Launch(index: 0), CancellationToken.None).WaitAsync(Bound);

        var pod = Assert.Single(_api.CreatedPods, p => p.Metadata.Labels["concord.io/instance"] == "1");
        var owner = _api.ConfigMap("concord-topology-test");
        Assert.NotNull(owner);
        Assert.Equal(1, _api.Requests.Count(r => r.StartsWith("POST /api/v1/namespaces/streams/configmaps", StringComparison.Ordinal))); // one per topology
        var reference = Assert.Single(pod.Metadata.OwnerReferences);
        Assert.Equal(("v1", "ConfigMap", "concord-topology-test", owner.Metadata.Uid), (reference.ApiVersion, reference.Kind, reference.Name, reference.Uid));

        Assert.Equal($"counter-1-{launch.Incarnation[..12]}", pod.Metadata.Name);
        Assert.Equal(pod.Metadata.Name, handle.Host);
        Assert.Equal("test", pod.Metadata.Labels["concord.io/cluster"]);
        Assert.Equal("counter", pod.Metadata.Labels["concord.io/operator"]);
        Assert.Equal(launch.Incarnation, pod.Metadata.Labels["concord.io/incarnation"]);
        Assert.Equal("Never", pod.Spec.RestartPolicy);

        var executor = Assert.Single(pod.Spec.InitContainers);
        Assert.Equal(("executor", "Always", "registry.example.com/concord/executor:1.0"), (executor.Name, executor.RestartPolicy, executor.Image));
        var op = Assert.Single(pod.Spec.Containers);
        Assert.Equal(("operator", "registry.example.com/team/counter:1.2"), (op.Name, op.Image));
        Assert.Equal(["/app/counter"], op.Command);
        Assert.Equal(["--verbose"], op.Args);
        Assert.Equal("500m", op.Resources.Limits["cpu"].ToString());
        Assert.Equal("256Mi", op.Resources.Limits["memory"].ToString());
        Assert.Equal(op.Resources.Limits["memory"].ToString(), op.Resources.Requests["memory"].ToString());

        // The shared emptyDir carries the socket both sides name.
        var shared = Assert.Single(pod.Spec.Volumes, v => v.EmptyDir is not null);
        Assert.Contains(executor.VolumeMounts, m => m.Name == shared.Name && m.MountPath == "/concord/shared");
        Assert.Contains(op.VolumeMounts, m => m.Name == shared.Name && m.MountPath == "/concord/shared");
        string Env(V1Container c, string name) => Assert.Single(c.Env, e => e.Name == name).Value;
        Assert.Equal("/concord/shared/operator.sock", Env(op, "CONCORD_OPERATOR_ADDRESS"));
        Assert.Equal("/concord/shared/operator.sock", Env(executor, "CONCORD_OPERATOR_ATTACH"));
        Assert.Equal("hi", Env(op, "GREETING"));
        Assert.Equal("registry.example.com/team/counter:1.2", op.Image);
        Assert.DoesNotContain(op.Env, e => e.Name is "CONCORD_LAUNCH_SECRET");
        // The launch secret by reference to the pod's Secret, never as a value in the pod (KubernetesSecretTests).
        var secretRef = Assert.Single(executor.Env, e => e.Name == "CONCORD_LAUNCH_SECRET");
        Assert.Null(secretRef.Value);
        Assert.Equal((pod.Metadata.Name, "CONCORD_LAUNCH_SECRET"), (secretRef.ValueFrom.SecretKeyRef.Name, secretRef.ValueFrom.SecretKeyRef.Key));
        Assert.DoesNotContain(executor.Env, e => e.Name == "CONCORD_TOKEN");
        Assert.Equal($"{pod.Metadata.Name}.concord-executors.streams.svc", Env(executor, "CONCORD_ADVERTISED_HOST"));
        Assert.Equal("counter", Google.Protobuf.JsonParser.Default.Parse<OperatorSpec>(Env(executor, "CONCORD_SPEC_JSON")).Name);
        Assert.Equal((pod.Metadata.Name, "concord-executors"), (pod.Spec.Hostname, pod.Spec.Subdomain));
        Assert.False(pod.Spec.AutomountServiceAccountToken);
    }

    [Fact]
    public async Task A_builtin_is_a_pod_with_the_executor_alone_holding_the_instance_resources()
    {
        var spec = new OperatorSpec { Name = "source", Instances = 1, Cpus = 1, MemMb = 128, Builtin = new BuiltinOperator { Kind = "generator" } };
        await _runtime.LaunchAsync(new InstanceLaunch("source", 0, "abc123", spec, "https://s:7400"), CancellationToken.None).WaitAsync(Bound);

        var pod = Assert.Single(_api.CreatedPods);
        Assert.Null(pod.Spec.InitContainers);
        var executor = Assert.Single(pod.Spec.Containers);
        Assert.Null(executor.RestartPolicy);
        Assert.DoesNotContain(executor.Env, e => e.Name == "CONCORD_OPERATOR_ATTACH");
        Assert.Equal("1", executor.Resources.Limits["cpu"].ToString());
        Assert.Equal("128Mi", executor.Resources.Limits["memory"].ToString());
    }

    [Fact]
    public async Task Pod_statuses_map_onto_the_lifecycle_and_an_ended_instance_loses_its_pod()
    {
        var handle = await _runtime.LaunchAsync(Launch(), CancellationToken.None).WaitAsync(Bound);
        var name = handle.Host;

        _api.UpdateStatus(name, KubernetesApiServerDouble.Running);
        _api.UpdateStatus(name, s => s.InitContainerStatuses[0].State = new V1ContainerState { Terminated = new V1ContainerStateTerminated { ExitCode = 1, Reason = "Error" } });

        var exit = await handle.Exited.WaitAsync(Bound);
        Assert.Equal(1, exit.ExitCode);
        Assert.StartsWith("executor container exited with code 1 (Error)", exit.Description, StringComparison.Ordinal);
        await _api.WhenRemovedAsync(name).WaitAsync(Bound);
    }

    [Fact]
    public async Task The_watch_reconnects_from_the_last_resource_version_without_listing_again()
    {
        var handle = await _runtime.LaunchAsync(Launch(), CancellationToken.None).WaitAsync(Bound);
        await _api.WhenWatchedAsync().WaitAsync(Bound);
        _api.UpdateStatus(handle.Host, KubernetesApiServerDouble.Running);
        var seenVersion = _api.Pod(handle.Host)!.Metadata.ResourceVersion;
        Assert.Equal(1, _api.Requests.Count(r => r.Contains("watch=true", StringComparison.Ordinal)));

        var ended = NextAsync(a => _runtime.WatchEnded += a);
        _api.CutWatches();
        await ended;
        // While disconnected the pod's executor ends: the next watch replays it from the resourceVersion.
        _api.UpdateStatus(handle.Host, s => s.InitContainerStatuses[0].State = new V1ContainerState { Terminated = new V1ContainerStateTerminated { ExitCode = 137, Reason = "Error" } });

        var exit = await handle.Exited.WaitAsync(Bound);
        Assert.Equal(137, exit.ExitCode);
        Assert.Equal(9, exit.Signal);
        var watches = _api.Requests.Where(r => r.Contains("watch=true", StringComparison.Ordinal)).ToList();
        Assert.Contains($"resourceVersion={seenVersion}", watches[^1], StringComparison.Ordinal);
        Assert.Equal(1, _api.Requests.Count(r => r.StartsWith("GET /api/v1/namespaces/streams/pods?", StringComparison.Ordinal) && !r.Contains("watch=true", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_watch_answered_410_Gone_lists_again_and_sees_a_pod_deleted_meanwhile()
    {
        var kept = await _runtime.LaunchAsync(Launch(index: 0), CancellationToken.None).WaitAsync(Bound);
        var deleted = await _runtime.LaunchAsync(Launch(index: 1), CancellationToken.None).WaitAsync(Bound);
        await _api.WhenWatchedAsync().WaitAsync(Bound);

        // The API server is away while a pod is deleted and the history compacted: the runtime's
        // watch resumes from a resourceVersion that is gone (410) and must list again.
        _api.PauseWatches();
        var ended = NextAsync(a => _runtime.WatchEnded += a);
        _api.CutWatches();
        await ended;
        _api.DeleteFromOutside(deleted.Host);
        _api.UpdateStatus(kept.Host, KubernetesApiServerDouble.Running);
        _api.Compact();
        var relisted = NextAsync(a => _runtime.Listed += a);
        _api.ResumeWatches();
        await relisted;

        var exit = await deleted.Exited.WaitAsync(Bound);
        Assert.Equal(128 + 9, exit.ExitCode);
        Assert.Contains("deleted from outside", exit.Description, StringComparison.Ordinal);
        Assert.False(kept.Exited.IsCompleted);
    }

    [Fact]
    public async Task A_pod_deleted_before_a_slow_first_list_is_served_ends_its_instance()
    {
        // The first list is served only after the pod was created and deleted: it lacks the pod,
        // and a watch from its resourceVersion would never tell of the deletion.
        _api.PauseLists();
        var handle = await _runtime.LaunchAsync(Launch(), CancellationToken.None).WaitAsync(Bound);
        await _api.WhenListWaitingAsync().WaitAsync(Bound);
        _api.DeleteFromOutside(handle.Host);
        _api.ResumeLists();

        var exit = await handle.Exited.WaitAsync(Bound);
        Assert.Contains("deleted from outside", exit.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_409_Conflict_from_another_launch_is_refused_naming_the_fix_and_from_this_launch_is_taken_as_created()
    {
        var launch = Launch();
        var name = $"counter-0-{launch.Incarnation[..12]}";
        _api.Seed(new V1Pod
        {
            Metadata = new V1ObjectMeta
            {
                Name = name,
                Labels = new Dictionary<string, string> { ["concord.io/cluster"] = "test", ["app.kubernetes.io/managed-by"] = "concord", ["concord.io/operator"] = "counter", ["concord.io/instance"] = "0", ["concord.io/incarnation"] = launch.Incarnation[..12] + "other" },
            },
            Spec = new V1PodSpec { Containers = [new V1Container { Name = "operator", Image = "x" }] },
        });

        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => _runtime.LaunchAsync(launch, CancellationToken.None).WaitAsync(Bound));
        Assert.Contains("409 Conflict", e.Message, StringComparison.Ordinal);
        Assert.Contains($"kubectl delete pod {name} -n streams", e.Message, StringComparison.Ordinal);

        // The same launch's own pod (its create went through, the answer was lost): success.
        _api.DeleteFromOutside(name);
        _api.Seed(new V1Pod
        {
            Metadata = new V1ObjectMeta
            {
                Name = name,
                Labels = new Dictionary<string, string> { ["concord.io/cluster"] = "test", ["app.kubernetes.io/managed-by"] = "concord", ["concord.io/operator"] = "counter", ["concord.io/instance"] = "0", ["concord.io/incarnation"] = launch.Incarnation },
            },
            Spec = new V1PodSpec { Containers = [new V1Container { Name = "operator", Image = "x" }] },
        });
        var handle = await _runtime.LaunchAsync(launch, CancellationToken.None).WaitAsync(Bound);
        Assert.Equal(name, handle.Host);
        Assert.False(handle.Exited.IsCompleted);
    }

    [Fact]
    public async Task A_pod_that_never_becomes_ready_fails_within_the_bound_naming_the_reason_and_is_deleted()
    {
        // Long enough for the watch to deliver the waiting reason below on a loaded machine
        // (500 ms was not): the failure must name it.
        await using var runtime = New(Options with { PodStartTimeoutMs = 5000 });
        var handle = await runtime.LaunchAsync(Launch(), CancellationToken.None).WaitAsync(Bound);
        _api.UpdateStatus(handle.Host, s =>
        {
            s.Phase = "Pending";
            s.ContainerStatuses = [new V1ContainerStatus { Name = "operator", Image = "o", ImageID = "", Ready = false, RestartCount = 0, State = new V1ContainerState { Waiting = new V1ContainerStateWaiting { Reason = "ImagePullBackOff", Message = "Back-off pulling image \"registry.example.com/team/counter:1.2\"" } } }];
        });

        var exit = await handle.Exited.WaitAsync(Bound);
        Assert.Contains("was not running within 5000 ms", exit.Description, StringComparison.Ordinal);
        Assert.Contains("container operator waiting: ImagePullBackOff", exit.Description, StringComparison.Ordinal);
        Assert.Contains("kubectl describe pod", exit.Description, StringComparison.Ordinal);
        await _api.WhenRemovedAsync(handle.Host).WaitAsync(Bound);
    }

    [Fact]
    public async Task Stop_deletes_the_pod_with_the_stop_timeout_as_grace_period()
    {
        var handle = await _runtime.LaunchAsync(Launch(), CancellationToken.None).WaitAsync(Bound);
        _api.UpdateStatus(handle.Host, KubernetesApiServerDouble.Running);

        await _runtime.StopAsync(handle, TimeSpan.FromSeconds(15), CancellationToken.None).WaitAsync(Bound);

        var exit = await handle.Exited.WaitAsync(Bound);
        Assert.Equal(128 + 15, exit.ExitCode);
        var (pod, options) = Assert.Single(_api.Deletes);
        Assert.Equal(handle.Host, pod);
        Assert.Equal(15, options!.GracePeriodSeconds);
        Assert.Null(_api.Pod(handle.Host));
    }

    [Fact]
    public async Task Adoption_keeps_the_pods_it_is_offered_and_deletes_the_others()
    {
        var first = New(Options);
        var keep = await first.LaunchAsync(Launch(index: 0), CancellationToken.None).WaitAsync(Bound);
        var drop = await first.LaunchAsync(Launch(index: 1), CancellationToken.None).WaitAsync(Bound);
        await first.DisposeAsync(); // the scheduler run ends; its pods keep running

        var offered = new List<LeftoverInstance>();
        var adopted = await _runtime.AdoptLeftoversAsync(l => { offered.Add(l); return l.Index == 0; }, CancellationToken.None).WaitAsync(Bound);

        var one = Assert.Single(adopted);
        Assert.Equal((keep.Incarnation, keep.Host), (one.Handle.Incarnation, one.Handle.Host));
        Assert.Equal(2, offered.Count);
        Assert.All(offered, l => Assert.Equal("counter", l.Spec?.Name));
        Assert.All(offered, l => Assert.Equal("https://concord-scheduler.streams.svc:7400", l.SchedulerAddress));
        Assert.Null(_api.Pod(drop.Host));
        Assert.NotNull(_api.Pod(keep.Host));

        // The adopted handle follows its pod.
        _api.UpdateStatus(keep.Host, KubernetesApiServerDouble.Running);
        _api.UpdateStatus(keep.Host, s => s.InitContainerStatuses[0].State = new V1ContainerState { Terminated = new V1ContainerStateTerminated { ExitCode = 0 } });
        Assert.Equal(0, (await one.Handle.Exited.WaitAsync(Bound)).ExitCode);
    }

    [Theory]
    [InlineData("", "image: is not set")]
    [InlineData("not an image", "is not an image reference")]
    [InlineData("registry.example.com/team/counter:", "is not an image reference")]
    public void Validate_asks_for_the_operator_image(string image, string expected)
    {
        var spec = Counter();
        spec.Image = image;

        Assert.Contains(expected, _runtime.Validate(spec), StringComparison.Ordinal);
        Assert.Null(_runtime.Validate(Counter()));
    }

    [Fact]
    public void Validate_names_the_image_field_for_a_spec_that_still_sets_the_retired_environment_variable()
    {
        var spec = Counter();
        spec.Image = "";
        spec.Environment["OPERATOR_IMAGE"] = "registry.example.com/team/counter:1.2";

        var problem = _runtime.Validate(spec);

        Assert.NotNull(problem);
        Assert.Contains("environment.OPERATOR_IMAGE", problem, StringComparison.Ordinal);
        Assert.Contains("\"image\": \"registry.example.com/team/counter:1.2\"", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_spec_with_an_image_and_the_retired_variable_passes_the_variable_on_as_any_other()
    {
        var spec = Counter();
        spec.Environment["OPERATOR_IMAGE"] = "kept";

        Assert.Null(_runtime.Validate(spec));
        var op = Assert.Single(PodSpecs.Pod(Launch(spec: spec), Options, "uid").Spec.Containers);
        Assert.Contains(op.Env, e => e.Name == "OPERATOR_IMAGE" && e.Value == "kept");
    }

    [Theory]
    [InlineData(DeliveryGuarantee.DeliveryAtLeastOnce, "at_least_once")]
    [InlineData(DeliveryGuarantee.DeliveryExactlyOnce, "exactly_once")]
    public void A_guarantee_without_a_checkpoint_claim_is_refused_naming_the_setting(DeliveryGuarantee delivery, string named)
    {
        var spec = Counter();
        spec.Delivery = delivery;

        var problem = _runtime.Validate(spec);

        Assert.Contains($"delivery: \"{named}\" needs checkpoints", problem, StringComparison.Ordinal);
        Assert.Contains(KubernetesRuntimeOptions.CheckpointClaimVariable, problem, StringComparison.Ordinal);
        spec.Delivery = DeliveryGuarantee.DeliveryAtMostOnce;
        Assert.Null(_runtime.Validate(spec));
    }

    [Fact]
    public async Task With_a_checkpoint_claim_every_pod_mounts_it_in_the_executor_at_the_schedulers_checkpoint_directory()
    {
        var options = Options with { CheckpointClaim = "concord-checkpoints", CheckpointDirectory = "/var/lib/concord/checkpoints" };
        await using var runtime = New(options);
        var spec = Counter();
        spec.Delivery = DeliveryGuarantee.DeliveryExactlyOnce;

        Assert.Null(runtime.Validate(spec));
        var pod = PodSpecs.Pod(Launch(spec: spec), options, "uid");
        var volume = Assert.Single(pod.Spec.Volumes, v => v.Name == PodSpecs.CheckpointsVolume);
        Assert.Equal("concord-checkpoints", volume.PersistentVolumeClaim.ClaimName);
        var executor = Assert.Single(pod.Spec.InitContainers);
        Assert.Contains(executor.VolumeMounts, m => m.Name == PodSpecs.CheckpointsVolume && m.MountPath == "/var/lib/concord/checkpoints");
        // The operator does not write checkpoints: its executor does.
        Assert.DoesNotContain(Assert.Single(pod.Spec.Containers).VolumeMounts ?? [], m => m.Name == PodSpecs.CheckpointsVolume);
        // Without a claim, no such volume.
        Assert.DoesNotContain(PodSpecs.Pod(Launch(), Options, "uid").Spec.Volumes, v => v.Name == PodSpecs.CheckpointsVolume);
    }

    [Fact]
    public void Options_refuse_a_checkpoint_claim_that_is_not_a_claim_name()
    {
        var environment = new Dictionary<string, string>
        {
            [KubernetesRuntimeOptions.NamespaceVariable] = "streams",
            [KubernetesRuntimeOptions.ExecutorImageVariable] = "registry.example.com/concord/executor:1.0",
            [KubernetesRuntimeOptions.TlsSecretVariable] = "concord-tls",
            [KubernetesRuntimeOptions.CheckpointClaimVariable] = "Checkpoints_Claim",
        };

        var e = Assert.Throws<UsageException>(() => KubernetesRuntimeOptions.FromEnvironment(n => environment.GetValueOrDefault(n), schedulerHasTls: true));

        Assert.Contains($"{KubernetesRuntimeOptions.CheckpointClaimVariable}='Checkpoints_Claim' is not a PersistentVolumeClaim name", e.Message, StringComparison.Ordinal);
        environment[KubernetesRuntimeOptions.CheckpointClaimVariable] = "concord-checkpoints";
        Assert.Equal("concord-checkpoints", KubernetesRuntimeOptions.FromEnvironment(n => environment.GetValueOrDefault(n), schedulerHasTls: true).CheckpointClaim);
    }

    [Fact]
    public void Validate_refuses_files_which_pods_do_not_get()
    {
        var spec = Counter();
        spec.Files.Add("/data/words.txt");

        Assert.Contains("put them in the operator's image", _runtime.Validate(spec), StringComparison.Ordinal);
    }

    [Fact]
    public void Options_refuse_a_scheduler_without_tls_and_missing_settings_naming_the_variable()
    {
        var noTls = Assert.Throws<UsageException>(() => KubernetesRuntimeOptions.FromEnvironment(_ => null, schedulerHasTls: false));
        Assert.Contains("--tls-cert", noTls.Message, StringComparison.Ordinal);

        var env = new Dictionary<string, string> { [KubernetesRuntimeOptions.NamespaceVariable] = "streams", [KubernetesRuntimeOptions.TlsSecretVariable] = "concord-tls" };
        var noImage = Assert.Throws<UsageException>(() => KubernetesRuntimeOptions.FromEnvironment(env.GetValueOrDefault, schedulerHasTls: true));
        Assert.Contains(KubernetesRuntimeOptions.ExecutorImageVariable, noImage.Message, StringComparison.Ordinal);

        env[KubernetesRuntimeOptions.ExecutorImageVariable] = "registry.example.com/concord/executor:1.0";
        env[KubernetesRuntimeOptions.NamespaceVariable] = "Not_A_Label";
        var badNamespace = Assert.Throws<UsageException>(() => KubernetesRuntimeOptions.FromEnvironment(env.GetValueOrDefault, schedulerHasTls: true));
        Assert.Contains("is not a DNS label", badNamespace.Message, StringComparison.Ordinal);
    }
}
