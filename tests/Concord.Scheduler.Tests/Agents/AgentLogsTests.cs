using Concord.Contracts.Agent.V1;
using Concord.Contracts.Scheduler.V1;
using Grpc.Core;

namespace Concord.Scheduler.Tests.Agents;

/// <summary>
/// `concord logs` (GetLogs) of instances on agents (<see cref="AgentCluster"/>): the scheduler asks
/// the agent that runs the instance for the tail of the executor.log in the agent's own home.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class AgentLogsTests
{
    [Fact]
    public async Task The_log_an_instance_writes_on_its_agent_comes_back_through_GetLogs()
    {
        await using var cluster = new AgentCluster();
        await cluster.StartSchedulerAsync();
        var agents = new[] { await cluster.StartAgentAsync("a", cpus: 1), await cluster.StartAgentAsync("b", cpus: 1) };
        await cluster.DeployAsync(AgentCluster.Spec("work", instances: 2));
        var status = await cluster.WaitForAsync("work", s => s.Instances.All(i => i.Host.Length > 0 && i.ExecutorPid > 0));
        // One instance per agent: each log comes from its own agent's home.
        Assert.Equal(["a", "b"], status.Instances.Select(i => i.Host).Order());

        // The script writes its line as it starts, in another process: poll until both logs have it
        // (after the line the runtime writes as it launches).
        List<LogLine> lines = [];
        await Eventually.UntilAsync(async () =>
        {
            lines = await LogsAsync(cluster, new GetLogsRequest { OperatorName = "work" });
            return lines.Count(l => l.Line.StartsWith("executor on agent", StringComparison.Ordinal)) == 2;
        }, AgentCluster.Step, () => $"GetLogs returned {lines.Count} line(s): {string.Join(" | ", lines.Select(l => l.Line))}");

        foreach (var instance in status.Instances)
        {
            var ofInstance = lines.Where(l => l.InstanceIndex == instance.Index).ToList();
            Assert.All(ofInstance, l => Assert.Equal("work", l.OperatorName));
            Assert.Contains("scheduler launches work/" + instance.Index, ofInstance[0].Line);
            Assert.Equal($"executor on agent {instance.Host}: work/{instance.Index}", ofInstance[^1].Line);
        }
        // The tail asked for, one instance, and no history at all, as for local instances.
        var last = await LogsAsync(cluster, new GetLogsRequest { OperatorName = "work", TailLines = 1 });
        Assert.Equal(
            status.Instances.Select(i => $"{i.Index} executor on agent {i.Host}: work/{i.Index}"),
            last.Select(l => $"{l.InstanceIndex} {l.Line}"));
        var one = await LogsAsync(cluster, new GetLogsRequest { OperatorName = "work", InstanceIndexes = { 1 } });
        Assert.NotEmpty(one);
        Assert.All(one, l => Assert.Equal(1, l.InstanceIndex));
        Assert.Empty(await LogsAsync(cluster, new GetLogsRequest { OperatorName = "work", TailLines = -1 }));

        // Following: the tail, then what the executor writes later (appended here as it would).
        using var timeout = new CancellationTokenSource(AgentCluster.Step);
        using var follow = cluster.Client.GetLogs(new GetLogsRequest { OperatorName = "work", TailLines = 1, Follow = true }, cancellationToken: timeout.Token);
        var followed = new List<string>();
        while (followed.Count < 2 && await follow.ResponseStream.MoveNext(timeout.Token))
        {
            followed.Add($"{follow.ResponseStream.Current.InstanceIndex} {follow.ResponseStream.Current.Line}");
        }
        Assert.Equal(last.Select(l => $"{l.InstanceIndex} {l.Line}"), followed);
        var second = status.Instances.Single(i => i.Index == 1);
        var log = Path.Combine(agents.Single(a => a.Id == second.Host).Home, "instances", "work", "1", "executor.log");
        await File.AppendAllTextAsync(log, "written later\n");
        Assert.True(await follow.ResponseStream.MoveNext(timeout.Token));
        Assert.Equal("1 written later", $"{follow.ResponseStream.Current.InstanceIndex} {follow.ResponseStream.Current.Line}");
    }

    [Fact]
    public async Task An_unknown_instance_and_a_disconnected_agent_give_clear_errors()
    {
        await using var cluster = new AgentCluster();
        await cluster.StartSchedulerAsync();
        var a = await cluster.StartAgentAsync("a", cpus: 1);
        await cluster.DeployAsync(AgentCluster.Spec("work", instances: 1));
        await cluster.WaitForAsync("work", s => s.Instances.All(i => i.Host == "a" && i.ExecutorPid > 0));

        var unknownIndex = await Assert.ThrowsAsync<RpcException>(() => LogsAsync(cluster, new GetLogsRequest { OperatorName = "work", InstanceIndexes = { 5 } }));
        Assert.Equal(StatusCode.InvalidArgument, unknownIndex.StatusCode);
        Assert.Contains("instance 5 of 'work' does not exist; it has 1 instance(s)", unknownIndex.Status.Detail);
        var unknownOperator = await Assert.ThrowsAsync<RpcException>(() => LogsAsync(cluster, new GetLogsRequest { OperatorName = "nope" }));
        Assert.Equal(StatusCode.NotFound, unknownOperator.StatusCode);
        Assert.Contains("operator 'nope' is not deployed", unknownOperator.Status.Detail);

        a.Host.Partition();
        await Eventually.UntilAsync(() => !cluster.Runtime.ConnectedAgents.Contains("a"), AgentCluster.Step, () => "agent a is still connected");

        var disconnected = await Assert.ThrowsAsync<RpcException>(() => LogsAsync(cluster, new GetLogsRequest { OperatorName = "work" }));
        Assert.Equal(StatusCode.Unavailable, disconnected.StatusCode);
        Assert.Contains("agent a, which has work/0, is not connected to this scheduler", disconnected.Status.Detail);
        Assert.Contains("concord agent --agent-id a", disconnected.Status.Detail);
    }

    [Fact]
    public async Task The_log_an_agent_kept_of_a_failed_instance_is_shown_for_a_killed_operator_or_a_scaled_away_index()
    {
        await using var cluster = new AgentCluster();
        await cluster.StartSchedulerAsync();
        var a = await cluster.StartAgentAsync("a");
        var b = await cluster.StartAgentAsync("b");
        // What LocalProcessRuntime leaves when it forgets a failed instance (LocalRuntimeForgetTests covers the move itself).
        Keep(a, "gone", index: 2, "older, from a", DateTime.UtcNow.AddMinutes(-5));
        Keep(b, "gone", index: 1, "newer, from b", DateTime.UtcNow);
        Keep(b, "work", index: 3, "work/3 failed", DateTime.UtcNow);

        // Not deployed: the newest kept log of any agent.
        var killed = await LogsAsync(cluster, new GetLogsRequest { OperatorName = "gone" });
        Assert.Equal(["1 newer, from b"], killed.Select(l => $"{l.InstanceIndex} {l.Line}"));

        await cluster.DeployAsync(AgentCluster.Spec("work", instances: 1));
        var scaledAway = await LogsAsync(cluster, new GetLogsRequest { OperatorName = "work", InstanceIndexes = { 3 } });
        Assert.Equal(["3 work/3 failed"], scaledAway.Select(l => $"{l.InstanceIndex} {l.Line}"));

        var none = await Assert.ThrowsAsync<RpcException>(() => LogsAsync(cluster, new GetLogsRequest { OperatorName = "never" }));
        Assert.Equal(StatusCode.NotFound, none.StatusCode);
    }

    private static void Keep(AgentCluster.Agent agent, string operatorName, int index, string line, DateTime written)
    {
        var kept = Path.Combine(agent.Home, "instances", operatorName, "last-failed");
        Directory.CreateDirectory(kept);
        var log = Path.Combine(kept, "executor.log");
        File.WriteAllText(log, line + "\n");
        File.SetLastWriteTimeUtc(log, written);
        File.WriteAllText(Path.Combine(kept, "index"), index.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task An_agent_reads_only_logs_in_its_own_home_under_names_it_checked()
    {
        await using var cluster = new AgentCluster();
        await cluster.StartSchedulerAsync();
        var a = await cluster.StartAgentAsync("a");
        // A file outside instances/ that a path built from the names would reach.
        File.WriteAllText(Path.Combine(a.Home, "executor.log"), "secret\n");

        foreach (var name in new[] { "..", "../instances", ".hidden", "a/b", "" })
        {
            var answer = a.Host.AnswerLog(new AgentLogRequest { RequestId = 7, OperatorName = name, Index = 0, TailLines = 10 });
            Assert.Equal(7UL, answer.RequestId);
            Assert.Contains("out of range", answer.Error);
            Assert.Empty(answer.Lines);
        }
        var negative = a.Host.AnswerLog(new AgentLogRequest { RequestId = 8, OperatorName = "work", Index = -1, TailLines = 10 });
        Assert.Contains("out of range", negative.Error);
        var missing = a.Host.AnswerLog(new AgentLogRequest { RequestId = 9, OperatorName = "work", Index = 0, TailLines = 10 });
        Assert.True(missing.NotFound);
        Assert.Empty(missing.Error);
    }

    private static async Task<List<LogLine>> LogsAsync(AgentCluster cluster, GetLogsRequest request)
    {
        using var timeout = new CancellationTokenSource(AgentCluster.Step);
        using var call = cluster.Client.GetLogs(request, cancellationToken: timeout.Token);
        var lines = new List<LogLine>();
        await foreach (var line in call.ResponseStream.ReadAllAsync(timeout.Token))
        {
            lines.Add(line);
        }
        return lines;
    }
}
