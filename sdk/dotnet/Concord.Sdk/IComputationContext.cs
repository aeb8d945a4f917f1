using Google.Protobuf;

namespace Concord.Sdk;

/// <summary>
/// What a callback can do. Valid only on the operator thread inside a callback; calls from
/// elsewhere throw, because the products of a callback belong to the batch being processed.
/// </summary>
public interface IComputationContext
{
    /// <summary>The operator's name (from the deploy file).</summary>
    string OperatorName { get; }

    /// <summary>0-based index of this instance.</summary>
    int InstanceIndex { get; }

    /// <summary>Number of instances of this operator when the session opened.</summary>
    int InstanceCount { get; }

    /// <summary>
    /// Produces a record to <paramref name="stream"/>, which must be one of the metadata's
    /// outputs; key plus value must fit in the session's record limit (1 MiB by default).
    /// The bytes are copied once, straight into the answer being built (no object per record).
    /// <paramref name="eventTimeUnixMs"/> 0 inherits the event time of the record being
    /// processed, or "now" in Init and timers.
    /// </summary>
    /// <exception cref="UndeclaredStreamException">the stream is not a declared output.</exception>
    /// <exception cref="RecordTooLargeException">key plus value is over the limit.</exception>
    void ProduceRecord(string stream, ByteString key, ByteString value, long eventTimeUnixMs = 0);

    /// <summary>Produces a record; key and value are copied (the cheapest overload: no ByteString to make).</summary>
    void ProduceRecord(string stream, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) =>
        ProduceRecord(stream, ByteString.CopyFrom(key), ByteString.CopyFrom(value));

    /// <summary>Produces a record; key and value are copied, so the arrays may be reused.</summary>
    void ProduceRecord(string stream, byte[] key, byte[] value) =>
        ProduceRecord(stream, ByteString.CopyFrom(key), ByteString.CopyFrom(value));

    /// <summary>Produces a record with key and value encoded as UTF-8.</summary>
    void ProduceRecord(string stream, string key, string value) =>
        ProduceRecord(stream, ByteString.CopyFromUtf8(key), ByteString.CopyFromUtf8(value));

    /// <summary>
    /// Asks for <see cref="Computation.ProcessTimer"/> with <paramref name="key"/> at
    /// <paramref name="timeUnixMs"/>, an absolute time in ms since the Unix epoch (not a delay).
    /// One pending timer per key: setting a key again replaces its time. In an operator that
    /// declares states the timer is keyed: it belongs to <see cref="StateKey"/> (one pending
    /// timer per state key and key), is stored with that key's state, and its
    /// <see cref="Computation.ProcessTimer"/> runs with that key's state in scope.
    /// </summary>
    void SetTimer(string key, long timeUnixMs);

    /// <summary>
    /// <see cref="SetTimer(string, long)"/> in the given time domain: an
    /// <see cref="TimerDomain.EventTime"/> timer fires when the executor's input watermark
    /// reaches <paramref name="timeUnixMs"/> (docs/guarantees.md, "Event time"); it needs an
    /// executor that offers "event-time.v1" (else this throws). One pending timer per (state
    /// key, key, domain).
    /// </summary>
    void SetTimer(string key, long timeUnixMs, TimerDomain domain) =>
        throw new NotSupportedException($"{GetType().Name} has no event-time timers; they are available in the contexts Concord passes to callbacks");

    /// <summary>
    /// The executor's input watermark when the batch was cut, ms since the Unix epoch (no record
    /// arriving later should have an earlier event time); in a source, the watermark the
    /// executor makes from the source's own output; 0 when not known, and in Init.
    /// </summary>
    long WatermarkUnixMs => 0;

    /// <summary>
    /// The declared state <paramref name="name"/> of the key in scope (<see cref="StateKey"/>).
    /// </summary>
    /// <exception cref="UndeclaredStateException">the name is not declared in Metadata().</exception>
    IValueState State(string name) =>
        throw new NotSupportedException($"{GetType().Name} has no keyed state; it is available in the contexts Concord passes to callbacks");

    /// <summary>
    /// The key whose state is in scope: the record's key in ProcessRecord, the timer's state key
    /// (the record key current when it was set) in ProcessTimer, empty in Init.
    /// </summary>
    ReadOnlyMemory<byte> StateKey => ReadOnlyMemory<byte>.Empty;

    /// <summary>
    /// Sends a log line to the executor, which writes it to the instance's log with the
    /// operator's name. Sent at once, not with the batch. Unlike the other members this may be
    /// called from any thread.
    /// </summary>
    void Log(string message, OperatorLogLevel level = OperatorLogLevel.Info);
}

/// <summary>Level of a <see cref="IComputationContext.Log"/> line.</summary>
public enum OperatorLogLevel
{
    Debug,
    Info,
    Warning,
    Error,
}

/// <summary>What clock a timer follows (<see cref="IComputationContext.SetTimer(string, long, TimerDomain)"/>).</summary>
public enum TimerDomain
{
    /// <summary>Fires when the wall clock reaches its time.</summary>
    ProcessingTime = 0,

    /// <summary>Fires when the executor's input watermark reaches its time ("event-time.v1").</summary>
    EventTime = 1,
}
