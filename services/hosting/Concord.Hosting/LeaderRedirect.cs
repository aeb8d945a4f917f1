namespace Concord.Hosting;

/// <summary>
/// How a standby scheduler names the leader in a refusal ("this scheduler is a standby; the
/// leader is https://10.203.1.2:7400"), and how clients (CLI, agents, executors) read it to send
/// the call there instead. docs/cluster.md, "High availability".
/// </summary>
public static class LeaderRedirect
{
    /// <summary>How every refusal of a standby begins.</summary>
    public const string StandbyPrefix = "this scheduler is a standby";

    /// <summary>What precedes the leader's address in a standby's refusal.</summary>
    public const string Marker = "the leader is ";

    /// <summary>The environment variable that gives an executor every scheduler's address, comma-separated (set by agents).</summary>
    public const string SchedulerAddressesVariable = "CONCORD_SCHEDULER_ADDRESSES";

    /// <summary>The leader's address named in <paramref name="detail"/> (an http(s) URL), or null.</summary>
    public static string? LeaderIn(string? detail)
    {
        if (string.IsNullOrEmpty(detail))
        {
            return null;
        }
        var at = detail.IndexOf(Marker, StringComparison.Ordinal);
        if (at < 0)
        {
            return null;
        }
        var rest = detail[(at + Marker.Length)..];
        var end = rest.IndexOfAny([' ', ';', ',', ')', '\n']);
        var address = (end < 0 ? rest : rest[..end]).TrimEnd('.', '/');
        return Uri.TryCreate(address, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" ? address : null;
    }

    /// <summary>Several scheduler addresses given as one comma-separated value (--scheduler A,B or an environment variable).</summary>
    public static IReadOnlyList<string> SplitAddresses(string value) =>
        value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(a => a.TrimEnd('/')).ToList();
}
