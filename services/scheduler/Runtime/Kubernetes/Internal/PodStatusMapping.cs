using System.Globalization;
using k8s.Models;

namespace Concord.Scheduler.Runtime.Kubernetes.Internal;

/// <summary>What one look at a pod says about its instance.</summary>
/// <param name="Running">The executor's container runs (the instance is past its start).</param>
/// <param name="Ended">The instance has ended, and how; null while it has not.</param>
/// <param name="OperatorEnded">The operator's container has ended while the executor still runs: the executor normally follows within moments.</param>
/// <param name="Waiting">Why it is not running yet, for the error of a pod that never starts ("" when nothing is known).</param>
internal sealed record PodObservation(bool Running, InstanceExit? Ended, InstanceExit? OperatorEnded, string Waiting);

/// <summary>
/// Maps pod phases and container statuses onto the instance lifecycle (docs/kubernetes.md):
/// the executor's container is the instance (its exit code is the executor's: 0 drained, 1
/// failed, 128+N killed by signal N); the pod's end without one (evicted, node lost) is the
/// host's loss, not the operator's failure.
/// </summary>
internal static class PodStatusMapping
{
    /// <summary>Pod reasons that mean the node, not the operator, ended it: relaunched at once elsewhere, not counted toward crash-looping.</summary>
    private static readonly HashSet<string> HostLossReasons = new(StringComparer.Ordinal) { "Evicted", "NodeLost", "Shutdown", "Terminated", "NodeShutdown", "Preempting" };

    public static PodObservation Observe(V1Pod pod)
    {
        var status = pod.Status;
        var builtin = pod.Spec?.InitContainers is not { Count: > 0 };
        var executor = builtin
            ? status?.ContainerStatuses?.FirstOrDefault(c => c.Name == PodSpecs.ExecutorContainer)
            : status?.InitContainerStatuses?.FirstOrDefault(c => c.Name == PodSpecs.ExecutorContainer);
        var op = builtin ? null : status?.ContainerStatuses?.FirstOrDefault(c => c.Name == PodSpecs.OperatorContainer);
        var waiting = Waiting(pod);

        // The executor sidecar has restartPolicy Always: kubelet restarts it after an exit, so
        // its first exit may only be left in lastState. Either is the instance's end.
        if (Terminated(executor) is { } executorEnd)
        {
            return new PodObservation(false, Exit("executor", executorEnd), null, waiting);
        }
        var phase = status?.Phase ?? "Pending";
        if (phase is "Failed" or "Succeeded")
        {
            var reason = status?.Reason ?? "";
            if (HostLossReasons.Contains(reason))
            {
                return new PodObservation(false, new InstanceExit(-1, $"its pod was ended by Kubernetes ({reason}: {status?.Message})") { HostLost = true }, null, waiting);
            }
            if (Terminated(op) is { } opEnd)
            {
                return new PodObservation(false, Exit("operator", opEnd), null, waiting);
            }
            return new PodObservation(false, new InstanceExit(phase == "Succeeded" ? 0 : 1, $"its pod ended with phase {phase}{Because(reason, status?.Message)}"), null, waiting);
        }
        var running = phase == "Running" && executor?.State?.Running is not null;
        var operatorEnded = op?.State?.Terminated is { } t ? Exit("operator", t) : null;
        return new PodObservation(running, null, operatorEnded, waiting);
    }

    /// <summary>The instance's end when its pod was deleted before anything else was seen.</summary>
    public static InstanceExit Deleted(bool stopRequested) => stopRequested
        ? new InstanceExit(128 + InstanceExit.SigTerm, "stopped: its pod was deleted")
        // Not the operator's failure: relaunched at once, like a kill from outside (docs/operations.md).
        : new InstanceExit(128 + InstanceExit.SigKill, "killed: its pod was deleted from outside (kubectl delete?)");

    private static V1ContainerStateTerminated? Terminated(V1ContainerStatus? container) =>
        container?.State?.Terminated ?? (container is { RestartCount: > 0 } ? container.LastState?.Terminated : null);

    private static InstanceExit Exit(string which, V1ContainerStateTerminated terminated)
    {
        var code = terminated.ExitCode;
        var oom = terminated.Reason == "OOMKilled";
        var description = (code > 128 && code < 128 + 32 ? $"{which} container killed by signal {code - 128}" : $"{which} container exited with code {code}")
            + Because(terminated.Reason, terminated.Message);
        if (oom)
        {
            description += "; it used more memory than its limit (`mem` in the deploy file for the operator); raise `mem` or make the operator use less";
        }
        return new InstanceExit(code, description, OutOfMemory: oom);
    }

    private static string Because(string? reason, string? message) =>
        string.IsNullOrEmpty(reason) && string.IsNullOrEmpty(message) ? "" : $" ({reason}{(string.IsNullOrEmpty(message) ? "" : ": " + message)})";

    /// <summary>The last known reason a pod is not running: a container waiting (ErrImagePull …) or the scheduler's condition (Unschedulable).</summary>
    private static string Waiting(V1Pod pod)
    {
        var parts = new List<string>();
        foreach (var c in (pod.Status?.InitContainerStatuses ?? []).Concat(pod.Status?.ContainerStatuses ?? []))
        {
            if (c.State?.Waiting is { } w && !string.IsNullOrEmpty(w.Reason) && w.Reason != "PodInitializing" && w.Reason != "ContainerCreating")
            {
                parts.Add($"container {c.Name} waiting: {w.Reason}{(string.IsNullOrEmpty(w.Message) ? "" : " (" + w.Message + ")")}");
            }
        }
        foreach (var condition in pod.Status?.Conditions ?? [])
        {
            if (condition.Type == "PodScheduled" && condition.Status == "False")
            {
                parts.Add($"not scheduled: {condition.Reason}{(string.IsNullOrEmpty(condition.Message) ? "" : " (" + condition.Message + ")")}");
            }
        }
        return string.Join("; ", parts);
    }

    /// <summary>The launch a pod carries, from its labels; null for a pod that is not one of ours.</summary>
    public static (string Operator, int Index, string Incarnation, int Release)? Labels(V1Pod pod)
    {
        var labels = pod.Metadata?.Labels;
        if (labels is null
            || !labels.TryGetValue(KubernetesNames.OperatorLabel, out var op)
            || !labels.TryGetValue(KubernetesNames.InstanceLabel, out var indexText)
            || !int.TryParse(indexText, NumberStyles.None, CultureInfo.InvariantCulture, out var index)
            || !labels.TryGetValue(KubernetesNames.IncarnationLabel, out var incarnation))
        {
            return null;
        }
        var release = labels.TryGetValue(KubernetesNames.ReleaseLabel, out var r) && int.TryParse(r, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0;
        return (op, index, incarnation, release);
    }
}
