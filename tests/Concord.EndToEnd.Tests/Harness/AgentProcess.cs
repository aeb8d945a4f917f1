using System.Diagnostics;
using System.Text;

namespace Concord.EndToEnd.Tests.Harness;

/// <summary>
/// One `concord agent` process on loopback, its home inside the cluster's (so its executors are
/// the cluster's to clean up). Disposing sends SIGTERM (the agent stops its instances and exits),
/// then kills the tree if it has not exited within <see cref="StopTimeoutSeconds"/>.
/// </summary>
public sealed class AgentProcess : IAsyncDisposable
{
    /// <summary>How long an agent may take to stop its instances and exit after SIGTERM, in s.</summary>
    private const int StopTimeoutSeconds = 30;

    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private AgentProcess(Process process) => _process = process;

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

    /// <summary>Agent <paramref name="id"/> of the cluster whose home is <paramref name="clusterHome"/>, dialling <paramref name="schedulers"/> (one address, or several comma-separated).</summary>
    public static AgentProcess Start(string clusterHome, string schedulers, string id, int cpus, int memMb)
    {
        var info = new ProcessStartInfo("dotnet",
        [
            Repo.CliDll, "agent", "--home", Path.Combine(clusterHome, "agent-" + id), "--scheduler", schedulers,
            "--cpus", cpus.ToString(System.Globalization.CultureInfo.InvariantCulture), "--mem", memMb.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--agent-id", id, "--agent-secret-file", Path.Combine(clusterHome, "agent.secret"),
        ])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["CONCORD_EXECUTOR_DLL"] = Repo.ExecutorDll;
        info.Environment["CONCORD_HOME"] = null;
        info.Environment["CONCORD_SCHEDULER"] = null;
        var agent = new AgentProcess(Process.Start(info)!);
        agent._process.OutputDataReceived += (_, e) => agent.Append(e.Data);
        agent._process.ErrorDataReceived += (_, e) => agent.Append(e.Data);
        agent._process.BeginOutputReadLine();
        agent._process.BeginErrorReadLine();
        return agent;
    }

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

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            Processes.Kill(_process.Id, hard: false);
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(StopTimeoutSeconds));
            try
            {
                await _process.WaitForExitAsync(stop.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        _process.Dispose();
    }
}
