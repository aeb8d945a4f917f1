using Concord.Contracts.Types.V1;

namespace Concord.Sdk;

/// <summary>
/// An operator: the callbacks Concord calls. Every callback runs on one dedicated thread, one at
/// a time, in the order the executor delivered the records and timers, so implementations need
/// no locks. Records produced and timers set inside a callback are buffered and returned to the
/// executor when the batch is done. Any exception a callback throws is fatal: the executor is
/// told (exception type, message, stack trace), the process exits 1 and the scheduler restarts
/// the instance.
/// </summary>
public abstract class Computation
{
    /// <summary>
    /// Called once, after <see cref="Metadata"/>, before any record. Records produced here get
    /// event and ingest time "now". The default does nothing.
    /// </summary>
    public virtual void Init(IComputationContext context)
    {
    }

    /// <summary>
    /// Called for every record of every input stream. <paramref name="record"/> is the message
    /// as received (no copy): read <c>record.Key</c> / <c>record.Value</c> (ByteString; use
    /// <c>.Span</c> or <c>.ToStringUtf8()</c>) and do not modify it. Its key and value are views of
    /// the batch's one received buffer: a record kept after returning stays valid but holds the
    /// whole batch in memory, so keep copies (<c>ToByteArray()</c>) instead.
    /// Records produced here inherit its trace, ingest time and (unless given) event time.
    /// </summary>
    public abstract void ProcessRecord(IComputationContext context, Record record);

    /// <summary>
    /// Called when a timer set with <see cref="IComputationContext.SetTimer"/> is due, after the
    /// records of the same batch. The default throws, because a computation that sets timers
    /// must handle them.
    /// </summary>
    public virtual void ProcessTimer(IComputationContext context, string key, long timeUnixMs) =>
        throw new InvalidOperationException(
            $"timer '{key}' fired but {GetType().Name} does not override ProcessTimer; override it, or stop calling SetTimer");

    /// <summary>
    /// Called once when the executor shuts the operator down (or the process is asked to stop):
    /// flush and close files here. Not called after a fatal error. The default does nothing.
    /// </summary>
    public virtual void Destroy()
    {
    }

    /// <summary>
    /// The operator's name, input streams with their groupings, and output streams. Called once
    /// at session start. Build it with <see cref="MetadataBuilder"/>.
    /// </summary>
    public abstract OperatorMetadata Metadata();
}
