using System.Text.Json;
using Concord.EndToEnd.Tests.Harness;

namespace Concord.Observability.Tests;

/// <summary>
/// CONCORD_LOG_FORMAT=json on the scheduler makes every executor it launches log one JSON
/// object per line, and the operator's own stdout line is one of them, tagged with operator
/// and instance.
/// </summary>
[Collection(ClusterCollection.Name)] // runs alone: it sets a variable the cluster's processes inherit
public sealed class JsonLogTests
{
    [Fact]
    public async Task With_json_logs_the_operators_stdout_is_a_json_event_tagged_with_operator_and_instance()
    {
        Cluster cluster;
        // The scheduler process inherits this process's environment, and its executors inherit
        // the scheduler's: set the variable only around the start.
        Environment.SetEnvironmentVariable("CONCORD_LOG_FORMAT", "json");
        try
        {
            cluster = await Cluster.StartAsync();
        }
        finally
        {
            Environment.SetEnvironmentVariable("CONCORD_LOG_FORMAT", null);
        }
        await using var _ = cluster;
        var wrapper = Path.Combine(cluster.Home, "chatty.sh");
        await File.WriteAllTextAsync(wrapper, $"#!/bin/sh\necho \"{ObservabilityCluster.StdoutMarker}\"\nexec \"{Repo.WordCountExe}\" \"$@\"\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        var sink = Specs.Sink(Path.Combine(cluster.Home, "counts.csv"), name: "chatty");
        sink.Executable = wrapper;
        await cluster.DeployAsync(sink);

        var line = await Eventually.UntilAsync(async () =>
        {
            var run = await ObservabilityCluster.RunCliAsync(["--scheduler", cluster.Address, "--home", cluster.Home, "logs", "chatty", "--instance", "0"]);
            return run.Out.Split('\n').FirstOrDefault(l => l.Contains(ObservabilityCluster.StdoutMarker));
        }, TimeSpan.FromSeconds(30), () => $"the operator's stdout line in `concord logs chatty`\n{cluster.InstanceLogs("chatty")}");

        using var json = JsonDocument.Parse(line);
        var root = json.RootElement;
        Assert.Equal(ObservabilityCluster.StdoutMarker, root.GetProperty("Line").GetString());
        Assert.Equal("OperatorStdout", root.GetProperty("EventId").GetProperty("Name").GetString());
        Assert.Equal("chatty", root.GetProperty("operator").GetString());
        Assert.Equal("0", root.GetProperty("instanceIndex").GetString());
        Assert.Equal("chatty/0", root.GetProperty("instance").GetString());
        Assert.Equal("Concord.Operator", root.GetProperty("SourceContext").GetString());
    }
}
