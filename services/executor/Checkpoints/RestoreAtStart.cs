using Concord.Executor.State;
using Concord.Hosting.Checkpoints;
using Microsoft.Extensions.Logging;

namespace Concord.Executor.Checkpoints;

/// <summary>
/// Restore at start (docs/guarantees.md, "Recovery"): before the first batch, an executor
/// launched with <see cref="ExecutorOptions.RestoreCheckpointVariable"/> loads the keyed state of
/// its key groups and hands its operator every instance's operator snapshot of that checkpoint.
/// </summary>
public static class RestoreAtStart
{
    /// <summary>
    /// Restores <paramref name="checkpointDirectory"/> and returns its checkpoint id (for
    /// RegisterExecutorRequest.restored_checkpoint_id). <paramref name="restoreTimers"/> rebuilds
    /// the timer queue from the restored backend (null while the timer queue cannot). Throws
    /// <see cref="ExecutorConfigException"/> naming the problem when the directory is not a
    /// checkpoint.
    /// </summary>
    public static ulong Restore(string checkpointDirectory, string operatorName, IKeyedStateBackend? backend, ICheckpointedOperator? checkpointed,
        Action<IKeyedStateBackend>? restoreTimers, ILogger logger)
    {
        if (!Directory.Exists(checkpointDirectory))
        {
            throw new ExecutorConfigException(
                $"{ExecutorOptions.RestoreCheckpointVariable}='{checkpointDirectory}' does not exist; it must be a completed checkpoint directory (chk-<id> or sp-<id>, docs/guarantees.md)");
        }
        var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(checkpointDirectory)));
        if (!CheckpointLayout.TryParseDirectoryName(name, out var id, out _))
        {
            throw new ExecutorConfigException(
                $"{ExecutorOptions.RestoreCheckpointVariable}='{checkpointDirectory}' is not named chk-<id> or sp-<id>; point it at a checkpoint directory (docs/guarantees.md)");
        }
        if (backend is not null)
        {
            backend.Restore(checkpointDirectory, operatorName);
            restoreTimers?.Invoke(backend);
        }
        var snapshots = CheckpointLayout.ReadOperatorSnapshots(checkpointDirectory, operatorName);
        // Called even when no instance wrote one: a sink aborts what it pre-committed after the checkpoint.
        checkpointed?.RestoreOperator(id, snapshots);
        CheckpointLog.Restored(logger, id, checkpointDirectory, backend is not null, snapshots.Count);
        return id;
    }
}
