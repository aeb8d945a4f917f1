using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Concord.Sdk.Tests;

/// <summary>
/// A REAL scheduler process (artifacts/bin/Concord.Scheduler) on a fresh home and a free port,
/// started once for <see cref="SchedulerClientRealTests"/>: a built-in generator with a delivery
/// guarantee and trace sampling on every record, feeding the C# word-count counter started
/// through a shell that first writes <see cref="CounterLine"/> to stderr.
/// </summary>
public sealed class RealSchedulerFixture : IAsyncLifetime
{
    /// <summary>The line the counter's process writes before the SDK starts; logs must return it.</summary>
    public const string CounterLine = "client-test: the counter process starts";

    /// <summary>Generator rate, words per second: enough to see records, traces and checkpoints, not to load the machine.</summary>
    private const int GeneratorRate = 100;

    private readonly TempDirectory _home = new("cc-cs-sched-");
    private Process? _process;

    public string Address { get; private set; } = "";

    public string Token { get; private set; } = "";

    public SchedulerClient Client { get; private set; } = null!;

    public static OperatorSpec CounterSpec(string version) => new()
    {
        Name = "counter",
        Executable = "/bin/sh",
        Args = { "-c", $"echo '{CounterLine}' >&2; exec '{RepoPaths.Require(RepoPaths.Artifact("WordCount", "WordCount"))}' counter" },
        Instances = 1,
        MemMb = 256,
        Environment = { ["VERSION"] = version },
        ExpectedInputs = { new InputStream { Name = "words", Grouping = Grouping.GroupBy } },
        ExpectedOutputs = { "counts" },
    };

    public async Task InitializeAsync()
    {
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { RepoPaths.Require(RepoPaths.Artifact("Concord.Scheduler", "Concord.Scheduler.dll")), "--home", _home.Path, "--port", "0", "--data-root", RepoPaths.Root },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["CONCORD_EXECUTOR_DLL"] = RepoPaths.Require(RepoPaths.Artifact("Concord.Executor", "Concord.Executor.dll"));
        start.Environment.Remove("CONCORD_TOKEN");
        _process = Process.Start(start)!;
        // Drained so a chatty scheduler never blocks on a full pipe.
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var state = _home.Combine("scheduler.json");
        var address = await Eventually.UntilAsync(async () =>
        {
            await Task.Yield();
            return File.Exists(state) ? JsonDocument.Parse(await File.ReadAllTextAsync(state)).RootElement.GetProperty("address").GetString() : null;
        }, TestTimeouts.Process, () => $"{state} written by the scheduler");
        Address = address;
        Token = SchedulerAuth.ReadToken(_home.Path);
        Client = new SchedulerClient(Address, Token);
        await Client.DeployAsync(WordsSpec("1"));
        await Client.DeployAsync(CounterSpec("1"));
        await Eventually.UntilAsync(AllRunningAsync, TestTimeouts.Flow, () => "both operators running");
    }

    public async Task<bool> AllRunningAsync()
    {
        var list = await Client.ListAsync();
        return list.Count == 2 && list.All(o => o.Instances.All(i => i.State == InstanceState.Running));
    }

    /// <summary>The source: a built-in generator with a delivery guarantee (so checkpoints are taken) that samples every record for tracing.</summary>
    public static OperatorSpec WordsSpec(string version) => new()
    {
        Name = "words",
        Instances = 1,
        ExpectedOutputs = { "words" },
        Delivery = DeliveryGuarantee.DeliveryAtLeastOnce,
        Environment = { ["CONCORD_TRACE_SAMPLE_EVERY"] = "1", ["VERSION"] = version },
        Builtin = new BuiltinOperator
        {
            Kind = "generator",
            Options = { ["stream"] = "words", ["rate"] = $"{GeneratorRate}", ["dictionary"] = Path.Combine(RepoPaths.Root, "examples", "wordcount", "words.txt") },
        },
    };

    public async Task DisposeAsync()
    {
        Client?.Dispose();
        if (_process is { HasExited: false })
        {
            Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])?.WaitForExit();
            try
            {
                await _process.WaitForExitAsync().WaitAsync(TestTimeouts.Process);
            }
            catch (TimeoutException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        _process?.Dispose();
        _home.Dispose();
    }
}

public sealed class SchedulerClientRealTests(RealSchedulerFixture scheduler) : IClassFixture<RealSchedulerFixture>
{
    private SchedulerClient Client => scheduler.Client;

    [Fact]
    public async Task List_says_this_scheduler_leads_alone_and_graph_has_the_edge()
    {
        var list = await Client.ListAsync().WaitAsync(TestTimeouts.Step);
        var graph = await Client.GraphAsync().WaitAsync(TestTimeouts.Step);

        Assert.Equal(["counter", "words"], list.Select(o => o.Spec.Name));
        Assert.Equal(("", false), (list.Leader, list.FromStandby));
        Assert.Contains(graph.Edges, e => (e.Stream, e.FromOperator, e.ToOperator) == ("words", "words", "counter"));
    }

    [Fact]
    public async Task Logs_return_the_line_the_operator_wrote_and_a_follow_ends_when_cancelled()
    {
        var line = await Eventually.UntilAsync(async () =>
            await Client.GetLogsAsync("counter", [0]).FirstOrDefaultAsync(l => l.Line.Contains(RealSchedulerFixture.CounterLine, StringComparison.Ordinal)),
            TestTimeouts.Flow, () => "the counter's line in its log");
        Assert.Equal(("counter", 0), (line.OperatorName, line.InstanceIndex));

        using var stop = new CancellationTokenSource();
        var followed = new List<LogLine>();
        await foreach (var l in Client.GetLogsAsync("words", tailLines: 1, follow: true, cancellationToken: stop.Token).WithCancellation(stop.Token))
        {
            followed.Add(l);
            await stop.CancelAsync();
        }
        Assert.Equal("words", Assert.Single(followed).OperatorName);
    }

    [Fact]
    public async Task Instance_metrics_count_the_records_the_counter_read()
    {
        var metrics = await Eventually.UntilAsync(async () =>
            await Client.GetInstanceMetricsAsync("counter") is [{ RecordsInTotal: > 0 } m] ? m : null,
            TestTimeouts.Flow, () => "records counted in the counter's metrics");

        Assert.Equal(("counter", ""), (metrics.OperatorName, metrics.Error));
    }

    [Fact]
    public async Task Traces_of_sampled_records_list_and_show_their_spans()
    {
        var trace = await Eventually.UntilAsync(async () =>
            (await Client.ListTracesAsync(50)).FirstOrDefault(t => t.Operators.Contains("counter")),
            TestTimeouts.Flow, () => "a trace through the counter");
        var spans = await Client.GetTraceAsync(trace.TraceId.ToUpperInvariant()).WaitAsync(TestTimeouts.Step);
        var unknown = await Assert.ThrowsAsync<SchedulerException>(() => Client.GetTraceAsync(new string('0', 32)).WaitAsync(TestTimeouts.Step));

        Assert.Equal([trace.TraceId], spans.Select(s => s.TraceId).Distinct());
        Assert.Contains(spans, s => s.Kind == "operator");
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
        Assert.Contains("32 hex digits", (await Assert.ThrowsAsync<ArgumentException>(() => Client.GetTraceAsync("not-a-trace"))).Message);
    }

    [Fact]
    public async Task Tail_returns_the_counters_records_and_an_unknown_stream_is_NOT_FOUND_naming_the_streams()
    {
        var records = await Eventually.UntilAsync(async () =>
            await Client.TailStreamAsync("counts", 5) is { Count: > 0 } r ? r : null,
            TestTimeouts.Flow, () => "records on counts");
        var unknown = await Assert.ThrowsAsync<SchedulerException>(() => Client.TailStreamAsync("no-such-stream").WaitAsync(TestTimeouts.Step));

        Assert.InRange(records.Count, 1, 5);
        Assert.Equal(("counter", "counts"), (records[0].OperatorName, records[0].Stream));
        Assert.True(long.TryParse(records[0].Value.ToStringUtf8(), out _));
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
        Assert.Contains("counts", unknown.Message);
    }

    [Fact]
    public async Task Checkpoints_are_taken_and_a_savepoint_completes()
    {
        await Eventually.UntilAsync(async () => (await Client.ListCheckpointsAsync()).LatestCompletedId > 0,
            TestTimeouts.Flow, () => "a completed checkpoint");
        var savepoint = await Client.TriggerSavepointAsync().WaitAsync(TestTimeouts.Flow);
        var list = await Client.ListCheckpointsAsync().WaitAsync(TestTimeouts.Step);

        Assert.Equal((true, CheckpointStatus.Completed), (savepoint.Savepoint, savepoint.Status));
        Assert.Contains(list.Checkpoints, c => c.Savepoint && c.CheckpointId == savepoint.CheckpointId);
    }

    [Fact]
    public async Task Replace_runs_the_new_version_within_the_running_timeout_given()
    {
        var replaced = await Client.ReplaceAsync(RealSchedulerFixture.CounterSpec("2"), runningTimeout: TimeSpan.FromSeconds(30)).WaitAsync(TestTimeouts.Flow);

        Assert.False(replaced.Restarted);
        Assert.Equal("2", replaced.Operator.Spec.Environment["VERSION"]);
        Assert.Equal([InstanceState.Running], replaced.Operator.Instances.Select(i => i.State));
        // Checked before any call, so it throws at once rather than in the task.
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = Client.ReplaceAsync(RealSchedulerFixture.CounterSpec("3"), runningTimeout: TimeSpan.FromSeconds(61)); });
    }

    [Fact]
    public async Task Replace_with_drop_state_restarts_the_operators_with_a_guarantee()
    {
        await Eventually.UntilAsync(async () => (await Client.ListCheckpointsAsync()).LatestCompletedId > 0,
            TestTimeouts.Flow, () => "a completed checkpoint to restart from");
        var replaced = await Client.ReplaceAsync(RealSchedulerFixture.WordsSpec("2"), dropState: true).WaitAsync(TestTimeouts.Flow);
        // The next test finds the topology running again.
        await Eventually.UntilAsync(scheduler.AllRunningAsync, TestTimeouts.Flow, () => "both operators running after the restart");

        Assert.True(replaced.Restarted);
        Assert.Equal(replaced.TotalMs, replaced.SwitchMs);
        Assert.Equal("2", replaced.Operator.Spec.Environment["VERSION"]);
    }

    [Fact]
    public async Task Errors_carry_the_status_code_and_the_schedulers_message()
    {
        var logs = await Assert.ThrowsAsync<SchedulerException>(async () => await Client.GetLogsAsync("ghost").ToListAsync().AsTask().WaitAsync(TestTimeouts.Step));
        var kill = await Assert.ThrowsAsync<SchedulerException>(() => Client.KillAsync("ghost").WaitAsync(TestTimeouts.Step));
        using var wrong = new SchedulerClient(scheduler.Address, "not-the-token");
        var refused = await Assert.ThrowsAsync<SchedulerException>(() => wrong.ListAsync().WaitAsync(TestTimeouts.Step));

        Assert.Equal(StatusCode.NotFound, logs.StatusCode);
        Assert.Contains("ghost", logs.Message);
        Assert.Equal(StatusCode.NotFound, kill.StatusCode);
        Assert.Contains("'ghost'", kill.Message);
        Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);
        Assert.False(string.IsNullOrEmpty(refused.Message));
    }

    private sealed class Standby(string leader) : Scheduler.SchedulerBase
    {
        public override Task<ListResponse> List(ListRequest request, ServerCallContext context) =>
            throw new RpcException(new Status(StatusCode.Unavailable, $"this scheduler is a standby; the leader is {leader}"));
    }

    [Fact]
    public async Task A_standbys_refusal_is_followed_to_the_leader_and_a_dead_address_passed_over()
    {
        var leader = scheduler.Address.Contains("://", StringComparison.Ordinal) ? scheduler.Address : $"http://{scheduler.Address}";
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(new Standby(leader));
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http2));
        await using var app = builder.Build();
        app.MapGrpcService<Standby>();
        await app.StartAsync().WaitAsync(TestTimeouts.Step);
        var standby = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var dead = $"127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}";
        listener.Stop();

        foreach (var addresses in new[] { standby, $"{dead},{leader}" })
        {
            using var client = new SchedulerClient(addresses, scheduler.Token);
            var list = await client.ListAsync().WaitAsync(TestTimeouts.Step);
            Assert.Equal(["counter", "words"], list.Select(o => o.Spec.Name));
            Assert.Equal(leader.TrimEnd('/'), client.Address);
        }
    }
}
