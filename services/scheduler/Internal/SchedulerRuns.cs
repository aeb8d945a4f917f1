using System.Runtime.InteropServices;
using Concord.ZooKeeper;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Concord.Scheduler.Internal;

/// <summary>
/// Runs the scheduler's host until it is asked to stop. With <c>--store zookeeper</c> a run ends
/// by itself when its term or candidacy ends (<see cref="SchedulerTerm"/>): the next run starts
/// on the same ports with a new ZooKeeper session and stands again, so a deposed or cut-off
/// scheduler rejoins as a standby without anyone restarting it (docs/cluster.md, "High availability").
/// </summary>
internal static class SchedulerRuns
{
    public static async Task<int> RunAsync(SchedulerOptions options, SchedulerHome home)
    {
        using var shutdown = new CancellationTokenSource();
        // The host handles SIGTERM/SIGINT while it runs; these cover the pause between runs.
        using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, RequestShutdown);
        using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, RequestShutdown);
        var run = options;
        var rejoining = false;
        while (true)
        {
            SchedulerTerm term;
            try
            {
                await using var app = SchedulerApp.Create(run, home);
                term = app.Services.GetRequiredService<SchedulerTerm>();
                app.Lifetime.ApplicationStarted.Register(() => run = PinPorts(run, app));
                await app.RunAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (rejoining && !shutdown.IsCancellationRequested && IsZooKeeperUnreachable(e))
            {
                // Cut off from the ensemble (the reason the term ended, often): keep trying,
                // serving nothing meanwhile, until it answers or the process is stopped.
                await Console.Error.WriteLineAsync(
                    $"concord-scheduler: cannot rejoin yet ({e.Message}); retrying in {SchedulerLimits.RejoinRetryDelayMs} ms").ConfigureAwait(false);
                await Task.Delay(SchedulerLimits.RejoinRetryDelayMs, shutdown.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                if (shutdown.IsCancellationRequested)
                {
                    return 0;
                }
                continue;
            }
            if (!term.Ended || shutdown.IsCancellationRequested)
            {
                return 0;
            }
            rejoining = true;
            await Console.Error.WriteLineAsync($"concord-scheduler: {term.Reason}; starting again as a standby").ConfigureAwait(false);
        }

        void RequestShutdown(PosixSignalContext context)
        {
            // Not cancelled here (the host's own handler stops a running host gracefully).
            shutdown.Cancel();
        }
    }

    /// <summary>The next run listens where this one did, so clients, agents and executors find it again.</summary>
    private static SchedulerOptions PinPorts(SchedulerOptions run, WebApplication app)
    {
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault();
        var metrics = app.Services.GetRequiredService<Observability.ObservabilityServer>().Address;
        return run with
        {
            Port = bound is null ? run.Port : new Uri(bound).Port,
            MetricsPort = Uri.TryCreate(metrics, UriKind.Absolute, out var uri) ? uri.Port : run.MetricsPort,
        };
    }

    private static bool IsZooKeeperUnreachable(Exception e) =>
        e is ZooKeeperException || e.InnerException is ZooKeeperException || e.GetBaseException() is ZooKeeperException;
}
