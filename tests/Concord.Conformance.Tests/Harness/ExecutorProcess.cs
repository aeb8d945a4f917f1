using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Concord.Conformance.Tests.Harness;

/// <summary>
/// One real executor process (artifacts/bin/Concord.Executor) started with the environment
/// contract of docs/architecture.md ("Processes"). Its output is kept for failure messages;
/// disposing kills it and everything it started.
/// </summary>
public sealed class ExecutorProcess : IDisposable
{
    private const int SigTerm = 15;
    private const int SigKill = 9;

    /// <summary>The exit code a process killed by SIGKILL reports (128 + the signal).</summary>
    public const int ExitKilled = 128 + SigKill;
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    /// <param name="environment">Further variables of the contract (e.g. CONCORD_RESTORE_CHECKPOINT); null: none.</param>
    public ExecutorProcess(string schedulerAddress, string specFile, string operatorName, int instanceIndex, string incarnation, string workDir,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        WorkDir = workDir;
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workDir,
        };
        psi.ArgumentList.Add("exec");
        psi.ArgumentList.Add(Repo.ExecutorDll);
        psi.Environment["CONCORD_SCHEDULER_ADDRESS"] = schedulerAddress;
        psi.Environment["CONCORD_OPERATOR_NAME"] = operatorName;
        psi.Environment["CONCORD_INSTANCE_INDEX"] = instanceIndex.ToString(System.Globalization.CultureInfo.InvariantCulture);
        psi.Environment["CONCORD_INCARNATION"] = incarnation;
        psi.Environment["CONCORD_SPEC_FILE"] = specFile;
        psi.Environment["CONCORD_WORK_DIR"] = workDir;
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[name] = value;
        }
        _process = new Process { StartInfo = psi };
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>The instance's working directory (the operator's cwd).</summary>
    public string WorkDir { get; }

    public int Pid => _process.Id;

    /// <summary>Everything the executor (and through it the operator) wrote so far.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Waits (bounded) for the executor to exit and returns its exit code.</summary>
    public async Task<int> ExitCodeAsync()
    {
        try
        {
            await _process.WaitForExitAsync().WaitAsync(ConformanceLimits.StepTimeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"the executor did not exit within {ConformanceLimits.StepTimeoutMs} ms; its output:\n{Output}");
        }
        return _process.ExitCode;
    }

    /// <summary>Asks the executor to drain and stop, as the cluster runtime does.</summary>
    public void Terminate() => Assert.Equal(0, kill(_process.Id, SigTerm));

    /// <summary>Kills the executor alone with SIGKILL, as a crash does: no drain, no ReportFailure (its operator dies with it, PR_SET_PDEATHSIG).</summary>
    public void KillHard() => Assert.Equal(0, kill(_process.Id, SigKill));

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(ConformanceLimits.StepTimeoutMs);
            }
        }
        catch (InvalidOperationException)
        {
            // Exited between the check and the kill.
        }
        _process.Dispose();
    }

    /// <summary>True when <paramref name="pid"/> is a live process (not gone, not a zombie).</summary>
    public static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // The state follows the parenthesised command name; Z = zombie, X = dead.
            var state = stat[(stat.LastIndexOf(')') + 2)..][0];
            return state is not ('Z' or 'X');
        }
        catch (IOException)
        {
            return false;
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
}
