using System.Buffers.Binary;

namespace Concord.Executor.State.Internal;

/// <summary>
/// The key-group state file both backends write and read (<c>shared/&lt;operator&gt;/kg-*.state</c>),
/// so a checkpoint of one backend restores into the other. Big-endian, length-prefixed
/// (docs/guarantees.md "State file format"):
/// <code>
/// header   "CKGS" (4) | version 1 (1) | key group (2)
/// entry*   name length (2) | name (UTF-8) | key length (4) | key | value length (4) | value
/// trailer  entry count (4) | CRC-32 of every byte before the CRC (4)
/// </code>
/// The count sits in the trailer so a writer can stream a store's iterator without counting
/// first. A reader stages what it reads and takes it only after the trailer checks out.
/// </summary>
internal static class StateFile
{
    public static ReadOnlySpan<byte> Magic => "CKGS"u8;

    public const byte Version = 1;

    public const int HeaderBytes = 4 + 1 + 2;

    public const int TrailerBytes = 4 + 4;

    /// <summary>Bytes of an entry beyond its name, key and value: the three lengths.</summary>
    public const int EntryOverheadBytes = 2 + 4 + 4;

    /// <summary>Reads the file at <paramref name="path"/> of <paramref name="keyGroup"/>, handing each (state key, value) to <paramref name="add"/>.</summary>
    /// <returns>The entries read.</returns>
    /// <exception cref="InvalidDataException">The file is damaged, of another key group, or not a state file; <paramref name="add"/> may have seen part of it.</exception>
    public static long Read(string path, int keyGroup, Action<byte[], byte[]> add)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
        var reader = new CheckedReader(new BufferedStream(file, ExecutorLimits.StateFileBufferBytes), file.Length, path);
        Span<byte> header = stackalloc byte[HeaderBytes];
        reader.Read(header);
        if (!header[..4].SequenceEqual(Magic) || header[4] != Version)
        {
            throw reader.Damaged("it does not start with a version-1 state file header");
        }
        if (BinaryPrimitives.ReadUInt16BigEndian(header[5..]) != keyGroup)
        {
            throw reader.Damaged($"it holds key group {BinaryPrimitives.ReadUInt16BigEndian(header[5..])}, the manifest says {keyGroup}");
        }
        long entries = 0;
        Span<byte> length = stackalloc byte[4];
        while (reader.Remaining > TrailerBytes)
        {
            reader.Read(length[..2]);
            var nameLength = BinaryPrimitives.ReadUInt16BigEndian(length);
            if (nameLength is 0 or > ExecutorLimits.StateNameBytesMax)
            {
                throw reader.Damaged($"an entry's name length is {nameLength}");
            }
            var name = new byte[nameLength];
            reader.Read(name);
            var key = reader.ReadBlock(ExecutorLimits.StateKeyBytesMax, "key");
            var value = reader.ReadBlock(ExecutorLimits.StateValueBytesMax, "value");
            var stateKey = new byte[StateKeys.NameLengthBytes + nameLength + key.Length];
            BinaryPrimitives.WriteUInt16BigEndian(stateKey, nameLength);
            name.CopyTo(stateKey, StateKeys.NameLengthBytes);
            key.CopyTo(stateKey, StateKeys.NameLengthBytes + nameLength);
            add(stateKey, value);
            entries++;
        }
        reader.Read(length);
        if (BinaryPrimitives.ReadUInt32BigEndian(length) != entries)
        {
            throw reader.Damaged($"its trailer counts {BinaryPrimitives.ReadUInt32BigEndian(length)} entries, it holds {entries}");
        }
        var computed = Crc32.Finish(reader.Crc);
        reader.Read(length);
        if (BinaryPrimitives.ReadUInt32BigEndian(length) != computed || reader.Remaining != 0)
        {
            throw reader.Damaged("its checksum does not match");
        }
        return entries;
    }

    /// <summary>Reads exactly what it is asked for, summing a CRC, and names the file when it ends early.</summary>
    private sealed class CheckedReader(Stream stream, long length, string path)
    {
        public uint Crc { get; private set; } = Crc32.Initial;

        public long Remaining { get; private set; } = length;

        public void Read(Span<byte> destination)
        {
            if (destination.Length > Remaining)
            {
                throw Damaged("it ends in the middle of an entry");
            }
            stream.ReadExactly(destination);
            Crc = Crc32.Update(Crc, destination);
            Remaining -= destination.Length;
        }

        public byte[] ReadBlock(int bytesMax, string what)
        {
            Span<byte> prefix = stackalloc byte[4];
            Read(prefix);
            var size = BinaryPrimitives.ReadUInt32BigEndian(prefix);
            if (size > bytesMax || size > Remaining)
            {
                throw Damaged($"an entry's {what} length is {size}");
            }
            var block = new byte[size];
            Read(block);
            return block;
        }

        public InvalidDataException Damaged(string why) =>
            new($"state file '{path}' is damaged: {why}; restore an earlier checkpoint (concord list shows them)");
    }
}

/// <summary>Streams entries into a state file (<see cref="StateFile"/>) and appends the trailer at <see cref="Finish"/>.</summary>
internal sealed class StateFileWriter
{
    private readonly Stream _stream;
    private uint _crc = Crc32.Initial;
    private long _entries;

    public StateFileWriter(Stream stream, int keyGroup)
    {
        _stream = stream;
        Span<byte> header = stackalloc byte[StateFile.HeaderBytes];
        StateFile.Magic.CopyTo(header);
        header[4] = StateFile.Version;
        BinaryPrimitives.WriteUInt16BigEndian(header[5..], checked((ushort)keyGroup));
        Write(header);
    }

    public long Entries => _entries;

    /// <summary>Adds one entry; <paramref name="stateKey"/> is a <see cref="StateKeys"/> state key.</summary>
    public void Add(ReadOnlySpan<byte> stateKey, ReadOnlySpan<byte> value)
    {
        if (!StateKeys.TrySplit(stateKey, out var name, out var key))
        {
            throw new InvalidOperationException("malformed state key: the backend stored a key it did not build");
        }
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteUInt16BigEndian(length, (ushort)name.Length);
        Write(length[..2]);
        Write(name);
        BinaryPrimitives.WriteUInt32BigEndian(length, (uint)key.Length);
        Write(length);
        Write(key);
        BinaryPrimitives.WriteUInt32BigEndian(length, (uint)value.Length);
        Write(length);
        Write(value);
        _entries++;
    }

    /// <summary>Writes the trailer; the caller then flushes and renames the file into place.</summary>
    public void Finish()
    {
        Span<byte> trailer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(trailer, checked((uint)_entries));
        Write(trailer);
        BinaryPrimitives.WriteUInt32BigEndian(trailer, Crc32.Finish(_crc));
        _stream.Write(trailer);
    }

    private void Write(ReadOnlySpan<byte> bytes)
    {
        _crc = Crc32.Update(_crc, bytes);
        _stream.Write(bytes);
    }
}
