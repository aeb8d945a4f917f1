using System.Collections.Frozen;
using Concord.Contracts.Scheduler.V1;

namespace Concord.Scheduler.Lifecycle;

/// <summary>
/// The one table of allowed instance state transitions (docs/operations.md draws it).
/// Every state change in the scheduler goes through <see cref="Transition"/>, so a change
/// the table does not allow is a bug caught where it happens, not a confusing `list` later.
/// </summary>
/// <remarks>
/// <code>
/// pending  → starting → running → draining → stopped
/// starting | running → failed → (back-off) → starting
/// failed → crash-looping → (longest back-off) → starting
/// any state except stopped → stopped (kill, scale down, instance never launched)
/// starting | running → draining (kill or scale down of a live process)
/// </code>
/// </remarks>
public static class InstanceLifecycle
{
    /// <summary>Every state an instance can be in (UNSPECIFIED is not one).</summary>
    public static readonly IReadOnlyList<InstanceState> States =
    [
        InstanceState.Pending,
        InstanceState.Starting,
        InstanceState.Running,
        InstanceState.Draining,
        InstanceState.Stopped,
        InstanceState.Failed,
        InstanceState.CrashLooping,
    ];

    /// <summary>For each state, the states it may move to.</summary>
    public static readonly FrozenDictionary<InstanceState, FrozenSet<InstanceState>> Allowed =
        new Dictionary<InstanceState, FrozenSet<InstanceState>>
        {
            // Desired, not launched yet: launch it, or it is killed before it ever ran.
            [InstanceState.Pending] = Set(InstanceState.Starting, InstanceState.Stopped),
            // Launched: registers, dies or times out, or is stopped before registering.
            [InstanceState.Starting] = Set(InstanceState.Running, InstanceState.Failed, InstanceState.Draining, InstanceState.Stopped),
            // Registered: dies, or is asked to stop.
            [InstanceState.Running] = Set(InstanceState.Failed, InstanceState.Draining, InstanceState.Stopped),
            // Asked to stop: whatever the exit code, it ends stopped.
            [InstanceState.Draining] = Set(InstanceState.Stopped),
            // Stopped on purpose: terminal. A scale-up makes a new instance, it does not revive one.
            [InstanceState.Stopped] = Set(),
            // Waiting for back-off: restart, or too many failures, or killed meanwhile.
            [InstanceState.Failed] = Set(InstanceState.Starting, InstanceState.CrashLooping, InstanceState.Stopped),
            // Waiting for the longest back-off: restart, or killed meanwhile.
            [InstanceState.CrashLooping] = Set(InstanceState.Starting, InstanceState.Stopped),
        }.ToFrozenDictionary();

    /// <summary>Whether <paramref name="from"/> → <paramref name="to"/> is in the table.</summary>
    public static bool IsAllowed(InstanceState from, InstanceState to) =>
        Allowed.TryGetValue(from, out var targets) && targets.Contains(to);

    /// <summary>
    /// Returns <paramref name="to"/> when the table allows the move; throws otherwise. Stays on
    /// in Release: a disallowed transition means the reconcile loop lost track of a process.
    /// </summary>
    public static InstanceState Transition(InstanceState from, InstanceState to)
    {
        if (!IsAllowed(from, to))
        {
            throw new InvalidOperationException(
                $"instance state transition {Describe(from)} → {Describe(to)} is not allowed; allowed from {Describe(from)}: " +
                (Allowed.TryGetValue(from, out var targets) && targets.Count > 0
                    ? string.Join(", ", targets.Order().Select(Describe))
                    : "none"));
        }
        return to;
    }

    /// <summary>Whether an instance in this state may have a live process.</summary>
    public static bool HasProcess(InstanceState state) =>
        state is InstanceState.Starting or InstanceState.Running or InstanceState.Draining;

    /// <summary>The name `list` and the docs use: pending, crash-looping, ...</summary>
    public static string Describe(InstanceState state) => state switch
    {
        InstanceState.Pending => "pending",
        InstanceState.Starting => "starting",
        InstanceState.Running => "running",
        InstanceState.Draining => "draining",
        InstanceState.Stopped => "stopped",
        InstanceState.Failed => "failed",
        InstanceState.CrashLooping => "crash-looping",
        _ => "unspecified",
    };

    private static FrozenSet<InstanceState> Set(params InstanceState[] states) => states.ToFrozenSet();
}
