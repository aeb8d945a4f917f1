using System.Diagnostics;

namespace Concord.Testing.MultiHost;

/// <summary>The `ip` and `nsenter` commands the simulated network is made with.</summary>
internal static class Commands
{
    private static readonly string[] SystemDirectories = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

    private static readonly Lazy<(string? Ip, string? Nsenter)> Programs = new(() => (Find("ip"), Find("nsenter")));

    public static string IpPath => Programs.Value.Ip ?? throw Missing("ip", "iproute2");

    public static string NsenterPath => Programs.Value.Nsenter ?? throw Missing("nsenter", "util-linux");

    /// <exception cref="SimulatedNetworkUnavailableException">Not root, or a command is missing.</exception>
    public static void EnsureAvailable()
    {
        if (!Environment.IsPrivilegedProcess)
        {
            throw new SimulatedNetworkUnavailableException(
                "simulated hosts need root: network namespaces, veth pairs and bridges are created with `ip`, which needs CAP_NET_ADMIN and CAP_SYS_ADMIN; " +
                "run these tests as root (e.g. `sudo dotnet test ...`) or in a container started with --privileged");
        }
        _ = IpPath;
        _ = NsenterPath;
    }

    /// <summary>Runs `ip ARGS`; throws with its stderr when it fails.</summary>
    public static void Ip(params string[] arguments)
    {
        var (exitCode, output, error) = Run(IpPath, arguments);
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"`ip {string.Join(' ', arguments)}` failed with exit code {exitCode}: {error.Trim()}{output.Trim()}");
        }
    }

    /// <summary>Runs `ip ARGS`; the problem as one line when it fails ("does not exist" is none with <paramref name="ignoreMissing"/>).</summary>
    public static IEnumerable<string> TryIp(string first, string second, string third, bool ignoreMissing) =>
        TryIp([first, second, third], ignoreMissing);

    private static IEnumerable<string> TryIp(string[] arguments, bool ignoreMissing)
    {
        var (exitCode, _, error) = Run(IpPath, arguments);
        if (exitCode == 0 || (ignoreMissing && (error.Contains("Cannot find device", StringComparison.Ordinal)
            || error.Contains("No such file or directory", StringComparison.Ordinal))))
        {
            return [];
        }
        return [$"`ip {string.Join(' ', arguments)}`: {error.Trim()}"];
    }

    /// <summary>The lines `ip ARGS` prints; throws when it fails.</summary>
    public static IReadOnlyList<string> IpLines(params string[] arguments)
    {
        var (exitCode, output, error) = Run(IpPath, arguments);
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"`ip {string.Join(' ', arguments)}` failed with exit code {exitCode}: {error.Trim()}");
        }
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    private static (int ExitCode, string Output, string Error) Run(string program, string[] arguments)
    {
        var start = new ProcessStartInfo(program, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {program}");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(SimulatedNetwork.CommandTimeoutMs))
        {
            process.Kill();
            throw new TimeoutException($"`{program} {string.Join(' ', arguments)}` did not finish within {SimulatedNetwork.CommandTimeoutMs} ms");
        }
        process.WaitForExit();
        return (process.ExitCode, output.Result, error.Result);
    }

    private static string? Find(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(SystemDirectories)
            .Select(directory => Path.Combine(directory, name))
            .FirstOrDefault(File.Exists);

    private static SimulatedNetworkUnavailableException Missing(string command, string package) =>
        new($"simulated hosts need `{command}`, which is not on PATH nor in /usr/sbin or /sbin; install {package} (apt-get install {package})");
}
