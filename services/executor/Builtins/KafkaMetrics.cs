using Concord.Executor.Metrics;
using Prometheus;

namespace Concord.Executor.Builtins;

/// <summary>
/// Metrics of the Kafka built-ins, in the executor's registry (so they carry its operator and
/// instance labels and are served on its /metrics). Updated once per poll or batch, never per record.
/// </summary>
internal static class KafkaMetrics
{
    private static readonly IMetricFactory Factory = Prometheus.Metrics.WithCustomRegistry(ExecutorMetrics.Registry);

    /// <summary>Records read from Kafka (direction="in") or handed to the producer (direction="out").</summary>
    public static readonly Counter Records = Factory.CreateCounter("concord_kafka_records_total",
        "Records read from Kafka by kafka-source (direction=in) or handed to the Kafka producer by kafka-sink (direction=out).", ["direction", "topic"]);

    /// <summary>Errors reported by librdkafka (most are retried by it: broker down, transport failures).</summary>
    public static readonly Counter ClientErrors = Factory.CreateCounter("concord_kafka_client_errors_total",
        "Errors reported by the Kafka client, by librdkafka error code.", ["code"]);

    /// <summary>Messages skipped by kafka-source with oversize=skip.</summary>
    public static readonly Counter OversizeSkipped = Factory.CreateCounter("concord_kafka_oversize_skipped_total",
        "Kafka messages larger than a Concord record, skipped by kafka-source (option oversize=skip).", ["topic"]);

    /// <summary>Records kafka-sink could not deliver.</summary>
    public static readonly Counter DeliveryFailures = Factory.CreateCounter("concord_kafka_delivery_failures_total",
        "Records kafka-sink could not deliver to Kafka (they are lost; the sink fails).", ["topic"]);
}
