using Microsoft.Extensions.Logging;

namespace Concord.Executor.Builtins;

/// <summary>Log events of the Kafka built-ins (event ids 700–799).</summary>
internal static partial class KafkaLog
{
    [LoggerMessage(700, LogLevel.Information, "{Kind} connected to {Bootstrap}: topic '{Topic}' has {Partitions} partitions", EventName = "KafkaConnected")]
    public static partial void Connected(ILogger logger, string kind, string bootstrap, string topic, int partitions);

    [LoggerMessage(701, LogLevel.Warning, "{Kind}: topic '{Topic}' not found on {Bootstrap} yet; retrying until the start-up deadline", EventName = "KafkaTopicMissing")]
    public static partial void TopicMissing(ILogger logger, string kind, string topic, string bootstrap);

    [LoggerMessage(702, LogLevel.Warning, "librdkafka {Facility}: {Message} ({Suppressed} similar lines suppressed)", EventName = "KafkaClientLog")]
    public static partial void ClientLog(ILogger logger, string facility, string message, long suppressed);

    [LoggerMessage(703, LogLevel.Warning, "Kafka client error {Code}: {Reason} ({Suppressed} similar errors suppressed)", EventName = "KafkaClientError")]
    public static partial void ClientError(ILogger logger, string code, string reason, long suppressed);

    [LoggerMessage(704, LogLevel.Warning, "kafka-source skipped the record at {TopicPartitionOffset}: key+value is {Bytes} bytes, more than the {Limit} a record may have (option oversize=skip); {Skipped} skipped so far", EventName = "KafkaOversizeSkipped")]
    public static partial void OversizeSkipped(ILogger logger, string topicPartitionOffset, long bytes, int limit, long skipped);

    [LoggerMessage(705, LogLevel.Information, "kafka-source committed offsets on shutdown: {Offsets}", EventName = "KafkaFinalCommit")]
    public static partial void FinalCommit(ILogger logger, string offsets);

    [LoggerMessage(706, LogLevel.Warning, "kafka-source could not commit offsets on shutdown: {Reason}; up to {IntervalMs} ms of records will be read again", EventName = "KafkaFinalCommitFailed")]
    public static partial void FinalCommitFailed(ILogger logger, string reason, int intervalMs);

    [LoggerMessage(707, LogLevel.Warning, "kafka-sink: {Undelivered} records were not delivered within {TimeoutMs} ms of shutdown and are lost (at-most-once)", EventName = "KafkaUndelivered")]
    public static partial void Undelivered(ILogger logger, int undelivered, int timeoutMs);

    [LoggerMessage(708, LogLevel.Information, "{Kind} closed: {Records} records", EventName = "KafkaClosed")]
    public static partial void Closed(ILogger logger, string kind, long records);

    [LoggerMessage(709, LogLevel.Information, "kafka-source partitions assigned: {Partitions}", EventName = "KafkaPartitionsAssigned")]
    public static partial void PartitionsAssigned(ILogger logger, string partitions);

    [LoggerMessage(710, LogLevel.Information, "kafka-source partitions revoked or lost: {Partitions} (their stored offsets are committed; the new owner continues from there)", EventName = "KafkaPartitionsRevoked")]
    public static partial void PartitionsRevoked(ILogger logger, string partitions);
}
