using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Concord.EndToEnd.Tests.Harness;
using Concord.Testing.MultiHost;

namespace Concord.EndToEnd.Tests;

/// <summary>
/// Concord across simulated hosts (network namespaces on one bridge): a scheduler on h1
/// listening on h1's private address with mutual TLS, its executors bound there too, and the
/// CLI on h2 deploying and listing over the bridge; and the refusal to listen beyond loopback
/// without TLS (docs/cluster.md, "Addresses and TLS").
/// </summary>
public sealed class CrossHostTests : IDisposable
{
    /// <summary>The scheduler's gRPC port inside h1's namespace (its own port space, so a fixed one is free).</summary>
    private const int SchedulerPort = 7400;

    /// <summary>Words the source emits: enough to cross several batches, few enough for a 2-core machine.</summary>
    private const int Words = 3_000;

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_scheduler_on_h1_with_tls_serves_the_cli_on_h2_and_its_executors_exchange_data_on_h1s_address()
    {
        using var network = SimulatedNetwork.Create(2);
        var (h1, h2) = (network.Host(1), network.Host(2));
        var certs = _dir.Combine("certs");
        var made = await CliRunner.RunAsync(_dir.Combine("cli-home"), "certs", "--out", certs, "--host", $"h1,{h1.Address}", "--client", "operator");
        Assert.True(made.ExitCode == 0, $"concord certs failed: {made.Err}{made.Out}");
        var home = _dir.Combine("h1-home");
        var schedulerAddress = $"https://{h1.Address}:{SchedulerPort}";

        using var scheduler = h1.Start("dotnet",
        [
            Repo.SchedulerDll, "--home", home, "--listen", $"{h1.Address}:{SchedulerPort}",
            "--tls-cert", Path.Combine(certs, "h1.crt"), "--tls-key", Path.Combine(certs, "h1.key"), "--tls-ca", Path.Combine(certs, "ca.crt"),
        ], new Dictionary<string, string?> { ["CONCORD_EXECUTOR_DLL"] = Repo.ExecutorDll, ["CONCORD_HOME"] = null });
        try
        {
            var published = await Eventually.UntilAsync(
                () => Task.FromResult(ReadAddress(home, scheduler)),
                TestTimeouts.Process, () => $"scheduler.json in {home}; scheduler output:\n{scheduler.Output}");
            Assert.Equal(schedulerAddress, published);

            // The CLI on h2: its own (empty) home, the scheduler's address, token and a client certificate.
            var token = File.ReadAllText(Path.Combine(home, "token")).Trim();
            async Task<CliRunner.Result> OnH2(params string[] args)
            {
                using var cli = h2.Start("dotnet",
                [
                    Repo.CliDll, "--scheduler", schedulerAddress,
                    "--tls-cert", Path.Combine(certs, "operator.crt"), "--tls-key", Path.Combine(certs, "operator.key"), "--tls-ca", Path.Combine(certs, "ca.crt"),
                    .. args,
                ], new Dictionary<string, string?> { ["CONCORD_HOME"] = _dir.Combine("cli-home"), ["CONCORD_TOKEN"] = token, ["CONCORD_SCHEDULER"] = null });
                var exitCode = await cli.WaitForExitAsync(TimeSpan.FromSeconds(CliRunner.CommandTimeoutSeconds));
                return new CliRunner.Result(exitCode, cli.Output, "");
            }

            var counts = _dir.Combine("counts.csv");
            var emitted = _dir.Combine("emitted.txt");
            // Readers before writers: records on a stream nobody reads yet are dropped (at-most-once).
            foreach (var file in new[] { WriteDeployFile("sink", 1, counts, emitted), WriteDeployFile("counter", 2, counts, emitted), WriteDeployFile("source", 1, counts, emitted) })
            {
                var deploy = await OnH2("deploy", file);
                Assert.True(deploy.ExitCode == 0, $"deploy {file} from h2 failed:\n{deploy.Out}\nscheduler output:\n{Cluster.Tail(scheduler.Output, 40)}");
            }

            var list = await OnH2("list", "--format", "json");
            Assert.True(list.ExitCode == 0, $"list from h2 failed:\n{list.Out}");
            var instances = JsonNode.Parse(list.Out)!["operators"]!.AsArray()
                .SelectMany(o => o!["instances"]!.AsArray().Select(i => (Operator: o["spec"]!["name"]!.GetValue<string>(), Instance: i!)))
                .ToList();
            Assert.Equal(4, instances.Count);
            foreach (var (_, instance) in instances)
            {
                // Bound and advertised on h1's interface, not loopback: other hosts can dial them.
                Assert.StartsWith($"{h1.Address}:", instance["dataAddress"]!.GetValue<string>());
                Assert.StartsWith($"{h1.Address}:", instance["metricsAddress"]!.GetValue<string>());
            }
            // One executor's data plane, dialled from h2 across the bridge.
            var (_, first) = instances[0];
            using (var timeout = new CancellationTokenSource(TestTimeouts.Step))
            using (var socket = await h2.ConnectAsync(IPEndPoint.Parse(first["dataAddress"]!.GetValue<string>()), timeout.Token))
            {
                Assert.True(socket.Connected);
            }

            await Eventually.UntilAsync(() => Csv.Lines(counts) >= Words && Csv.Lines(emitted) >= Words, TestTimeouts.Flow,
                () => $"{Words} lines in {counts} (have {Csv.Lines(counts)}) and {emitted} (have {Csv.Lines(emitted)})\nscheduler output:\n{Cluster.Tail(scheduler.Output, 40)}");
            var expected = Csv.CountWords(emitted);
            var actual = Csv.FinalCounts(counts);
            Assert.Equal(expected.Count, actual.Count);
            foreach (var (word, count) in expected)
            {
                Assert.True(actual.TryGetValue(word, out var got) && got == count, $"word '{word}': expected {count}, the sink says {got}");
            }

            scheduler.Stop();
            Assert.Equal(0, await scheduler.WaitForExitAsync(TimeSpan.FromSeconds(Cluster.StartTimeoutSeconds + Cluster.CallTimeoutSeconds)));
        }
        finally
        {
            foreach (var pid in Processes.WithEnvironment(home))
            {
                Processes.Kill(pid, hard: true);
            }
        }
    }

    [Fact]
    public async Task A_scheduler_told_to_listen_beyond_loopback_without_tls_refuses_with_the_listen_policy()
    {
        using var network = SimulatedNetwork.Create(1);
        var h1 = network.Host(1);

        using var scheduler = h1.Start("dotnet", [Repo.SchedulerDll, "--home", _dir.Combine("home"), "--listen", $"{h1.Address}:{SchedulerPort}"],
            new Dictionary<string, string?> { ["CONCORD_EXECUTOR_DLL"] = Repo.ExecutorDll });

        Assert.Equal(2, await scheduler.WaitForExitAsync(TestTimeouts.Process));
        Assert.Contains($"would listen on {h1.Address} without TLS", scheduler.Output);
        Assert.Contains("concord certs", scheduler.Output);
        Assert.Contains("--tls-cert, --tls-key and --tls-ca", scheduler.Output);
        Assert.False(File.Exists(_dir.Combine("home", "scheduler.json")));
    }

    [Fact]
    public async Task Concord_up_passes_listen_advertise_and_tls_to_the_scheduler_and_waits_until_it_serves()
    {
        using var network = SimulatedNetwork.Create(1);
        var h1 = network.Host(1);
        var certs = _dir.Combine("certs");
        var made = await CliRunner.RunAsync(_dir.Combine("cli-home"), "certs", "--out", certs, "--host", $"h1,node1.test,{h1.Address}");
        Assert.True(made.ExitCode == 0, $"concord certs failed: {made.Err}{made.Out}");
        var home = _dir.Combine("h1-home");
        string[] tls = ["--tls-cert", Path.Combine(certs, "h1.crt"), "--tls-key", Path.Combine(certs, "h1.key"), "--tls-ca", Path.Combine(certs, "ca.crt")];
        var environment = new Dictionary<string, string?> { ["CONCORD_HOME"] = home, ["CONCORD_EXECUTOR_DLL"] = Repo.ExecutorDll, ["CONCORD_SCHEDULER"] = null };
        try
        {
            // What `up` prints and scheduler.json publishes is the advertised address, https with TLS.
            using var up = h1.Start("dotnet", [Repo.CliDll, "up", "--detach", "--listen", $"{h1.Address}:{SchedulerPort}", "--advertise", h1.Address.ToString(), .. tls], environment);
            Assert.True(await up.WaitForExitAsync(TimeSpan.FromSeconds(CliRunner.CommandTimeoutSeconds)) == 0, $"concord up failed:\n{up.Output}");
            Assert.Contains($"scheduler running at https://{h1.Address}:{SchedulerPort}", up.Output);

            using var list = h1.Start("dotnet", [Repo.CliDll, "list", .. tls], environment);
            Assert.True(await list.WaitForExitAsync(TimeSpan.FromSeconds(CliRunner.CommandTimeoutSeconds)) == 0, $"concord list failed:\n{list.Output}");
        }
        finally
        {
            using var down = h1.Start("dotnet", [Repo.CliDll, "down"], environment);
            await down.WaitForExitAsync(TimeSpan.FromSeconds(CliRunner.CommandTimeoutSeconds));
            foreach (var pid in Processes.WithEnvironment(home))
            {
                Processes.Kill(pid, hard: true);
            }
        }
    }

    private static string? ReadAddress(string home, HostProcess scheduler)
    {
        if (scheduler.HasExited)
        {
            throw new InvalidOperationException($"the scheduler on h1 exited with {scheduler.ExitCode}:\n{scheduler.Output}");
        }
        var file = Path.Combine(home, "scheduler.json");
        return File.Exists(file) ? JsonDocument.Parse(File.ReadAllText(file)).RootElement.GetProperty("address").GetString() : null;
    }

    /// <summary>A word-count deploy file as a user writes one (absolute paths, so it can live anywhere).</summary>
    private string WriteDeployFile(string mode, int instances, string counts, string emitted)
    {
        var environment = new JsonObject();
        var inputs = new JsonArray();
        var outputs = new JsonArray();
        switch (mode)
        {
            case "source":
                environment["WORDCOUNT_DICTIONARY"] = Repo.Dictionary;
                environment["WORDCOUNT_RATE"] = "5000";
                environment["WORDCOUNT_LIMIT"] = Words.ToString(System.Globalization.CultureInfo.InvariantCulture);
                environment["WORDCOUNT_EMITTED_LOG"] = emitted;
                outputs.Add("words");
                break;
            case "counter":
                inputs.Add(new JsonObject { ["stream"] = "words", ["grouping"] = "group_by" });
                outputs.Add("counts");
                break;
            default:
                environment["WORDCOUNT_OUTPUT"] = counts;
                inputs.Add(new JsonObject { ["stream"] = "counts", ["grouping"] = "shuffle" });
                break;
        }
        var file = _dir.Combine($"{mode}.json");
        File.WriteAllText(file, new JsonObject
        {
            ["name"] = mode,
            ["executable"] = Repo.WordCountExe,
            ["args"] = new JsonArray(mode),
            ["instances"] = instances,
            ["cpus"] = 0.5,
            ["mem"] = 256,
            ["environment"] = environment,
            ["files"] = new JsonArray(),
            ["inputs"] = inputs,
            ["outputs"] = outputs,
        }.ToJsonString());
        return file;
    }
}
