namespace Concord.Executor.Builtins.Internal;

/// <summary>
/// kafka-source's next offset to read (consumed offset + 1) per partition index of its topic,
/// for the partitions consumed since the last <see cref="Drain{TState}"/>; 0 = none. Written once
/// per record, so an array store instead of a dictionary insert. Grows when partitions are added
/// to the topic while it runs. Not thread-safe: the source serialises calls.
/// </summary>
internal sealed class PartitionPositions
{
    private long[] _next = new long[KafkaLimits.SourcePartitionsInitial];
    private bool _any;

    /// <summary>The record at <paramref name="offset"/> of <paramref name="partition"/> was taken from Kafka.</summary>
    public void Consumed(int partition, long offset)
    {
        if (partition >= _next.Length)
        {
            Array.Resize(ref _next, Math.Max(partition + 1, _next.Length * 2));
        }
        _next[partition] = offset + 1;
        _any = true;
    }

    /// <summary>Hands every partition consumed since the last drain, with its next offset, to <paramref name="visit"/>, and forgets them.</summary>
    public void Drain<TState>(TState state, Action<TState, int, long> visit)
    {
        if (!_any)
        {
            return;
        }
        for (var partition = 0; partition < _next.Length; partition++)
        {
            if (_next[partition] > 0)
            {
                visit(state, partition, _next[partition]);
                _next[partition] = 0;
            }
        }
        _any = false;
    }

    /// <summary>Forgets what was consumed since the last drain (it is read again).</summary>
    public void Clear()
    {
        Array.Clear(_next);
        _any = false;
    }
}
