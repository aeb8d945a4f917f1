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
    ILogger<SchedulerHostedService> logger) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StartedAsync(CancellationToken cancellationToken)
    {
        var bound = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? throw new InvalidOperationException("Kestrel reported no address");
        // Kestrel reports the address it bound; what clients and executors dial is the advertised host (--advertise).
        var port = options.AdvertisePort ?? new Uri(bound).Port;
        var address = $"{tls.Scheme}://{Hosting.NetworkAddress.Format(options.AdvertisedHost, port)}";
        await reconciler.StartAsync(address, cancellationToken).ConfigureAwait(false);
        await checkpoints.StartAsync(cancellationToken).ConfigureAwait(false);
        await home.WriteInfoAsync(new SchedulerInfo(address, Environment.ProcessId, time.GetUtcNow().ToUnixTimeMilliseconds()) { MetricsAddress = observability.Address }, cancellationToken)
            .ConfigureAwait(false);
        LogServing(address, home.Directory);
    }

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
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

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Scheduler stopping: stopping every instance, keeping the topology")]
    private partial void LogStopping();

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "Not every instance stopped within {TimeoutMs} ms")]
    private partial void LogStopTimedOut(int timeoutMs);
}
