using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Concord.Testing.MultiHost;

namespace Concord.EndToEnd.Tests.Harness;

/// <summary>
/// A standalone cluster across simulated hosts (docs/cluster.md): certificates from
/// <c>concord certs</c> for every host, a scheduler with <c>--runtime agents</c> and mutual TLS on
/// h1's private address, and one <c>concord agent</c> on each of h2..hN advertising its own
/// address, so executors on different hosts exchange records across the bridge. The CLI runs on
/// h1 with an operator certificate. Disposing stops the agents and the scheduler, kills every
/// process whose environment names this cluster's directory, and removes the namespaces, also
/// when the test failed.
/// </summary>
public sealed class MultiHostCluster : IAsyncDisposable
{
    /// <summary>The scheduler's gRPC port inside h1's namespace (its own port space, so a fixed one is free).</summary>
    public const int SchedulerPort = 7400;

    /// <summary>Longest a clean stop (SIGTERM) of an agent or the scheduler may take, in seconds, before it is killed: they stop their executors first.</summary>
    public const int StopTimeoutSeconds = 30;

    private readonly TempDirectory _dir = new();
    private readonly Dictionary<string, HostProcess> _agents = [];
    private HostProcess? _scheduler;

    private MultiHostCluster(SimulatedNetwork network) => Network = network;

    public SimulatedNetwork Network { get; }

    /// <summary>The scheduler's home on h1.</summary>
    public string Home => _dir.Combine("h1-home");

    public string Certs => _dir.Combine("certs");

    public string SchedulerAddress => $"https://{Network.Host(1).Address}:{SchedulerPort}";

    public HostProcess Scheduler => _scheduler ?? throw new InvalidOperationException("the scheduler has not started");

    public string SchedulerOutput => _scheduler?.Output ?? "";

    /// <summary>The agent on host <paramref name="name"/> (h2..hN; its agent id is the host's name).</summary>
    public HostProcess Agent(string name) => _agents[name];

    /// <summary>The home of the agent on <paramref name="name"/>: its executors' working directories are under it.</summary>
    public string AgentHome(string name) => _dir.Combine("agent-" + name);

    /// <summary>A file path in this cluster's directory (every host sees the same file system).</summary>
    public string Combine(params string[] parts) => _dir.Combine(parts);

    /// <summary>
    /// Starts a network of <paramref name="agents"/> + 1 hosts, the scheduler on h1 and an agent
    /// with <paramref name="agentCpus"/> cpus and <paramref name="agentMemMb"/> MiB on each other
    /// host; returns when every agent is connected.
    /// </summary>
    public static async Task<MultiHostCluster> StartAsync(int agents, double agentCpus, int agentMemMb)
    {
        var cluster = new MultiHostCluster(SimulatedNetwork.Create(agents + 1));
        try
        {
            await cluster.StartSchedulerAsync();
            foreach (var host in cluster.Network.Hosts.Skip(1))
            {
                cluster.StartAgent(host, agentCpus, agentMemMb);
            }
            await Eventually.UntilAsync(() => cluster._agents.Keys.All(name => cluster.SchedulerOutput.Contains($"Agent {name} connected", StringComparison.Ordinal)),
                TimeSpan.FromSeconds(Cluster.StartTimeoutSeconds), () => $"every agent connected\n{cluster.Describe()}");
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    private async Task StartSchedulerAsync()
    {
        var hostArguments = Network.Hosts.SelectMany(h => new[] { "--host", $"{h.Name},{h.Address}" }).ToArray();
        var made = await CliRunner.RunAsync(_dir.Combine("cli-home"), ["certs", "--out", Certs, .. hostArguments, "--client", "operator"]);
        Assert.True(made.ExitCode == 0, $"concord certs failed: {made.Err}{made.Out}");
        var h1 = Network.Host(1);
        _scheduler = h1.Start("dotnet",
        [
            Repo.SchedulerDll, "--home", Home, "--listen", $"{h1.Address}:{SchedulerPort}", "--runtime", "agents",
            .. Tls(h1.Name),
        ], new Dictionary<string, string?> { ["CONCORD_EXECUTOR_DLL"] = Repo.ExecutorDll, ["CONCORD_HOME"] = null });
        await Eventually.UntilAsync(() => Task.FromResult(PublishedAddress()), TimeSpan.FromSeconds(Cluster.StartTimeoutSeconds),
            () => $"scheduler.json in {Home}\n{Describe()}");
    }

    private void StartAgent(SimulatedHost host, double cpus, int memMb)
    {
        _agents[host.Name] = host.Start("dotnet",
        [
            Repo.CliDll, "agent", "--home", AgentHome(host.Name), "--scheduler", SchedulerAddress, "--agent-id", host.Name,
            "--cpus", cpus.ToString(CultureInfo.InvariantCulture), "--mem", memMb.ToString(CultureInfo.InvariantCulture),
            "--agent-secret-file", Path.Combine(Home, "agent.secret"), "--advertise-host", host.Address.ToString(),
            .. Tls(host.Name),
        ], new Dictionary<string, string?> { ["CONCORD_EXECUTOR_DLL"] = Repo.ExecutorDll, ["CONCORD_HOME"] = null, ["CONCORD_SCHEDULER"] = null });
    }

    private string[] Tls(string certificate) =>
        ["--tls-cert", Path.Combine(Certs, certificate + ".crt"), "--tls-key", Path.Combine(Certs, certificate + ".key"), "--tls-ca", Path.Combine(Certs, "ca.crt")];

    private string? PublishedAddress()
    {
        if (Scheduler.HasExited)
        {
            throw new InvalidOperationException($"the scheduler on h1 exited with {Scheduler.ExitCode}:\n{Scheduler.Output}");
        }
        var file = Path.Combine(Home, "scheduler.json");
        return File.Exists(file) ? JsonDocument.Parse(File.ReadAllText(file)).RootElement.GetProperty("address").GetString() : null;
    }

    /// <summary>Runs the CLI on h1 against the scheduler, with the operator's certificate and the scheduler's token.</summary>
    public async Task<CliRunner.Result> CliAsync(params string[] args)
    {
        var token = File.ReadAllText(Path.Combine(Home, "token")).Trim();
        using var cli = Network.Host(1).Start("dotnet", [Repo.CliDll, "--scheduler", SchedulerAddress, .. Tls("operator"), .. args],
            new Dictionary<string, string?> { ["CONCORD_HOME"] = _dir.Combine("cli-home"), ["CONCORD_TOKEN"] = token, ["CONCORD_SCHEDULER"] = null });
        var exitCode = await cli.WaitForExitAsync(TimeSpan.FromSeconds(CliRunner.CommandTimeoutSeconds));
        return new CliRunner.Result(exitCode, cli.Output, "");
    }

    /// <summary><c>concord list --format json</c>, as text (to compare) and parsed.</summary>
    public async Task<(string Text, JsonNode Json)> ListAsync()
    {
        var list = await CliAsync("list", "--format", "json");
        Assert.True(list.ExitCode == 0, $"concord list failed:\n{list.Out}\n{Describe()}");
        return (list.Out, JsonNode.Parse(list.Out)!);
    }

    /// <summary>Every instance <c>concord list</c> shows: operator, index, host, state, incarnation.</summary>
    public static IReadOnlyList<ListedInstance> Instances(JsonNode list) =>
        list["operators"]!.AsArray().SelectMany(o => o!["instances"]!.AsArray().Select(i => new ListedInstance(
            o["spec"]!["name"]!.GetValue<string>(),
            i!["index"]?.GetValue<int>() ?? 0,
            i["host"]?.GetValue<string>() ?? "",
            i["state"]?.ToString() ?? "",
            i["incarnation"]?.GetValue<string>() ?? ""))).ToList();

    /// <summary>Writes a deploy file for the word count (absolute paths, 1 cpu and 256 MiB per instance) and deploys it from h1.</summary>
    public async Task DeployAsync(string mode, int instances, IReadOnlyDictionary<string, string> environment, double cpus = 1, int memMb = 256, string? name = null)
    {
        var result = await TryDeployAsync(mode, instances, environment, cpus, memMb, name);
        Assert.True(result.ExitCode == 0, $"deploy {name ?? mode} failed:\n{result.Out}\n{Describe()}");
    }

    public Task<CliRunner.Result> TryDeployAsync(string mode, int instances, IReadOnlyDictionary<string, string> environment, double cpus = 1, int memMb = 256, string? name = null)
    {
        var env = new JsonObject();
        foreach (var (key, value) in environment)
        {
            env[key] = value;
        }
        var inputs = new JsonArray();
        var outputs = new JsonArray();
        switch (mode)
        {
            case "source":
                env["WORDCOUNT_DICTIONARY"] = Repo.Dictionary;
                outputs.Add("words");
                break;
            case "counter":
                inputs.Add(new JsonObject { ["stream"] = "words", ["grouping"] = "group_by" });
                outputs.Add("counts");
                break;
            default:
                inputs.Add(new JsonObject { ["stream"] = "counts", ["grouping"] = "shuffle" });
                break;
        }
        var file = _dir.Combine($"{name ?? mode}.json");
        File.WriteAllText(file, new JsonObject
        {
            ["name"] = name ?? mode,
            ["executable"] = Repo.WordCountExe,
            ["args"] = new JsonArray(mode),
            ["instances"] = instances,
            ["cpus"] = cpus,
            ["mem"] = memMb,
            ["environment"] = env,
            ["files"] = new JsonArray(),
            ["inputs"] = inputs,
            ["outputs"] = outputs,
        }.ToJsonString());
        return CliAsync("deploy", file);
    }

    /// <summary>
    /// Executors running in <paramref name="host"/>'s network namespace for the agent there:
    /// processes whose environment names that agent's home and whose network namespace is the
    /// agent's, as (operator, index, incarnation).
    /// </summary>
    public IReadOnlyList<(string Operator, int Index, string Incarnation)> ExecutorsOn(string host)
    {
        var agentNamespace = NetworkNamespaceOf(Agent(host).Pid)
            ?? throw new InvalidOperationException($"the agent on {host} is gone:\n{Agent(host).Output}");
        var found = new HashSet<(string, int, string)>();
        foreach (var pid in Processes.WithEnvironment(AgentHome(host)))
        {
            if (NetworkNamespaceOf(pid) != agentNamespace)
            {
                continue;
            }
            var variables = Environ(pid);
            if (variables.TryGetValue("CONCORD_OPERATOR_NAME", out var name) && variables.TryGetValue("CONCORD_INSTANCE_INDEX", out var index)
                && variables.TryGetValue("CONCORD_INCARNATION", out var incarnation))
            {
                found.Add((name, int.Parse(index, CultureInfo.InvariantCulture), incarnation));
            }
        }
        return [.. found];
    }

    private static string? NetworkNamespaceOf(int pid)
    {
        try
        {
            return new FileInfo($"/proc/{pid}/ns/net").LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static Dictionary<string, string> Environ(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/environ").Split('\0', StringSplitOptions.RemoveEmptyEntries)
                .Select(v => v.Split('=', 2)).Where(p => p.Length == 2).GroupBy(p => p[0]).ToDictionary(g => g.Key, g => g.First()[1]);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    /// <summary>The tails of the scheduler's and agents' outputs, for failure messages.</summary>
    public string Describe() =>
        $"scheduler:\n{Cluster.Tail(SchedulerOutput, 40)}" + string.Concat(_agents.Select(a => $"\nagent {a.Key}:\n{Cluster.Tail(a.Value.Output, 15)}"));

    public async ValueTask DisposeAsync()
    {
        foreach (var host in Network.Hosts.Where(h => h.IsCutOff))
        {
            host.Heal();
        }
        foreach (var process in _agents.Values.Append(_scheduler).OfType<HostProcess>())
        {
            process.Stop();
        }
        foreach (var process in _agents.Values.Append(_scheduler).OfType<HostProcess>())
        {
            try
            {
                await process.WaitForExitAsync(TimeSpan.FromSeconds(StopTimeoutSeconds));
            }
            catch (TimeoutException)
            {
                // Killed below with everything else of this cluster.
            }
            process.Dispose();
        }
        foreach (var pid in Processes.WithEnvironment(_dir.Path))
        {
            Processes.Kill(pid, hard: true);
        }
        Network.Dispose();
        _dir.Dispose();
    }
}

/// <summary>One instance as <c>concord list --format json</c> shows it.</summary>
public sealed record ListedInstance(string Operator, int Index, string Host, string State, string Incarnation);
