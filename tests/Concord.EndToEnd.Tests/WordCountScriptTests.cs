using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Concord.EndToEnd.Tests.Harness;

namespace Concord.EndToEnd.Tests;

/// <summary>
/// scripts/wordcount.sh, the README's main command, run briefly as a user would (it broke once
/// unnoticed): it must end with its consistency line saying "consistent" and exit 0.
/// </summary>
public partial class WordCountScriptTests
{
    /// <summary>How long the script runs its pipeline, in s: enough for counts to reach the sink.</summary>
    private const int ScriptSeconds = 3;

    /// <summary>Words per second: low, so the Python counter keeps up on a loaded 2-core machine.</summary>
    private const int ScriptRate = 5_000;

    /// <summary>
    /// The whole script's bound, in s: cluster start, three deploys, the run, the drain (at most
    /// 10 s in the script) and the shutdown; ~25 s measured on 2 busy cores.
    /// </summary>
    private const int ScriptTimeoutSeconds = 120;

    [GeneratedRegex(@"check: sum of final counts (\d+) vs count records (\d+): (\S+)")]
    private static partial Regex CheckLine();

    [Fact]
    public async Task Wordcount_script_runs_briefly_and_prints_a_consistent_check_line()
    {
        var info = new ProcessStartInfo("bash", [Path.Combine(Repo.Root, "scripts", "wordcount.sh"),
            "--seconds", ScriptSeconds.ToString(), "--rate", ScriptRate.ToString(), "--no-setup"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Repo.Root,
        };
        var output = new StringBuilder();
        using var process = Process.Start(info)!;
        void Collect(string? line)
        {
            if (line is not null)
            {
                lock (output)
                {
                    output.AppendLine(line);
                }
            }
        }
        process.OutputDataReceived += (_, e) => Collect(e.Data);
        process.ErrorDataReceived += (_, e) => Collect(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(ScriptTimeoutSeconds));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"scripts/wordcount.sh did not finish within {ScriptTimeoutSeconds} s; its output:\n{output}");
        }
        process.WaitForExit(); // the output readers' last lines

        var text = output.ToString();
        Assert.True(process.ExitCode == 0, $"scripts/wordcount.sh exited with {process.ExitCode}; its output:\n{text}");
        var check = CheckLine().Match(text);
        Assert.True(check.Success, $"no consistency line in the script's output:\n{text}");
        Assert.Equal("consistent", check.Groups[3].Value);
        Assert.True(long.Parse(check.Groups[1].Value) > 0, $"no words were counted:\n{text}");
        Assert.Equal(check.Groups[1].Value, check.Groups[2].Value);
    }
}
