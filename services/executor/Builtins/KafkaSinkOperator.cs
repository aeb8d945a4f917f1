using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.Checkpoints;
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
/// <para>
/// With delivery exactly_once it writes in Kafka transactions (docs/kafka.md, "Delivery with
/// checkpoints"): one transactional.id per instance (<see cref="TransactionalId"/>), initialised
/// at start (which fences an older incarnation and aborts what it left open); a snapshot flushes
/// the open transaction and closes it to new records, which are held in memory
/// (<see cref="KafkaLimits.SinkHeldBytesMax"/>) until the checkpoint completes (commit, begin the
/// next, produce the held records into it) or is aborted (the transaction stays open and takes
/// the held records: its work joins the next checkpoint).
/// </para>
/// </summary>
public sealed class KafkaSinkOperator : BuiltinSession, ICheckpointedOperator
{
    public const string Kind = "kafka-sink";

    private readonly bool _transactional;
    private readonly int _instanceIndex;
    private readonly int _instances;
    // Records that arrived after the snapshot that closed the open transaction, in segments:
    // each is closed by the next snapshot taken while held (null: still open).
    private readonly List<(List<Message<byte[]?, byte[]?>> Records, ulong? ClosedBy)> _held = [];
    private long _heldBytes;
    // The checkpoint whose snapshot closed the open transaction; null while it takes records.
    private ulong? _closedBy;

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

    /// <param name="instanceIndex">This instance's index: part of its transactional.id.</param>
    public KafkaSinkOperator(OperatorSpec spec, string workDir, TimeProvider time, ILogger logger, KafkaMetrics metrics, string? concordHome, int instanceIndex = 0)
        : base(spec, time)
    {
        _instanceIndex = instanceIndex;
        _instances = Math.Max(1, spec.Instances);
        _transactional = spec.Delivery == DeliveryGuarantee.DeliveryExactlyOnce;
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
            Acks = _connector.Options.OneOf("acks", "all", "all", "-1", "0", "1") switch
            {
                "0" => Acks.None,
                "1" => Acks.Leader,
                _ => Acks.All,
            },
            LingerMs = _connector.Options.Int("linger_ms", KafkaLimits.SinkLingerMsDefault, 0, Contracts.ProtocolLimits.KafkaLingerMsMax),
            CompressionType = Enum.Parse<CompressionType>(_connector.Options.OneOf("compression", "none", "none", "gzip", "snappy", "lz4", "zstd"), ignoreCase: true),
            AllowAutoCreateTopics = false,
            MessageTimeoutMs = KafkaLimits.SinkDeliveryTimeoutMs,
            QueueBufferingMaxMessages = KafkaLimits.SinkQueueMessagesMax,
            QueueBufferingMaxKbytes = KafkaLimits.SinkQueueKbytesMax,
        };
        // Delivery reports carry only the outcome: the sink needs nothing else per record.
        _config.DeliveryReportFields = "status";
        if (_transactional)
        {
            if (_config.Acks != Acks.All)
            {
                throw new OperatorFailedException(
                    "kafka-sink with delivery exactly_once writes in transactions, which need acks=all; remove option 'acks' or set it to \"all\"");
            }
            _config.TransactionalId = TransactionalIdOf(spec.Name, instanceIndex);
            _config.TransactionTimeoutMs = KafkaLimits.SinkTransactionTimeoutMs;
        }
        _connector.ApplyPassThrough(_config);
        _onDelivery = OnDelivery;
    }

    /// <summary>The transactional.id of instance <paramref name="index"/> of sink <paramref name="operatorName"/> (exactly_once).</summary>
    public static string TransactionalIdOf(string operatorName, int index) => $"concord-{operatorName}-{index}";

    /// <summary>This instance's transactional.id; null unless delivery is exactly_once.</summary>
    public string? TransactionalId => _transactional ? _config.TransactionalId : null;

    /// <summary>Whether records are being held after a snapshot, waiting for its checkpoint's outcome.</summary>
    public bool Holding => _closedBy is not null;

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
        if (_transactional)
        {
            // Fences an older incarnation with the same id and aborts the transaction it left open.
            Transaction(() => _producer.InitTransactions(TimeSpan.FromMilliseconds(KafkaLimits.SinkTransactionCallTimeoutMs)), "initialise transactions");
            Transaction(_producer.BeginTransaction, "begin a transaction");
        }
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
                if (_closedBy is not null)
                {
                    Hold(message);
                }
                else
                {
                    Produce(_producer, message);
                }
            }
            Interlocked.Add(ref _records, batch.Records.Count);
            if (batch.Records.Count > 0)
            {
                _metrics.Records.WithLabels("out", _connector.Topic).Inc(batch.Records.Count);
            }
        }
    }

    /// <summary>Keeps a record that arrived after a snapshot for the transaction after it.</summary>
    private void Hold(Message<byte[]?, byte[]?> message)
    {
        _heldBytes += (message.Key?.Length ?? 0) + (message.Value?.Length ?? 0);
        if (_heldBytes > KafkaLimits.SinkHeldBytesMax)
        {
            throw new OperatorFailedException(
                $"kafka-sink: more than {KafkaLimits.SinkHeldBytesMax} bytes of records (KafkaLimits.SinkHeldBytesMax) arrived while checkpoint {_closedBy} was waiting to complete; " +
                "the checkpoint coordinator is slow to confirm checkpoints: check the scheduler, or lower the input rate (the sink restarts from the last checkpoint)");
        }
        if (_held.Count == 0 || _held[^1].ClosedBy is not null)
        {
            _held.Add(([], null));
        }
        _held[^1].Records.Add(message);
    }

    public byte[] SnapshotOperator(ulong checkpointId)
    {
        lock (_lock)
        {
            if (_producer is null || _closed)
            {
                return [];
            }
            if (!_transactional)
            {
                // at_least_once: what came before the barrier must be in Kafka before the
                // checkpoint lets the sources forget it.
                Flush(_producer);
                return [];
            }
            if (_closedBy is null)
            {
                // Pre-commit: everything of this transaction is in Kafka (not yet committed).
                Flush(_producer);
                _closedBy = checkpointId;
            }
            else
            {
                // Held records so far belong to this checkpoint's transaction, later ones to the next.
                if (_held.Count == 0 || _held[^1].ClosedBy is not null)
                {
                    _held.Add(([], null));
                }
                _held[^1] = (_held[^1].Records, checkpointId);
            }
            return System.Text.Encoding.UTF8.GetBytes(_config.TransactionalId);
        }
    }

    public void CheckpointCompleted(ulong checkpointId)
    {
        lock (_lock)
        {
            if (!_transactional || _producer is null || _closed)
            {
                return;
            }
            while (_closedBy is { } closed && closed <= checkpointId)
            {
                Transaction(() => _producer.CommitTransaction(TimeSpan.FromMilliseconds(KafkaLimits.SinkTransactionCallTimeoutMs)), $"commit the transaction of checkpoint {closed}");
                Interlocked.Increment(ref _commits);
                Transaction(_producer.BeginTransaction, "begin a transaction");
                _closedBy = null;
                ReleaseHeld(_producer);
            }
        }
    }

    public void CheckpointAborted(ulong checkpointId)
    {
        lock (_lock)
        {
            if (!_transactional || _producer is null || _closed)
            {
                return;
            }
            if (_closedBy == checkpointId)
            {
                // The transaction stays open: its records join the next checkpoint with the held ones.
                _closedBy = null;
                ReleaseHeld(_producer);
                return;
            }
            var index = _held.FindIndex(segment => segment.ClosedBy == checkpointId);
            if (index >= 0)
            {
                _held[index] = (_held[index].Records, null);
                if (index + 1 < _held.Count)
                {
                    _held[index].Records.AddRange(_held[index + 1].Records);
                    _held[index] = (_held[index].Records, _held[index + 1].ClosedBy);
                    _held.RemoveAt(index + 1);
                }
            }
        }
    }

    /// <summary>
    /// Produces held segments into the open transaction up to the first one a snapshot closed
    /// (that one's checkpoint then closes the transaction).
    /// </summary>
    private void ReleaseHeld(IProducer<byte[]?, byte[]?> producer)
    {
        while (_closedBy is null && _held.Count > 0)
        {
            var (records, closedBy) = _held[0];
            _held.RemoveAt(0);
            foreach (var message in records)
            {
                _heldBytes -= (message.Key?.Length ?? 0) + (message.Value?.Length ?? 0);
                Produce(producer, message);
            }
            if (closedBy is not null)
            {
                Flush(producer);
                _closedBy = closedBy;
            }
        }
    }

    /// <summary>
    /// Aborts the transactions older incarnations left open: this instance's own id was fenced
    /// by InitTransactions at start; after a scale-down it also fences the ids of old instances
    /// that no longer exist and map to it (index mod the new count), so nothing of theirs is
    /// ever committed. Work pre-committed in the restored checkpoint whose commit had not
    /// happened before the failure is aborted too: librdkafka cannot resume another producer's
    /// transaction (docs/kafka.md).
    /// </summary>
    public void RestoreOperator(ulong checkpointId, IReadOnlyDictionary<int, byte[]> snapshots)
    {
        if (!_transactional)
        {
            return;
        }
        foreach (var index in snapshots.Keys.Where(i => i >= _instances && i % _instances == _instanceIndex))
        {
            var config = new ProducerConfig(_config.ToDictionary(p => p.Key, p => p.Value)) { TransactionalId = TransactionalIdOf(Spec.Name, index) };
            using var fence = new ProducerBuilder<byte[]?, byte[]?>(config)
                .SetLogHandler((_, message) => _connector.OnClientLog(message))
                .SetErrorHandler((_, error) => _connector.OnClientError(error))
                .Build();
            Transaction(() => fence.InitTransactions(TimeSpan.FromMilliseconds(KafkaLimits.SinkTransactionCallTimeoutMs)), $"fence the transactional id of old instance {index}");
        }
    }

    /// <summary>Transactions committed so far (exactly_once).</summary>
    public long Commits => Interlocked.Read(ref _commits);

    private long _commits;

    /// <summary>Waits until every record produced is delivered (a pre-commit), bounded; a failed one fails the sink.</summary>
    private void Flush(IProducer<byte[]?, byte[]?> producer)
    {
        var left = producer.Flush(TimeSpan.FromMilliseconds(KafkaLimits.SinkTransactionCallTimeoutMs));
        ThrowIfDeliveryFailed();
        if (left > 0)
        {
            throw new OperatorFailedException(
                $"kafka-sink: {left} record(s) were not delivered to topic '{_connector.Topic}' within {KafkaLimits.SinkTransactionCallTimeoutMs} ms (KafkaLimits.SinkTransactionCallTimeoutMs) of a checkpoint; Kafka at {_connector.Bootstrap} is not accepting records: check the cluster (the sink restarts from the last checkpoint)");
        }
    }

    private void Transaction(Action call, string what)
    {
        try
        {
            call();
        }
        catch (KafkaException e)
        {
            throw new OperatorFailedException(
                e.Error.Code == ErrorCode.Local_Fenced || e.Error.Code == ErrorCode.ProducerFenced || e.Error.Code == ErrorCode.InvalidProducerEpoch
                    ? $"kafka-sink: could not {what}: another instance with transactional id '{_config.TransactionalId}' started (this one is a leftover of an earlier run and stops); nothing to fix unless two topologies use the same sink name on one cluster"
                    : $"kafka-sink: could not {what} on Kafka at {_connector.Bootstrap}: {e.Error.Code}: {e.Error.Reason}; check the cluster (transactions need a cluster that supports them; the sink restarts from the last checkpoint)", e);
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
        if (_transactional && Volatile.Read(ref _deliveryFailure) is { } transactionError)
        {
            throw new OperatorFailedException(
                $"kafka-sink (transactional id '{_config.TransactionalId}'): {Interlocked.Read(ref _deliveryFailures)} record(s) could not be delivered to topic '{_connector.Topic}' at {_connector.Bootstrap}: {transactionError.Code}: {transactionError.Reason}; the open transaction is never committed and the sink restarts from the last checkpoint" +
                (transactionError.Code is ErrorCode.Local_Fenced or ErrorCode.ProducerFenced or ErrorCode.InvalidProducerEpoch ? " (another instance with this transactional id started: this one is a leftover of an earlier run)" : ""));
        }
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
        if (_transactional)
        {
            // Nothing uncommitted may become visible: abort (bounded; the broker aborts it at
            // the transaction timeout, or the next incarnation's InitTransactions, otherwise).
            var abort = Task.Run(() =>
            {
                try
                {
                    producer.AbortTransaction(TimeSpan.FromMilliseconds(KafkaLimits.CloseTimeoutMs));
                }
                catch (KafkaException)
                {
                    // No transaction open, or the cluster is gone: the fencing at the next start aborts it.
                }
            });
            abort.Wait(TimeSpan.FromMilliseconds(KafkaLimits.CloseTimeoutMs));
            producer.Dispose();
            KafkaLog.Closed(_logger, Kind, Records);
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
