using System.Globalization;
using System.Text.RegularExpressions;

namespace Concord.Scheduler.Runtime.Mesos.Internal;

/// <summary>
/// Maps a Mesos task state (mesos/v1/mesos.proto TaskState) onto the instance lifecycle:
/// running, still starting, or ended with an <see cref="InstanceExit"/>.
/// </summary>
internal static partial class TaskStateMapping
{
    /// <summary>What one status update means for its instance.</summary>
    /// <param name="Running">The executor task runs (TASK_RUNNING): the start bound no longer applies.</param>
    /// <param name="Ended">The instance ended; null while it is starting or running.</param>
    public readonly record struct Observation(bool Running, InstanceExit? Ended);

    public static Observation Observe(string state, string? message, string? reason, bool stopRequested)
    {
        var detail = Detail(state, message, reason);
        return state switch
        {
            "TASK_STAGING" or "TASK_STARTING" => new(false, null),
            "TASK_RUNNING" or "TASK_KILLING" => new(true, null),
            "TASK_FINISHED" => new(false, new InstanceExit(0, $"exited with code 0 ({detail})")),
            "TASK_FAILED" => new(false, Failed(message, reason, detail)),
            "TASK_KILLED" => new(false, new InstanceExit(128 + (stopRequested ? InstanceExit.SigTerm : InstanceExit.SigKill),
                stopRequested ? $"stopped ({detail})" : $"killed by Mesos ({detail})")),
            // The task could not be launched at all (a malformed task, a refused resource): the
            // operator's failure as far as retrying goes, counted toward crash-looping.
            "TASK_ERROR" => new(false, new InstanceExit(-1, $"Mesos refused the task ({detail})")),
            // The agent is gone, partitioned or unknown to the master: not the operator's failure,
            // so it is relaunched at once elsewhere.
            "TASK_LOST" or "TASK_GONE" or "TASK_GONE_BY_OPERATOR" or "TASK_UNREACHABLE" or "TASK_DROPPED" or "TASK_UNKNOWN" =>
                new(false, new InstanceExit(128 + InstanceExit.SigKill, $"its Mesos agent was lost ({detail})") { HostLost = true }),
            _ => new(false, null),
        };
    }

    private static InstanceExit Failed(string? message, string? reason, string detail)
    {
        if (reason == "REASON_CONTAINER_LIMITATION_MEMORY")
        {
            return new InstanceExit(128 + InstanceExit.SigKill, $"killed: out of memory ({detail})", OutOfMemory: true);
        }
        // Mesos' command executors report "Command exited with status N" or "terminated with signal S".
        if (message is not null && ExitStatus().Match(message) is { Success: true } status &&
            int.TryParse(status.Groups[1].Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var code))
        {
            return new InstanceExit(code, $"exited with code {code} ({detail})");
        }
        if (message is not null && Signal().Match(message) is { Success: true } signal &&
            int.TryParse(signal.Groups[1].Success ? signal.Groups[1].Value : signal.Groups[2].Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number))
        {
            return new InstanceExit(128 + number, $"killed by signal {number} ({detail})");
        }
        return new InstanceExit(1, $"failed ({detail})");
    }

    private static string Detail(string state, string? message, string? reason) =>
        string.Join(", ", new[] { state, reason, message }.Where(s => !string.IsNullOrEmpty(s)));

    public static bool IsTerminal(string state) => state is not ("TASK_STAGING" or "TASK_STARTING" or "TASK_RUNNING" or "TASK_KILLING");

    [GeneratedRegex(@"exited with status (\d+)")]
    private static partial Regex ExitStatus();

    [GeneratedRegex(@"signal (\d+)|signal: .*\((\d+)\)")]
    private static partial Regex Signal();
}
