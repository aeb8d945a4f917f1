using Concord.Executor.Metrics;
using Prometheus;

namespace Concord.Executor.Builtins;

/// <summary>
/// Metrics of the Kafka built-ins, in the executor's registry (so they carry its operator and
/// instance labels and are served on its /metrics). Made only for a Kafka built-in, so other
/// executors do not list these series. Updated once per poll or batch, never per record.
/// </summary>
public sealed class KafkaMetrics
{
    public KafkaMetrics(ExecutorMetrics executor)
    {
        var factory = Prometheus.Metrics.WithCustomRegistry(executor.Registry);
        Records = factory.CreateCounter("concord_kafka_records_total",
            "Records read from Kafka by kafka-source (direction=in) or handed to the Kafka producer by kafka-sink (direction=out).", ["direction", "topic"]);
        ClientErrors = factory.CreateCounter("concord_kafka_client_errors_total",
            "Errors reported by the Kafka client, by librdkafka error code.", ["code"]);
        OversizeSkipped = factory.CreateCounter("concord_kafka_oversize_skipped_total",
            "Kafka messages larger than a Concord record, skipped by kafka-source (option oversize=skip).", ["topic"]);
        DeliveryFailures = factory.CreateCounter("concord_kafka_delivery_failures_total",
            "Records kafka-sink could not deliver to Kafka (they are lost; the sink fails).", ["topic"]);
    }

    /// <summary>Records read from Kafka (direction="in") or handed to the producer (direction="out").</summary>
    public Counter Records { get; }

    /// <summary>Errors reported by librdkafka (most are retried by it: broker down, transport failures).</summary>
    public Counter ClientErrors { get; }

    /// <summary>Messages skipped by kafka-source with oversize=skip.</summary>
    public Counter OversizeSkipped { get; }

    /// <summary>Records kafka-sink could not deliver.</summary>
    public Counter DeliveryFailures { get; }
}
