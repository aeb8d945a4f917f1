using System.Net;
using System.Runtime.InteropServices;
using Concord.Hosting;
using Concord.Scheduler.Runtime.Containment;
using Microsoft.Extensions.Logging;
using Serilog;

namespace Concord.Scheduler.Runtime.Agents;

/// <summary>
/// The scheduler binary's agent mode: parses the command line, takes the agent's home, and runs
/// an <see cref="AgentHost"/> with a <see cref="LocalProcessRuntime"/> on that home until SIGTERM
/// or Ctrl-C (then its instances are stopped). Exit codes as the scheduler's: 0 clean stop,
/// 2 bad command line, home in use or no usable cgroups.
/// </summary>
public static class AgentProgram
{
    public static async Task<int> RunAsync(IReadOnlyList<string> args)
    {
        AgentOptions? options;
        try
        {
            options = AgentCommandLine.Parse(args);
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"concord agent: {e.Message}");
            return 2;
        }
        if (options is null)
        {
            Console.WriteLine(AgentCommandLine.Usage);
            return 0;
        }
        // The executors here bind the advertised address when it is one (else every interface), never beyond loopback without TLS.
        var listen = IPAddress.TryParse(options.AdvertisedHost, out var ip) ? ip : IPAddress.Any;
        try
        {
            ListenPolicy.Check(listen, options.Tls is not null, "the executors of this agent (--advertise-host)", "give --tls-cert, --tls-key and --tls-ca (`concord certs`)");
        }
        catch (TlsConfigurationException e)
        {
            Console.Error.WriteLine($"concord agent: {e.Message}");
            return 2;
        }

        SchedulerHome home;
        try
        {
            home = SchedulerHome.Acquire(options.Home);
        }
        catch (HomeInUseException e)
        {
            Console.Error.WriteLine($"concord agent: {e.Message}");
            return 2;
        }
        using (home)
        {
            using var loggerFactory = LoggerFactory.Create(logging => logging.AddSerilog(
                new LoggerConfiguration().ConfigureConcord(new ConcordLogSettings { Json = options.LogFormat == LogFormat.Json }).CreateLogger(), dispose: true));
            IInstanceContainment containment;
            try
            {
                containment = options.NoContainment ? InstanceContainment.None : InstanceContainment.Detect(home.Directory);
            }
            catch (ContainmentException e)
            {
                Console.Error.WriteLine($"concord agent: {e.Message}");
                return 2;
            }
            AgentHost? host = null;
            var runtime = new LocalProcessRuntime(
                new LocalProcessRuntimeOptions
                {
                    Home = home.Directory,
                    ExecutorCommand = LaunchCommand.ForExecutor(options.ExecutorDll!),
                    Tls = options.Tls,
                    Containment = containment,
                    // The launch's secrets come from the scheduler with each launch command.
                    // With standbys, every scheduler's address too: the executor follows the leader.
                    PrivateEnvironment = launch => WithSchedulers(host!.EnvironmentOf(launch), options.SchedulerAddresses),
                    OperatorPythonPath = LocalProcessRuntimeOptions.FindPythonSdk(AppContext.BaseDirectory),
                    ExecutorListenAddress = listen,
                    ExecutorAdvertisedHost = options.AdvertisedHost,
                },
                loggerFactory.CreateLogger<LocalProcessRuntime>(),
                TimeProvider.System);
            host = new AgentHost(options, runtime, loggerFactory.CreateLogger<AgentHost>(), TimeProvider.System);

            using var stopping = new CancellationTokenSource();
            using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
            using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
            loggerFactory.CreateLogger("Concord.Agent").LogInformation(
                "Agent {Agent} serving scheduler {Scheduler} with {Cpus} cpus, {MemMb} MiB, home {Home}", options.AgentId, options.SchedulerAddress, options.Cpus, options.MemMb, home.Directory);
            await host.RunAsync(stopping.Token);
            return 0;

            void Stop(PosixSignalContext context)
            {
                context.Cancel = true;
                stopping.Cancel();
            }
        }
    }

    /// <summary>The launch's environment plus every scheduler's address, when the agent knows several.</summary>
    private static IReadOnlyDictionary<string, string?> WithSchedulers(IReadOnlyDictionary<string, string?> environment, IReadOnlyList<string> schedulers)
    {
        if (schedulers.Count < 2)
        {
            return environment;
        }
        var more = new Dictionary<string, string?>(environment) { [Hosting.LeaderRedirect.SchedulerAddressesVariable] = string.Join(',', schedulers) };
        return more;
    }
}
