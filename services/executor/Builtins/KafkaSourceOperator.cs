using Concord.Contracts;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.Builtins.Internal;
using Concord.Executor.Checkpoints;
using Concord.Executor.Records;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;

namespace Concord.Executor.Builtins;

/// <summary>
/// Built-in Kafka source (docs/kafka.md). Polls a topic in a consumer group shared by all its
/// instances (so scaling spreads partitions; group.protocol=consumer, KIP-848) and emits each
/// message on one stream, key and value as bytes, the message timestamp as event time and the
/// poll time as ingest time. Driven by its own timer like the generator: a poll happens only
/// when the pump fires the timer, which needs a free in-flight slot, and the next timer is set
/// by an answer that the router has already taken. A slow topology therefore stops polling;
/// librdkafka's prefetch (bounded by <see cref="KafkaLimits.SourcePrefetchKbytesMax"/>) then
/// fills and it stops fetching. Nothing is dropped in between.
/// An idle source does not poll: after a few empty polls (up to <see cref="KafkaLimits.SourceIdlePollMsMax"/>
/// apart) it sets no timer and hands the consumer to a thread of its own that blocks in
/// librdkafka's consume for up to <see cref="KafkaLimits.SourceIdleWaitMs"/>, then wakes the pump
/// (<see cref="BuiltinSession.WakeTimer"/>) whether a message came or not; the next poll emits
/// that message first. The consumer is used by one thread at a time: every poll, restore and
/// close first waits for a watch to end.
/// Options: topic (required), bootstrap, group, start, stream, oversize, rate, kafka.*.
/// With delivery at_least_once or exactly_once the checkpoints own the offsets instead
/// (<see cref="KafkaCheckpointOffsets"/>); at_most_once keeps <see cref="KafkaCommitPolicy"/>.
/// </summary>
public sealed class KafkaSourceOperator : BuiltinSession, ICheckpointedOperator
{
    public const string Kind = "kafka-source";
    private const string PollTimerKey = "poll";

    private readonly KafkaConnector _connector;
    private readonly KafkaMetrics _metrics;
    private readonly ILogger _logger;
    private readonly ConsumerConfig _config;
    private readonly string _stream;
    private readonly bool _skipOversize;
    private readonly RateBudget _rate;
    private readonly KafkaCommitPolicy _commit;
    // Null at at_most_once: then the group assigns partitions and KafkaCommitPolicy commits.
    private readonly KafkaCheckpointOffsets? _checkpoint;
    private int _partitions;
    private readonly Lock _lock = new();
    private IConsumer<KafkaBytes, KafkaBytes>? _consumer;
    private long _records;
    private long _skipped;
    private int _idleWaitMs;
    private bool _closed;
    // The idle watch (KafkaLimits.SourceIdleWaitMs). _watchIdle is set while no watch holds the
    // consumer; the watch's result and error are read only after waiting for it.
    private Thread? _watcher;
    private readonly SemaphoreSlim _watchStart = new(0);
    private readonly ManualResetEventSlim _watchIdle = new(initialState: true);
    private volatile bool _watcherStop;
    private ConsumeResult<KafkaBytes, KafkaBytes>? _watched;
    private Confluent.Kafka.Error? _watchError;

    public KafkaSourceOperator(OperatorSpec spec, string workDir, int instanceIndex, TimeProvider time, ILogger logger, KafkaMetrics metrics, string? concordHome)
        : base(spec, time)
    {
        _metrics = metrics;
        _logger = logger;
        _connector = new KafkaConnector(spec, workDir, logger, time, metrics, concordHome);
        _stream = _connector.Options.String("stream") ?? _connector.Topic;
        if (!Contracts.OperatorSpecValidator.IsValidStreamName(_stream))
        {
            throw new OperatorFailedException(
                $"kafka-source: the output stream '{_stream}' (option 'stream', default the topic name) is not a valid stream name; set option 'stream' to {Contracts.ProtocolLimits.StreamNameRule}");
        }
        _commit = new KafkaCommitPolicy(_connector.Topic);
        _skipOversize = _connector.Options.OneOf("oversize", "fail", "fail", "skip") == "skip";
        _rate = new RateBudget(_connector.Options.Double("rate", 0, 0));
        _config = new ConsumerConfig
        {
            BootstrapServers = _connector.Bootstrap,
            GroupId = _connector.Options.String("group") ?? $"concord-{spec.Name}",
            ClientId = $"concord-{spec.Name}-{instanceIndex}",
            AutoOffsetReset = _connector.Options.OneOf("start", "earliest", "earliest", "latest") == "earliest" ? AutoOffsetReset.Earliest : AutoOffsetReset.Latest,
            AllowAutoCreateTopics = false,
            QueuedMinMessages = KafkaLimits.SourcePrefetchMessagesMin,
            QueuedMaxMessagesKbytes = KafkaLimits.SourcePrefetchKbytesMax,
            // Only the timestamp: the topic is known, headers are not used, and each costs an
            // object per message (a string, a Headers) in Confluent.Kafka's Consume.
            ConsumeResultFields = "timestamp",
        };
        if (spec.Delivery is DeliveryGuarantee.DeliveryAtLeastOnce or DeliveryGuarantee.DeliveryExactlyOnce)
        {
            // Partitions by instance index, not by the group: a rebalance would hand a partition
            // to an instance that does not know the checkpointed position.
            _checkpoint = new KafkaCheckpointOffsets(_connector.Topic, instanceIndex, Math.Max(1, spec.Instances));
            KafkaCheckpointOffsets.Configure(_config);
        }
        else
        {
            // KIP-848: a restarted or added member gets partitions in ~0.5 s instead of waiting a
            // session timeout (docs/kafka.md, option "group").
            _config.Set("group.protocol", "consumer");
            KafkaCommitPolicy.Configure(_config);
        }
        _connector.ApplyPassThrough(_config);
    }

    /// <summary>Records handed to the topology so far.</summary>
    public long Records => Interlocked.Read(ref _records);

    protected override OperatorMetadata Describe() => new() { Name = Spec.Name, Outputs = { _stream } };

    protected override void OnInit(AnswerWriter done)
    {
        try
        {
            _consumer = new ConsumerBuilder<KafkaBytes, KafkaBytes>(_config)
                .SetKeyDeserializer(new KafkaBytesDeserializer())
                .SetValueDeserializer(new KafkaBytesDeserializer())
                .SetLogHandler((_, message) => _connector.OnClientLog(message))
                .SetErrorHandler((_, error) => _connector.OnClientError(error))
                .SetPartitionsAssignedHandler((_, partitions) => KafkaLog.PartitionsAssigned(_logger, Describe(partitions.Select(p => p.Partition))))
                .SetPartitionsRevokedHandler((_, partitions) => KafkaLog.PartitionsRevoked(_logger, Describe(partitions.Select(p => p.Partition))))
                .SetPartitionsLostHandler((_, partitions) => KafkaLog.PartitionsRevoked(_logger, Describe(partitions.Select(p => p.Partition))))
                .Build();
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or KafkaException)
        {
            throw _connector.ConfigRejected(e);
        }
        _partitions = _connector.CheckTopic(_consumer.Handle);
        if (_checkpoint is null)
        {
            _consumer.Subscribe(_connector.Topic);
        }
        else
        {
            Assign(_consumer, _checkpoint);
        }
        var nowMs = Now().EventTimeMs;
        _rate.Start(nowMs);
        done.TimersSet.Add(new TimerSet { Key = PollTimerKey, TimeUnixMs = nowMs });
    }

    private void Assign(IConsumer<KafkaBytes, KafkaBytes> consumer, KafkaCheckpointOffsets checkpoint)
    {
        var assignment = checkpoint.Assignment(_partitions);
        consumer.Assign(assignment);
        KafkaLog.PartitionsAssigned(_logger, Describe(assignment.Select(p => p.Partition)));
    }

    /// <summary>Partitions of the topic this instance reads when checkpointed (by index); empty otherwise.</summary>
    public IReadOnlyList<int> OwnedPartitions => _checkpoint?.Owned(_partitions) ?? [];

    public byte[] SnapshotOperator(ulong checkpointId)
    {
        lock (_lock)
        {
            return _checkpoint is null
                ? throw new OperatorFailedException(
                    "kafka-source runs with delivery at_most_once and takes no part in checkpoints; deploy it with \"delivery\": \"at_least_once\" or \"exactly_once\"")
                : _checkpoint.Snapshot(checkpointId);
        }
    }

    public void RestoreOperator(ulong checkpointId, IReadOnlyDictionary<int, byte[]> snapshots)
    {
        lock (_lock)
        {
            if (_checkpoint is null)
            {
                return;
            }
            _checkpoint.Restore(snapshots);
            if (_consumer is not null && !_closed)
            {
                JoinWatch();
                _watched = null; // read before the restored positions: read again from there
                Assign(_consumer, _checkpoint); // already started: seek to the restored positions
            }
        }
    }

    public void CheckpointCompleted(ulong checkpointId)
    {
        lock (_lock)
        {
            if (_checkpoint is null || _consumer is null || _closed)
            {
                return;
            }
            var offsets = _checkpoint.Completed(checkpointId);
            if (offsets.Count == 0)
            {
                return;
            }
            try
            {
                _consumer.Commit(offsets);
            }
            catch (KafkaException e)
            {
                // Only visibility is lost: the checkpoint holds the positions.
                _connector.OnClientError(e.Error);
            }
        }
    }

    public void CheckpointAborted(ulong checkpointId)
    {
        lock (_lock)
        {
            _checkpoint?.Aborted(checkpointId);
        }
    }

    private static string Describe(IEnumerable<Partition> partitions)
    {
        var list = string.Join(",", partitions.Select(p => p.Value).Order());
        return list.Length == 0 ? "none" : list;
    }

    protected override void OnBatch(RawBatch batch, AnswerWriter done)
    {
        var fired = false;
        foreach (var timer in batch.TimersFired)
        {
            fired |= timer.Key == PollTimerKey;
        }
        if (!fired)
        {
            return;
        }
        lock (_lock)
        {
            if (_closed || _consumer is null)
            {
                return;
            }
            JoinWatch();
            _connector.ThrowIfBroken(_consumer.Handle);
            // This timer was set by the previous answer, which the router has taken by now.
            if (_checkpoint is null)
            {
                _commit.HandedOver(_consumer);
            }
            var (nowMs, nowUs) = Now();
            // With a rate, a turn whose allowance is spent reads nothing: librdkafka's prefetch
            // fills to its bound (KafkaLimits.SourcePrefetchKbytesMax) and stops fetching.
            var allowed = (int)_rate.Allow(nowMs, KafkaLimits.SourceRecordsPerPollMax);
            var n = 0;
            try
            {
                n = allowed > 0 ? Poll(_consumer, done, allowed, nowMs, nowUs) : 0;
            }
            catch
            {
                // This answer is never delivered: its records must not be committed on the way out.
                _commit.Abandon();
                throw;
            }
            _rate.Spend(n);
            if (allowed > 0 && n == 0)
            {
                if (_idleWaitMs >= KafkaLimits.SourceIdlePollMsMax && WakeTimer is { } wake)
                {
                    // Idle: no timer; the watch's wake-up is the next turn (setting one here could
                    // replace a wake-up that comes before this answer is routed).
                    StartWatch(_consumer, wake);
                    return;
                }
                _idleWaitMs = Math.Clamp(_idleWaitMs * 2, KafkaLimits.SourceIdlePollMs, KafkaLimits.SourceIdlePollMsMax);
                done.TimersSet.Add(new TimerSet { Key = PollTimerKey, TimeUnixMs = nowMs + _idleWaitMs });
                return;
            }
            // Records came, or the rate allowed none: not idle.
            _idleWaitMs = 0;
            done.TimersSet.Add(new TimerSet { Key = PollTimerKey, TimeUnixMs = _rate.NextTurnMs(nowMs) });
        }
    }

    private void StartWatch(IConsumer<KafkaBytes, KafkaBytes> consumer, Action<string> wake)
    {
        if (_watcher is null)
        {
            // One thread for the instance's life, asleep on a semaphore between watches.
            _watcher = new Thread(() => WatchLoop(consumer, wake)) { IsBackground = true, Name = "kafka-src idle" };
            _watcher.Start();
        }
        _watchIdle.Reset();
        _watchStart.Release();
    }

    private void WatchLoop(IConsumer<KafkaBytes, KafkaBytes> consumer, Action<string> wake)
    {
        while (true)
        {
            _watchStart.Wait();
            if (_watcherStop)
            {
                return;
            }
            try
            {
                var result = consumer.Consume(TimeSpan.FromMilliseconds(KafkaLimits.SourceIdleWaitMs));
                if (result is not null && !result.IsPartitionEOF)
                {
                    _watched = result;
                }
            }
            catch (KafkaException e)
            {
                _watchError = e.Error;
            }
            finally
            {
                _watchIdle.Set();
            }
            // Message or not: the pump's next turn polls, and watches again if still idle.
            wake(PollTimerKey);
        }
    }

    /// <summary>Waits until no watch holds the consumer (at most its consume timeout), and reports its error.</summary>
    private void JoinWatch()
    {
        if (!_watchIdle.Wait(TimeSpan.FromMilliseconds(KafkaLimits.SourceIdleWaitMs + KafkaLimits.CloseTimeoutMs)))
        {
            throw new OperatorFailedException(
                $"kafka-source: librdkafka's consume did not return within {KafkaLimits.CloseTimeoutMs} ms (KafkaLimits.CloseTimeoutMs) after its {KafkaLimits.SourceIdleWaitMs} ms timeout (KafkaLimits.SourceIdleWaitMs); the client is stuck, the instance restarts with back-off");
        }
        if (_watchError is { } error)
        {
            _watchError = null;
            _connector.OnClientError(error);
        }
    }

    /// <summary>Emits up to <paramref name="max"/> records (and <see cref="KafkaLimits.SourceBytesPerPollMax"/>) from the consumer; returns how many.</summary>
    private int Poll(IConsumer<KafkaBytes, KafkaBytes> consumer, AnswerWriter done, int max, long nowMs, long nowUs)
    {
        var n = 0;
        var reached = false;
        long bytes = 0;
        while (n < max && bytes < KafkaLimits.SourceBytesPerPollMax)
        {
            ConsumeResult<KafkaBytes, KafkaBytes>? result = _watched;
            _watched = null;
            try
            {
                result ??= consumer.Consume(TimeSpan.Zero);
            }
            catch (ConsumeException e)
            {
                _connector.OnClientError(e.Error);
                break;
            }
            if (result is null)
            {
                break;
            }
            if (result.IsPartitionEOF)
            {
                continue;
            }
            reached = true;
            var key = result.Message.Key;
            var value = result.Message.Value;
            var size = (long)key.Length + value.Length;
            var partition = result.Partition.Value;
            if (size > ProtocolLimits.RecordBytesMax)
            {
                var at = new TopicPartitionOffset(_connector.Topic, partition, result.Offset).ToString();
                if (!_skipOversize)
                {
                    throw new OperatorFailedException(
                        $"kafka-source: the message at {at} has key+value of {size} bytes, more than the {ProtocolLimits.RecordBytesMax} a Concord record may have (ProtocolLimits.RecordBytesMax); set option \"oversize\": \"skip\" to skip such messages (logged and counted), or keep them out of the topic");
                }
                Consumed(partition, result.Offset.Value);
                _metrics.OversizeSkipped.WithLabels(_connector.Topic).Inc();
                KafkaLog.OversizeSkipped(_logger, at, size, ProtocolLimits.RecordBytesMax, ++_skipped);
                continue;
            }
            var timestamp = result.Message.Timestamp;
            done.Produce(0, key.Span, value.Span, timestamp.Type == TimestampType.NotAvailable ? nowMs : timestamp.UnixTimestampMs, nowUs); // its one output stream
            Consumed(partition, result.Offset.Value);
            bytes += size;
            n++;
        }
        if (reached)
        {
            _connector.Reachable(); // once per poll, not per message: an interlocked write each
        }
        Interlocked.Add(ref _records, n);
        if (n > 0)
        {
            _metrics.Records.WithLabels("in", _connector.Topic).Inc(n);
        }
        return n;
    }

    private void Consumed(int partition, long offset)
    {
        if (_checkpoint is null)
        {
            _commit.Consumed(partition, offset);
        }
        else
        {
            _checkpoint.Consumed(partition, offset);
        }
    }

    protected override void OnShutdown()
    {
        IConsumer<KafkaBytes, KafkaBytes>? consumer;
        lock (_lock)
        {
            if (_closed)
            {
                return;
            }
            _closed = true;
            consumer = _consumer;
        }
        if (consumer is null)
        {
            return;
        }
        // Commit and leave the group, bounded: a cluster that is gone must not hold the drain.
        var close = Task.Run(() =>
        {
            // A watch holds the consumer for at most its consume timeout: close after it (bounded with the rest).
            _watchIdle.Wait(TimeSpan.FromMilliseconds(KafkaLimits.SourceIdleWaitMs + KafkaLimits.CloseTimeoutMs));
            _watcherStop = true;
            _watchStart.Release();
            try
            {
                // With checkpoints only a completed checkpoint commits: records after it are read again.
                var committed = _checkpoint is null ? _commit.CommitOnShutdown(consumer) : [];
                if (committed.Count > 0)
                {
                    KafkaLog.FinalCommit(_logger, string.Join(", ", committed.Select(c => $"{c.Partition.Value}@{c.Offset.Value}")));
                }
            }
            catch (KafkaException e)
            {
                KafkaLog.FinalCommitFailed(_logger, e.Error.Reason, KafkaLimits.SourceCommitIntervalMs);
            }
            try
            {
                consumer.Close();
            }
            catch (KafkaException)
            {
                // Leaving the group failed (cluster gone): the group drops the member by itself.
            }
            consumer.Dispose();
        });
        if (!close.Wait(TimeSpan.FromMilliseconds(KafkaLimits.CloseTimeoutMs)))
        {
            KafkaLog.FinalCommitFailed(_logger, $"closing the consumer took longer than {KafkaLimits.CloseTimeoutMs} ms", KafkaLimits.SourceCommitIntervalMs);
        }
        KafkaLog.Closed(_logger, Kind, Records);
    }
}
