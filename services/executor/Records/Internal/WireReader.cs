namespace Concord.Executor.Records.Internal;

/// <summary>Bytes that are not the protobuf message they should be.</summary>
public sealed class WireFormatException(string message) : Exception(message);

/// <summary>
/// A forward-only reader of protobuf wire format over one buffer, reporting absolute offsets.
/// Only what the executor needs: tags, varints, length-delimited slices and skipping.
/// Protobuf semantics are kept where they matter for forwarding: unknown fields are skipped
/// (and stay in the forwarded bytes), a repeated scalar field's last value wins.
/// </summary>
internal ref struct WireReader
{
    public const int WireVarint = 0;
    public const int WireFixed64 = 1;
    public const int WireLengthDelimited = 2;
    public const int WireFixed32 = 5;

    private readonly ReadOnlySpan<byte> _buffer;
    private readonly int _end;
    private int _position;

    /// <summary>Reads <paramref name="length"/> bytes of <paramref name="buffer"/> from <paramref name="offset"/>.</summary>
    public WireReader(ReadOnlySpan<byte> buffer, int offset, int length)
    {
        if (offset < 0 || length < 0 || offset + length > buffer.Length)
        {
            throw new WireFormatException($"slice {offset}+{length} is outside a buffer of {buffer.Length} bytes");
        }
        _buffer = buffer;
        _position = offset;
        _end = offset + length;
    }

    public readonly int Position => _position;

    public readonly bool AtEnd => _position >= _end;

    /// <summary>Reads the next tag; false at the end of the slice.</summary>
    public bool TryReadTag(out int field, out int wireType)
    {
        if (_position >= _end)
        {
            field = 0;
            wireType = 0;
            return false;
        }
        var tag = ReadVarint();
        field = (int)(tag >> 3);
        wireType = (int)(tag & 7);
        if (field == 0 || tag > int.MaxValue)
        {
            throw new WireFormatException($"invalid tag {tag} at byte {_position}");
        }
        return true;
    }

    public ulong ReadVarint()
    {
        ulong result = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (_position >= _end)
            {
                throw new WireFormatException("truncated varint");
            }
            var b = _buffer[_position++];
            result |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return result;
            }
        }
        throw new WireFormatException("varint longer than 10 bytes");
    }

    /// <summary>Reads a length prefix and returns the slice it covers (absolute offset, length); the reader moves past it.</summary>
    public (int Offset, int Length) ReadLengthDelimited()
    {
        var length = ReadVarint();
        if (length > (ulong)(_end - _position))
        {
            throw new WireFormatException($"a length-delimited field of {length} bytes runs past the end of its message ({_end - _position} bytes left)");
        }
        var offset = _position;
        _position += (int)length;
        return (offset, (int)length);
    }

    /// <summary>Skips the value of a field of <paramref name="wireType"/>.</summary>
    public void Skip(int wireType)
    {
        switch (wireType)
        {
            case WireVarint:
                ReadVarint();
                break;
            case WireFixed64:
                Advance(8);
                break;
            case WireLengthDelimited:
                ReadLengthDelimited();
                break;
            case WireFixed32:
                Advance(4);
                break;
            default:
                throw new WireFormatException($"unsupported wire type {wireType} (groups are not used by Concord's protos)");
        }
    }

    /// <summary>Checks that field <paramref name="field"/> has the wire type its proto declares.</summary>
    public static void Expect(int field, int wireType, int expected, string message)
    {
        if (wireType != expected)
        {
            throw new WireFormatException($"{message} field {field} has wire type {wireType}, expected {expected}");
        }
    }

    private void Advance(int count)
    {
        if (count > _end - _position)
        {
            throw new WireFormatException("truncated fixed-width field");
        }
        _position += count;
    }
}
