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
    private readonly RecordArena _arena = new();

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
        _records.Add(_arena.CopySlice(record));
        Bytes += record.Length;
    }
}
