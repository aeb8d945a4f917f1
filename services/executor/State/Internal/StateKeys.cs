using System.Buffers.Binary;
using System.Text;

namespace Concord.Executor.State.Internal;

/// <summary>
/// The state key of (key, name) as both backends store it: 2-byte big-endian UTF-8 length of
/// the name, the name, then the record key. The name comes first so every backend can tell a
/// name's entries apart without a separator that a key could contain.
/// </summary>
internal static class StateKeys
{
    /// <summary>Bytes of the name-length prefix.</summary>
    public const int NameLengthBytes = 2;

    /// <summary>Bytes <paramref name="key"/> and <paramref name="name"/> take as a state key; validates both.</summary>
    public static int LengthOf(ReadOnlySpan<byte> key, string name)
    {
        var nameBytes = Encoding.UTF8.GetByteCount(name);
        if (nameBytes == 0 || nameBytes > ExecutorLimits.StateNameBytesMax)
        {
            throw new ArgumentException($"state name must be 1..{ExecutorLimits.StateNameBytesMax} UTF-8 bytes, got {nameBytes}; declare a shorter name in metadata", nameof(name));
        }
        if (key.Length > ExecutorLimits.StateKeyBytesMax)
        {
            throw new StateLimitException($"state key of {key.Length} bytes exceeds ExecutorLimits.StateKeyBytesMax ({ExecutorLimits.StateKeyBytesMax} bytes); use shorter record keys");
        }
        return NameLengthBytes + nameBytes + key.Length;
    }

    /// <summary>Writes the state key into <paramref name="destination"/> (exactly <see cref="LengthOf"/> bytes).</summary>
    public static void Write(Span<byte> destination, ReadOnlySpan<byte> key, string name)
    {
        var nameBytes = Encoding.UTF8.GetBytes(name, destination[NameLengthBytes..]);
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)nameBytes);
        key.CopyTo(destination[(NameLengthBytes + nameBytes)..]);
    }

    /// <summary>The name-length prefix and name of <paramref name="name"/>, to filter state keys by name.</summary>
    public static byte[] NamePrefix(string name)
    {
        var prefix = new byte[LengthOf([], name)];
        Write(prefix, [], name);
        return prefix;
    }

    /// <summary>Splits a state key into its name bytes and record key; false when malformed.</summary>
    public static bool TrySplit(ReadOnlySpan<byte> stateKey, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> key)
    {
        name = default;
        key = default;
        if (stateKey.Length < NameLengthBytes)
        {
            return false;
        }
        var nameLength = BinaryPrimitives.ReadUInt16BigEndian(stateKey);
        if (nameLength == 0 || stateKey.Length < NameLengthBytes + nameLength)
        {
            return false;
        }
        name = stateKey.Slice(NameLengthBytes, nameLength);
        key = stateKey[(NameLengthBytes + nameLength)..];
        return true;
    }
}

/// <summary>
/// Byte-array equality for dictionary keys, with span lookups so a get or set builds its state
/// key on the stack instead of allocating one per call.
/// </summary>
internal sealed class ByteArrayComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
{
    public static readonly ByteArrayComparer Instance = new();

    public bool Equals(byte[]? x, byte[]? y) => ReferenceEquals(x, y) || (x is not null && y is not null && x.AsSpan().SequenceEqual(y));

    public int GetHashCode(byte[] obj) => Hash(obj);

    public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);

    public int GetHashCode(ReadOnlySpan<byte> alternate) => Hash(alternate);

    public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();

    private static int Hash(ReadOnlySpan<byte> bytes)
    {
        var hash = new HashCode();
        hash.AddBytes(bytes);
        return hash.ToHashCode();
    }
}
