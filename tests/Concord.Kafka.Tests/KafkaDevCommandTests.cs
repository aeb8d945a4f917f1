using System.Diagnostics;
using System.Text.Json;
using Concord.EndToEnd.Tests.Harness;
using Confluent.Kafka;

namespace Concord.Kafka.Tests;

/// <summary>`concord kafka-dev`: the development Kafka as its own process, found through &lt;home&gt;/kafka.json.</summary>
public class KafkaDevCommandTests
{
    private static async Task<(int Code, string Output)> ConcordAsync(string home, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Repo.CliDll);
        start.ArgumentList.Add("--home");
        start.ArgumentList.Add(home);
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return (process.ExitCode, await output + await error);
    }

    [Fact]
    public async Task Kafka_dev_detached_serves_its_topics_at_the_address_in_kafka_json_until_stopped()
    {
        var home = Directory.CreateTempSubdirectory("cc-kd-").FullName;
        var (code, output) = await ConcordAsync(home, "kafka-dev", "--detach", "--topics", "in,out", "--partitions", "5");
        Assert.True(code == 0, output);
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(home, "kafka.json")));
            var bootstrap = doc.RootElement.GetProperty("bootstrap").GetString()!;
            var pid = doc.RootElement.GetProperty("pid").GetInt32();
            Assert.Contains(bootstrap, output);
            Assert.Contains("warning: each partition keeps at most 5 MiB", output);
            Assert.True(Processes.IsAlive(pid), "the development Kafka runs as its own process");

            using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = bootstrap }).Build();
            var metadata = admin.GetMetadata(TimeSpan.FromSeconds(10));
            Assert.Equal(5, metadata.Topics.Single(t => t.Topic == "in").Partitions.Count);
            Assert.Equal(5, metadata.Topics.Single(t => t.Topic == "out").Partitions.Count);

            var (stopCode, stopOutput) = await ConcordAsync(home, "kafka-dev", "--stop");
            Assert.True(stopCode == 0, stopOutput);
            Assert.False(File.Exists(Path.Combine(home, "kafka.json")), "kafka.json is removed when the broker stops");
            Assert.False(Processes.IsAlive(pid), "--stop ends the broker process");
        }
        finally
        {
            await ConcordAsync(home, "kafka-dev", "--stop");
        }
    }

    [Fact]
    public async Task Kafka_dev_with_too_few_partitions_is_refused_with_the_reason()
    {
        var home = Directory.CreateTempSubdirectory("cc-kd-").FullName;

        var (code, output) = await ConcordAsync(home, "kafka-dev", "--partitions", "0");

        Assert.Equal(1, code);
        Assert.Contains("--partitions 0 is out of range", output);
        Assert.False(File.Exists(Path.Combine(home, "kafka.json")));
    }
}
