using Concord.Contracts.Types.V1;

namespace Concord.Scheduler.Runtime;

/// <summary>What a runtime needs to launch one instance.</summary>
/// <param name="Incarnation">Unique id of this launch; a restart gets a new one.</param>
/// <param name="SchedulerAddress">Where the executor calls back, e.g. http://127.0.0.1:7400.</param>
/// <param name="Release">
/// Which version of the operator this is: 0 at deploy, +1 per rolling replace. During a replace
/// the old and the new instance of one index run side by side, so a runtime keeps their
/// working state apart by release (the local runtime alternates two directories).
/// </param>
public sealed record InstanceLaunch(string OperatorName, int Index, string Incarnation, OperatorSpec Spec, string SchedulerAddress, int Release = 0)
{
    /// <summary>
    /// The checkpoint directory this launch restores from (CONCORD_RESTORE_CHECKPOINT,
    /// docs/guarantees.md "Recovery"); null: it starts empty.
    /// </summary>
    public string? RestoreCheckpoint { get; init; }
}

/// <summary>An instance a previous scheduler run left running, offered for adoption.</summary>
/// <param name="Spec">The spec it was launched with (instances as at its launch); null when unreadable.</param>
/// <param name="SchedulerAddress">The scheduler address it calls back on.</param>
public sealed record LeftoverInstance(string OperatorName, int Index, string Incarnation, int Release, int Pid, OperatorSpec? Spec, string SchedulerAddress);

/// <summary>A leftover instance the scheduler took over, and the release it runs.</summary>
public sealed record AdoptedInstance(IInstanceHandle Handle, int Release);

/// <summary>How an instance's process ended.</summary>
/// <param name="ExitCode">The exit code; 128 + N when killed by signal N.</param>
/// <param name="Description">For `list`: "exited with code 1", "killed by signal 9".</param>
/// <param name="OutOfMemory">The kernel's OOM killer ended it (its `mem` was used up): the operator's own failure, not a kill from outside.</param>
public sealed record InstanceExit(int ExitCode, string Description, bool OutOfMemory = false)
{
    /// <summary>
    /// The host it ran on was lost (an agent's heartbeat stopped): not the operator's failure, so
    /// it is relaunched at once elsewhere and not counted toward crash-looping.
    /// </summary>
    public bool HostLost { get; init; }

    /// <summary>SIGKILL's number: how the OOM killer, `kill -9` and a stop past its timeout end a process.</summary>
    public const int SigKill = 9;

    /// <summary>SIGTERM's number: how a supervisor or `kill` asks a process to stop.</summary>
    public const int SigTerm = 15;

    /// <summary>The signal that ended the process (exit code 128 + N), else 0.</summary>
    public int Signal => ExitCode > 128 && ExitCode < 128 + 32 ? ExitCode - 128 : 0;
}

/// <summary>A launched instance.</summary>
public interface IInstanceHandle
{
    string OperatorName { get; }

    int Index { get; }

    string Incarnation { get; }

    /// <summary>Executor process id where the runtime has one (local), else 0.</summary>
    int Pid { get; }

    /// <summary>Completes once when the instance has ended, however it ended. Never faults.</summary>
    Task<InstanceExit> Exited { get; }

    /// <summary>Where it runs, for `list`: the agent's id with the agents runtime; empty where there is one host.</summary>
    string Host => "";
}

/// <summary>
/// Where instances run. The scheduler decides what should run; a runtime only starts, stops
/// and watches processes (local processes, pods, Mesos tasks), so the reconcile loop never
/// cares which one it talks to.
/// </summary>
public interface IClusterRuntime
{
    /// <summary>Short name for logs: "local".</summary>
    string Name { get; }

    /// <summary>
    /// Checks what only the runtime can check before a deploy is accepted (an executable that
    /// exists, files to copy). Returns null when fine, else a message naming the field and the fix.
    /// </summary>
    string? Validate(OperatorSpec spec);

    /// <summary>
    /// Checks that the whole desired topology (<paramref name="desired"/>, one spec per operator,
    /// <paramref name="changed"/> among them) fits the cluster's resources before a deploy or
    /// scale is accepted. Returns null when it fits, else a message naming what
    /// <paramref name="changed"/> needs and the free capacity. A runtime without a resource
    /// model (one machine) accepts everything.
    /// </summary>
    string? CheckCapacity(IReadOnlyList<OperatorSpec> desired, OperatorSpec changed) => null;

    /// <summary>Starts one instance. Throws when it cannot be started at all.</summary>
    Task<IInstanceHandle> LaunchAsync(InstanceLaunch launch, CancellationToken cancellationToken);

    /// <summary>
    /// Asks the instance to drain and exit (SIGTERM for a process), waits up to
    /// <paramref name="timeout"/>, then kills it. Completes when it has exited.
    /// </summary>
    Task StopAsync(IInstanceHandle handle, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>
    /// Removes the working state of an instance the topology no longer wants (killed, scaled
    /// away, replaced) once its process has exited. With <paramref name="keepLog"/> (it had
    /// failed) its log is kept as the operator's last failed one, replacing an older one, so
    /// `concord logs` can still say why it died. Best effort: never throws for a missing directory.
    /// </summary>
    Task ForgetInstanceAsync(string operatorName, int index, int release, bool keepLog, CancellationToken cancellationToken);

    /// <summary>
    /// Removes what is left of a killed operator once all its instances were forgotten, except
    /// the last failed log (see <see cref="ForgetInstanceAsync"/>).
    /// </summary>
    Task ForgetOperatorAsync(string operatorName, CancellationToken cancellationToken);

    /// <summary>
    /// Stops instances that a previous scheduler run on the same home left behind, so that
    /// relaunching never makes duplicates.
    /// </summary>
    Task ReapLeftoversAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Finds instances a previous scheduler run on the same home left running, hands each to
    /// <paramref name="adopt"/>, and returns a handle for every one it accepted; the others
    /// are stopped as <see cref="ReapLeftoversAsync"/> does. Adopted instances keep running and
    /// register again with the new scheduler. A runtime that cannot adopt stops them all.
    /// </summary>
    async Task<IReadOnlyList<AdoptedInstance>> AdoptLeftoversAsync(Func<LeftoverInstance, bool> adopt, CancellationToken cancellationToken)
    {
        await ReapLeftoversAsync(cancellationToken).ConfigureAwait(false);
        return [];
    }
}
