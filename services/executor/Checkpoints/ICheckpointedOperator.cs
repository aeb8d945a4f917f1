namespace Concord.Executor.Checkpoints;

/// <summary>
/// A built-in operator with state of its own outside keyed state: a source's position
/// (generator's count, file-source's file and offset, kafka-source's offsets) or a sink's
/// pending transaction (csv-sink's pending file, kafka-sink's producer transaction). The
/// executor calls these on the batch pump's thread, between batches, with no batch in flight.
/// </summary>
public interface ICheckpointedOperator
{
    /// <summary>
    /// Barrier <paramref name="checkpointId"/> reached this operator: everything before it is in;
    /// return what restores this position (opaque to the executor, kept in the checkpoint as
    /// this instance's operator snapshot). A sink flushes and pre-commits here (closes its
    /// pending file or flushes its transaction) and must not lose what it pre-committed.
    /// </summary>
    byte[] SnapshotOperator(ulong checkpointId);

    /// <summary>
    /// Called once before the first batch when the instance restores <paramref name="checkpointId"/>.
    /// <paramref name="snapshots"/> holds what <see cref="SnapshotOperator"/> returned in that
    /// checkpoint by every instance of this operator, by instance index (a rescale changes the
    /// instance count: a source re-spreads positions, a sink commits or aborts each one's
    /// pre-committed work). A sink commits work pre-committed up to <paramref name="checkpointId"/>
    /// and aborts anything later.
    /// </summary>
    void RestoreOperator(ulong checkpointId, IReadOnlyDictionary<int, byte[]> snapshots);

    /// <summary>
    /// The checkpoint completed: commit side effects up to and including it (rename pending
    /// files, commit the transaction, commit Kafka offsets for visibility). Idempotent.
    /// </summary>
    void CheckpointCompleted(ulong checkpointId);

    /// <summary>The checkpoint was aborted: work pre-committed for it joins the next one.</summary>
    void CheckpointAborted(ulong checkpointId);
}
