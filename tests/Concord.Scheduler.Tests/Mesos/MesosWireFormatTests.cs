using System.Diagnostics;
using System.Text.Json.Nodes;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Runtime;
using Concord.Scheduler.Runtime.Mesos;
using Microsoft.Extensions.Logging.Abstractions;

namespace Concord.Scheduler.Tests.Mesos;

/// <summary>
/// Every call the Mesos runtime sends, and every event <see cref="MesosMasterDouble"/> (a TEST
/// DOUBLE of the master) sends it, parses strictly against the Mesos v1 protos Debian ships in
/// golang-github-mesos-mesos-go-dev (scheduler/scheduler.proto, mesos.proto): compiled with
/// protoc into a descriptor set, then each JSON message parsed by Python's protobuf
/// json_format with unknown fields refused and every proto2 required field checked
/// (mesos_json_check.py). The double being right about the format is what the runtime's
/// other tests lean on, so its events are held to the same protos.
/// </summary>
public sealed class MesosWireFormatTests
{
    private const string ProtoRoot = "/usr/share/gocode/src";
    private const string SchedulerProto = "github.com/mesos/mesos-go/api/v1/lib/scheduler/scheduler.proto";
    private const string Python = "/usr/bin/python3";
    private static readonly TimeSpan Bound = TestTimeouts.Step;

    [Fact]
    public async Task Every_call_the_runtime_sends_and_every_event_of_the_double_parses_strictly_against_the_v1_protos()
    {
        var descriptors = CompileProtos();
        var home = Path.Combine(Path.GetTempPath(), "concord-mesos-wire-" + Guid.NewGuid().ToString("N")[..8]);
        var master = await MesosMasterDouble.StartAsync();
        master.HeartbeatSeconds = 0.2;
        var runtime = new MesosClusterRuntime(
            new MesosRuntimeOptions
            {
                Masters = [master.Address],
                ExecutorCommand = "/opt/concord/executor/Concord.Executor",
                TlsDirectory = "/etc/concord/tls",
                User = "concord",
                Role = "streams",
                SubscribeRetryMaxMs = 200,
                ReconcileQuietMs = 200,
            },
            new FileFrameworkIdStore(Path.Combine(home, "id")), NullLogger<MesosClusterRuntime>.Instance, TimeProvider.System);
        try
        {
            // A leftover of an "earlier run": implicit RECONCILE, then KILL.
            master.AddRunningTask("concord.old.0.abc");
            await runtime.ReapLeftoversAsync(CancellationToken.None).WaitAsync(Bound);
            // An idle DECLINE.
            master.Offer(cpus: 8, memMiB: 16384);
            await master.WaitCallAsync("DECLINE", Bound);

            // REVIVE, ACCEPT with LAUNCH_GROUPs (an operator with a restore checkpoint, a built-in), ACKNOWLEDGEs.
            var spec = new OperatorSpec { Name = "counter", Executable = "/opt/app/counter", Args = { "-v" }, Instances = 1, Cpus = 0.5, MemMb = 256, Environment = { ["A"] = "b" } };
            var launch = new InstanceLaunch("counter", 0, "inc1", spec, "https://scheduler.example:7400", Release: 2) { RestoreCheckpoint = "/data/checkpoints/7/counter/0" };
            var builtin = new InstanceLaunch("source", 0, "inc2", new OperatorSpec { Name = "source", Instances = 1, Builtin = new BuiltinOperator { Kind = "generator" } }, "https://scheduler.example:7400");
            var handle = await runtime.LaunchAsync(launch, CancellationToken.None).WaitAsync(Bound);
            await runtime.LaunchAsync(builtin, CancellationToken.None).WaitAsync(Bound);
            var calls = master.Calls.Count;
            master.Offer(cpus: 8, memMiB: 16384);
            await master.WaitCallAsync("ACCEPT", Bound, calls);
            await master.WaitCallAsync(_ => master.Unacknowledged.Count == 0 && master.Calls.Skip(calls).Count(c => (string?)c["type"] == "ACKNOWLEDGE") >= 6, Bound, calls);

            // A DECLINE while something waits that does not fit.
            var waiting = await runtime.LaunchAsync(new InstanceLaunch("counter", 1, "inc3", spec, "https://scheduler.example:7400"), CancellationToken.None).WaitAsync(Bound);
            calls = master.Calls.Count;
            master.Offer(cpus: 0.1, memMiB: 10);
            await master.WaitCallAsync("DECLINE", Bound, calls);

            // FAILURE and an explicit RECONCILE; a dropped subscription and a SUBSCRIBE with the framework id.
            master.Failure(MesosMasterDouble.DefaultAgentId);
            await master.WaitCallAsync(c => (string?)c["type"] == "RECONCILE" && c["reconcile"]!["tasks"]!.AsArray().Count > 0, Bound, calls);
            master.DropSubscription();
            await master.WaitSubscribedAsync(2, Bound);

            // KILL with a kill policy; the ERROR event.
            await runtime.StopAsync(handle, TimeSpan.FromSeconds(3), CancellationToken.None).WaitAsync(Bound);
            await runtime.StopAsync(waiting, TimeSpan.FromSeconds(3), CancellationToken.None).WaitAsync(Bound);
            master.Error("Framework has been removed");
            await master.WaitSubscribedAsync(3, Bound);
        }
        finally
        {
            await runtime.DisposeAsync();
            await master.DisposeAsync();
            if (Directory.Exists(home))
            {
                Directory.Delete(home, recursive: true);
            }
        }

        var sentTypes = master.Calls.Select(c => (string?)c["type"]).ToHashSet();
        Assert.Superset(new HashSet<string?> { "SUBSCRIBE", "ACCEPT", "DECLINE", "REVIVE", "KILL", "ACKNOWLEDGE", "RECONCILE" }, sentTypes);
        var eventTypes = master.Events.Select(e => (string?)e["type"]).ToHashSet();
        Assert.Superset(new HashSet<string?> { "SUBSCRIBED", "HEARTBEAT", "OFFERS", "UPDATE", "FAILURE", "ERROR" }, eventTypes);
        Assert.Contains(master.Calls, c => (string?)c["type"] == "SUBSCRIBE" && c["framework_id"] is not null);

        var messages = master.Calls.Select((c, i) => ("mesos.scheduler.Call", $"call {i} {(string?)c["type"]}", c))
            .Concat(master.Events.Select((e, i) => ("mesos.scheduler.Event", $"event {i} {(string?)e["type"]}", e)));
        var (exitCode, output) = await CheckAsync(descriptors, messages);
        Assert.True(exitCode == 0, "messages that do not parse against Debian's Mesos v1 protos:\n" + output);
        Assert.Contains($"{master.Calls.Count + master.Events.Count} of {master.Calls.Count + master.Events.Count} valid", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_check_refuses_a_misspelt_field_a_wrong_enum_and_a_missing_required_field()
    {
        var descriptors = CompileProtos();
        var good = JsonNode.Parse("""{"type":"DECLINE","framework_id":{"value":"f"},"decline":{"offer_ids":[{"value":"o"}],"filters":{"refuse_seconds":5}}}""")!.AsObject();
        var misspelt = JsonNode.Parse("""{"type":"DECLINE","framework_id":{"value":"f"},"decline":{"offer_ids":[{"value":"o"}],"filters":{"refuse_second":5}}}""")!.AsObject();
        var badEnum = JsonNode.Parse("""{"type":"DECLINED","framework_id":{"value":"f"}}""")!.AsObject();
        var missing = JsonNode.Parse("""{"type":"KILL","framework_id":{"value":"f"},"kill":{}}""")!.AsObject();

        var (exitCode, output) = await CheckAsync(descriptors,
            [("mesos.scheduler.Call", "good", good), ("mesos.scheduler.Call", "misspelt", misspelt), ("mesos.scheduler.Call", "enum", badEnum), ("mesos.scheduler.Call", "missing", missing)]);

        Assert.Equal(1, exitCode);
        Assert.Contains("ok good", output, StringComparison.Ordinal);
        Assert.Contains("FAIL misspelt", output, StringComparison.Ordinal);
        Assert.Contains("FAIL enum", output, StringComparison.Ordinal);
        Assert.Contains("FAIL missing", output, StringComparison.Ordinal);
        Assert.Contains("kill.task_id", output, StringComparison.Ordinal);
    }

    /// <summary>The descriptor set of scheduler.proto and its imports; fails naming the package to install.</summary>
    private static string CompileProtos()
    {
        var proto = Path.Combine(ProtoRoot, SchedulerProto);
        Assert.True(File.Exists(proto),
            $"{proto} is missing: the Mesos v1 protos come from Debian's golang-github-mesos-mesos-go-dev; run scripts/install-mesos-protos.sh " +
            "(or apt-get install -y golang-github-mesos-mesos-go-dev protobuf-compiler libprotobuf-dev python3-protobuf)");
        Assert.True(File.Exists("/usr/bin/protoc"), "protoc is missing: run scripts/install-mesos-protos.sh (Debian's protobuf-compiler)");
        var output = Path.Combine(Path.GetTempPath(), "concord-mesos-" + Guid.NewGuid().ToString("N")[..8] + ".pb");
        var (exitCode, text) = Run("/usr/bin/protoc", $"-I{ProtoRoot}", "-I/usr/include", "--include_imports", $"--descriptor_set_out={output}", proto).GetAwaiter().GetResult();
        Assert.True(exitCode == 0, "protoc could not compile Debian's Mesos protos (is libprotobuf-dev installed for descriptor.proto?):\n" + text);
        return output;
    }

    private static async Task<(int ExitCode, string Output)> CheckAsync(string descriptors, IEnumerable<(string Type, string Name, JsonObject Json)> messages)
    {
        var input = Path.Combine(Path.GetTempPath(), "concord-mesos-" + Guid.NewGuid().ToString("N")[..8] + ".json");
        var array = new JsonArray();
        foreach (var (type, name, json) in messages)
        {
            array.Add(new JsonObject { ["type"] = type, ["name"] = name, ["json"] = json.DeepClone() });
        }
        await File.WriteAllTextAsync(input, array.ToJsonString());
        try
        {
            var script = Path.Combine(RepoPaths.Root, "tests", "Concord.Scheduler.Tests", "Mesos", "mesos_json_check.py");
            return await Run(Python, script, descriptors, input);
        }
        finally
        {
            File.Delete(input);
        }
    }

    private static async Task<(int ExitCode, string Output)> Run(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(TestTimeouts.Process);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        return (process.ExitCode, await stdout + await stderr);
    }
}
