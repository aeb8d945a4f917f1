using System.Text.Json;
using System.Text.Json.Serialization;

namespace Concord.Cli.Internal;

/// <summary>The contents of &lt;home&gt;/scheduler.json, written by a scheduler once it serves.</summary>
internal sealed record SchedulerInfo(
    [property: JsonPropertyName("address")] string Address,
    [property: JsonPropertyName("pid")] int Pid,
    [property: JsonPropertyName("startedUnixMs")] long StartedUnixMs);

/// <summary>
/// The scheduler's home directory (docs/architecture.md): <c>--home</c>, else
/// <c>CONCORD_HOME</c>, else <c>~/.concord</c>.
/// </summary>
internal static class ConcordHome
{
    public const string HomeVariable = "CONCORD_HOME";
    public const string SchedulerFileName = "scheduler.json";
    public const string SchedulerLogFileName = "scheduler.log";

    public static string Resolve(string? option, Func<string, string?> environment)
    {
        if (!string.IsNullOrEmpty(option))
        {
            return Path.GetFullPath(option);
        }
        if (environment(HomeVariable) is { Length: > 0 } fromEnvironment)
        {
            return Path.GetFullPath(fromEnvironment);
        }
        var userHome = environment("HOME") is { Length: > 0 } home
            ? home
            : System.Environment.GetFolderPath(System.Environment.SpecialFolder.UserProfile);
        return Path.Combine(userHome, ".concord");
    }

    public static string SchedulerFile(string home) => Path.Combine(home, SchedulerFileName);

    /// <summary>The scheduler.json in <paramref name="home"/>, or null if there is none or it is unreadable.</summary>
    public static SchedulerInfo? ReadSchedulerInfo(string home)
    {
        var path = SchedulerFile(home);
        try
        {
            var info = JsonSerializer.Deserialize<SchedulerInfo>(File.ReadAllText(path));
            return info is { Address.Length: > 0 } ? info : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            // Missing, or caught half-written: treat as "no scheduler" and let the caller decide.
            return null;
        }
    }
}

/// <summary>
/// Where the CLI finds the scheduler: <c>--scheduler</c> &gt; <c>CONCORD_SCHEDULER</c> &gt;
/// &lt;home&gt;/scheduler.json &gt; the default local address.
/// </summary>
internal static class SchedulerAddress
{
    public const string SchedulerVariable = "CONCORD_SCHEDULER";
    public const int DefaultPort = 7400;
    public static readonly string Default = $"http://127.0.0.1:{DefaultPort}";

    /// <summary>The address to use and where it came from (for messages).</summary>
    public static (string Address, string Source) Resolve(string? option, Func<string, string?> environment, string home)
    {
        if (!string.IsNullOrWhiteSpace(option))
        {
            return (Normalize(option, "--scheduler"), "--scheduler");
        }
        if (environment(SchedulerVariable) is { } fromEnvironment && !string.IsNullOrWhiteSpace(fromEnvironment))
        {
            return (Normalize(fromEnvironment, SchedulerVariable), SchedulerVariable);
        }
        if (ConcordHome.ReadSchedulerInfo(home) is { } info)
        {
            return (Normalize(info.Address, ConcordHome.SchedulerFile(home)), ConcordHome.SchedulerFile(home));
        }
        return (Default, "default");
    }

    /// <summary>
    /// Accepts <c>http://host:port</c> or <c>host:port</c>, or several separated by commas (a
    /// leader and its standbys: the connection finds the leader); anything else is a clear error.
    /// </summary>
    public static string Normalize(string address, string source) =>
        address.Contains(',', StringComparison.Ordinal)
            ? string.Join(',', address.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(a => NormalizeOne(a, source)))
            : NormalizeOne(address, source);

    private static string NormalizeOne(string address, string source)
    {
        var text = address.Trim();
        if (!text.Contains("://", StringComparison.Ordinal))
        {
            text = "http://" + text;
        }
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri)
            || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            || string.IsNullOrEmpty(uri.Host)
            || uri.AbsolutePath != "/")
        {
            throw new CliException($"{source}: '{address}' is not a scheduler address; use http://HOST:PORT, e.g. {Default}");
        }
        return $"{uri.Scheme}://{uri.Authority}";
    }
}

/// <summary>
/// The operator token the CLI sends (docs/security.md): <c>--token</c> &gt; <c>CONCORD_TOKEN</c>
/// &gt; &lt;home&gt;/token (which the scheduler makes on first start) &gt; none.
/// </summary>
internal static class SchedulerToken
{
    /// <summary>The token (null when there is none) and where it came from (for messages; never the token itself).</summary>
    public static (string? Token, string Source) Resolve(string? option, Func<string, string?> environment, string home)
    {
        if (!string.IsNullOrWhiteSpace(option))
        {
            return (option.Trim(), "--token");
        }
        if (environment(Contracts.Credentials.TokenVariable) is { } fromEnvironment && !string.IsNullOrWhiteSpace(fromEnvironment))
        {
            return (fromEnvironment.Trim(), Contracts.Credentials.TokenVariable);
        }
        var file = Path.Combine(home, Contracts.Credentials.TokenFileName);
        try
        {
            return (File.ReadAllText(file).Trim(), file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, $"no token (none in --token, {Contracts.Credentials.TokenVariable} or {file})");
        }
    }
}
