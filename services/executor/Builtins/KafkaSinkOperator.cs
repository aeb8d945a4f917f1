using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.Records;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Error = Confluent.Kafka.Error;

namespace Concord.Executor.Builtins;

/// <summary>
/// Built-in Kafka sink (docs/kafka.md): writes every record of its input streams to one topic,
/// key and value as bytes (an empty key becomes a null key, so Kafka spreads such records over
/// partitions), event time as the message timestamp. A batch is answered once its records are
/// in the producer's bounded queue; a full queue blocks the batch, which backpressures the
/// topology. A record that cannot be delivered fails the sink with the reason.
/// Options: topic (required), bootstrap, acks, linger_ms, compression, kafka.*.
/// </summary>
public sealed class KafkaSinkOperator : BuiltinSession
{
    public const string Kind = "kafka-sink";

    private readonly KafkaConnector _connector;
    private readonly KafkaMetrics _metrics;
    private readonly ILogger _logger;
    private readonly ProducerConfig _config;
    private readonly Action<DeliveryReport<byte[]?, byte[]?>> _onDelivery;
    private IProducer<byte[]?, byte[]?>? _producer;
    private Error? _deliveryFailure;
    private long _deliveryFailures;
    private long _records;
    private bool _closed;
    private readonly Lock _lock = new();

    public KafkaSinkOperator(OperatorSpec spec, string workDir, TimeProvider time, ILogger logger, KafkaMetrics metrics, string? concordHome)
        : base(spec, time)
    {
        _metrics = metrics;
        _logger = logger;
        _connector = new KafkaConnector(spec, workDir, logger, time, metrics, concordHome);
        if (spec.ExpectedInputs.Count == 0)
        {
            throw new OperatorFailedException(
                "built-in 'kafka-sink' writes the streams listed in 'inputs', and none are listed; add the streams to write to Kafka");
        }
        _config = new ProducerConfig
        {
            BootstrapServers = _connector.Bootstrap,
            ClientId = $"concord-{spec.Name}",
            Acks = _connector.OneOf("acks", "all", "all", "-1", "0", "1") switch
            {
                "0" => Acks.None,
                "1" => Acks.Leader,
                _ => Acks.All,
            },
            LingerMs = _connector.Int("linger_ms", KafkaLimits.SinkLingerMsDefault, 0, Contracts.ProtocolLimits.KafkaLingerMsMax),
            CompressionType = Enum.Parse<CompressionType>(_connector.OneOf("compression", "none", "none", "gzip", "snappy", "lz4", "zstd"), ignoreCase: true),
            AllowAutoCreateTopics = false,
            MessageTimeoutMs = KafkaLimits.SinkDeliveryTimeoutMs,
            QueueBufferingMaxMessages = KafkaLimits.SinkQueueMessagesMax,
            QueueBufferingMaxKbytes = KafkaLimits.SinkQueueKbytesMax,
        };
        // Delivery reports carry only the outcome: the sink needs nothing else per record.
        _config.DeliveryReportFields = "status";
        _connector.ApplyPassThrough(_config);
        _onDelivery = OnDelivery;
    }

    /// <summary>Records handed to the producer so far.</summary>
    public long Records => Interlocked.Read(ref _records);

    protected override OperatorMetadata Describe() => new() { Name = Spec.Name, Inputs = { Spec.ExpectedInputs } };

    protected override void OnInit(AnswerWriter done)
    {
        try
        {
            _producer = new ProducerBuilder<byte[]?, byte[]?>(_config)
                .SetLogHandler((_, message) => _connector.OnClientLog(message))
                .SetErrorHandler((_, error) => _connector.OnClientError(error))
                .Build();
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or KafkaException)
        {
            throw _connector.ConfigRejected(e);
        }
        _connector.CheckTopic(_producer.Handle);
    }

    protected override void OnBatch(RawBatch batch, AnswerWriter done)
    {
        lock (_lock)
        {
            if (_closed || _producer is null)
            {
                return;
            }
            ThrowIfDeliveryFailed();
            _connector.ThrowIfBroken(_producer.Handle);
            foreach (var record in batch.Records)
            {
                var message = new Message<byte[]?, byte[]?>
                {
                    Key = record.Key.IsEmpty ? null : record.Key.ToArray(),
                    Value = record.Value.ToArray(),
                    Timestamp = record.EventTimeUnixMs > 0 ? new Timestamp(record.EventTimeUnixMs, TimestampType.CreateTime) : Timestamp.Default,
                };
                Produce(_producer, message);
            }
            Interlocked.Add(ref _records, batch.Records.Count);
            if (batch.Records.Count > 0)
            {
                _metrics.Records.WithLabels("out", _connector.Topic).Inc(batch.Records.Count);
            }
        }
    }

    private void Produce(IProducer<byte[]?, byte[]?> producer, Message<byte[]?, byte[]?> message)
    {
        var started = Time.GetTimestamp();
        while (true)
        {
            try
            {
                producer.Produce(_connector.Topic, message, _onDelivery);
                return;
            }
            catch (ProduceException<byte[]?, byte[]?> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
            {
                // Backpressure: hold this batch until the producer has room.
                if (Time.GetElapsedTime(started).TotalMilliseconds >= KafkaLimits.SinkQueueFullFailMs)
                {
                    throw new OperatorFailedException(
                        $"kafka-sink: the producer queue for topic '{_connector.Topic}' stayed full for {KafkaLimits.SinkQueueFullFailMs / 1000} s (KafkaLimits.SinkQueueFullFailMs): Kafka at {_connector.Bootstrap} is not accepting records; check the cluster");
                }
                producer.Poll(TimeSpan.FromMilliseconds(KafkaLimits.SinkQueueFullWaitMs));
                ThrowIfDeliveryFailed();
                _connector.ThrowIfBroken(producer.Handle);
            }
            catch (ProduceException<byte[]?, byte[]?> e)
            {
                throw new OperatorFailedException($"kafka-sink: Kafka refused a record for topic '{_connector.Topic}': {e.Error.Code}: {e.Error.Reason}", e);
            }
        }
    }

    private void OnDelivery(DeliveryReport<byte[]?, byte[]?> report)
    {
        if (report.Error.IsError)
        {
            Interlocked.Increment(ref _deliveryFailures);
            _metrics.DeliveryFailures.WithLabels(_connector.Topic).Inc();
            Interlocked.CompareExchange(ref _deliveryFailure, report.Error, null);
        }
        else
        {
            _connector.Reachable();
        }
    }

    private void ThrowIfDeliveryFailed()
    {
        if (Volatile.Read(ref _deliveryFailure) is { } error)
        {
            throw new OperatorFailedException(
                $"kafka-sink: {Interlocked.Read(ref _deliveryFailures)} record(s) could not be delivered to topic '{_connector.Topic}' at {_connector.Bootstrap}: {error.Code}: {error.Reason}; they are lost (at-most-once) and the sink restarts");
        }
    }

    protected override void OnShutdown()
    {
        IProducer<byte[]?, byte[]?>? producer;
        lock (_lock)
        {
            if (_closed)
            {
                return;
            }
            _closed = true;
            producer = _producer;
        }
        if (producer is null)
        {
            return;
        }
        var undelivered = producer.Flush(TimeSpan.FromMilliseconds(KafkaLimits.CloseTimeoutMs));
        if (undelivered > 0)
        {
            KafkaLog.Undelivered(_logger, undelivered, KafkaLimits.CloseTimeoutMs);
        }
        producer.Dispose();
        KafkaLog.Closed(_logger, Kind, Records);
    }
}
