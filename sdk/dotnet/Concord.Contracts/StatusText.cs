using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;

namespace Concord.Contracts;

/// <summary>
/// Names shown to people for proto enums and derived states; pure functions. One source for
/// every surface that shows them (the CLI's tables and graphs, the scheduler's dashboard), so a
/// state reads the same word everywhere.
/// </summary>
public static class StatusText
{
    /// <summary>The grouping as the deploy file spells it: "shuffle", "group_by" or "broadcast".</summary>
    public static string Of(Grouping grouping) => grouping switch
    {
        Grouping.GroupBy => "group_by",
        Grouping.Broadcast => "broadcast",
        _ => "shuffle",
    };

    /// <summary>An instance's state in lower case ("crash-looping" for CrashLooping); "unknown" for a value this build does not know.</summary>
    public static string Of(InstanceState state) => state switch
    {
        InstanceState.Pending => "pending",
        InstanceState.Starting => "starting",
        InstanceState.Running => "running",
        InstanceState.Draining => "draining",
        InstanceState.Stopped => "stopped",
        InstanceState.Failed => "failed",
        InstanceState.CrashLooping => "crash-looping",
        _ => "unknown",
    };

    /// <summary>Instances in <see cref="InstanceState.Running"/>.</summary>
    public static int RunningCount(OperatorStatus status) =>
        status.Instances.Count(i => i.State == InstanceState.Running);

    /// <summary>
    /// One word for the whole operator, the worst state wins: crash-looping &gt; failed &gt;
    /// starting (pending or starting) &gt; draining &gt; running; "stopped" only when all are.
    /// </summary>
    public static string Aggregate(OperatorStatus status)
    {
        var states = status.Instances.Select(i => i.State).ToList();
        if (states.Count == 0)
        {
            return "no instances";
        }
        if (states.Contains(InstanceState.CrashLooping))
        {
            return "crash-looping";
        }
        if (states.Contains(InstanceState.Failed))
        {
            return "failed";
        }
        if (states.Any(s => s is InstanceState.Pending or InstanceState.Starting))
        {
            return "starting";
        }
        if (states.Contains(InstanceState.Draining))
        {
            return "draining";
        }
        if (states.All(s => s == InstanceState.Running))
        {
            return "running";
        }
        if (states.All(s => s == InstanceState.Stopped))
        {
            return "stopped";
        }
        return "degraded";
    }

    /// <summary>The inputs the operator reported, else those its spec expects.</summary>
    public static IReadOnlyList<InputStream> Inputs(OperatorStatus status) =>
        status.Metadata is { Name.Length: > 0 } metadata ? metadata.Inputs : status.Spec?.ExpectedInputs ?? [];

    /// <summary>The outputs the operator reported, else those its spec expects.</summary>
    public static IReadOnlyList<string> Outputs(OperatorStatus status) =>
        status.Metadata is { Name.Length: > 0 } metadata ? metadata.Outputs : status.Spec?.ExpectedOutputs ?? [];

    /// <summary>An input as "stream:grouping".</summary>
    public static string Describe(InputStream input) => $"{input.Name}:{Of(input.Grouping)}";

    /// <summary>The operator's last error, or the most recent one of its instances.</summary>
    public static string LastError(OperatorStatus status)
    {
        if (!string.IsNullOrEmpty(status.LastError))
        {
            return status.LastError;
        }
        return status.Instances
            .Where(i => !string.IsNullOrEmpty(i.LastError))
            .OrderByDescending(i => i.StateSinceUnixMs)
            .Select(i => i.LastError)
            .FirstOrDefault() ?? "";
    }

    /// <summary>First line of <paramref name="text"/>, cut to <paramref name="charsMax"/> with an ellipsis.</summary>
    public static string Truncate(string text, int charsMax)
    {
        var line = text.ReplaceLineEndings("\n").Split('\n', 2)[0];
        var cut = line.Length > charsMax || line.Length < text.TrimEnd().Length;
        if (line.Length > charsMax)
        {
            line = line[..(charsMax - 1)];
        }
        return cut ? line + "…" : line;
    }
}
