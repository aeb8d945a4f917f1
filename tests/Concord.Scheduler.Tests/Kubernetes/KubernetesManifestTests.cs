using System.Text.Json;
using Concord.Contracts;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Runtime.Kubernetes;
using k8s;
using k8s.Models;

namespace Concord.Scheduler.Tests.Kubernetes;

/// <summary>
/// deploy/kubernetes against the official schema (KubernetesClient's models, strict: an unknown
/// field fails) and against what the scheduler needs: the RBAC rules allow exactly the calls of
/// the runtime and the Lease store, the StatefulSet sets the variables they read.
/// </summary>
public sealed class KubernetesManifestTests
{
    private static readonly string Directory = Path.Combine(RepoPaths.Root, "deploy", "kubernetes");

    private static List<object> Load(string file) =>
        KubernetesYaml.LoadAllFromString(File.ReadAllText(Path.Combine(Directory, file)), typeMap: null, strict: true).ToList();

    [Fact]
    public void Every_manifest_is_valid_against_the_models()
    {
        var kinds = new[] { "namespace.yaml", "rbac.yaml", "scheduler.yaml" }.SelectMany(Load).Select(o => ((IKubernetesObject)o).Kind).Order(StringComparer.Ordinal);

        Assert.Equal(["Namespace", "Role", "RoleBinding", "Service", "Service", "Service", "ServiceAccount", "StatefulSet"], kinds);
    }

    [Fact]
    public void The_strict_load_refuses_a_misspelt_field()
    {
        const string yaml = "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  clusterIp: None\n";

        Assert.ThrowsAny<Exception>(() => KubernetesYaml.LoadAllFromString(yaml, typeMap: null, strict: true));
        Assert.Single(KubernetesYaml.LoadAllFromString(yaml, typeMap: null, strict: false));
    }

    [Fact]
    public void The_role_allows_exactly_the_calls_of_the_runtime_and_the_Lease_store()
    {
        var role = Load("rbac.yaml").OfType<V1Role>().Single();

        var rules = role.Rules.ToDictionary(r => Assert.Single(r.Resources), r => $"{Assert.Single(r.ApiGroups)}: {string.Join(' ', r.Verbs.Order(StringComparer.Ordinal))}");
        Assert.Equal(": create delete get list watch", rules["pods"]);
        // The runtime creates and reads its owner object; the store also replaces its two.
        Assert.Equal(": create get update", rules["configmaps"]);
        Assert.Equal(": create delete get", rules["secrets"]);
        Assert.Equal("coordination.k8s.io: create get update", rules["leases"]);
        Assert.Equal(4, rules.Count);
    }

    [Fact]
    public void The_statefulset_runs_replicas_of_the_kubernetes_runtime_and_store_with_their_settings_and_tls()
    {
        var deployment = Load("scheduler.yaml").OfType<V1StatefulSet>().Single();
        var container = Assert.Single(deployment.Spec.Template.Spec.Containers);

        Assert.Contains($"--runtime={KubernetesClusterRuntime.RuntimeName}", container.Args);
        Assert.Contains("--store=kubernetes", container.Args);
        Assert.Contains(container.Args, a => a.StartsWith("--lease-duration-ms=", StringComparison.Ordinal));
        // Parsed as the scheduler will (the advertised address with the pod name Kubernetes substitutes).
        var args = container.Args.Select(a => a.Replace("$(POD_NAME)", "concord-scheduler-0", StringComparison.Ordinal)).ToList();
        var executor = Path.Combine(Path.GetTempPath(), $"concord-manifest-{Guid.NewGuid():N}.dll");
        File.WriteAllText(executor, "");
        try
        {
            var options = SchedulerCommandLine.Parse([.. args.Where(a => !a.StartsWith("--tls-", StringComparison.Ordinal)), "--executor", executor])!;
            Assert.Equal(("kubernetes", "kubernetes"), (options.Store, options.Runtime));
            Assert.Equal("concord-scheduler-0.concord-schedulers.concord.svc", options.AdvertiseHost);
        }
        finally
        {
            File.Delete(executor);
        }
        // Each replica's advertised name resolves through the headless Service it names.
        Assert.Equal("concord-schedulers", deployment.Spec.ServiceName);
        var replicas = Load("scheduler.yaml").OfType<V1Service>().Single(s => s.Metadata.Name == deployment.Spec.ServiceName);
        Assert.Equal("None", replicas.Spec.ClusterIP);
        Assert.Equal(deployment.Spec.Selector.MatchLabels, replicas.Spec.Selector);
        Assert.Contains(container.Env, e => e.Name == "CONCORD_TOKEN" && e.ValueFrom?.SecretKeyRef?.Name == "concord-scheduler-secrets");
        Assert.Contains(container.Args, a => a.StartsWith("--tls-cert=", StringComparison.Ordinal));
        var env = container.Env.Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
        Assert.Contains(KubernetesRuntimeOptions.NamespaceVariable, env);
        Assert.Contains(KubernetesRuntimeOptions.ExecutorImageVariable, env);
        Assert.Contains(KubernetesRuntimeOptions.TlsSecretVariable, env);
        Assert.Equal("concord-scheduler", deployment.Spec.Template.Spec.ServiceAccountName);
        Assert.InRange(deployment.Spec.Replicas ?? 1, 2, 3);

        // The headless Service named as the executors' subdomain selects the runtime's pods.
        var executors = Load("scheduler.yaml").OfType<V1Service>().Single(s => s.Metadata.Name == "concord-executors");
        Assert.Equal("None", executors.Spec.ClusterIP);
        Assert.Equal("concord", executors.Spec.Selector["app.kubernetes.io/managed-by"]);
    }

    [Theory]
    [InlineData("source.json")]
    [InlineData("counter-python.json")]
    [InlineData("sink.json")]
    public void The_word_count_deploy_files_pass_the_shared_validator_and_the_runtimes_check(string file)
    {
        // The fields the runtime reads, as the CLI's deploy-file parser maps them.
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(Directory, "wordcount", file)));
        var root = json.RootElement;
        var spec = new OperatorSpec
        {
            Name = root.GetProperty("name").GetString()!,
            Executable = root.GetProperty("executable").GetString()!,
            Instances = root.GetProperty("instances").GetInt32(),
            Cpus = root.GetProperty("cpus").GetDouble(),
            MemMb = root.GetProperty("mem").GetInt32(),
            // REGISTRY is the placeholder docs/kubernetes.md tells to replace.
            Image = root.GetProperty("image").GetString()!.Replace("REGISTRY", "registry.example.com", StringComparison.Ordinal),
        };
        spec.Args.AddRange(root.GetProperty("args").EnumerateArray().Select(a => a.GetString()!));
        if (root.TryGetProperty("environment", out var environment))
        {
            foreach (var variable in environment.EnumerateObject())
            {
                spec.Environment[variable.Name] = variable.Value.GetString()!;
            }
        }

        Assert.Empty(OperatorSpecValidator.Validate(spec));
        Assert.False(spec.Executable.Contains('/', StringComparison.Ordinal), "a path would be checked on the deploying machine by the CLI; name a command on the image's PATH");
        var runtime = new KubernetesClusterRuntime(new k8s.Kubernetes(new KubernetesClientConfiguration { Host = "http://127.0.0.1:1" }),
            new KubernetesRuntimeOptions { Namespace = "concord", ExecutorImage = "registry.example.com/concord/executor:latest", TlsSecret = "concord-tls" },
            Microsoft.Extensions.Logging.Abstractions.NullLogger<KubernetesClusterRuntime>.Instance, TimeProvider.System);
        Assert.Null(runtime.Validate(spec));
    }

    [Fact]
    public void A_concord_variable_for_the_image_would_be_refused_by_the_shared_validator()
    {
        var spec = new OperatorSpec { Name = "counter", Executable = "python3", Instances = 1, Environment = { ["CONCORD_IMAGE"] = "r/i:1" } };

        Assert.Contains(OperatorSpecValidator.Validate(spec), p => p.Field.Contains("CONCORD_IMAGE", StringComparison.Ordinal) || p.Message.Contains("CONCORD_IMAGE", StringComparison.Ordinal));
    }
}
