using Concord.Contracts.Scheduler.V1;
using Concord.EndToEnd.Tests.Harness;
using Grpc.Core;

namespace Concord.EndToEnd.Tests;

/// <summary>
/// Bad deploys against a running word count: each gets a clear error, the scheduler keeps
/// serving, and the operators already running are not disturbed (same incarnation, no restart).
/// </summary>
public class BadInputTests
{
    private static async Task<(Cluster Cluster, string Output, InstanceStatus Sink)> RunningSinkAsync()
    {
        var cluster = await Cluster.StartAsync();
        var output = Path.Combine(cluster.Home, "counts.csv");
        var sink = await cluster.DeployAsync(Specs.Sink(output));
        var running = await cluster.WaitRunningAsync(sink.Spec.Name, 1);
        return (cluster, output, running.Instances[0]);
    }

    private static async Task AssertUndisturbedAsync(Cluster cluster, InstanceStatus before)
    {
        var sink = await cluster.WaitRunningAsync("sink", 1);
        Assert.Equal(before.Incarnation, sink.Instances[0].Incarnation);
        Assert.Equal(0, sink.Instances[0].Restarts);
        Assert.True(Processes.IsAlive(before.OperatorPid), "the sink's operator process must still run");
    }

    [Fact]
    public async Task Deploy_of_an_executable_that_does_not_exist_is_rejected_naming_the_path()
    {
        var (cluster, _, sink) = await RunningSinkAsync();
        await using var _ = cluster;
        var spec = Specs.Counter();
        spec.Executable = "/nonexistent/concord-counter";

        var error = await Assert.ThrowsAsync<RpcException>(() => cluster.DeployAsync(spec, waitRunning: false));

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("/nonexistent/concord-counter", error.Status.Detail);
        Assert.Contains("does not exist", error.Status.Detail);
        Assert.Null(await cluster.FindAsync("counter"));
        await AssertUndisturbedAsync(cluster, sink);
    }

    [Fact]
    public async Task Deploy_with_invalid_fields_is_rejected_naming_every_field()
    {
        var (cluster, _, sink) = await RunningSinkAsync();
        await using var _ = cluster;
        var spec = Specs.Counter();
        spec.Instances = 0;
        spec.Name = "Bad Name";

        var error = await Assert.ThrowsAsync<RpcException>(() => cluster.DeployAsync(spec, waitRunning: false));

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("name:", error.Status.Detail);
        Assert.Contains("instances:", error.Status.Detail);
        await AssertUndisturbedAsync(cluster, sink);
    }

    [Fact]
    public async Task A_second_deploy_under_an_existing_name_is_rejected_and_the_first_keeps_running()
    {
        var (cluster, _, sink) = await RunningSinkAsync();
        await using var _ = cluster;

        var error = await Assert.ThrowsAsync<RpcException>(() => cluster.DeployAsync(Specs.Sink("/tmp/elsewhere.csv"), waitRunning: false));

        Assert.Equal(StatusCode.AlreadyExists, error.StatusCode);
        Assert.Contains("'sink' is already deployed", error.Status.Detail);
        await AssertUndisturbedAsync(cluster, sink);
    }

    [Fact]
    public async Task An_operator_whose_metadata_disagrees_with_its_deploy_file_fails_with_both_sides_named()
    {
        var (cluster, _, sink) = await RunningSinkAsync();
        await using var _ = cluster;
        var spec = Specs.Counter(instances: 1);
        spec.ExpectedOutputs.Clear();
        spec.ExpectedOutputs.Add("totals");

        await cluster.DeployAsync(spec, waitRunning: false);
        var failed = await cluster.WaitForAsync("counter", o => o.LastError.Contains("totals"), "a last error about its outputs");

        Assert.Contains("counts", failed.LastError);
        Assert.DoesNotContain(failed.Instances, i => i.State == InstanceState.Running);
        await AssertUndisturbedAsync(cluster, sink);
    }

    [Fact]
    public async Task An_operator_that_throws_in_init_is_reported_failed_with_the_exception_and_restarted()
    {
        var (cluster, _, sink) = await RunningSinkAsync();
        await using var _ = cluster;
        var spec = Specs.Source();
        spec.Environment["WORDCOUNT_DICTIONARY"] = "/nonexistent/words.txt";

        await cluster.DeployAsync(spec, waitRunning: false);
        var failed = await cluster.WaitForAsync("source", o => o.LastError.Contains("/nonexistent/words.txt") && o.Instances[0].Restarts >= 1,
            "a last error naming the missing dictionary, after a restart");

        Assert.Contains("Exception", failed.LastError);
        Assert.NotEqual(InstanceState.Running, failed.Instances[0].State);
        await AssertUndisturbedAsync(cluster, sink);
    }

    [Fact]
    public async Task Kill_and_scale_of_an_unknown_operator_are_NOT_FOUND()
    {
        var (cluster, _, sink) = await RunningSinkAsync();
        await using var _ = cluster;

        var kill = await Assert.ThrowsAsync<RpcException>(async () => await cluster.Client.KillAsync(new KillRequest { Name = "nope" }, cluster.Call()));
        var scale = await Assert.ThrowsAsync<RpcException>(async () => await cluster.Client.ScaleAsync(new ScaleRequest { Name = "nope", Instances = 2 }, cluster.Call()));

        Assert.Equal(StatusCode.NotFound, kill.StatusCode);
        Assert.Equal(StatusCode.NotFound, scale.StatusCode);
        Assert.Contains("sink", kill.Status.Detail);
        await AssertUndisturbedAsync(cluster, sink);
    }
}
