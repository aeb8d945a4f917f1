using System.Diagnostics;
using System.Text.Json;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;

namespace Concord.Bench.Internal;

/// <summary>
/// A real local cluster for the benchmark: the scheduler process (own home directory, free
/// port), which launches the executor and operator processes. Disposing kills what it launched
/// (found by the home directory in their environment), then stops the scheduler.
/// </summary>
internal sealed class BenchCluster : IAsyncDisposable
{
    private readonly Process _scheduler;
    private readonly GrpcChannel _channel;

    private BenchCluster(string home, Process scheduler, string address)
    {
        Home = home;
        _scheduler = scheduler;
        _channel = GrpcChannel.ForAddress(address);
        // The scheduler's operator token, which it keeps in its home (docs/security.md).
        var token = File.ReadAllText(Path.Combine(home, Concord.Contracts.Credentials.TokenFileName)).Trim();
        Client = new Scheduler.SchedulerClient(_channel.Intercept(metadata =>
        {
            metadata.Add(Concord.Contracts.Credentials.AuthorizationHeader, Concord.Contracts.Credentials.BearerPrefix + token);
            return metadata;
        }));
    }

    public string Home { get; }

    public Scheduler.SchedulerClient Client { get; }

    public static async Task<BenchCluster> StartAsync(string home, string schedulerDll, string executorDll, params string[] schedulerArgs)
    {
        // A benchmark's own cluster: its built-ins may read and write anywhere (the word list, the phase's directory).
        var info = new ProcessStartInfo("dotnet", [schedulerDll, "--home", home, "--port", "0", "--data-root", "/", .. schedulerArgs])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["CONCORD_EXECUTOR_DLL"] = executorDll;
        var process = Process.Start(info)!;
        var log = new StreamWriter(Path.Combine(home, "scheduler.log")) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => { lock (log) { if (e.Data is not null) { log.WriteLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { lock (log) { if (e.Data is not null) { log.WriteLine(e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var schedulerJson = Path.Combine(home, "scheduler.json");
        var deadline = DateTime.UtcNow.AddMilliseconds(BenchLimits.SchedulerStartTimeoutMs);
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"the scheduler exited with code {process.ExitCode}; see {home}/scheduler.log");
            }
            if (File.Exists(schedulerJson))
            {
                try
                {
                    using var doc = JsonDocument.Parse(File.ReadAllText(schedulerJson));
                    return new BenchCluster(home, process, doc.RootElement.GetProperty("address").GetString()!);
                }
                catch (Exception e) when (e is JsonException or IOException)
                {
                    // Being written: read again.
                }
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"the scheduler did not write {schedulerJson} within {BenchLimits.SchedulerStartTimeoutMs} ms; see {home}/scheduler.log");
            }
            await Task.Delay(50);
        }
    }

    private static CallOptions Call() => new(deadline: DateTime.UtcNow.AddMilliseconds(BenchLimits.SchedulerCallTimeoutMs));

    public async Task<OperatorStatus> DeployAsync(OperatorSpec spec)
    {
        // The benchmark measures the framework, not the deploy file's limits: without a `cpus`
        // of its own an instance would be held to the default CFS quota of one core (executor
        // and operator together), so each may use the whole machine, as before containment.
        if (spec.Cpus <= 0)
        {
            spec.Cpus = Environment.ProcessorCount;
        }
        await Client.DeployAsync(new DeployRequest { Spec = spec }, Call());
        return await WaitAsync(spec.Name, o => o.Instances.Count == spec.Instances && o.Instances.All(i => i.State == InstanceState.Running),
            $"{spec.Instances} running instance(s)");
    }

    public async Task KillAsync(string name)
    {
        await Client.KillAsync(new KillRequest { Name = name }, Call());
        var deadline = DateTime.UtcNow.AddMilliseconds(BenchLimits.RunningTimeoutMs);
        while ((await ListAsync()).Any(o => o.Spec.Name == name))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"operator '{name}' still listed {BenchLimits.RunningTimeoutMs} ms after kill");
            }
            await Task.Delay(100);
        }
    }

    public async Task<IReadOnlyList<OperatorStatus>> ListAsync() => (await Client.ListAsync(new ListRequest(), Call())).Operators;

    private async Task<OperatorStatus> WaitAsync(string name, Func<OperatorStatus, bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(BenchLimits.RunningTimeoutMs);
        OperatorStatus? last = null;
        while (true)
        {
            last = (await ListAsync()).FirstOrDefault(o => o.Spec.Name == name);
            if (last is not null && condition(last))
            {
                return last;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"operator '{name}' did not reach {what} within {BenchLimits.RunningTimeoutMs} ms; last status: {last}; logs under {Home}/instances/{name}");
            }
            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        // The measurements are taken: no need for a graceful drain (the stalled sink would hold
        // it for ExecutorLimits.ShutdownTimeoutMs). Operators and executors first, then the scheduler.
        foreach (var pid in Launched())
        {
            Signal(pid, "-KILL");
        }
        if (!_scheduler.HasExited)
        {
            Signal(_scheduler.Id, "-TERM");
            using var stop = new CancellationTokenSource(BenchLimits.StopTimeoutMs);
            try
            {
                await _scheduler.WaitForExitAsync(stop.Token);
            }
            catch (OperationCanceledException)
            {
                _scheduler.Kill(entireProcessTree: true);
            }
        }
        foreach (var pid in Launched())
        {
            Signal(pid, "-KILL");
        }
        _channel.Dispose();
        _scheduler.Dispose();
    }

    /// <summary>Live processes this cluster launched: they carry its home directory in their environment.</summary>
    private List<int> Launched()
    {
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId || pid == _scheduler.Id)
            {
                continue;
            }
            try
            {
                if (File.ReadAllText(Path.Combine(dir, "environ")).Contains(Home, StringComparison.Ordinal))
                {
                    found.Add(pid);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        return found;
    }

    private static void Signal(int pid, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", [signal, pid.ToString()]) { RedirectStandardError = true })!;
        kill.WaitForExit(5_000);
    }
}
