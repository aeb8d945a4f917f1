using Concord.Scheduler.Backends;
using Concord.Scheduler.Leadership;
using Concord.ZooKeeper;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Concord.Scheduler.Store.ZooKeeper;

/// <summary>
/// <c>--store zookeeper</c>: the gate (<see cref="ZooKeeperLeaderGate"/>) connects to
/// <c>--zookeeper</c> and stands for election once the scheduler serves; the store shares its
/// session and writes only while the gate is open, fenced with the term's epoch
/// (<see cref="NotLeaderException"/> otherwise). docs/cluster.md, "High availability".
/// </summary>
internal static class ZooKeeperStoreBackend
{
    public const string Name = "zookeeper";

    /// <summary>The gate of a scheduler with <c>--store zookeeper</c>: connects to the ensemble (blocks until the session is up).</summary>
    public static ZooKeeperLeaderGate OpenGate(SchedulerOptions options, IServiceProvider services)
    {
        var connectString = options.ZooKeeper
            ?? throw new UsageException("--store zookeeper needs --zookeeper HOST:PORT[,HOST:PORT...] (the ensemble's client addresses)");
        // Unique per gate, not only per process: the gate tells itself from the leader by it.
        var id = $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid().ToString("N")[..8]}";
        // Services are built synchronously: block once, at start.
        return ZooKeeperLeaderGate.ConnectAsync(connectString, ZooKeeperLayout.Default, id,
                options.ZooKeeperSessionTimeoutMs, services.GetService<ILogger<ZooKeeperLeaderGate>>(), CancellationToken.None)
            .GetAwaiter().GetResult();
    }

    public static ITopologyStore Open(BackendContext context)
    {
        if (context.Services.GetService<ILeaderGate>() is not ZooKeeperLeaderGate gate)
        {
            throw new InvalidOperationException("--store zookeeper needs the ZooKeeper leader gate among the scheduler's services (SchedulerApp registers it)");
        }
        var store = ZooKeeperTopologyStore.OpenAsync(gate.Client, ZooKeeperLayout.Default, ZooKeeperTopologyStore.NotInOffice, ownsClient: false, CancellationToken.None)
            .GetAwaiter().GetResult();
        gate.Attach(store);
        return store;
    }
}
