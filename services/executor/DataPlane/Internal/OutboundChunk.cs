using Concord.Executor.Records;
using Concord.Executor.Records.Internal;

namespace Concord.Executor.DataPlane.Internal;

/// <summary>
/// Records for one outbound channel from one answer, queued together: the router fills it
/// and enqueues it once (one budget acquisition and one queue write instead of one per
/// record), and the sender sees them together, so they leave in one RecordBatch instead of
/// in whatever trickle the sender caught. The sender consumes it from <see cref="Offset"/> on.
/// </summary>
/// <remarks>
/// Records are copied into the chunk's own segments as they are added, so a queued chunk holds
/// exactly its records' bytes and never the rest of the answer they came in (an answer of up
/// to 4 MiB could otherwise stay alive for one slow channel's single record).
/// </remarks>
public sealed class OutboundChunk(int capacity)
{
    /// <summary>
    /// Largest initial capacity of the record list, in records: 64. The list grows as records
    /// come; a larger start could hold far more than the chunk ever gets (a group_by share is
    /// only an estimate), and memory bounds count what is held.
    /// </summary>
    private const int InitialCapacityMax = 64;

    private readonly List<RecordSlice> _records = new(Math.Min(capacity, InitialCapacityMax));
    private RecordArena? _arena; // made at the first copy: a chunk of shared records (AddShared) has none

    public int Count => _records.Count;

    /// <summary>
    /// Not null: this entry is a checkpoint barrier, not records (no records, no queue budget).
    /// It leaves after every chunk queued before it and before any queued after (docs/data-plane.md).
    /// </summary>
    internal Contracts.DataPlane.V1.Barrier? Barrier { get; init; }

    /// <summary>True: this entry is an event-time watermark, not records; it leaves in order like a barrier.</summary>
    internal bool IsWatermark { get; init; }

    /// <summary>The watermark's time; raised in place while nothing is queued behind it (lock the chunk).</summary>
    internal long WatermarkMs;

    /// <summary>The sender took the watermark: it can no longer be raised (lock the chunk).</summary>
    internal bool WatermarkTaken;

    /// <summary>Serialized bytes of all its records.</summary>
    public long Bytes { get; private set; }

    /// <summary>First record the sender has not taken yet (sender's thread only).</summary>
    internal int Offset { get; set; }

    internal int Remaining => _records.Count - Offset;

    internal RecordSlice RecordAt(int index) => _records[index];

    internal int SizeAt(int index) => _records[index].Length;

    /// <summary>Copies <paramref name="record"/> into the chunk.</summary>
    public void Add(in RawRecord record)
    {
        _records.Add((_arena ??= new RecordArena()).CopySlice(record));
        Bytes += record.Length;
    }

    /// <summary>
    /// A chunk of exactly <paramref name="records"/> records that point into the buffers they
    /// are in instead of being copied (<see cref="AddShared"/>): the router's whole-answer case.
    /// </summary>
    internal static OutboundChunk Shared(int records)
    {
        var chunk = new OutboundChunk(0);
        chunk._records.Capacity = records;
        return chunk;
    }

    /// <summary>
    /// Adds <paramref name="record"/> without copying it: the chunk keeps its buffer alive.
    /// Only for a chunk that takes a whole answer whose buffers hold at most what copying would
    /// (Router's whole-answer case; docs/data-plane.md, "Records as bytes").
    /// </summary>
    internal void AddShared(in RawRecord record)
    {
        _records.Add(record.Slice);
        Bytes += record.Length;
    }
}
