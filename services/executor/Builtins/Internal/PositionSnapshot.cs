namespace Concord.Executor.Builtins.Internal;

/// <summary>
/// The operator snapshot of a built-in whose position is a map of int to long (generator:
/// lane to next position; kafka-source: partition to next offset): a version byte, the kind
/// (so a snapshot restored into another kind fails clearly), the pair count, the pairs, all
/// little-endian.
/// </summary>
internal static class PositionSnapshot
{
    private const byte Version = 1;

    public static byte[] Write(IEnumerable<KeyValuePair<int, long>> pairs, string kind = GeneratorOperator.Kind)
    {
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer))
        {
            writer.Write(Version);
            writer.Write(kind);
            var list = pairs.ToList();
            writer.Write(list.Count);
            foreach (var (key, value) in list)
            {
                writer.Write(key);
                writer.Write(value);
            }
        }
        return buffer.ToArray();
    }

    public static IReadOnlyList<KeyValuePair<int, long>> Read(byte[] snapshot, string kind)
    {
        try
        {
            using var reader = new BinaryReader(new MemoryStream(snapshot));
            var version = reader.ReadByte();
            var written = reader.ReadString();
            if (version != Version || written != kind)
            {
                throw new OperatorFailedException(
                    $"{kind}: the checkpoint's operator snapshot is a version {version} '{written}' snapshot, not a version {Version} '{kind}' one; restore a checkpoint taken by this operator, or deploy it without one");
            }
            var count = reader.ReadInt32();
            var pairs = new List<KeyValuePair<int, long>>(Math.Min(count, snapshot.Length / 12));
            for (var i = 0; i < count; i++)
            {
                pairs.Add(new(reader.ReadInt32(), reader.ReadInt64()));
            }
            return pairs;
        }
        catch (EndOfStreamException)
        {
            throw new OperatorFailedException($"{kind}: the checkpoint's operator snapshot is truncated ({snapshot.Length} bytes); the checkpoint is damaged, restore an earlier one");
        }
    }
}
