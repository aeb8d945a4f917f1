using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Concord.Testing.MultiHost;

/// <summary>
/// A process started on a <see cref="SimulatedHost"/>: its output captured (for failure
/// messages), stoppable with SIGTERM or SIGKILL. nsenter replaces itself with the program, so
/// <see cref="Pid"/> is the program's. Disposing kills it if it still runs; processes it
/// started are left to their own shutdown, or to the network's disposal.
/// </summary>
public sealed class HostProcess : IDisposable
{
    public const int SigKill = 9;
    public const int SigTerm = 15;

    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private HostProcess(SimulatedHost host, Process process)
    {
        Host = host;
        _process = process;
    }

    public SimulatedHost Host { get; }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>The exit code; only after the process has exited.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>Everything it wrote to stdout and stderr so far, interleaved by line.</summary>
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

    internal static HostProcess Start(SimulatedHost host, string program, IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string?>? environment, string? workingDirectory)
    {
        var start = new ProcessStartInfo(program, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (workingDirectory is not null)
        {
            start.WorkingDirectory = workingDirectory;
        }
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }
        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {program}");
        var handle = new HostProcess(host, process);
        process.OutputDataReceived += (_, e) => handle.Append(e.Data);
        process.ErrorDataReceived += (_, e) => handle.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return handle;
    }

    /// <summary>Waits for the exit, at most <paramref name="timeout"/>; returns the exit code.</summary>
    /// <exception cref="TimeoutException">Still running; the message has its output.</exception>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        try
        {
            await _process.WaitForExitAsync().WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"process {Pid} on {Host.Name} still runs after {timeout.TotalSeconds:0} s; its output:\n{Output}");
        }
        return _process.ExitCode;
    }

    /// <summary>Sends SIGTERM (a clean stop) or SIGKILL.</summary>
    public void Stop(bool hard = false)
    {
        if (!_process.HasExited)
        {
            Signal(Pid, hard ? SigKill : SigTerm);
        }
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            Signal(Pid, SigKill);
            _process.WaitForExit(SimulatedNetwork.KillWaitMs);
        }
        _process.Dispose();
    }

    internal static void Signal(int pid, int signal) => _ = Kill(pid, signal);

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }

    // DllImport rather than LibraryImport: blittable ints only, and the test kit is not compiled with unsafe code.
    [DllImport("libc", EntryPoint = "kill")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Kill(int pid, int signal);
}
