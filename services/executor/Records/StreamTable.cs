using System.Text;

namespace Concord.Executor.Records;

/// <summary>
/// The output streams of one operator, in the order its metadata lists them. Produced records
/// name their stream by index into this table, so the data path compares the stream's UTF-8
/// bytes once per record and never builds a string for it.
/// </summary>
public sealed class StreamTable
{
    private readonly string[] _names;
    private readonly byte[][] _utf8;

    public StreamTable(IEnumerable<string> names)
    {
        _names = [.. names];
        _utf8 = [.. _names.Select(Encoding.UTF8.GetBytes)];
    }

    public static StreamTable Empty { get; } = new([]);

    public int Count => _names.Length;

    public IReadOnlyList<string> Names => _names;

    public string this[int index] => _names[index];

    /// <summary>Index of <paramref name="name"/>, or -1.</summary>
    public int IndexOf(string name) => Array.IndexOf(_names, name);

    /// <summary>Index of the stream whose UTF-8 name is <paramref name="utf8"/>, or -1. Checks <paramref name="hint"/> first (the previous record's stream).</summary>
    public int IndexOf(ReadOnlySpan<byte> utf8, int hint = 0)
    {
        if ((uint)hint < (uint)_utf8.Length && utf8.SequenceEqual(_utf8[hint]))
        {
            return hint;
        }
        for (var i = 0; i < _utf8.Length; i++)
        {
            if (utf8.SequenceEqual(_utf8[i]))
            {
                return i;
            }
        }
        return -1;
    }

    public override string ToString() => $"[{string.Join(", ", _names)}]";
}
