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
        Action<IKeyedStateBackend>? restoreTimers, ILogger logger) =>
        Restore(checkpointDirectory, operatorName, backend, checkpointed, restoreTimers, declaredStates: null, logger);

    /// <summary>
    /// <see cref="Restore(string, string, IKeyedStateBackend?, ICheckpointedOperator?, Action{IKeyedStateBackend}?, ILogger)"/>,
    /// and a restore of state the operator cannot read is refused: with
    /// <paramref name="declaredStates"/> (the operator's <c>OperatorMetadata.states</c>; null when
    /// not known), every state name the checkpoint holds entries for in this instance's key groups
    /// must be declared — a new version may add names, not drop or rename one (docs/guarantees.md,
    /// "Rescaling with state"). Throws <see cref="StateIncompatibleException"/> naming the names and
    /// the fix otherwise, before the operator sees a batch or its snapshot.
    /// </summary>
    public static ulong Restore(string checkpointDirectory, string operatorName, IKeyedStateBackend? backend, ICheckpointedOperator? checkpointed,
        Action<IKeyedStateBackend>? restoreTimers, IReadOnlyCollection<string>? declaredStates, ILogger logger)
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
            if (declaredStates is not null)
            {
                RequireDeclared(id, operatorName, backend.RestoredStateNames, declaredStates);
            }
            restoreTimers?.Invoke(backend);
        }
        var snapshots = CheckpointLayout.ReadOperatorSnapshots(checkpointDirectory, operatorName);
        // Called even when no instance wrote one: a sink aborts what it pre-committed after the checkpoint.
        checkpointed?.RestoreOperator(id, snapshots);
        CheckpointLog.Restored(logger, id, checkpointDirectory, backend is not null, snapshots.Count);
        return id;
    }

    /// <summary>
    /// Every name <paramref name="held"/> (timers aside: the executor's own) must be in
    /// <paramref name="declared"/>; otherwise the state under the missing names would be
    /// unreachable and lost with the next checkpoint.
    /// </summary>
    internal static void RequireDeclared(ulong checkpointId, string operatorName, IReadOnlyCollection<string> held, IReadOnlyCollection<string> declared)
    {
        var missing = held.Where(n => n != IKeyedStateBackend.TimersNamespace && !declared.Contains(n, StringComparer.Ordinal))
            .Order(StringComparer.Ordinal).ToList();
        if (missing.Count == 0)
        {
            return;
        }
        var declares = declared.Count == 0 ? "it declares none" : $"it declares {Quoted(declared.Order(StringComparer.Ordinal))}";
        throw new StateIncompatibleException(
            $"checkpoint {checkpointId} holds state {Quoted(missing)} of '{operatorName}' that this version does not declare ({declares}); " +
            $"declare {(missing.Count == 1 ? "it" : "them")} in metadata() states (a new version may add state names, not drop or rename one), " +
            "or replace with --drop-state to start it with empty state (docs/live-changes.md)");

        static string Quoted(IEnumerable<string> names) => string.Join(", ", names.Select(n => $"'{n}'"));
    }
}

/// <summary>
/// A checkpoint holds state the operator does not declare (a new version that dropped or renamed
/// a state name); the message names the names and the fix. The instance fails before its first batch.
/// </summary>
public sealed class StateIncompatibleException(string message) : ExecutorFailureException(message);
