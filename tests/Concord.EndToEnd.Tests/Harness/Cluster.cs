using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Grpc.Core;
using Grpc.Net.Client;

namespace Concord.EndToEnd.Tests.Harness;

/// <summary>
/// A real embedded cluster for one test: a scheduler process with its own home directory and
/// a free port, which launches real executor and operator processes. Disposing stops it and
/// checks that nothing it launched is left running.
/// </summary>
public sealed class Cluster : IAsyncDisposable
{
    /// <summary>How long a scheduler may take to start serving, in seconds (cold JIT on 2 cores).</summary>
    public const int StartTimeoutSeconds = 30;

    /// <summary>How long instances may take to reach running, in seconds.</summary>
    public const int RunningTimeoutSeconds = 60;

    /// <summary>Deadline of each scheduler call, in seconds.</summary>
    public const int CallTimeoutSeconds = 15;

    private readonly Process _scheduler;
    private readonly StringBuilder _schedulerOutput = new();
    private readonly GrpcChannel _channel;

    private Cluster(string home, Process scheduler, string address)
    {
        Home = home;
        _scheduler = scheduler;
        Address = address;
        _channel = GrpcChannel.ForAddress(address);
        Client = new Scheduler.SchedulerClient(_channel.CreateCallInvoker().WithToken(home));
    }

    public string Home { get; }

    public string Address { get; }

    public Scheduler.SchedulerClient Client { get; }

    public int SchedulerPid => _scheduler.Id;

    public string SchedulerOutput
    {
        get
        {
            lock (_schedulerOutput)
            {
                return _schedulerOutput.ToString();
            }
        }
    }

    /// <param name="schedulerArguments">More arguments for the scheduler (e.g. --runtime agents).</param>
    public static async Task<Cluster> StartAsync(string? home = null, IReadOnlyList<string>? schedulerArguments = null)
    {
        home ??= Directory.CreateTempSubdirectory("cc-").FullName;
        var output = new StringBuilder();
        var process = StartScheduler(home, output, schedulerArguments ?? []);
        var schedulerJson = Path.Combine(home, "scheduler.json");
        var address = await Eventually.UntilAsync(
            () =>
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"scheduler exited with {process.ExitCode}:\n{output}");
                }
                if (!File.Exists(schedulerJson))
                {
                    return Task.FromResult<string?>(null);
                }
                using var doc = JsonDocument.Parse(File.ReadAllText(schedulerJson));
                return Task.FromResult(doc.RootElement.GetProperty("address").GetString());
            },
            TimeSpan.FromSeconds(StartTimeoutSeconds),
            () => $"scheduler.json in {home}; scheduler output:\n{output}");
        var cluster = new Cluster(home, process, address);
        lock (output)
        {
            cluster._schedulerOutput.Append(output);
        }
        process.OutputDataReceived += (_, e) => cluster.Append(e.Data);
        process.ErrorDataReceived += (_, e) => cluster.Append(e.Data);
        return cluster;
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_schedulerOutput)
        {
            _schedulerOutput.AppendLine(line);
        }
    }

    private static Process StartScheduler(string home, StringBuilder output, IReadOnlyList<string> schedulerArguments)
    {
        // Built-ins in these tests read the repository's word list and write under the temp directory.
        var info = new ProcessStartInfo("dotnet", [Repo.SchedulerDll, "--home", home, "--port", "0", "--data-root", Path.GetTempPath(), "--data-root", Repo.Root, .. schedulerArguments])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["CONCORD_EXECUTOR_DLL"] = Repo.ExecutorDll;
        var process = Process.Start(info)!;
        void Collect(string? line)
        {
            if (line is not null)
            {
                lock (output)
                {
                    output.AppendLine(line);
                }
            }
        }
        process.OutputDataReceived += (_, e) => Collect(e.Data);
        process.ErrorDataReceived += (_, e) => Collect(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    public CallOptions Call() => new(deadline: DateTime.UtcNow.AddSeconds(CallTimeoutSeconds));

    public async Task<OperatorStatus> DeployAsync(OperatorSpec spec, bool waitRunning = true)
    {
        var response = await Client.DeployAsync(new DeployRequest { Spec = spec }, Call());
        if (waitRunning)
        {
            await WaitRunningAsync(spec.Name, spec.Instances);
        }
        return response.Operator;
    }

    public async Task<OperatorStatus?> FindAsync(string name)
    {
        var list = await Client.ListAsync(new ListRequest(), Call());
        return list.Operators.FirstOrDefault(o => o.Spec.Name == name);
    }

    public Task<OperatorStatus> WaitRunningAsync(string name, int instances) =>
        WaitForAsync(name, o => o.Instances.Count == instances && o.Instances.All(i => i.State == InstanceState.Running),
            $"{instances} running instance(s)");

    public async Task<OperatorStatus> WaitForAsync(string name, Func<OperatorStatus, bool> condition, string what)
    {
        OperatorStatus? last = null;
        return await Eventually.UntilAsync(
            async () =>
            {
                last = await FindAsync(name);
                return last is not null && condition(last) ? last : null;
            },
            TimeSpan.FromSeconds(RunningTimeoutSeconds),
            () => $"operator '{name}' to have {what}; last status: {last}\nscheduler output (tail):\n{Tail(SchedulerOutput, 40)}\n{InstanceLogs(name)}");
    }

    /// <summary>The executor logs of an operator's instances, for failure messages.</summary>
    public string InstanceLogs(string name, int tailLines = 30)
    {
        var dir = Path.Combine(Home, "instances", name);
        if (!Directory.Exists(dir))
        {
            return $"(no instance directory {dir})";
        }
        var text = new StringBuilder();
        foreach (var log in Directory.EnumerateFiles(dir, "executor.log", SearchOption.AllDirectories))
        {
            text.AppendLine($"--- {log}").AppendLine(Tail(File.ReadAllText(log), tailLines));
        }
        return text.ToString();
    }

    public static string Tail(string text, int lines) =>
        string.Join('\n', text.Split('\n').TakeLast(lines));

    /// <summary>Every live process launched for this cluster (they carry its home in their environment).</summary>
    public IReadOnlyList<int> LaunchedProcesses() =>
        Processes.WithEnvironment(Home).Where(pid => pid != _scheduler.Id).ToList();

    public async ValueTask DisposeAsync()
    {
        if (!_scheduler.HasExited)
        {
            Processes.Kill(_scheduler.Id, hard: false);
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await _scheduler.WaitForExitAsync(stop.Token);
            }
            catch (OperationCanceledException)
            {
                _scheduler.Kill(entireProcessTree: true);
            }
        }
        // Whatever a test left behind must not leak into the next one.
        foreach (var pid in LaunchedProcesses())
        {
            Processes.Kill(pid, hard: true);
        }
        _channel.Dispose();
        _scheduler.Dispose();
    }
}
