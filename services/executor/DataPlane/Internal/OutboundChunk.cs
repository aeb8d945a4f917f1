using Concord.Contracts.Types.V1;

namespace Concord.Executor.DataPlane.Internal;

/// <summary>
/// Records for one outbound channel from one answer, queued together: the router fills it
/// and enqueues it once (one budget acquisition and one queue write instead of one per
/// record), and the sender sees them together, so they leave in one RecordBatch instead of
/// in whatever trickle the sender caught. The sender consumes it from <see cref="Offset"/> on.
/// </summary>
public sealed class OutboundChunk(int capacity)
{
    private readonly List<Record> _records = new(capacity);
    private readonly List<int> _sizes = new(capacity);

    public int Count => _records.Count;

    /// <summary>Serialized bytes of all its records.</summary>
    public long Bytes { get; private set; }

    /// <summary>First record the sender has not taken yet (sender's thread only).</summary>
    internal int Offset { get; set; }

    internal int Remaining => _records.Count - Offset;

    internal Record RecordAt(int index) => _records[index];

    internal int SizeAt(int index) => _sizes[index];

    public void Add(Record record, int serializedBytes)
    {
        _records.Add(record);
        _sizes.Add(serializedBytes);
        Bytes += serializedBytes;
    }
}
