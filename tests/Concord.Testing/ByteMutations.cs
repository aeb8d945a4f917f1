using FsCheck;
using FsCheck.Fluent;

namespace Concord.Testing;

/// <summary>
/// Byte-level mutations of valid inputs for fuzz tests (the deploy-file parser, the data-plane
/// and operator-protocol decoders): one to <see cref="EditsMax"/> edits, each a bit flip, an
/// overwrite, an insert, a delete, a truncation, or a domain-specific sequence the caller names
/// (invalid UTF-8 for text, a huge varint for protobuf).
/// </summary>
public static class ByteMutations
{
    /// <summary>Most edits applied to one input: enough to break structure in several places, few enough to stay near valid.</summary>
    public const int EditsMax = 8;

    public static Gen<byte> AnyByte => Gen.Choose(0, 255).Select(b => (byte)b);

    /// <param name="valid">Inputs to start from.</param>
    /// <param name="special">The domain-specific sequence to insert, given a random byte to choose among variants.</param>
    public static Gen<byte[]> Mutated(Gen<byte[]> valid, Func<byte, byte[]> special) =>
        from input in valid
        from edits in Gen.Choose(1, EditsMax).SelectMany(n => Gen.ArrayOf(
            from kind in Gen.Choose(0, 5)
            from position in Gen.Choose(0, int.MaxValue)
            from value in AnyByte
            select (kind, position, value), n))
        select edits.Aggregate(input, (bytes, edit) => Edit(bytes, edit.kind, edit.position, edit.value, special));

    private static byte[] Edit(byte[] bytes, int kind, int where, byte value, Func<byte, byte[]> special)
    {
        if (bytes.Length == 0)
        {
            return [value];
        }
        var at = where % bytes.Length;
        var list = bytes.ToList();
        switch (kind)
        {
            case 0:
                list[at] ^= (byte)(1 << (value & 7));
                break;
            case 1:
                list[at] = value;
                break;
            case 2:
                list.Insert(at, value);
                break;
            case 3:
                list.RemoveAt(at);
                break;
            case 4:
                list.RemoveRange(at, list.Count - at);
                break;
            default:
                list.InsertRange(at, special(value));
                break;
        }
        return [.. list];
    }
}
