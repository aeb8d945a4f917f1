namespace Concord.Contracts;

/// <summary>
/// Limits that every side of the protocol must agree on. Component-specific limits live with
/// the component (ExecutorLimits, SchedulerLimits); these are the ones SDKs see too. The single
/// source of these values is proto/concord/limits.json: this class, the Python SDK's _limits.py
/// and the Go SDK's limits.go are copies, and a test in each language fails when its copy
/// differs from the file (tests/Concord.Contracts.Tests/ProtocolLimitsFileTests.cs).
/// </summary>
public static class ProtocolLimits
{
    /// <summary>Operator session protocol version spoken by this build.</summary>
    public const int ProtocolVersion = 1;

    /// <summary>
    /// Largest record, key plus value, in bytes: 1 MiB. Large enough for any event a stream
    /// processor should carry inline; larger payloads belong in a blob store with a reference
    /// in the record. Producing a larger record is rejected at the producing operator.
    /// </summary>
    public const int RecordBytesMax = 1024 * 1024;

    /// <summary>
    /// Largest gRPC message on any Concord channel, in bytes: 64 MiB. A batch is flushed well
    /// before this (see ExecutorLimits), so the cap only guards against a broken peer.
    /// </summary>
    public const int GrpcMessageBytesMax = 64 * 1024 * 1024;

    /// <summary>
    /// Largest BatchDone (serialized) an executor accepts, in bytes: 4 MiB. It holds everything
    /// one batch's callbacks produced; the executor keeps at most two parsed answers, so this
    /// bounds their share of its memory (docs/data-plane.md). Room for one largest record and
    /// ~100,000 small ones; an SDK rejects a callback that would exceed it (C#:
    /// SdkLimits.ProducedBytesPerBatchMax), and the executor fails a session that sends more.
    /// </summary>
    public const int BatchDoneBytesMax = 4 * 1024 * 1024;

    /// <summary>
    /// Most records one BatchDone may carry: 65,536 (64 per 1,024-record batch), so the parsed
    /// size of an answer is bounded too, whatever the size of its records. The executor fails
    /// a session that sends more.
    /// </summary>
    public const int BatchDoneRecordsMax = 65_536;

    /// <summary>
    /// Key groups of every group_by stream: 128. Rescaling moves whole key groups, so this is
    /// also the largest useful number of instances of a group_by reader.
    /// </summary>
    public const int KeyGroupCount = 128;

    /// <summary>Most instances of one operator: 128 (one key group each at most).</summary>
    public const int InstancesMax = KeyGroupCount;

    /// <summary>
    /// Longest stream name in characters: 128, enough for dotted namespaces ("orders.eu.v2")
    /// while keeping stream names short in logs, metrics labels and routing tables.
    /// </summary>
    public const int StreamNameCharsMax = 128;

    /// <summary>
    /// What a stream name is: 1..<see cref="StreamNameCharsMax"/> of A-Z a-z 0-9 _ . - (safe in
    /// file names, metric labels and URLs without escaping). The bound is written out because a
    /// regex attribute needs a constant string; the limits file test checks the two agree.
    /// </summary>
    public const string StreamNamePattern = "^[A-Za-z0-9_.-]{1,128}$";

    /// <summary>
    /// Longest operator name in characters: 63, the DNS label limit, so an operator name can be
    /// a host or service name wherever it is deployed.
    /// </summary>
    public const int OperatorNameCharsMax = 63;

    /// <summary>
    /// What an operator name is: a DNS label of 1..<see cref="OperatorNameCharsMax"/> lower-case
    /// letters, digits and '-', starting with a letter or digit (the bound is written out as in
    /// <see cref="StreamNamePattern"/>).
    /// </summary>
    public const string OperatorNamePattern = "^[a-z0-9][a-z0-9-]{0,62}$";

    /// <summary>The stream name rule as users read it in error messages.</summary>
    public static string StreamNameRule => $"1..{StreamNameCharsMax} characters from A-Z a-z 0-9 _ . -";

    /// <summary>Longest unix socket path Linux accepts, in bytes: 107 (sun_path is 108 with the NUL).</summary>
    public const int UnixSocketPathBytesMax = 107;

    // ---- deploy spec bounds (OperatorSpecValidator: CLI, client SDKs and scheduler) ----------

    /// <summary>
    /// Largest cpus value accepted per instance, in cores: 256, more than any single machine
    /// Concord places an instance on; a larger value is a typo (mem in cpus).
    /// </summary>
    public const double CpusMax = 256;

    /// <summary>Largest mem accepted per instance, in MB: 1,048,576 (1 TiB), for the same reason.</summary>
    public const int MemMbMax = 1024 * 1024;

    /// <summary>
    /// Largest <c>unavailable_reader_drop_after_ms</c>, in ms: 600,000 (10 minutes). Until the
    /// bound a dead reader may stall its sender once its queue is full; waiting longer than this
    /// for a reader in at_most_once is what the guaranteed modes are for.
    /// </summary>
    public const int UnavailableReaderDropAfterMsMax = 600_000;

    /// <summary>
    /// Largest <c>watermark_out_of_orderness_ms</c> of a source, in ms: 3,600,000 (1 hour).
    /// Event-time timers downstream fire this much after their time at the earliest; waiting
    /// longer for stragglers is a job for allowed lateness in the operator, not the watermark.
    /// </summary>
    public const int WatermarkOutOfOrdernessMsMax = 3_600_000;

    /// <summary>
    /// Longest <c>image</c> reference, in characters: 512. A registry host, a path, a tag and a
    /// sha256 digest fit easily (Docker's own bound on a repository name is 255); anything
    /// longer is a mistake, and the reference is echoed into pod specs and errors.
    /// </summary>
    public const int ImageCharsMax = 512;

    /// <summary>
    /// An image reference: a registry host (optionally with a port), lower-case path
    /// components, an optional tag and an optional sha256 digest (the grammar of the
    /// distribution reference, checked loosely: the container runtime has the last word, but
    /// spaces, shell words and typos such as a trailing ':' are refused at deploy).
    /// </summary>
    public const string ImageReferencePattern = @"^[A-Za-z0-9][A-Za-z0-9._-]*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$";

    /// <summary>
    /// Most arguments, environment variables or files in one spec, in entries: 256. A spec is
    /// stored and sent whole on every topology change; real operators need a handful.
    /// </summary>
    public const int ListEntriesMax = 256;

    /// <summary>
    /// Largest linger_ms of a kafka-sink, in ms: 900,000 (15 minutes), librdkafka's own maximum
    /// for linger.ms, so a value it would refuse is rejected at deploy instead of at start.
    /// </summary>
    public const int KafkaLingerMsMax = 900_000;

    /// <summary>Longest Kafka topic name, in characters: 249, Kafka's own limit.</summary>
    public const int KafkaTopicCharsMax = 249;

    /// <summary>
    /// Most characters of one user-supplied value quoted in a spec problem: 128, a whole stream
    /// name. A deploy request is untrusted; its errors go to logs and terminals, so a 25 MB name
    /// must not come back whole (OperatorSpecValidator.Echo).
    /// </summary>
    public const int ProblemEchoCharsMax = 128;

    /// <summary>Environment variable holding the operator's listen address.</summary>
    public const string OperatorAddressVariable = "CONCORD_OPERATOR_ADDRESS";
}

/// <summary>Versioned capability strings negotiated in Init / Metadata.</summary>
public static class Capabilities
{
    /// <summary>More than one ProcessBatch may be unanswered at a time.</summary>
    public const string BatchPipelining = "batch-pipelining.v1";

    /// <summary>timers_fired in ProcessBatch, timers_set in BatchDone.</summary>
    public const string Timers = "timers.v1";

    /// <summary>
    /// ProcessBatch.states / state_as_of_seq, BatchDone.state_mutations, metadata states, keyed
    /// timers (state_key); the executor requires it of an operator that declares states.
    /// </summary>
    public const string KeyedState = "keyed-state.v1";

    /// <summary>
    /// ProcessBatch.watermark_unix_ms and timers in TIME_DOMAIN_EVENT, fired when the
    /// executor's input watermark reaches their time (docs/guarantees.md, "Event time").
    /// </summary>
    public const string EventTime = "event-time.v1";

    /// <summary>Everything this build supports.</summary>
    public static readonly IReadOnlyList<string> All = [BatchPipelining, Timers, KeyedState, EventTime];
}
