using System.Text;

namespace Concord.Executor.State.Internal;

/// <summary>
/// The state names a restore found entries for (docs/guarantees.md, "Rescaling with state": a
/// new version must declare every one of them). Fed every state key read, so the common case —
/// the same few names over and over — costs a comparison with the last name and no allocation.
/// </summary>
internal sealed class StateNameSet
{
    private readonly HashSet<byte[]> _names = new(ByteArrayComparer.Instance);
    private byte[] _last = [];

    /// <summary>Notes the name of <paramref name="stateKey"/> (<see cref="StateKeys"/> layout); a malformed key is ignored.</summary>
    public void Add(ReadOnlySpan<byte> stateKey)
    {
        if (!StateKeys.TrySplit(stateKey, out var name, out _) || name.SequenceEqual(_last))
        {
            return;
        }
        var lookup = _names.GetAlternateLookup<ReadOnlySpan<byte>>();
        if (!lookup.TryGetValue(name, out var known))
        {
            known = name.ToArray();
            _names.Add(known);
        }
        _last = known;
    }

    /// <summary>The names seen, ordered.</summary>
    public IReadOnlyList<string> ToList() => _names.Select(n => Encoding.UTF8.GetString(n)).Order(StringComparer.Ordinal).ToList();
}
