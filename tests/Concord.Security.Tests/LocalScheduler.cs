using Concord.Contracts.Scheduler.V1;
using Concord.Scheduler;
using Concord.Scheduler.Observability;
using Concord.Scheduler.Security;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using SchedulerClient = Concord.Contracts.Scheduler.V1.Scheduler.SchedulerClient;

namespace Concord.Security.Tests;

/// <summary>
/// The whole scheduler as Program wires it (real local runtime, real clock) in this process,
/// with a shell script standing in for the executor: it records the environment it was given
/// in <c>env.txt</c> of its working directory, then sleeps. Two clients: <see cref="Stranger"/>
/// sends no credentials (the attacker), <see cref="Operator"/> sends the home's token.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LocalScheduler : IAsyncDisposable
{
    /// <summary>What the stand-in executor runs: record its command line and environment, then wait to be stopped.</summary>
    public const string ExecutorScript =
        "#!/bin/sh\nprintf '%s\\n' \"$0\" \"$@\" > \"$CONCORD_WORK_DIR/args.txt\"\nenv > \"$CONCORD_WORK_DIR/env.txt\"\nexec sleep 60\n";

    private readonly WebApplication _app;
    private readonly SchedulerHome _home;
    private readonly GrpcChannel _channel;

    private LocalScheduler(TempDirectory home, WebApplication app, SchedulerHome schedulerHome, string address)
    {
        Home = home;
        _app = app;
        _home = schedulerHome;
        Address = address;
        _channel = GrpcChannel.ForAddress(address);
        Stranger = new SchedulerClient(_channel);
        Operator = new SchedulerClient(_channel.CreateCallInvoker().WithToken(home.Path));
        MetricsAddress = app.Services.GetRequiredService<ObservabilityServer>().Address;
    }

    public TempDirectory Home { get; }

    public string Address { get; }

    /// <summary>"127.0.0.1:port" of /metrics and /prometheus/targets.</summary>
    public string MetricsAddress { get; }

    /// <summary>A client with no credentials at all.</summary>
    public SchedulerClient Stranger { get; }

    /// <summary>A client with the operator token from the home.</summary>
    public SchedulerClient Operator { get; }

    /// <summary>The raw channel, for calls with hand-made headers.</summary>
    public CallInvoker Invoker => _channel.CreateCallInvoker();

    public string Token => SchedulerAuth.ReadToken(Home.Path);

    public SchedulerSecrets Secrets => _app.Services.GetRequiredService<SchedulerSecrets>();

    /// <summary>Starts a scheduler on <paramref name="home"/> (a new temp home when null).</summary>
    public static async Task<LocalScheduler> StartAsync(TempDirectory? home = null)
    {
        home ??= new TempDirectory();
        var script = Path.Combine(home.Path, "executor.sh");
        if (!File.Exists(script))
        {
            File.WriteAllText(script, ExecutorScript);
            File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        var schedulerHome = SchedulerHome.Acquire(home.Path);
        var app = SchedulerApp.Create(new SchedulerOptions { Home = home.Path, Port = 0, MetricsPort = 0, ExecutorDll = script }, schedulerHome);
        await app.StartAsync().WaitAsync(TestTimeouts.Step);
        var info = SchedulerHome.ReadInfo(home.Path) ?? throw new InvalidOperationException("scheduler.json was not written");
        return new LocalScheduler(home, app, schedulerHome, info.Address);
    }

    /// <summary>The environment the stand-in executor of <paramref name="operatorName"/>/0 was launched with, once it has written it.</summary>
    public Task<Dictionary<string, string>> ExecutorEnvironmentAsync(string operatorName) =>
        Eventually.UntilAsync(() =>
        {
            var file = Home.Combine("instances", operatorName, "0", "env.txt");
            try
            {
                var lines = File.ReadAllLines(file);
                // Complete once the script's own variables are in (it is written in one go by env).
                return Task.FromResult(lines.Any(l => l.StartsWith("CONCORD_WORK_DIR=", StringComparison.Ordinal))
                    ? lines.Where(l => l.Contains('=')).Select(l => l.Split('=', 2)).GroupBy(p => p[0]).ToDictionary(g => g.Key, g => g.Last()[1])
                    : null);
            }
            catch (IOException)
            {
                return Task.FromResult<Dictionary<string, string>?>(null);
            }
        }, TestTimeouts.Process, () => $"the stand-in executor of {operatorName}/0 writing env.txt");

    public async Task<OperatorStatus> StatusAsync(string name) =>
        (await Operator.ListAsync(new ListRequest()).ResponseAsync.WaitAsync(TestTimeouts.Step)).Operators.Single(o => o.Spec.Name == name);

    public async ValueTask DisposeAsync()
    {
        _channel.Dispose();
        await _app.StopAsync().WaitAsync(TimeSpan.FromMilliseconds(SchedulerApp.HostShutdownTimeoutMs));
        await _app.DisposeAsync();
        _home.Dispose();
        Home.Dispose();
    }
}
