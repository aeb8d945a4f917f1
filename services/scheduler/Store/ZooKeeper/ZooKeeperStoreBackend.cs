using Concord.Scheduler.Backends;
using Concord.Scheduler.Leadership;
using Concord.ZooKeeper;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Concord.Scheduler.Store.ZooKeeper;

/// <summary>
/// <c>--store zookeeper</c>: connects to <c>--zookeeper</c>, stands for election and opens the
/// store with the epoch of its term once it leads. Until then the scheduler does not start
/// (a standby that serves reads and redirects writes is a later step); after its term ends,
/// every write is fenced off with <see cref="NotLeaderException"/>.
/// </summary>
internal static partial class ZooKeeperStoreBackend
{
    public const string Name = "zookeeper";

    public static ITopologyStore Open(BackendContext context)
    {
        var options = context.Options;
        var connectString = options.ZooKeeper
            ?? throw new UsageException("--store zookeeper needs --zookeeper HOST:PORT[,HOST:PORT...] (the ensemble's client addresses)");
        var logger = context.Services.GetService<ILogger<ZooKeeperTopologyStore>>();
        // The advertised address (--advertise, else the listen address): what standbys, agents and
        // clients dial once they find this scheduler leading. With --port 0 the port is not known yet.
        // A store factory is synchronous (it runs while the services are built): block once, at start.
        return OpenAsync(connectString, new LeaderCandidate($"{Environment.MachineName}/{Environment.ProcessId}", $"{options.AdvertisedHost}:{options.AdvertisePort ?? options.Port}"), logger)
            .GetAwaiter().GetResult();
    }

    private static async Task<ITopologyStore> OpenAsync(string connectString, LeaderCandidate candidate, ILogger? logger)
    {
        var client = await ZooKeeperClient.ConnectAsync(
            new ZooKeeperClientOptions { ConnectString = connectString, SessionTimeoutMs = SchedulerLimits.ZooKeeperSessionTimeoutMsDefault },
            CancellationToken.None).ConfigureAwait(false);
        var election = new ZooKeeperLeaderElection(client, ZooKeeperLayout.Default, candidate);
        try
        {
            if (logger is not null)
            {
                LogCampaign(logger, candidate.Id, connectString);
                _ = LogEventsAsync(election, logger);
            }
            var term = await election.CampaignAsync(CancellationToken.None).ConfigureAwait(false);
            var store = await ZooKeeperTopologyStore.OpenAsync(client, ZooKeeperLayout.Default, term.Epoch, ownsClient: true, CancellationToken.None)
                .ConfigureAwait(false);
            store.AlsoDispose = election;
            return store;
        }
        catch
        {
            await election.DisposeAsync().ConfigureAwait(false);
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task LogEventsAsync(ZooKeeperLeaderElection election, ILogger logger)
    {
        await foreach (var change in election.Events.ReadAllAsync().ConfigureAwait(false))
        {
            if (change.Type == LeadershipEventType.Elected)
            {
                LogElected(logger, change.Epoch);
            }
            else
            {
                LogLost(logger, change.Epoch, change.Reason);
            }
        }
    }

    [LoggerMessage(EventId = 420, Level = LogLevel.Information, Message = "Standing for election as {Candidate} on ZooKeeper {Servers}; the scheduler starts once it leads")]
    private static partial void LogCampaign(ILogger logger, string candidate, string servers);

    [LoggerMessage(EventId = 421, Level = LogLevel.Information, Message = "Leading with epoch {Epoch}")]
    private static partial void LogElected(ILogger logger, int epoch);

    [LoggerMessage(EventId = 422, Level = LogLevel.Error, Message = "No longer the leader (epoch {Epoch}): {Reason}; topology writes are refused from now on, restart this scheduler to stand again")]
    private static partial void LogLost(ILogger logger, int epoch, string reason);
}
