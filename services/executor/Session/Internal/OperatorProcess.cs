using System.ComponentModel;
using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using Concord.Contracts;
using Concord.Contracts.Types.V1;
using Microsoft.Extensions.Logging;

namespace Concord.Executor.Session.Internal;

/// <summary>
/// The user's operator as a child process: started in the work directory with
/// CONCORD_OPERATOR_ADDRESS (a unix socket), CONCORD_OPERATOR_PORT_FILE (where an operator
/// serving loopback TCP instead announces its port) and CONCORD_OPERATOR_SECRET set, its stdout/stderr turned into log events, killed on every
/// exit path of the executor.
/// </summary>
/// <remarks>
/// Started as <c>setsid setpriv --pdeathsig KILL -- &lt;executable&gt; &lt;args&gt;</c> (both
/// util-linux, both exec in place, so the operator keeps the pid .NET sees):
/// <list type="bullet">
/// <item>setsid makes the operator lead a process group (and session) of its own, so a stop
/// reaches what it forked: SIGTERM to the group, a bounded wait, SIGKILL to the group.</item>
/// <item>setpriv sets PR_SET_PDEATHSIG = SIGKILL, so the operator dies when the executor dies,
/// even by SIGKILL. .NET cannot run code between fork and exec (P/Invoking fork in a managed
/// process is unsafe), hence the exec shim.</item>
/// </list>
/// The parent-death signal fires when the parent *thread* ends, not the process: .NET forks
/// from the calling thread, which for async code is a pool thread that may retire while the
/// operator runs (and the operator would be SIGKILLed). So the process is started from a
/// dedicated thread that stays until the operator has exited. What the operator's own forks do
/// after the executor is gone (the parent-death signal is not inherited) is the scheduler's
/// instance group's job (docs/security.md, "Containment").
/// </remarks>
internal sealed class OperatorProcess : IDisposable
{
    private const int SigTerm = 15;
    private const int SigKill = 9;

    private readonly Process _process;
    private readonly ILogger _logger;
    private readonly Queue<string> _stderrTail = new();
    private readonly Task<int> _exited;
    private volatile bool _killRequested; // this executor signalled the operator (Kill): its death is not from outside
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

    /// <summary>
    /// Starts the executable. The spec's "files" are already in the work directory: the
    /// scheduler's runtime copied them, checked and confined (docs/security.md); copying them
    /// again here would read them unchecked and write through links left in the directory.
    /// </summary>
    public static OperatorProcess Start(OperatorSpec spec, string workDir, string socketPath, string portFile, string secret, string searchPath, ILogger logger)
    {
        var executable = ResolveExecutable(spec.Executable, searchPath);
        var setsid = FindShim("setsid");
        var setpriv = FindShim("setpriv");

        var psi = new ProcessStartInfo(setsid)
        {
            WorkingDirectory = workDir,
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            // The operator talks over its socket; stdin at EOF keeps a stray read from hanging.
            RedirectStandardInput = true,
        };
        psi.ArgumentList.Add(setpriv);
        psi.ArgumentList.Add("--pdeathsig");
        psi.ArgumentList.Add("KILL");
        psi.ArgumentList.Add("--");
        psi.ArgumentList.Add(executable);
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
        // The executor's secrets stay with the executor (docs/security.md): the operator runs
        // user code that has no business calling the scheduler or the data plane directly.
        psi.Environment.Remove(Contracts.Credentials.LaunchSecretVariable);
        psi.Environment.Remove(Contracts.Credentials.DataPlaneKeyVariable);
        psi.Environment[ProtocolLimits.OperatorAddressVariable] = socketPath;
        psi.Environment[ExecutorLimits.OperatorPortFileVariable] = portFile;
        psi.Environment[ExecutorLimits.OperatorSecretVariable] = secret;

        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        var op = new OperatorProcess(process, logger);
        try
        {
            StartOnOwnThread(process);
        }
        catch (Win32Exception e)
        {
            throw new OperatorFailedException(
                $"cannot start operator executable '{executable}': {e.Message}; check that the file exists and is executable (chmod +x), or fix 'executable' in the deploy file");
        }
        op.Pid = process.Id;
        PreferForOomKill(process.Id);
        process.StandardInput.Close();
        // Bounded chunks, not BeginOutputReadLine: that holds a line whole, however long.
        op._outputRead = Task.WhenAll(
            Task.Run(() => OperatorOutput.PumpAsync(process.StandardOutput, line => op.OnLine(line, isError: false))),
            Task.Run(() => OperatorOutput.PumpAsync(process.StandardError, line => op.OnLine(line, isError: true))));
        op._startedWaiting.TrySetResult();
        return op;
    }

    /// <summary>
    /// Starts <paramref name="process"/> from a thread that lives until it has exited, so the
    /// parent-death signal fires only when the executor dies (see the class remarks).
    /// </summary>
    private static void StartOnOwnThread(Process process)
    {
        var started = new TaskCompletionSource<ExceptionDispatchInfo?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                process.Start();
            }
            catch (Exception e)
            {
                started.SetResult(ExceptionDispatchInfo.Capture(e));
                return;
            }
            started.SetResult(null);
            try
            {
                process.WaitForExit();
            }
            catch (Exception)
            {
                // Disposed meanwhile (the process was killed): this thread's only job was to
                // stay alive as the operator's parent, and an exception escaping a thread
                // would end the executor.
            }
        })
        {
            IsBackground = true,
            Name = "operator-parent",
        };
        thread.Start();
        // Process.Start itself is synchronous (fork + exec), so this waits milliseconds.
        started.Task.GetAwaiter().GetResult()?.Throw();
    }

    /// <summary>
    /// Makes the kernel's OOM killer pick the operator (and what it forks after this) before
    /// the executor when the instance's memory group is full, so the executor survives to
    /// report why the operator died. Raising one's own child's score needs no privilege.
    /// </summary>
    private static void PreferForOomKill(int pid)
    {
        try
        {
            File.WriteAllText($"/proc/{pid}/oom_score_adj", ExecutorLimits.OperatorOomScoreAdj.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Gone already, or no /proc: the memory limit holds either way, only the report is vaguer.
        }
    }

    /// <summary>A util-linux program the operator is started through; an error names the fix when missing.</summary>
    private static string FindShim(string name)
    {
        foreach (var dir in new[] { "/usr/bin", "/bin", "/usr/sbin", "/sbin" }.Concat((Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new OperatorFailedException(
            $"'{name}' was not found; the executor starts operators through setsid and setpriv (package util-linux) so that they run in a process group of their own and die with the executor; install util-linux");
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
    /// Waits until the operator accepts connections on its socket, or has announced a loopback
    /// TCP port in <paramref name="portFile"/> that accepts them. Returns that port, or null for
    /// the socket. Fails fast when the process exits first, on a port file that holds no port,
    /// and after <paramref name="timeout"/>.
    /// </summary>
    public async Task<int?> WaitForServingAsync(string socketPath, string portFile, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + timeout;
        while (true)
        {
            if (_exited.IsCompleted)
            {
                var code = await _exited.ConfigureAwait(false);
                throw new OperatorFailedException(
                    $"the operator process {DescribeExit(code)} before serving {socketPath} (or announcing a TCP port in {portFile}); its last stderr lines:{StderrTail()}");
            }
            if (File.Exists(socketPath) && await AcceptsAsync(new UnixDomainSocketEndPoint(socketPath), AddressFamily.Unix, cancellationToken).ConfigureAwait(false))
            {
                return null;
            }
            if (ReadPort(portFile) is { } port && await AcceptsAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, port), AddressFamily.InterNetwork, cancellationToken).ConfigureAwait(false))
            {
                return port;
            }
            if (time.GetUtcNow() >= deadline)
            {
                throw new OperatorFailedException(
                    $"the operator did not serve its socket {socketPath} (nor announce a 127.0.0.1 TCP port in {portFile}) within {timeout.TotalSeconds:0} s (ExecutorLimits.OperatorStartTimeoutMs); it must serve Operator.Session on CONCORD_OPERATOR_ADDRESS. Last stderr lines:{StderrTail()}");
            }
            // No event tells us the socket is ready: poll on a short period with the deadline above.
            await Task.WhenAny(Task.Delay(TimeSpan.FromMilliseconds(ExecutorLimits.OperatorSocketPollMs), time, cancellationToken), _exited).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>True when something listens on <paramref name="endpoint"/>.</summary>
    private static async Task<bool> AcceptsAsync(System.Net.EndPoint endpoint, AddressFamily family, CancellationToken cancellationToken)
    {
        using var socket = new Socket(family, SocketType.Stream, family == AddressFamily.Unix ? ProtocolType.Unspecified : ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(endpoint, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (SocketException)
        {
            // Not listening yet (or a stale socket file): keep polling.
            return false;
        }
    }

    /// <summary>
    /// The port announced in <paramref name="portFile"/>; null while the file is absent or
    /// empty (the operator writes it to a temporary name and renames it, but an empty file is
    /// harmless to wait on). Anything else that is not a port 1..65535 is an operator bug.
    /// </summary>
    internal static int? ReadPort(string portFile)
    {
        string text;
        try
        {
            using var stream = new FileStream(portFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var buffer = new byte[ExecutorLimits.OperatorPortFileBytesMax + 1];
            var length = 0;
            int read;
            while (length < buffer.Length && (read = stream.Read(buffer, length, buffer.Length - length)) > 0)
            {
                length += read;
            }
            if (length > ExecutorLimits.OperatorPortFileBytesMax)
            {
                throw new OperatorFailedException(
                    $"the operator's port file {portFile} is longer than {ExecutorLimits.OperatorPortFileBytesMax} bytes (ExecutorLimits.OperatorPortFileBytesMax); it must hold only the decimal 127.0.0.1 TCP port the operator listens on");
            }
            text = System.Text.Encoding.ASCII.GetString(buffer, 0, length).Trim();
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        if (text.Length == 0)
        {
            return null;
        }
        if (!int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            throw new OperatorFailedException(
                $"the operator's port file {portFile} holds '{text}', not a TCP port 1..65535; it must hold only the decimal 127.0.0.1 port the operator listens on, written to a temporary file and renamed into place");
        }
        return port;
    }

    /// <summary>The last stderr lines, one per line with a leading newline; " (none)" when empty.</summary>
    public string StderrTail()
    {
        lock (_stderrTail)
        {
            return _stderrTail.Count == 0 ? " (none)" : "\n  " + string.Join("\n  ", _stderrTail);
        }
    }

    /// <summary>
    /// Stops the operator's process group: SIGTERM, up to
    /// <see cref="ExecutorLimits.OperatorStopGraceMs"/> for it (and whatever it forked, which
    /// holds its output pipes) to end, then SIGKILL. Also when the operator itself has already
    /// exited: its forks may still be running in its group.
    /// </summary>
    public void Kill()
    {
        if (Pid <= 0)
        {
            return;
        }
        _killRequested = true;
        // The group id stays reserved while any member lives, so signalling it never reaches a
        // stranger while there is something of ours to kill.
        if (SignalGroup(SigTerm))
        {
            _exited.Wait(TimeSpan.FromMilliseconds(ExecutorLimits.OperatorStopGraceMs));
        }
        SignalGroup(SigKill);
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

    /// <summary>
    /// The signal of an exit with <paramref name="code"/> when it came from outside: SIGKILL or
    /// SIGTERM that this executor did not send (<see cref="Kill"/>) and, for SIGKILL, not the
    /// kernel's OOM killer (that is the operator using too much memory, its own failure); else 0.
    /// </summary>
    public int SignalFromOutside(int code)
    {
        var signal = code > 128 && code < 128 + 32 ? code - 128 : 0;
        if (_killRequested || signal is not (SigKill or SigTerm))
        {
            return 0;
        }
        return signal == SigKill && OwnMemoryGroup() is { } group && OomKills(group) > 0 ? 0 : signal;
    }

    /// <summary>
    /// How the operator ended, for errors: the exit code, the signal, and when the kernel
    /// OOM-killed it (the instance's memory group says so), that the memory limit was hit.
    /// </summary>
    public static string DescribeExit(int code)
    {
        if (code <= 128 || code >= 128 + 32)
        {
            return $"exited with code {code}";
        }
        var text = $"was killed by signal {code - 128} (exit code {code})";
        if (code - 128 == SigKill && OwnMemoryGroup() is { } group && OomKills(group) > 0)
        {
            var limit = File.Exists(Path.Combine(group, "memory.max")) ? ReadOrEmpty(Path.Combine(group, "memory.max")) : ReadOrEmpty(Path.Combine(group, "memory.limit_in_bytes"));
            var mib = long.TryParse(limit, out var bytes) ? $"{bytes / (1024 * 1024)} MiB" : "its limit";
            text += $": the kernel's OOM killer stopped it because the instance used more memory than `mem` allows ({mib}, executor and operator together); " +
                    "raise `mem` in the deploy file or make the operator use less";
        }
        return text;
    }

    private static string? OwnMemoryGroup()
    {
        try
        {
            foreach (var line in File.ReadAllLines("/proc/self/cgroup"))
            {
                var parts = line.Split(':', 3);
                if (parts.Length == 3 && (parts[1].Split(',').Contains("memory") || (parts[1] == "" && File.Exists("/sys/fs/cgroup/cgroup.controllers"))))
                {
                    var root = parts[1] == "" ? "/sys/fs/cgroup" : "/sys/fs/cgroup/memory";
                    return root + parts[2];
                }
            }
        }
        catch (IOException)
        {
        }
        return null;
    }

    private static long OomKills(string group)
    {
        var text = File.Exists(Path.Combine(group, "memory.events")) ? ReadOrEmpty(Path.Combine(group, "memory.events")) : ReadOrEmpty(Path.Combine(group, "memory.oom_control"));
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith("oom_kill ", StringComparison.Ordinal) && long.TryParse(line.AsSpan(9), out var n))
            {
                return n;
            }
        }
        return 0;
    }

    private static string ReadOrEmpty(string path)
    {
        try
        {
            return File.ReadAllText(path).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    /// <summary>Signals the operator's process group; false when no member is left.</summary>
    private bool SignalGroup(int signal) => KillGroup(-Pid, signal) == 0;

    // DllImport rather than LibraryImport: all arguments are blittable ints, and the executor
    // is not compiled with unsafe code, which the LibraryImport generator needs.
    [DllImport("libc", EntryPoint = "kill")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int KillGroup(int pid, int signal);

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
}
