using System.Text;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Runtime;
using Concord.Scheduler.Runtime.Kubernetes;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;

namespace Concord.Scheduler.Tests.Kubernetes;

/// <summary>
/// The launch's private environment (launch secret, data-plane key) travels in a Kubernetes
/// Secret per pod, referenced by the executor container, never as a value in the pod spec;
/// against <see cref="KubernetesApiServerDouble"/>, a TEST DOUBLE of the API server.
/// </summary>
public sealed class KubernetesSecretTests : IAsyncLifetime
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
        PrivateEnvironment = launch => new Dictionary<string, string?>
        {
            ["CONCORD_LAUNCH_SECRET"] = "launch-secret-" + launch.Incarnation,
            ["CONCORD_DATA_PLANE_KEY"] = "data-plane-key-value",
            ["CONCORD_TOKEN"] = null,
        },
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

    private static InstanceLaunch Launch(string? incarnation = null) => new("counter", 0, incarnation ?? Guid.NewGuid().ToString("N"), new OperatorSpec
    {
        Name = "counter",
        Executable = "/app/counter",
        Instances = 1,
        Image = "registry.example.com/team/counter:1.2",
    }, "https://concord-scheduler.streams.svc:7400");

    [Fact]
    public async Task The_secret_is_created_before_the_pod_owned_by_the_topology_and_the_pod_holds_only_references()
    {
        var launch = Launch();
        var handle = await _runtime.LaunchAsync(launch, CancellationToken.None).WaitAsync(Bound);

        var requests = _api.Requests.ToList();
        var secretCreate = requests.FindIndex(r => r.StartsWith("POST /api/v1/namespaces/streams/secrets", StringComparison.Ordinal));
        var podCreate = requests.FindIndex(r => r.StartsWith("POST /api/v1/namespaces/streams/pods", StringComparison.Ordinal));
        Assert.True(secretCreate >= 0 && secretCreate < podCreate, string.Join("\n", requests));

        var secret = _api.Secret(handle.Host);
        Assert.NotNull(secret);
        Assert.Equal("Opaque", secret.Type);
        var owner = Assert.Single(secret.Metadata.OwnerReferences);
        Assert.Equal(("ConfigMap", "concord-topology-test", _api.ConfigMap("concord-topology-test")!.Metadata.Uid), (owner.Kind, owner.Name, owner.Uid));
        Assert.Equal(launch.Incarnation, secret.Metadata.Labels["concord.io/incarnation"]);
        // A null value means "not set": no key for it.
        Assert.Equal(["CONCORD_DATA_PLANE_KEY", "CONCORD_LAUNCH_SECRET"], secret.Data.Keys.Order(StringComparer.Ordinal));

        var pod = Assert.Single(_api.CreatedPods);
        var json = KubernetesJson.Serialize(pod);
        Assert.DoesNotContain("launch-secret-", json, StringComparison.Ordinal);
        Assert.DoesNotContain("data-plane-key-value", json, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToBase64String(Encoding.UTF8.GetBytes("data-plane-key-value")), json, StringComparison.Ordinal);

        // What kubelet gives the executor: the values, from the Secret.
        var executor = Assert.Single(pod.Spec.InitContainers);
        var env = _api.ResolveEnvironment(executor);
        Assert.Equal("launch-secret-" + launch.Incarnation, env["CONCORD_LAUNCH_SECRET"]);
        Assert.Equal("data-plane-key-value", env["CONCORD_DATA_PLANE_KEY"]);
        Assert.DoesNotContain("CONCORD_TOKEN", env.Keys);
        Assert.DoesNotContain(Assert.Single(pod.Spec.Containers).Env, e => e.ValueFrom is not null);
    }

    [Fact]
    public async Task An_ended_instance_loses_its_secret_with_its_pod()
    {
        var handle = await _runtime.LaunchAsync(Launch(), CancellationToken.None).WaitAsync(Bound);
        _api.UpdateStatus(handle.Host, KubernetesApiServerDouble.Running);
        _api.UpdateStatus(handle.Host, s => s.InitContainerStatuses[0].State = new V1ContainerState { Terminated = new V1ContainerStateTerminated { ExitCode = 1, Reason = "Error" } });

        await handle.Exited.WaitAsync(Bound);
        await _api.WhenRemovedAsync(handle.Host).WaitAsync(Bound);
        await _api.WhenSecretRemovedAsync(handle.Host).WaitAsync(Bound);
    }

    [Fact]
    public async Task A_stopped_instance_loses_its_secret()
    {
        var handle = await _runtime.LaunchAsync(Launch(), CancellationToken.None).WaitAsync(Bound);
        _api.UpdateStatus(handle.Host, KubernetesApiServerDouble.Running);

        await _runtime.StopAsync(handle, TimeSpan.FromSeconds(5), CancellationToken.None).WaitAsync(Bound);

        await _api.WhenSecretRemovedAsync(handle.Host).WaitAsync(Bound);
        Assert.Empty(_api.SecretNames());
    }

    [Fact]
    public async Task A_409_on_the_secret_is_taken_as_created_for_this_launch_and_refused_naming_the_fix_for_another()
    {
        var launch = Launch();
        var name = $"counter-0-{launch.Incarnation[..12]}";
        _api.SeedSecret(new V1Secret { Metadata = new V1ObjectMeta { Name = name, Labels = new Dictionary<string, string> { ["concord.io/incarnation"] = "another" } } });

        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => _runtime.LaunchAsync(launch, CancellationToken.None).WaitAsync(Bound));
        Assert.Contains("409 Conflict", e.Message, StringComparison.Ordinal);
        Assert.Contains($"kubectl delete secret {name} -n streams", e.Message, StringComparison.Ordinal);
        Assert.Null(_api.Pod(name));

        // Its own secret (a create whose answer was lost, then retried): the launch goes on.
        _api.SeedSecret(new V1Secret { Metadata = new V1ObjectMeta { Name = name, Labels = new Dictionary<string, string> { ["concord.io/incarnation"] = launch.Incarnation } } });
        var handle = await _runtime.LaunchAsync(launch, CancellationToken.None).WaitAsync(Bound);
        Assert.Equal(name, handle.Host);
        Assert.NotNull(_api.Pod(name));
    }

    [Fact]
    public async Task A_pod_refused_by_the_api_server_takes_its_secret_away()
    {
        var launch = Launch();
        var name = $"counter-0-{launch.Incarnation[..12]}";
        _api.Seed(new V1Pod
        {
            Metadata = new V1ObjectMeta { Name = name, Labels = new Dictionary<string, string> { ["concord.io/incarnation"] = "another" } },
            Spec = new V1PodSpec { Containers = [new V1Container { Name = "operator", Image = "x" }] },
        });

        await Assert.ThrowsAsync<InvalidOperationException>(() => _runtime.LaunchAsync(launch, CancellationToken.None).WaitAsync(Bound));

        Assert.Single(_api.CreatedSecrets);
        Assert.Empty(_api.SecretNames());
    }

    [Fact]
    public async Task Without_a_private_environment_no_secret_is_made()
    {
        await using var runtime = New(Options with { PrivateEnvironment = null });

        var handle = await runtime.LaunchAsync(Launch(), CancellationToken.None).WaitAsync(Bound);
        await runtime.StopAsync(handle, TimeSpan.FromSeconds(1), CancellationToken.None).WaitAsync(Bound);

        Assert.DoesNotContain(_api.Requests, r => r.Contains("/secrets", StringComparison.Ordinal));
    }
}
