using Concord.Scheduler.Reconcile;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Concord.Scheduler.Internal;

/// <summary>
/// Ties the reconcile loop to the host: once Kestrel serves, start the loop (it needs the
/// address for executors) and publish scheduler.json; when stopping, stop every instance
/// (keeping the topology) and remove scheduler.json.
/// </summary>
internal sealed partial class SchedulerHostedService(
    Reconciler reconciler,
    Checkpoints.CheckpointCoordinator checkpoints,
    SchedulerHome home,
    IServer server,
    TimeProvider time,
    Observability.ObservabilityServer observability,
    SchedulerTls tls,
    SchedulerOptions options,
    Leadership.ILeaderGate gate,
    SchedulerTerm schedulerTerm,
    IHostApplicationLifetime lifetime,
    ILogger<SchedulerHostedService> logger) : IHostedLifecycleService, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private Task? _standby;
    private Task? _rejoin;

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StartedAsync(CancellationToken cancellationToken)
    {
        var bound = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? throw new InvalidOperationException("Kestrel reported no address");
        // Kestrel reports the address it bound; what clients and executors dial is the advertised host (--advertise).
        var port = options.AdvertisePort ?? new Uri(bound).Port;
        var address = $"{tls.Scheme}://{Hosting.NetworkAddress.Format(options.AdvertisedHost, port)}";
        if (gate.Elects)
        {
            // A standby serves at once (reads; writes refused naming the leader) and starts
            // reconciling once it takes office.
            _standby = Task.Run(() => LeadThenStartAsync(address, _stopping.Token), CancellationToken.None);
        }
        else
        {
            await reconciler.StartAsync(address, cancellationToken).ConfigureAwait(false);
            await checkpoints.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        await home.WriteInfoAsync(new SchedulerInfo(address, Environment.ProcessId, time.GetUtcNow().ToUnixTimeMilliseconds()) { MetricsAddress = observability.Address, ListenPort = new Uri(bound).Port }, cancellationToken)
            .ConfigureAwait(false);
        LogServing(address, home.Directory);
    }

    private async Task LeadThenStartAsync(string address, CancellationToken cancellationToken)
    {
        try
        {
            var term = await gate.LeadAsync(address, cancellationToken).ConfigureAwait(false);
            // The gate has already closed when this runs (writes refused, nothing launched or
            // stopped): what is left is to end this run so the next one stands again afresh.
            term.Lost.Register(() => EndRun($"the term with epoch {term.Epoch} ended"));
            var started = time.GetTimestamp();
            await reconciler.StartAsync(address, cancellationToken).ConfigureAwait(false);
            await checkpoints.StartAsync(cancellationToken).ConfigureAwait(false);
            LogTookOffice(term.Epoch, (long)time.GetElapsedTime(started).TotalMilliseconds);
        }
        catch (Exception e) when (cancellationToken.IsCancellationRequested && e is OperationCanceledException or Leadership.LeadershipLostException)
        {
        }
        catch (Exception e)
        {
            // The candidacy ended (session expired, ZooKeeper unreachable past the session
            // timeout) or taking office failed: a fresh run stands again with a new session.
            LogCouldNotLead(e);
            EndRun($"the candidacy ended ({e.GetType().Name}: {e.Message})");
        }
    }

    private void EndRun(string reason)
    {
        if (!_stopping.IsCancellationRequested && schedulerTerm.End(reason))
        {
            LogRunEnds(reason);
            _rejoin = Task.Run(() => StopOnceZooKeeperAnswersAsync(_stopping.Token), CancellationToken.None);
        }
    }

    /// <summary>
    /// Ends this run once ZooKeeper can give the next one a session. Until then (servers down,
    /// no quorum, this host cut off) the run goes on serving as a standby: reads say the store
    /// cannot be read, changes are refused naming the cause, and clients get an answer rather
    /// than a closed port.
    /// </summary>
    private async Task StopOnceZooKeeperAnswersAsync(CancellationToken cancellationToken)
    {
        if (options.Store != Store.ZooKeeper.ZooKeeperStoreBackend.Name)
        {
            // No session to wait for (--store kubernetes: plain HTTP calls); a pause keeps a
            // scheduler whose every run fails at once (RBAC, API server away) from spinning.
            await Task.Delay(TimeSpan.FromMilliseconds(SchedulerLimits.RejoinRetryDelayMs), time, cancellationToken)
                .ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (!cancellationToken.IsCancellationRequested)
            {
                lifetime.StopApplication();
            }
            return;
        }
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await using var probe = await ZooKeeper.ZooKeeperClient.ConnectAsync(
                    new ZooKeeper.ZooKeeperClientOptions { ConnectString = options.ZooKeeper!, SessionTimeoutMs = options.ZooKeeperSessionTimeoutMs },
                    cancellationToken).ConfigureAwait(false);
                break;
            }
            catch (ZooKeeper.ZooKeeperException)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(SchedulerLimits.RejoinRetryDelayMs), time, cancellationToken)
                    .ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
        if (!cancellationToken.IsCancellationRequested)
        {
            lifetime.StopApplication();
        }
    }

    public void Dispose() => _stopping.Dispose();

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (var task in new[] { _standby, _rejoin })
        {
            if (task is null)
            {
                continue;
            }
            await task.WaitAsync(TimeSpan.FromMilliseconds(SchedulerLimits.ShutdownTimeoutMs), time, CancellationToken.None)
                .ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        LogStopping();
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(SchedulerLimits.ShutdownTimeoutMs));
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
            await reconciler.StopAllAsync(linked.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or TimeoutException)
        {
            LogStopTimedOut(SchedulerLimits.ShutdownTimeoutMs);
        }
        finally
        {
            home.DeleteInfo();
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    // The container disposes the reconciler (and the store) after the host has stopped.
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Scheduler serving on {Address}, home {Home}")]
    private partial void LogServing(string address, string home);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "Took office with epoch {Epoch}: the store is applied and the instances agents report adopted ({ElapsedMs} ms)")]
    private partial void LogTookOffice(int epoch, long elapsedMs);

    [LoggerMessage(EventId = 5, Level = LogLevel.Error, Message = "This scheduler could not take office")]
    private partial void LogCouldNotLead(Exception e);

    [LoggerMessage(EventId = 6, Level = LogLevel.Warning, Message = "This run of the scheduler ends because {Reason}: it leaves every instance alone and starts again as a standby with a new ZooKeeper session")]
    private partial void LogRunEnds(string reason);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Scheduler stopping: stopping every instance, keeping the topology")]
    private partial void LogStopping();

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "Not every instance stopped within {TimeoutMs} ms")]
    private partial void LogStopTimedOut(int timeoutMs);
}
