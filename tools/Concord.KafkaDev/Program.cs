using System.Globalization;
using System.Runtime.InteropServices;
using Concord.KafkaDev;

// The development Kafka (docs/kafka.md): librdkafka's in-memory mock cluster as a long-lived
// process. Writes <home>/kafka.json once it serves, removes it on SIGTERM/SIGINT.
// Exit codes: 0 stopped on request, 2 bad arguments, 1 failed to start.
const string Usage = "usage: Concord.KafkaDev [--home DIR] [--partitions N] [--topics a,b] [--brokers N]";

string? home = null;
var partitions = KafkaDevLimits.PartitionsDefault;
var brokers = KafkaDevLimits.BrokersDefault;
var topics = new List<string>();
for (var i = 0; i < args.Length; i++)
{
    string Value()
    {
        if (i + 1 >= args.Length)
        {
            throw new ArgumentException($"{args[i]} needs a value; {Usage}");
        }
        return args[++i];
    }
    int Number(int min, int max)
    {
        var name = args[i];
        var text = Value();
        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n
            : throw new ArgumentException($"{name} '{text}' is not a whole number in {min}..{max}");
    }
    try
    {
        switch (args[i])
        {
            case "--home":
                home = Value();
                break;
            case "--partitions":
                partitions = Number(1, KafkaDevLimits.PartitionsMax);
                break;
            case "--brokers":
                brokers = Number(1, KafkaDevLimits.BrokersMax);
                break;
            case "--topics":
                topics.AddRange(Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
                break;
            case "-h" or "--help":
                Console.WriteLine(Usage);
                return 0;
            default:
                throw new ArgumentException($"unknown argument '{args[i]}'; {Usage}");
        }
    }
    catch (ArgumentException e)
    {
        Console.Error.WriteLine("error: " + e.Message);
        return 2;
    }
}
if (topics.Count > KafkaDevLimits.TopicsMax)
{
    Console.Error.WriteLine($"error: {topics.Count} topics given; at most {KafkaDevLimits.TopicsMax} (KafkaDevLimits.TopicsMax)");
    return 2;
}
home = Path.GetFullPath(home
    ?? Environment.GetEnvironmentVariable("CONCORD_HOME")
    ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".concord"));

MockKafkaCluster cluster;
try
{
    cluster = MockKafkaCluster.Start(brokers);
    foreach (var topic in topics.Distinct(StringComparer.Ordinal))
    {
        cluster.CreateTopic(topic, partitions);
    }
}
catch (Exception e) when (e is InvalidOperationException or DllNotFoundException or ArgumentException)
{
    Console.Error.WriteLine("error: the development Kafka did not start: " + e.Message);
    return 1;
}

using (cluster)
{
    using var stop = new CancellationTokenSource();
    void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        stop.Cancel();
    }
    using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
    using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);

    var info = new KafkaDevFile(cluster.BootstrapServers, Environment.ProcessId, partitions, topics, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
    info.Write(home);
    Console.WriteLine($"development Kafka (librdkafka mock, in memory) at {cluster.BootstrapServers}; topics: {(topics.Count == 0 ? "(none; producers auto-create)" : string.Join(",", topics))} with {partitions} partitions; wrote {KafkaDevFile.PathIn(home)}");
    Console.WriteLine("retention is capped: each partition keeps at most 5 MiB or 100,000 message sets, the oldest are dropped silently");
    try
    {
        await Task.Delay(Timeout.Infinite, stop.Token);
    }
    catch (OperationCanceledException)
    {
    }
    // Only remove the file if it is still ours (a second kafka-dev may have replaced it).
    if (KafkaDevFile.Read(home) is { } current && current.Pid == Environment.ProcessId)
    {
        File.Delete(KafkaDevFile.PathIn(home));
    }
    Console.WriteLine("development Kafka stopped");
}
return 0;
