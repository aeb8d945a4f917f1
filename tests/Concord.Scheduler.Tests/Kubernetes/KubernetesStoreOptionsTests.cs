using Concord.Scheduler.Runtime.Kubernetes;
using Concord.Scheduler.Store.Kubernetes;

namespace Concord.Scheduler.Tests.Kubernetes;

/// <summary>The command line and environment of <c>--store kubernetes</c>: bad settings fail before anything starts, naming the fix.</summary>
public sealed class KubernetesStoreOptionsTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string[] Args(params string[] more)
    {
        var executor = _dir.Combine("Concord.Executor.dll");
        File.WriteAllText(executor, "");
        return ["--home", _dir.Path, "--executor", executor, .. more];
    }

    [Fact]
    public void The_kubernetes_store_takes_the_lease_duration_and_defaults_it()
    {
        Assert.Equal(KubernetesLimits.LeaseDurationMsDefault, SchedulerCommandLine.Parse(Args("--store", "kubernetes"))!.LeaseDurationMs);
        var options = SchedulerCommandLine.Parse(Args("--store", "kubernetes", "--lease-duration-ms", "9000"))!;

        Assert.Equal(("kubernetes", 9_000), (options.Store, options.LeaseDurationMs));
    }

    [Theory]
    [InlineData(new[] { "--lease-duration-ms", "9000" }, "--lease-duration-ms is only used with --store kubernetes; add that, or drop it")]
    [InlineData(new[] { "--store", "kubernetes", "--lease-duration-ms", "2999" }, "--lease-duration-ms 2999 is out of range; give 3000..300000")]
    [InlineData(new[] { "--store", "kubernetes", "--lease-duration-ms", "300001" }, "--lease-duration-ms 300001 is out of range; give 3000..300000")]
    [InlineData(new[] { "--store", "kubernetes", "--zookeeper", "10.0.0.1:2181" }, "--zookeeper is only used with --store zookeeper; add that, or drop --zookeeper")]
    [InlineData(new[] { "--store", "zookeeper", "--zookeeper", "10.0.0.1:2181", "--lease-duration-ms", "9000" }, "--lease-duration-ms is only used with --store kubernetes; add that, or drop it")]
    public void Bad_options_are_refused_naming_the_fix(string[] args, string message)
    {
        var error = Assert.Throws<UsageException>(() => SchedulerCommandLine.Parse(Args(args)));

        Assert.Equal(message, error.Message);
    }

    [Fact]
    public void Outside_a_pod_the_namespace_must_be_given()
    {
        var error = Assert.Throws<UsageException>(() => KubernetesStoreLayout.FromEnvironment(_ => null, _ => false, _ => ""));

        Assert.Contains(KubernetesRuntimeOptions.NamespaceVariable + " is not set", error.Message);
        Assert.Contains("set it to the namespace", error.Message);
    }

    [Theory]
    [InlineData(KubernetesRuntimeOptions.NamespaceVariable, "Streams")]
    [InlineData(KubernetesRuntimeOptions.ClusterVariable, "my_cluster")]
    public void Names_that_are_not_DNS_labels_are_refused_naming_the_variable(string variable, string value)
    {
        var environment = new Dictionary<string, string> { [KubernetesRuntimeOptions.NamespaceVariable] = "streams", [variable] = value };

        var error = Assert.Throws<UsageException>(() => KubernetesStoreLayout.FromEnvironment(environment.GetValueOrDefault, _ => false, _ => ""));

        Assert.Contains($"{variable}='{value}' is not a DNS label", error.Message);
    }

    [Fact]
    public void In_a_pod_the_namespace_is_the_pods_own_and_the_cluster_defaults_to_concord()
    {
        var layout = KubernetesStoreLayout.FromEnvironment(_ => null, path => path == KubernetesRuntimeOptions.InClusterNamespaceFile, _ => "streams\n");

        Assert.Equal(new KubernetesStoreLayout("streams", "concord"), layout);
        Assert.Equal("concord-leader-concord", layout.LeaseName);
    }

    [Fact]
    public void The_fencing_margin_keeps_the_renew_deadline_short_of_the_duration_at_every_allowed_duration()
    {
        foreach (var durationMs in new[] { KubernetesLimits.LeaseDurationMsMin, KubernetesLimits.LeaseDurationMsDefault, KubernetesLimits.LeaseDurationMsMax })
        {
            var timing = new Leadership.KubernetesLeaseTiming(durationMs);
            Assert.True(timing.RenewDeadlineMs <= durationMs - KubernetesLimits.LeaseFencingMarginMsMin, $"{durationMs}: deadline {timing.RenewDeadlineMs}");
            Assert.True(timing.RetryPeriodMs * 2 <= timing.RenewDeadlineMs, $"{durationMs}: fewer than two renews per deadline");
            Assert.True(timing.LeaseDurationSeconds * 1000 >= durationMs);
        }
        Assert.Equal((10_000, 2_000), (Leadership.KubernetesLeaseTiming.Default.RenewDeadlineMs, Leadership.KubernetesLeaseTiming.Default.RetryPeriodMs));
    }
}
