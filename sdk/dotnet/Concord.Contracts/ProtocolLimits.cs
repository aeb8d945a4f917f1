namespace Concord.Contracts;

/// <summary>
/// Limits that every side of the protocol must agree on. Component-specific limits live with
/// the component (ExecutorLimits, SchedulerLimits); these are the ones SDKs see too.
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
    /// Key groups of every group_by stream: 128. Rescaling moves whole key groups, so this is
    /// also the largest useful number of instances of a group_by reader.
    /// </summary>
    public const int KeyGroupCount = 128;

    /// <summary>Most instances of one operator: 128 (one key group each at most).</summary>
    public const int InstancesMax = KeyGroupCount;

    /// <summary>Longest stream name in characters.</summary>
    public const int StreamNameLengthMax = 128;

    /// <summary>Longest operator name in characters.</summary>
    public const int OperatorNameLengthMax = 63;

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

    /// <summary>Everything this build supports.</summary>
    public static readonly IReadOnlyList<string> All = [BatchPipelining, Timers];
}
