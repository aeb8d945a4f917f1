using System.Text;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.Records;
using Concord.Executor.State;
using Google.Protobuf;

namespace Concord.Executor.Session;

/// <summary>
/// The executor's side of keyed state for one operator that declares states
/// (docs/guarantees.md): reads the declared states of a batch's distinct keys from the backend
/// into <see cref="RawBatch.States"/>, and applies an answer's mutations, in order, before its
/// records are routed. Not thread-safe: the batch pump calls it under the lock that also guards
/// the timer queue, the backend's other user.
/// </summary>
public sealed class KeyedStateSession
{
    private readonly IKeyedStateBackend _backend;
    private readonly string[] _names;
    private readonly HashSet<string> _declared;
    private readonly int _valueBytesMax;
    private readonly HashSet<string> _keysSeen = new(StringComparer.Ordinal);

    /// <param name="states">The declared states (validated by <see cref="MetadataValidator"/>); not empty.</param>
    /// <param name="valueBytesMax">Largest value accepted (sent as Init.max_state_value_bytes).</param>
    public KeyedStateSession(IKeyedStateBackend backend, IEnumerable<StateDescriptor> states, int valueBytesMax = ExecutorLimits.OperatorStateValueBytesMax)
    {
        _backend = backend;
        _names = states.Select(s => s.Name).Distinct(StringComparer.Ordinal).ToArray();
        if (_names.Length == 0)
        {
            throw new ArgumentException("an operator without declared states needs no KeyedStateSession", nameof(states));
        }
        _declared = new HashSet<string>(_names, StringComparer.Ordinal);
        _valueBytesMax = valueBytesMax;
        // Fired timers are taken from the timer queue before their states are read, so their
        // keys are budgeted at the worst case (every declared value at the largest size); the
        // records' keys, which can be cut after reading, are budgeted by the bytes actually read.
        var keysMax = Math.Max(1, TimerStateBytesMax / (_names.Length * (long)valueBytesMax));
        TimersPerBatchMax = (int)Math.Min(keysMax, int.MaxValue);
    }

    /// <summary>
    /// State bytes the records of one batch may bring along: half of
    /// <see cref="ExecutorLimits.BatchStateBytesMax"/>, so records and fired timers (the other
    /// half) cannot starve each other and together stay within the bound.
    /// </summary>
    public const int RecordStateBytesMax = ExecutorLimits.BatchStateBytesMax / 2;

    /// <summary>State bytes the fired timers of one batch may bring along at worst: the other half.</summary>
    public const int TimerStateBytesMax = ExecutorLimits.BatchStateBytesMax - RecordStateBytesMax;

    /// <summary>A session for <paramref name="metadata"/>, or null when it declares no states.</summary>
    public static KeyedStateSession? For(OperatorMetadata metadata, IKeyedStateBackend backend) =>
        metadata.States.Count == 0 ? null : new KeyedStateSession(backend, metadata.States);

    /// <summary>Fired timers one batch may carry: their keys' states at the worst case fill <see cref="TimerStateBytesMax"/>.</summary>
    public int TimersPerBatchMax { get; }

    /// <summary>The highest seq whose mutations were applied (0: none yet, or Init's).</summary>
    public ulong AppliedSeq { get; private set; }

    /// <summary>The declared state names.</summary>
    public IReadOnlyList<string> Names => _names;

    /// <summary>
    /// Reads the states of the distinct keys of <paramref name="batch"/>'s records and fired
    /// timers (their state_key) and attaches them, as of <see cref="AppliedSeq"/>. The records'
    /// states are budgeted by their serialized bytes: the batch keeps the records whose keys'
    /// states fit in <see cref="RecordStateBytesMax"/> (at least one: a key's states are at most
    /// <see cref="ExecutorLimits.StatesDeclaredMax"/> × the value bound, 1 MiB), and the records
    /// from the first one that does not fit on are moved, in order, to <paramref name="carry"/>
    /// for the next batch.
    /// </summary>
    /// <returns>The batch to send: <paramref name="batch"/> itself, or a copy of its head when it was cut.</returns>
    public RawBatch Attach(RawBatch batch, Queue<RawRecord> carry)
    {
        var states = new List<KeyState>();
        _keysSeen.Clear();
        long bytes = 0;
        var records = batch.Records;
        var kept = records.Count;
        for (var i = 0; i < records.Count; i++)
        {
            var size = Add(records[i].Key, states);
            if (bytes + size > RecordStateBytesMax && i > 0)
            {
                // This key goes with the next batch: a fired timer of it must not count it as shipped.
                states.RemoveAt(states.Count - 1);
                _keysSeen.Remove(Encoding.Latin1.GetString(records[i].Key));
                kept = i;
                break;
            }
            bytes += size;
        }
        if (kept < records.Count)
        {
            var head = new RawBatch(kept);
            for (var i = 0; i < records.Count; i++)
            {
                if (i < kept)
                {
                    head.Add(records[i]);
                }
                else
                {
                    carry.Enqueue(records[i]);
                }
            }
            head.TimersFired.AddRange(batch.TimersFired);
            batch = head;
        }
        foreach (var timer in batch.TimersFired)
        {
            Add(timer.StateKey.Span, states);
        }
        batch.AttachStates(states, AppliedSeq);
        return batch;
    }

    /// <summary>
    /// Applies <paramref name="answer"/>'s state mutations in order; afterwards later batches
    /// see them. Fails the instance on a name not declared or a value over the bound.
    /// </summary>
    /// <exception cref="OperatorProtocolException">An undeclared name or an oversized value.</exception>
    /// <exception cref="OperatorFailedException">The backend's bound was reached.</exception>
    public void Apply(RawAnswer answer)
    {
        if (answer.StateMutations is { } mutations)
        {
            foreach (var mutation in mutations)
            {
                if (!_declared.Contains(mutation.Name))
                {
                    throw new OperatorProtocolException(
                        $"the operator changed state '{Echo(mutation.Name)}' in batch {answer.Seq}, which it did not declare (declared: [{string.Join(", ", _names)}]); declare it in metadata() states, or use a declared name");
                }
                if (mutation.Clear)
                {
                    _backend.Clear(mutation.Key.Span, mutation.Name);
                    continue;
                }
                if (mutation.Value.Length > _valueBytesMax)
                {
                    throw new OperatorProtocolException(
                        $"the operator set state '{mutation.Name}' to a value of {mutation.Value.Length} bytes in batch {answer.Seq}, larger than the limit of {_valueBytesMax} bytes (Init.max_state_value_bytes, ExecutorLimits.OperatorStateValueBytesMax); keep large objects in a blob store and store a reference");
                }
                try
                {
                    _backend.Set(mutation.Key.Span, mutation.Name, mutation.Value.Span);
                }
                catch (StateLimitException e)
                {
                    throw new OperatorFailedException($"storing state '{mutation.Name}' of batch {answer.Seq} failed: {e.Message}", e);
                }
            }
        }
        AppliedSeq = answer.Seq;
    }

    /// <summary>Adds the states of <paramref name="key"/> unless it was added already; returns the bytes added to the batch (0: none).</summary>
    private long Add(ReadOnlySpan<byte> key, List<KeyState> states)
    {
        if (!_keysSeen.Add(Encoding.Latin1.GetString(key)))
        {
            return 0;
        }
        KeyState? state = null;
        foreach (var name in _names)
        {
            if (_backend.TryGet(key, name, out var value))
            {
                // Copied: the batch is written after the lock is released, and later mutations may reuse the backend's buffers.
                state ??= new KeyState { Key = ByteString.CopyFrom(key) };
                state.Values.Add(new StateValue { Name = name, Value = ByteString.CopyFrom(value.Span) });
            }
        }
        if (state is null)
        {
            return 0;
        }
        states.Add(state);
        // As written into ProcessBatch.states: tag, length, message.
        var size = state.CalculateSize();
        return 1 + CodedOutputStream.ComputeLengthSize(size) + size;
    }

    private static string Echo(string value) =>
        value.Length <= Contracts.ProtocolLimits.ProblemEchoCharsMax ? value : string.Concat(value.AsSpan(0, Contracts.ProtocolLimits.ProblemEchoCharsMax), "…");
}
