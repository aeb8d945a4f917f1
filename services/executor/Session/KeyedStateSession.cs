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
        // Half the keys for records, half for fired timers: neither can starve the other and
        // together they stay within BatchStateBytesMax whatever the values are.
        var keysMax = Math.Max(2, ExecutorLimits.BatchStateBytesMax / (_names.Length * (long)valueBytesMax));
        RecordsPerBatchMax = (int)Math.Min(keysMax / 2, int.MaxValue);
        TimersPerBatchMax = RecordsPerBatchMax;
    }

    /// <summary>A session for <paramref name="metadata"/>, or null when it declares no states.</summary>
    public static KeyedStateSession? For(OperatorMetadata metadata, IKeyedStateBackend backend) =>
        metadata.States.Count == 0 ? null : new KeyedStateSession(backend, metadata.States);

    /// <summary>Records one batch may carry (<see cref="ExecutorLimits.BatchStateBytesMax"/>).</summary>
    public int RecordsPerBatchMax { get; }

    /// <summary>Fired timers one batch may carry (<see cref="ExecutorLimits.BatchStateBytesMax"/>).</summary>
    public int TimersPerBatchMax { get; }

    /// <summary>The highest seq whose mutations were applied (0: none yet, or Init's).</summary>
    public ulong AppliedSeq { get; private set; }

    /// <summary>The declared state names.</summary>
    public IReadOnlyList<string> Names => _names;

    /// <summary>
    /// Reads the states of every distinct key of <paramref name="batch"/>'s records and fired
    /// timers (their state_key) and attaches them, as of <see cref="AppliedSeq"/>.
    /// </summary>
    public void Attach(RawBatch batch)
    {
        var states = new List<KeyState>();
        _keysSeen.Clear();
        foreach (var record in batch.Records)
        {
            Add(record.Key, states);
        }
        foreach (var timer in batch.TimersFired)
        {
            Add(timer.StateKey.Span, states);
        }
        batch.AttachStates(states, AppliedSeq);
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

    private void Add(ReadOnlySpan<byte> key, List<KeyState> states)
    {
        if (!_keysSeen.Add(Encoding.Latin1.GetString(key)))
        {
            return;
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
        if (state is not null)
        {
            states.Add(state);
        }
    }

    private static string Echo(string value) =>
        value.Length <= Contracts.ProtocolLimits.ProblemEchoCharsMax ? value : string.Concat(value.AsSpan(0, Contracts.ProtocolLimits.ProblemEchoCharsMax), "…");
}
