using System.ComponentModel;
using System.Diagnostics;
using System.Net.Sockets;
using Concord.Contracts;
using Concord.Contracts.Types.V1;
using Microsoft.Extensions.Logging;

namespace Concord.Executor.Session.Internal;

/// <summary>
/// The user's operator as a child process: started in the work directory with
/// CONCORD_OPERATOR_ADDRESS set, its stdout/stderr turned into log events, killed on every
/// exit path of the executor.
/// </summary>
internal sealed class OperatorProcess : IDisposable
{
    private readonly Process _process;
    private readonly ILogger _logger;
    private readonly Queue<string> _stderrTail = new();
    private readonly Task<int> _exited;
    private readonly TaskCompletionSource _startedWaiting = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _outputRead = Task.CompletedTask; // stdout and stderr read to their ends (OperatorOutput)

    private OperatorProcess(Process process, ILogger logger)
    {
        _process = process;
        _logger = logger;
        _exited = WaitForExitAsync();
    }

    public int Pid { get; private set; }

    /// <summary>The exit code once the process (and its output pipes) ended.</summary>
    public Task<int> Exited => _exited;

    /// <summary>Copies the spec's files into the work directory and starts the executable.</summary>
    public static OperatorProcess Start(OperatorSpec spec, string workDir, string socketPath, string searchPath, ILogger logger)
    {
        var executable = ResolveExecutable(spec.Executable, searchPath);
        CopyFiles(spec, workDir);

        var psi = new ProcessStartInfo(executable)
        {
            WorkingDirectory = workDir,
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            // The operator talks over its socket; stdin at EOF keeps a stray read from hanging.
            RedirectStandardInput = true,
        };
        foreach (var arg in spec.Args)
        {
            psi.ArgumentList.Add(arg);
        }
        // A .NET operator's thread pool spins (sched_yield) waiting for work between batches:
        // measured, that cost ~30 % more CPU at moderate rates on 2 cores, CPU the other
        // processes need. Off unless the deploy file or the environment says otherwise.
        if (!psi.Environment.ContainsKey(ExecutorLimits.DotnetThreadPoolSpinVariable))
        {
            psi.Environment[ExecutorLimits.DotnetThreadPoolSpinVariable] = "0";
        }
        foreach (var (key, value) in spec.Environment)
        {
            psi.Environment[key] = value;
        }
        psi.Environment[ProtocolLimits.OperatorAddressVariable] = socketPath;

        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        var op = new OperatorProcess(process, logger);
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            throw new OperatorFailedException(
                $"cannot start operator executable '{executable}': {e.Message}; check that the file exists and is executable (chmod +x), or fix 'executable' in the deploy file");
        }
        op.Pid = process.Id;
        process.StandardInput.Close();
        // Bounded chunks, not BeginOutputReadLine: that holds a line whole, however long.
        op._outputRead = Task.WhenAll(
            Task.Run(() => OperatorOutput.PumpAsync(process.StandardOutput, line => op.OnLine(line, isError: false))),
            Task.Run(() => OperatorOutput.PumpAsync(process.StandardError, line => op.OnLine(line, isError: true))));
        op._startedWaiting.TrySetResult();
        return op;
    }

    private async Task<int> WaitForExitAsync()
    {
        await _startedWaiting.Task.ConfigureAwait(false);
        // Waits for the pipes' EOF too, so the last stderr lines are in the tail when this completes.
        await _process.WaitForExitAsync().ConfigureAwait(false);
        await _outputRead.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        return _process.ExitCode;
    }

    /// <summary>
    /// Waits until the operator accepts connections on its socket. Fails fast when the process
    /// exits first, and after <paramref name="timeout"/>.
    /// </summary>
    public async Task WaitForSocketAsync(string socketPath, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + timeout;
        while (true)
        {
            if (_exited.IsCompleted)
            {
                var code = await _exited.ConfigureAwait(false);
                throw new OperatorFailedException(
                    $"the operator process exited with code {code} before serving {socketPath}; its last stderr lines:{StderrTail()}");
            }
            if (File.Exists(socketPath))
            {
                using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken).ConfigureAwait(false);
                    return;
                }
                catch (SocketException)
                {
                    // Socket file exists but nobody listens yet (or a stale file): keep polling.
                }
            }
            if (time.GetUtcNow() >= deadline)
            {
                throw new OperatorFailedException(
                    $"the operator did not serve its socket {socketPath} within {timeout.TotalSeconds:0} s (ExecutorLimits.OperatorStartTimeoutMs); it must serve Operator.Session on CONCORD_OPERATOR_ADDRESS. Last stderr lines:{StderrTail()}");
            }
            // No event tells us the socket is ready: poll on a short period with the deadline above.
            await Task.WhenAny(Task.Delay(TimeSpan.FromMilliseconds(ExecutorLimits.OperatorSocketPollMs), time, cancellationToken), _exited).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>The last stderr lines, one per line with a leading newline; " (none)" when empty.</summary>
    public string StderrTail()
    {
        lock (_stderrTail)
        {
            return _stderrTail.Count == 0 ? " (none)" : "\n  " + string.Join("\n  ", _stderrTail);
        }
    }

    public void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (Exception e) when (e is InvalidOperationException or Win32Exception)
        {
            // Not started or already gone: nothing left to kill.
        }
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }

    private void OnLine(string line, bool isError)
    {
        if (isError)
        {
            lock (_stderrTail)
            {
                if (_stderrTail.Count == ExecutorLimits.OperatorStderrTailLinesMax)
                {
                    _stderrTail.Dequeue();
                }
                _stderrTail.Enqueue(line);
            }
            SessionLog.OperatorStderr(_logger, line);
        }
        else
        {
            SessionLog.OperatorStdout(_logger, line);
        }
    }

    private static string ResolveExecutable(string executable, string path)
    {
        if (executable.Contains('/'))
        {
            if (!File.Exists(executable))
            {
                throw new OperatorFailedException(
                    $"operator executable '{executable}' does not exist; fix 'executable' in the deploy file (an absolute path, or a bare name on PATH)");
            }
            return executable;
        }
        foreach (var dir in path.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, executable);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new OperatorFailedException(
            $"operator executable '{executable}' was not found on PATH ({path}); install it, or give its absolute path as 'executable' in the deploy file");
    }

    private static void CopyFiles(OperatorSpec spec, string workDir)
    {
        foreach (var file in spec.Files)
        {
            if (!File.Exists(file))
            {
                throw new OperatorFailedException(
                    $"file '{file}' listed in the deploy file's 'files' does not exist; fix the path (relative paths resolve against the deploy file's directory)");
            }
            File.Copy(file, Path.Combine(workDir, Path.GetFileName(file)), overwrite: true);
        }
    }
}
