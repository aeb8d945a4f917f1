using Concord.Scheduler.Runtime;
using Concord.Scheduler.Runtime.Agents;
using Concord.Scheduler.Runtime.Containment;
using Concord.Scheduler.Runtime.Kubernetes;
using Concord.Scheduler.Runtime.Mesos;
using Concord.Scheduler.Store;
using Concord.Scheduler.Store.Kubernetes;
using Concord.Scheduler.Store.ZooKeeper;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Concord.Scheduler.Backends;

/// <summary>What a backend factory may use: the scheduler's options, its home and its services (logging, clock).</summary>
public sealed record BackendContext(SchedulerOptions Options, SchedulerHome Home, IServiceProvider Services);

/// <summary>
/// The one place that maps backend names (<c>--store</c>, <c>--runtime</c>) to factories, so a new
/// backend (ZooKeeper or etcd store; Kubernetes or Mesos runtime) is one line here and nothing
/// else in the scheduler changes. Names are lower case and matched exactly.
/// </summary>
public static class SchedulerBackends
{
    /// <summary>Store used when <c>--store</c> is not given: one JSON file in the home.</summary>
    public const string DefaultStore = "file";

    /// <summary>Runtime used when <c>--runtime</c> is not given: executor processes on this machine.</summary>
    public const string DefaultRuntime = "local";

    /// <summary>Every topology store, by name.</summary>
    public static IReadOnlyDictionary<string, Func<BackendContext, ITopologyStore>> Stores { get; } =
        new Dictionary<string, Func<BackendContext, ITopologyStore>>(StringComparer.Ordinal)
        {
            [DefaultStore] = context => FileTopologyStore.Open(
                context.Home.TopologyFile,
                // Stored specs are checked as a deploy is, the runtime's checks included.
                context.Services.GetService<IClusterRuntime>() is { } runtime ? runtime.Validate : null,
                context.Services.GetService<ILogger<FileTopologyStore>>()),
            [ZooKeeperStoreBackend.Name] = ZooKeeperStoreBackend.Open,
            [KubernetesStoreBackend.Name] = KubernetesStoreBackend.Open,
        };

    /// <summary>Every cluster runtime, by name.</summary>
    public static IReadOnlyDictionary<string, Func<BackendContext, IClusterRuntime>> Runtimes { get; } =
        new Dictionary<string, Func<BackendContext, IClusterRuntime>>(StringComparer.Ordinal)
        {
            [DefaultRuntime] = context => new LocalProcessRuntime(
                new LocalProcessRuntimeOptions
                {
                    Home = context.Home.Directory,
                    ExecutorCommand = LaunchCommand.ForExecutor(context.Options.ExecutorDll
                        ?? throw new InvalidOperationException("SchedulerOptions.ExecutorDll is required by the local runtime")),
                    Tls = context.Options.Tls,
                    // Embedded mode: executors run on the scheduler's host and are reachable where it is.
                    ExecutorListenAddress = context.Options.ListenAddress,
                    ExecutorAdvertisedHost = context.Options.AdvertisedHost,
                    Containment = context.Options.NoContainment ? InstanceContainment.None : InstanceContainment.Detect(context.Home.Directory),
                    FilesRoots = context.Options.FilesRoots,
                    ExecutablesRoots = context.Options.ExecutablesRoots,
                    DataRoots = context.Options.DataRoots,
                    PrivateEnvironment = context.Services.GetRequiredService<Security.SchedulerSecrets>().ExecutorEnvironment,
                    OperatorPythonPath = LocalProcessRuntimeOptions.FindPythonSdk(AppContext.BaseDirectory),
                },
                context.Services.GetRequiredService<ILogger<LocalProcessRuntime>>(),
                context.Services.GetRequiredService<TimeProvider>()),
            [AgentClusterRuntime.RuntimeName] = context => new AgentClusterRuntime(
                new AgentClusterRuntimeOptions { PrivateEnvironment = context.Services.GetRequiredService<Security.SchedulerSecrets>().ExecutorEnvironment },
                context.Services.GetRequiredService<ILogger<AgentClusterRuntime>>(),
                context.Services.GetRequiredService<TimeProvider>()),
            [KubernetesClusterRuntime.RuntimeName] = context =>
            {
                // The settings first: their errors name the fix, where a missing kubeconfig would not.
                var options = KubernetesRuntimeOptions.FromEnvironment(Environment.GetEnvironmentVariable, context.Options.Tls is not null) with
                {
                    PrivateEnvironment = context.Services.GetRequiredService<Security.SchedulerSecrets>().ExecutorEnvironment,
                    CheckpointDirectory = context.Options.CheckpointDirectory ?? Path.Combine(context.Home.Directory, SchedulerHome.CheckpointsDirectoryName),
                };
                return new KubernetesClusterRuntime(
                    KubernetesClusterRuntime.CreateClient(),
                    options,
                    context.Services.GetRequiredService<ILogger<KubernetesClusterRuntime>>(),
                    context.Services.GetRequiredService<TimeProvider>());
            },
            [MesosClusterRuntime.RuntimeName] = context =>
            {
                var options = MesosRuntimeOptions.FromEnvironment(Environment.GetEnvironmentVariable, context.Options.Tls is not null) with
                {
                    PrivateEnvironment = context.Services.GetRequiredService<Security.SchedulerSecrets>().ExecutorEnvironment,
                };
                return new MesosClusterRuntime(
                    options,
                    FrameworkIdStore(context),
                    context.Services.GetRequiredService<ILogger<MesosClusterRuntime>>(),
                    context.Services.GetRequiredService<TimeProvider>());
            },
        };

    /// <summary>
    /// Where the Mesos runtime keeps its framework id: beside the topology, so whoever reads the
    /// topology after a restart or a leader change fails over to the same framework.
    /// </summary>
    private static IFrameworkIdStore FrameworkIdStore(BackendContext context) =>
        context.Options.Store == ZooKeeperStoreBackend.Name
            ? new ZooKeeperFrameworkIdStore(
                (context.Services.GetService<Leadership.ILeaderGate>() as Leadership.ZooKeeperLeaderGate
                    ?? throw new InvalidOperationException("--store zookeeper needs the ZooKeeper leader gate among the scheduler's services (SchedulerApp registers it)")).Client,
                ZooKeeperFrameworkIdStore.PathUnder(ZooKeeperLayout.DefaultRoot))
            : new FileFrameworkIdStore(Path.Combine(context.Home.Directory, MesosRuntimeOptions.FrameworkIdFileName));

    /// <summary>The factory of store <paramref name="name"/>.</summary>
    /// <exception cref="UsageException">No store has that name; the message lists the names there are.</exception>
    public static Func<BackendContext, ITopologyStore> Store(string name) =>
        Stores.GetValueOrDefault(name) ?? throw new UsageException(UnknownStore(name));

    /// <summary>The factory of runtime <paramref name="name"/>.</summary>
    /// <exception cref="UsageException">No runtime has that name; the message lists the names there are.</exception>
    public static Func<BackendContext, IClusterRuntime> Runtime(string name) =>
        Runtimes.GetValueOrDefault(name) ?? throw new UsageException(UnknownRuntime(name));

    /// <summary>Error for a store name not in <see cref="Stores"/>.</summary>
    public static string UnknownStore(string name) => Unknown("--store", name, "store", Stores.Keys);

    /// <summary>Error for a runtime name not in <see cref="Runtimes"/>.</summary>
    public static string UnknownRuntime(string name) => Unknown("--runtime", name, "runtime", Runtimes.Keys);

    private static string Unknown(string option, string name, string kind, IEnumerable<string> names) =>
        $"{option} '{name}' is not a {kind} this scheduler knows; use {string.Join(" or ", names.Order(StringComparer.Ordinal))}";
}
