namespace Concord.Bench.Kafka;

/// <summary>Bounds of the Kafka benchmark. Units are the last word of each name.</summary>
internal static class KafkaBenchLimits
{
    /// <summary>Records by default: 1,000,000 (the original Concord benchmark's order of magnitude).</summary>
    public const int RecordsDefault = 1_000_000;

    /// <summary>Partitions by default: 16, so a million records stay under the mock's 100,000 message sets per partition.</summary>
    public const int PartitionsDefault = 16;

    /// <summary>How long the prefill may take, in seconds.</summary>
    public const int PrefillTimeoutSeconds = 120;

    /// <summary>How long the baseline consumer may take to read everything, in seconds.</summary>
    public const int BaselineTimeoutSeconds = 120;

    /// <summary>How long the pipeline may take to write every count, in seconds.</summary>
    public const int PipelineTimeoutSeconds = 300;

    /// <summary>How often the sink's files are checked, in ms.</summary>
    public const int PollIntervalMs = 20;

    /// <summary>How long one CLI command (up, deploy, kafka-dev) may take, in seconds.</summary>
    public const int CommandTimeoutSeconds = 120;
}
