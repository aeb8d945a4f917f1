using Concord.Scheduler.Backends;
using Concord.Scheduler.Leadership;
using Concord.Scheduler.Runtime.Kubernetes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Concord.Scheduler.Store.Kubernetes;

/// <summary>
/// <c>--store kubernetes</c>: the gate (<see cref="KubernetesLeaderGate"/>) stands for election on
/// a Lease once the scheduler serves; the store keeps the topology in ConfigMaps of the same
/// namespace and writes only while the gate is open, fenced with the term
/// (<see cref="NotLeaderException"/> otherwise). docs/kubernetes.md, "High availability with a Lease".
/// </summary>
internal static class KubernetesStoreBackend
{
    public const string Name = "kubernetes";

    /// <summary>
    /// The gate of a scheduler with <c>--store kubernetes</c>, with in-cluster or kubeconfig
    /// credentials; the namespace and cluster name come from the runtime's variables.
    /// </summary>
    public static KubernetesLeaderGate OpenGate(SchedulerOptions options, IServiceProvider services)
    {
        var layout = KubernetesStoreLayout.FromEnvironment(Environment.GetEnvironmentVariable, File.Exists, File.ReadAllText);
        // Unique per gate, not only per process: the gate tells itself from the leader by it.
        var id = $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid().ToString("N")[..8]}";
        return new KubernetesLeaderGate(KubernetesClusterRuntime.CreateClient(), layout, id, new KubernetesLeaseTiming(options.LeaseDurationMs),
            services.GetService<ILogger<KubernetesLeaderGate>>(), services.GetService<TimeProvider>(), ownsClient: true);
    }

    public static ITopologyStore Open(BackendContext context)
    {
        if (context.Services.GetService<ILeaderGate>() is not KubernetesLeaderGate gate)
        {
            throw new InvalidOperationException("--store kubernetes needs the Lease leader gate among the scheduler's services (SchedulerApp registers it)");
        }
        var store = KubernetesTopologyStore.Open(KubernetesClusterRuntime.CreateClient(), gate.Layout, KubernetesTopologyStore.NotInOffice, ownsClient: true);
        gate.Attach(store);
        return store;
    }
}
