using System.Text;
using Concord.Contracts.Operator.V1;
using Google.Protobuf;

namespace Concord.Sdk.Internal;

/// <summary>
/// The SDK's view of keyed state (operator.proto, docs/guarantees.md): the values the executor
/// shipped with the batch being processed (as of its state_as_of_seq), overlaid with the
/// changes this SDK returned for later batches the executor had not applied yet, overlaid with
/// the current batch's own changes. The current batch's changes are coalesced to the last one
/// per (key, name) and returned in its BatchDone. Operator thread only.
/// </summary>
internal sealed class KeyedStateStore
{
    private readonly HashSet<string> _declared;
    private readonly int _maxBatchesInFlight;

    // Keys are held as Latin-1 strings (one char per byte): compared and hashed by content.
    private readonly Dictionary<string, Dictionary<string, ByteString>> _shipped = new(StringComparer.Ordinal);

    // Changes of answered batches after state_as_of_seq, oldest first; at most max_batches_in_flight.
    private readonly LinkedList<(ulong Seq, Dictionary<(string Key, string Name), ByteString?> Changes)> _overlays = new();

    private Dictionary<(string Key, string Name), ByteString?> _changes = [];
    private readonly Dictionary<(string Key, string Name), int> _mutationIndex = [];
    private readonly List<StateMutation> _mutations = [];

    public KeyedStateStore(IEnumerable<string> declared, int valueBytesMax, int maxBatchesInFlight)
    {
        _declared = new HashSet<string>(declared, StringComparer.Ordinal);
        Declared = [.. _declared];
        ValueBytesMax = valueBytesMax;
        _maxBatchesInFlight = maxBatchesInFlight;
    }

    public IReadOnlyCollection<string> Declared { get; }

    public int ValueBytesMax { get; }

    /// <summary>Bytes of the current batch's (coalesced) changes, counted against the BatchDone bound.</summary>
    public long PendingBytes { get; private set; }

    public bool IsDeclared(string name) => _declared.Contains(name);

    /// <summary>Starts a batch: takes its shipped states and drops the overlays it already reflects.</summary>
    public void Begin(ProcessBatch batch)
    {
        if (batch.Seq > batch.StateAsOfSeq + (ulong)_maxBatchesInFlight)
        {
            throw new ProtocolViolationException(
                $"ProcessBatch {batch.Seq} carries state as of batch {batch.StateAsOfSeq}, more than max_batches_in_flight ({_maxBatchesInFlight}) behind; the executor must apply answers' state mutations before sending further");
        }
        while (_overlays.First is { } oldest && oldest.Value.Seq <= batch.StateAsOfSeq)
        {
            _overlays.RemoveFirst();
        }
        _shipped.Clear();
        foreach (var keyState in batch.States)
        {
            var values = new Dictionary<string, ByteString>(StringComparer.Ordinal);
            foreach (var value in keyState.Values)
            {
                values[value.Name] = value.Value;
            }
            _shipped[KeyString(keyState.Key.Span)] = values;
        }
        StartChanges();
    }

    /// <summary>Starts Init's batch (seq 0): nothing is stored yet.</summary>
    public void BeginInit()
    {
        _shipped.Clear();
        StartChanges();
    }

    /// <summary>The value of (key, name) as the callback must see it; null when none.</summary>
    public ByteString? Get(string key, string name)
    {
        var id = (key, name);
        if (_changes.TryGetValue(id, out var own))
        {
            return own;
        }
        for (var overlay = _overlays.Last; overlay is not null; overlay = overlay.Previous)
        {
            if (overlay.Value.Changes.TryGetValue(id, out var earlier))
            {
                return earlier;
            }
        }
        return _shipped.TryGetValue(key, out var values) && values.TryGetValue(name, out var shipped) ? shipped : null;
    }

    /// <summary>Records a change of the current batch; <paramref name="value"/> null clears.</summary>
    public void Set(ByteString key, string keyString, string name, ByteString? value)
    {
        var id = (keyString, name);
        var mutation = value is null
            ? new StateMutation { Key = key, Name = name, Clear = true }
            : new StateMutation { Key = key, Name = name, Value = value };
        if (_mutationIndex.TryGetValue(id, out var index))
        {
            PendingBytes -= Size(_mutations[index]);
            _mutations[index] = mutation;
        }
        else
        {
            _mutationIndex[id] = _mutations.Count;
            _mutations.Add(mutation);
        }
        PendingBytes += Size(mutation);
        _changes[id] = value;
    }

    /// <summary>Ends batch <paramref name="seq"/>: its changes go into <paramref name="done"/> and stay overlaid until the executor reports them applied.</summary>
    public void End(ulong seq, BatchDone done)
    {
        if (_mutations.Count == 0)
        {
            return;
        }
        done.StateMutations.AddRange(_mutations);
        _overlays.AddLast((seq, _changes));
        _changes = [];
        _mutations.Clear();
        _mutationIndex.Clear();
        PendingBytes = 0;
    }

    public static string KeyString(ReadOnlySpan<byte> key) => key.IsEmpty ? "" : Encoding.Latin1.GetString(key);

    private void StartChanges()
    {
        _changes.Clear();
        _mutations.Clear();
        _mutationIndex.Clear();
        PendingBytes = 0;
    }

    private static long Size(StateMutation mutation) =>
        (long)mutation.Key.Length + mutation.Name.Length + mutation.Value.Length + SdkLimits.StateMutationOverheadBytes;
}
