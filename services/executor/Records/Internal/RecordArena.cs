namespace Concord.Executor.Records.Internal;

/// <summary>
/// Space for records copied or written by the executor (outbound chunks, built-ins' answers):
/// segments filled front to back, the first <see cref="FirstSegmentBytes"/>, each next one
/// twice the last up to <see cref="ExecutorLimits.RecordArenaSegmentBytes"/> (below the
/// large-object heap's threshold). A record never moves once written, so a
/// <see cref="RawRecord"/> pointing into a segment stays valid; a segment is freed when no
/// record in it is referenced any more. A record larger than half the largest segment gets an
/// array of its own. So an arena holds at most twice its records' bytes plus one first segment:
/// a chunk of one small record costs about <see cref="FirstSegmentBytes"/>, not a whole segment.
/// </summary>
internal sealed class RecordArena
{
    /// <summary>Size of the first segment, in bytes (<see cref="ExecutorLimits.RecordArenaFirstSegmentBytes"/>).</summary>
    public const int FirstSegmentBytes = ExecutorLimits.RecordArenaFirstSegmentBytes;

    private byte[]? _segment;
    private int _used;
    private int _nextSegmentBytes = FirstSegmentBytes;

    /// <summary>Reserves <paramref name="size"/> bytes; returns the span to write them into and where they are.</summary>
    public Span<byte> Reserve(int size, out byte[] buffer, out int offset)
    {
        if (size > ExecutorLimits.RecordArenaSegmentBytes / 2)
        {
            buffer = GC.AllocateUninitializedArray<byte>(size);
            offset = 0;
            return buffer;
        }
        if (_segment is null || _segment.Length - _used < size)
        {
            while (_nextSegmentBytes < size)
            {
                _nextSegmentBytes *= 2;
            }
            _segment = GC.AllocateUninitializedArray<byte>(_nextSegmentBytes);
            _nextSegmentBytes = Math.Min(_nextSegmentBytes * 2, ExecutorLimits.RecordArenaSegmentBytes);
            _used = 0;
        }
        buffer = _segment;
        offset = _used;
        _used += size;
        return buffer.AsSpan(offset, size);
    }

    /// <summary>Copies <paramref name="record"/>'s bytes here; returns the record as it is here.</summary>
    public RawRecord Copy(in RawRecord record)
    {
        var span = Reserve(record.Length, out var buffer, out var offset);
        record.Bytes.CopyTo(span);
        return record.MovedTo(buffer, offset);
    }

    /// <summary>Copies <paramref name="record"/>'s bytes here; returns where they are.</summary>
    public RecordSlice CopySlice(in RawRecord record)
    {
        var span = Reserve(record.Length, out var buffer, out var offset);
        record.Bytes.CopyTo(span);
        return new RecordSlice(buffer, offset, record.Length, record.HasTrace);
    }
}
