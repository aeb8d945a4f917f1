using System.Text.Json;
using Concord.Contracts;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Runtime.Kubernetes;
using k8s;
using k8s.Models;

namespace Concord.Scheduler.Tests.Kubernetes;

/// <summary>
/// deploy/kubernetes against the official schema (KubernetesClient's models, strict: an unknown
/// field fails) and against what the runtime needs: the RBAC rules allow exactly its calls,
/// the Deployment sets the variables it reads.
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

        Assert.Equal(["Deployment", "Namespace", "PersistentVolumeClaim", "Role", "RoleBinding", "Service", "Service", "ServiceAccount"], kinds);
    }

    [Fact]
    public void The_strict_load_refuses_a_misspelt_field()
    {
        const string yaml = "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  clusterIp: None\n";

        Assert.ThrowsAny<Exception>(() => KubernetesYaml.LoadAllFromString(yaml, typeMap: null, strict: true));
        Assert.Single(KubernetesYaml.LoadAllFromString(yaml, typeMap: null, strict: false));
    }

    [Fact]
    public void The_role_allows_exactly_the_calls_of_the_runtime()
    {
        var role = Load("rbac.yaml").OfType<V1Role>().Single();

        var rules = role.Rules.ToDictionary(r => Assert.Single(r.Resources), r => r.Verbs.Order(StringComparer.Ordinal).ToList());
        Assert.Equal(["create", "delete", "get", "list", "watch"], rules["pods"]);
        Assert.Equal(["create", "get"], rules["configmaps"]);
        Assert.Equal(["create", "delete", "get"], rules["secrets"]);
        Assert.Equal(3, rules.Count);
        Assert.All(role.Rules, r => Assert.Equal([""], r.ApiGroups));
    }

    [Fact]
    public void The_deployment_runs_the_kubernetes_runtime_with_its_settings_and_tls()
    {
        var deployment = Load("scheduler.yaml").OfType<V1Deployment>().Single();
        var container = Assert.Single(deployment.Spec.Template.Spec.Containers);

        Assert.Contains($"--runtime={KubernetesClusterRuntime.RuntimeName}", container.Args);
        Assert.Contains(container.Args, a => a.StartsWith("--tls-cert=", StringComparison.Ordinal));
        var env = container.Env.Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
        Assert.Contains(KubernetesRuntimeOptions.NamespaceVariable, env);
        Assert.Contains(KubernetesRuntimeOptions.ExecutorImageVariable, env);
        Assert.Contains(KubernetesRuntimeOptions.TlsSecretVariable, env);
        Assert.Equal("concord-scheduler", deployment.Spec.Template.Spec.ServiceAccountName);
        Assert.Equal(1, deployment.Spec.Replicas);

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
