using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Grpc.Core;

namespace Concord.Security.Tests;

/// <summary>
/// Finding: the scheduler API had no authentication. `Deploy` of `/bin/sh -c …` ran as the
/// scheduler's user and `List` showed every operator's environment. Now every operator-facing
/// call needs the home's token, and secret-looking values never leave the scheduler.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class SchedulerApiAuthenticationTests
{
    private static readonly TimeSpan Step = TestTimeouts.Step;

    private static OperatorSpec Shell(string name, string marker) => new()
    {
        Name = name,
        Executable = "/bin/sh",
        Args = { "-c", $"touch {marker}" },
        Instances = 1,
    };

    [Fact]
    public async Task Deploy_without_the_token_is_unauthenticated_names_the_fix_and_launches_nothing()
    {
        await using var scheduler = await LocalScheduler.StartAsync();
        var marker = scheduler.Home.Combine("pwned");

        var error = await Assert.ThrowsAsync<RpcException>(() =>
            scheduler.Stranger.DeployAsync(new DeployRequest { Spec = Shell("evil", marker) }).ResponseAsync.WaitAsync(Step));

        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
        Assert.Contains(scheduler.Home.Combine("token"), error.Status.Detail);
        Assert.Contains("--token", error.Status.Detail);
        Assert.Contains("CONCORD_TOKEN", error.Status.Detail);
        Assert.DoesNotContain(scheduler.Token, error.Status.Detail);
        Assert.False(Directory.Exists(scheduler.Home.Combine("instances")), "an executor was launched for an unauthenticated deploy");
        Assert.Empty((await scheduler.Operator.ListAsync(new ListRequest()).ResponseAsync.WaitAsync(Step)).Operators);
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public async Task A_wrong_token_is_unauthenticated_and_neither_token_is_echoed()
    {
        await using var scheduler = await LocalScheduler.StartAsync();
        const string guess = "guessed-token-0123456789abcdef";
        var client = new Contracts.Scheduler.V1.Scheduler.SchedulerClient(scheduler.Invoker.WithBearer(guess));

        var error = await Assert.ThrowsAsync<RpcException>(() =>
            client.DeployAsync(new DeployRequest { Spec = Shell("evil", "/tmp/never") }).ResponseAsync.WaitAsync(Step));

        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
        Assert.Contains("wrong operator token", error.Status.Detail);
        Assert.DoesNotContain(guess, error.Status.Detail);
        Assert.DoesNotContain(scheduler.Token, error.Status.Detail);
    }

    [Fact]
    public async Task Every_operator_call_needs_the_token_not_only_deploy()
    {
        await using var scheduler = await LocalScheduler.StartAsync();
        var stranger = scheduler.Stranger;
        var calls = new (string Name, Func<Task> Call)[]
        {
            ("List", () => stranger.ListAsync(new ListRequest()).ResponseAsync),
            ("Graph", () => stranger.GraphAsync(new GraphRequest()).ResponseAsync),
            ("Kill", () => stranger.KillAsync(new KillRequest { Name = "x" }).ResponseAsync),
            ("Scale", () => stranger.ScaleAsync(new ScaleRequest { Name = "x", Instances = 2 }).ResponseAsync),
            ("Replace", () => stranger.ReplaceAsync(new ReplaceRequest { Spec = Shell("x", "/tmp/never") }).ResponseAsync),
            ("GetInstanceMetrics", () => stranger.GetInstanceMetricsAsync(new GetInstanceMetricsRequest()).ResponseAsync),
            ("ListTraces", () => stranger.ListTracesAsync(new ListTracesRequest()).ResponseAsync),
            ("GetTrace", () => stranger.GetTraceAsync(new GetTraceRequest { TraceId = "00" }).ResponseAsync),
            ("TailStream", () => stranger.TailStreamAsync(new TailStreamRequest { Stream = "words" }).ResponseAsync),
            ("GetLogs", async () =>
            {
                using var logs = stranger.GetLogs(new GetLogsRequest { OperatorName = "x" });
                await logs.ResponseStream.MoveNext(CancellationToken.None);
            }),
        };

        foreach (var (name, call) in calls)
        {
            var error = await Assert.ThrowsAsync<RpcException>(() => call().WaitAsync(Step));
            Assert.True(error.StatusCode == StatusCode.Unauthenticated, $"{name} without a token answered {error.StatusCode}: {error.Status.Detail}");
        }
    }

    [Fact]
    public async Task List_graph_and_deploy_show_secret_looking_environment_values_as_stars_and_the_executor_still_gets_them()
    {
        await using var scheduler = await LocalScheduler.StartAsync();
        var spec = new OperatorSpec { Name = "sink", Executable = "/bin/true", Instances = 1 };
        spec.Environment.Add(new Dictionary<string, string>
        {
            ["API_TOKEN"] = "s3cret-token",
            ["db_password"] = "s3cret-password",
            ["AWS_SECRET_ACCESS_KEY"] = "s3cret-aws",
            ["GOOGLE_APPLICATION_CREDENTIALS"] = "s3cret-credentials",
            ["SIGNING_KEY"] = "s3cret-key",
            ["LOG_LEVEL"] = "debug",
        });

        var deployed = (await scheduler.Operator.DeployAsync(new DeployRequest { Spec = spec }).ResponseAsync.WaitAsync(Step)).Operator;
        var listed = await scheduler.StatusAsync("sink");
        var graphed = (await scheduler.Operator.GraphAsync(new GraphRequest()).ResponseAsync.WaitAsync(Step)).Operators.Single();

        foreach (var shown in new[] { deployed.Spec, listed.Spec, graphed.Spec })
        {
            Assert.Equal("debug", shown.Environment["LOG_LEVEL"]);
            Assert.All(shown.Environment.Where(e => e.Key != "LOG_LEVEL"), e => Assert.Equal(Credentials.RedactedValue, e.Value));
            Assert.DoesNotContain("s3cret", shown.ToString());
        }
        // Redaction is only what leaves the scheduler: the operator is launched with the real values.
        var environment = await scheduler.ExecutorEnvironmentAsync("sink");
        var specFile = await File.ReadAllTextAsync(environment["CONCORD_SPEC_FILE"]);
        Assert.Contains("s3cret-token", specFile);
    }
}
