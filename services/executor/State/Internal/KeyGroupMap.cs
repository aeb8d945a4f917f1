namespace Concord.Executor.State.Internal;

/// <summary>
/// The entries of one key group in the memory backend (state key → value). Copy-on-write: once
/// a snapshot holds the dictionary it is never changed again; the next write copies it first.
/// Values are never changed in place, so the copy shares them.
/// </summary>
internal sealed class KeyGroupMap
{
    public Dictionary<byte[], byte[]> Entries { get; private set; } = new(ByteArrayComparer.Instance);

    /// <summary>Accounted bytes of the entries (<see cref="MemoryStateBackend.EntryBytes"/> each).</summary>
    public long Bytes { get; set; }

    /// <summary>A snapshot holds <see cref="Entries"/>: copy before the next change.</summary>
    public bool Frozen { get; private set; }

    /// <summary>Hands the current dictionary to a snapshot; it is immutable from now on.</summary>
    public Dictionary<byte[], byte[]> Freeze()
    {
        Frozen = true;
        return Entries;
    }

    /// <summary>Called before every change: copies the dictionary if a snapshot holds it.</summary>
    public Dictionary<byte[], byte[]> Writable()
    {
        if (Frozen)
        {
            Entries = new Dictionary<byte[], byte[]>(Entries, ByteArrayComparer.Instance);
            Frozen = false;
        }
        return Entries;
    }
}
