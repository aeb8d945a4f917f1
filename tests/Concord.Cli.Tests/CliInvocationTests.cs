using System.Net;
using System.Net.Sockets;
using Concord.Contracts.Scheduler.V1;

namespace Concord.Cli.Tests;

/// <summary>The whole CLI run in-process, against no scheduler or a fake one over real gRPC.</summary>
public sealed class CliInvocationTests : IDisposable
{
    private static readonly TimeSpan CommandTimeout = TestTimeouts.Process;

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private sealed record Result(int ExitCode, string Out, string Err)
    {
        public string[] ErrLines => Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    private async Task<Result> RunAsync(string[] args, params (string Name, string Value)[] environment)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        // Only the given variables exist, and the home is the temp directory: the developer's
        // ~/.concord and CONCORD_* variables never leak into a test.
        string? Lookup(string name) =>
            environment.Any(e => e.Name == name) ? environment.First(e => e.Name == name).Value
            : name == "CONCORD_HOME" ? _dir.Path
            : null;
        var code = await ConcordCli.RunAsync(args, output, error, Lookup, interactive: false, TimeProvider.System)
            .WaitAsync(CommandTimeout);
        return new Result(code, output.ToString(), error.ToString().ReplaceLineEndings("\n"));
    }

    private static int UnusedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private string CounterFile(int instances = 2) => _dir.Write("counter.json", $$"""
        {"name": "counter", "executable": "python3", "instances": {{instances}},
         "inputs": [{"stream": "words", "grouping": "group_by"}], "outputs": ["counts"]}
        """);

    [Theory]
    [InlineData("list")]
    [InlineData("graph")]
    [InlineData("kill", "counter")]
    [InlineData("scale", "counter", "2")]
    public async Task Command_without_a_scheduler_prints_one_line_and_exits_1(params string[] command)
    {
        var port = UnusedPort();

        var result = await RunAsync([.. command, "--scheduler", $"http://127.0.0.1:{port}"]);

        Assert.Equal(1, result.ExitCode);
        Assert.Equal($"error: no scheduler at http://127.0.0.1:{port}: start one with `concord up`", Assert.Single(result.ErrLines));
        Assert.Equal("", result.Out);
    }

    [Fact]
    public async Task Deploy_without_a_scheduler_names_the_address_from_CONCORD_SCHEDULER()
    {
        var port = UnusedPort();

        var result = await RunAsync(["deploy", CounterFile()], ("CONCORD_SCHEDULER", $"http://127.0.0.1:{port}"));

        Assert.Equal(1, result.ExitCode);
        Assert.Equal($"error: no scheduler at http://127.0.0.1:{port}: start one with `concord up`", Assert.Single(result.ErrLines));
    }

    [Fact]
    public async Task Address_comes_from_scheduler_json_in_the_home()
    {
        var port = UnusedPort();
        _dir.Write("scheduler.json", $$"""{"address":"http://127.0.0.1:{{port}}","pid":1,"startedUnixMs":1}""");

        var result = await RunAsync(["list"]);

        Assert.Contains($"no scheduler at http://127.0.0.1:{port}", result.Err);
    }

    [Fact]
    public async Task Bad_deploy_file_is_reported_before_contacting_the_scheduler()
    {
        var file = _dir.Write("bad.json", """{"name": "counter", "executable": "python3", "instance": 2}""");

        var result = await RunAsync(["deploy", file, "--scheduler", $"http://127.0.0.1:{UnusedPort()}"]);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("instance: is not a known field; did you mean \"instances\"?", result.Err);
        Assert.DoesNotContain("no scheduler", result.Err);
    }

    [Theory]
    [InlineData("0", "between 1 and 128, got 0")]
    [InlineData("-3", "between 1 and 128, got -3")]
    [InlineData("many", "must be a whole number, got 'many'")]
    [InlineData("1.5", "must be a whole number, got '1.5'")]
    public async Task Scale_rejects_counts_below_one_and_non_numbers(string count, string message)
    {
        var result = await RunAsync(["scale", "counter", count]);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains(message, Assert.Single(result.ErrLines));
    }

    [Fact]
    public async Task Misspelt_command_suggests_the_right_one()
    {
        var result = await RunAsync(["depoy", "x.json"]);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("did you mean `concord deploy`?", Assert.Single(result.ErrLines));
    }

    [Fact]
    public async Task Deploy_waits_until_every_instance_runs()
    {
        await using var host = await FakeSchedulerHost.StartAsync();

        var result = await RunAsync(["deploy", CounterFile(), "--scheduler", host.Address]);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("deployed 'counter' (2 instances)", result.Out);
        Assert.Contains("'counter' is running (2 instances)", result.Out);
        Assert.True(host.Scheduler.ListCalls >= 1);
    }

    [Fact]
    public async Task Deploy_with_no_wait_returns_without_polling()
    {
        await using var host = await FakeSchedulerHost.StartAsync();

        var result = await RunAsync(["deploy", CounterFile(), "--no-wait", "--scheduler", host.Address]);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(0, host.Scheduler.ListCalls);
    }

    [Fact]
    public async Task Deploy_reports_the_last_error_of_an_instance_that_fails_while_waiting()
    {
        await using var host = await FakeSchedulerHost.StartAsync();
        host.Scheduler.StateAfterStart = InstanceState.Failed;
        host.Scheduler.ErrorAfterStart = "operator exited with code 1: ModuleNotFoundError: concord";

        var result = await RunAsync(["deploy", CounterFile(), "--scheduler", host.Address]);

        Assert.Equal(1, result.ExitCode);
        var line = Assert.Single(result.ErrLines);
        Assert.Contains("'counter' instance 0 failed: operator exited with code 1: ModuleNotFoundError: concord", line);
    }

    [Fact]
    public async Task Deploy_times_out_with_the_running_count()
    {
        await using var host = await FakeSchedulerHost.StartAsync();
        host.Scheduler.StateAfterStart = InstanceState.Starting;

        var result = await RunAsync(["deploy", CounterFile(), "--timeout", "1", "--scheduler", host.Address]);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("timed out after 1 s waiting for 'counter': 0/2 instances running", Assert.Single(result.ErrLines));
    }

    [Fact]
    public async Task Deploy_of_an_existing_name_prints_the_scheduler_message()
    {
        await using var host = await FakeSchedulerHost.StartAsync();
        await RunAsync(["deploy", CounterFile(), "--no-wait", "--scheduler", host.Address]);

        var result = await RunAsync(["deploy", CounterFile(), "--scheduler", host.Address]);

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("error: operator 'counter' is already deployed; kill it first (`concord kill counter`) or scale it", Assert.Single(result.ErrLines));
    }

    [Fact]
    public async Task Kill_of_an_unknown_operator_prints_NOT_FOUND_message()
    {
        await using var host = await FakeSchedulerHost.StartAsync();

        var result = await RunAsync(["kill", "ghost", "--scheduler", host.Address]);

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("error: operator 'ghost' is not deployed; see `concord list`", Assert.Single(result.ErrLines));
    }

    [Fact]
    public async Task Kill_and_scale_report_what_they_did()
    {
        await using var host = await FakeSchedulerHost.StartAsync();
        await RunAsync(["deploy", CounterFile(1), "--scheduler", host.Address]);

        var scale = await RunAsync(["scale", "counter", "3", "--scheduler", host.Address]);
        var kill = await RunAsync(["kill", "counter", "--scheduler", host.Address]);

        Assert.Equal((0, 0), (scale.ExitCode, kill.ExitCode));
        Assert.Contains("scaled 'counter' to 3 instances", scale.Out);
        Assert.Contains("killed 'counter'", kill.Out);
    }

    [Fact]
    public async Task List_shows_a_table_and_json_for_scripts()
    {
        await using var host = await FakeSchedulerHost.StartAsync();
        await RunAsync(["deploy", CounterFile(), "--scheduler", host.Address]);

        var table = await RunAsync(["list", "--scheduler", host.Address]);
        var json = await RunAsync(["list", "--format", "json", "--scheduler", host.Address]);

        Assert.Equal(0, table.ExitCode);
        Assert.Contains("OPERATOR", table.Out);
        var row = Assert.Single(table.Out.Split('\n'), l => l.Contains("counter"));
        Assert.Contains("2/2", row);
        Assert.Contains("running", row);
        Assert.Contains("words:group_by", row);
        Assert.Contains("counts", row);
        Assert.Equal("counter", Assert.Single(ListResponse.Parser.ParseJson(json.Out).Operators).Spec.Name);
    }

    [Fact]
    public async Task List_of_an_empty_topology_says_how_to_deploy()
    {
        await using var host = await FakeSchedulerHost.StartAsync();

        var result = await RunAsync(["list", "--scheduler", host.Address]);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("no operators deployed", result.Out);
    }

    [Fact]
    public async Task Graph_renders_text_and_dot_from_the_scheduler()
    {
        await using var host = await FakeSchedulerHost.StartAsync();
        _dir.Write("source.json", """{"name": "source", "executable": "python3", "outputs": ["words"]}""");
        await RunAsync(["deploy", Path.Combine(_dir.Path, "source.json"), "--scheduler", host.Address]);
        await RunAsync(["deploy", CounterFile(), "--scheduler", host.Address]);

        var text = await RunAsync(["graph", "--scheduler", host.Address]);
        var dot = await RunAsync(["graph", "--format", "dot", "--scheduler", host.Address]);

        Assert.Contains("source --words[group_by]--> counter", text.Out);
        Assert.Contains("\"source\" -> \"counter\" [label=\"words [group_by]\"];", dot.Out);
    }

    [Fact]
    public async Task Down_without_a_scheduler_says_so_and_succeeds()
    {
        var result = await RunAsync(["down"]);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("no scheduler running", result.Out);
    }

    [Fact]
    public async Task Down_removes_a_stale_scheduler_json()
    {
        // A pid that cannot exist on Linux (above pid_max's hard limit of 2^22).
        _dir.Write("scheduler.json", """{"address":"http://127.0.0.1:1","pid":2147483000,"startedUnixMs":1}""");

        var result = await RunAsync(["down"]);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("removed the stale", result.Out);
        Assert.False(File.Exists(Path.Combine(_dir.Path, "scheduler.json")));
    }

    [Fact]
    public async Task Up_with_a_missing_scheduler_dll_names_the_variable()
    {
        var result = await RunAsync(["up", "--detach"], ("CONCORD_SCHEDULER_DLL", "/nonexistent/Concord.Scheduler.dll"));

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("CONCORD_SCHEDULER_DLL is '/nonexistent/Concord.Scheduler.dll', which does not exist", Assert.Single(result.ErrLines));
    }

    [Fact]
    public async Task Every_call_carries_the_token_from_the_option_then_CONCORD_TOKEN_then_the_homes_token_file()
    {
        await using var host = await FakeSchedulerHost.StartAsync();
        _dir.Write("token", "from-the-home-file\n");

        var fromOption = await RunAsync(["list", "--scheduler", host.Address, "--token", "from-the-option"], ("CONCORD_TOKEN", "from-the-environment"));
        var fromEnvironment = await RunAsync(["list", "--scheduler", host.Address], ("CONCORD_TOKEN", "from-the-environment"));
        var fromHome = await RunAsync(["list", "--scheduler", host.Address]);

        Assert.All([fromOption, fromEnvironment, fromHome], r => Assert.Equal(0, r.ExitCode));
        Assert.Equal(["Bearer from-the-option", "Bearer from-the-environment", "Bearer from-the-home-file"], host.Scheduler.ListAuthorizations);
    }

    [Fact]
    public async Task A_refused_token_prints_the_schedulers_fix_and_where_the_CLI_took_the_token_from_never_the_token()
    {
        await using var host = await FakeSchedulerHost.StartAsync();
        host.Scheduler.RefuseListWith = new Grpc.Core.Status(Grpc.Core.StatusCode.Unauthenticated,
            "the call carries a wrong operator token; send `authorization: Bearer <token>` with the token in /x/token");

        var result = await RunAsync(["list", "--scheduler", host.Address], ("CONCORD_TOKEN", "a-wrong-token-value"));

        Assert.Equal(1, result.ExitCode);
        var line = Assert.Single(result.ErrLines);
        Assert.Contains("with the token in /x/token", line);
        Assert.Contains("(this CLI sent: CONCORD_TOKEN)", line);
        Assert.DoesNotContain("a-wrong-token-value", line);
    }

    [Fact]
    public async Task With_several_schedulers_a_standbys_refusal_sends_the_call_to_the_leader_it_names()
    {
        await using var leader = await FakeSchedulerHost.StartAsync();
        await using var standby = await FakeSchedulerHost.StartAsync();
        standby.Scheduler.RefuseListWith = new Grpc.Core.Status(Grpc.Core.StatusCode.Unavailable,
            $"this scheduler is a standby; the leader is {leader.Address.TrimEnd('/')}");

        var result = await RunAsync(["list", "--scheduler", $"{standby.Address},{leader.Address}"]);

        Assert.Equal(0, result.ExitCode);
        Assert.Single(standby.Scheduler.ListAuthorizations);
        Assert.Single(leader.Scheduler.ListAuthorizations);
    }

    [Fact]
    public async Task With_several_schedulers_an_unreachable_one_is_passed_over_for_the_next()
    {
        await using var reachable = await FakeSchedulerHost.StartAsync();

        var result = await RunAsync(["list", "--scheduler", $"http://127.0.0.1:1,{reachable.Address}"]);

        Assert.Equal(0, result.ExitCode);
        Assert.Single(reachable.Scheduler.ListAuthorizations);
    }

    [Fact]
    public async Task A_standby_that_knows_no_leader_is_reported_with_its_own_words()
    {
        await using var standby = await FakeSchedulerHost.StartAsync();
        standby.Scheduler.RefuseListWith = new Grpc.Core.Status(Grpc.Core.StatusCode.Unavailable,
            "this scheduler is a standby and no scheduler leads right now (an election is under way); retry in a few seconds");

        var result = await RunAsync(["list", "--scheduler", standby.Address]);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("no scheduler leads right now", Assert.Single(result.ErrLines), StringComparison.Ordinal);
    }
}
