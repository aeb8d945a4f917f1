namespace Concord.KafkaDev;

/// <summary>Bounds of the development Kafka. Units are the last word of each name.</summary>
public static class KafkaDevLimits
{
    /// <summary>Brokers in the mock cluster by default: 3, so partition leadership is spread as on a real cluster.</summary>
    public const int BrokersDefault = 3;

    /// <summary>Most brokers: 16 (each is a listener and a thread in this one process).</summary>
    public const int BrokersMax = 16;

    /// <summary>
    /// Partitions of each topic created by default: 16. The mock keeps at most 5 MiB or 100,000
    /// message sets per partition and drops the oldest, so a million small records need ≥ 16.
    /// </summary>
    public const int PartitionsDefault = 16;

    /// <summary>Most partitions per topic: 1,024 (memory and threads of the mock grow with it).</summary>
    public const int PartitionsMax = 1024;

    /// <summary>Most topics created at start: 256 (a development broker, not a cluster).</summary>
    public const int TopicsMax = 256;
}
