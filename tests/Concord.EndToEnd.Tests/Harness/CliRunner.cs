using System.Diagnostics;

namespace Concord.EndToEnd.Tests.Harness;

/// <summary>The `concord` command as a user runs it, against the scheduler of a home (it reads the address from scheduler.json).</summary>
public static class CliRunner
{
    /// <summary>Longest any one CLI command may take, in seconds (deploy waits for running).</summary>
    public const int CommandTimeoutSeconds = 120;

    public sealed record Result(int ExitCode, string Out, string Err);

    public static async Task<Result> RunAsync(string home, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet", [Repo.CliDll, .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["CONCORD_HOME"] = home;
        info.Environment["CONCORD_SCHEDULER"] = null;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(CommandTimeoutSeconds));
        await process.WaitForExitAsync(timeout.Token);
        return new Result(process.ExitCode, await stdout, await stderr);
    }
}
