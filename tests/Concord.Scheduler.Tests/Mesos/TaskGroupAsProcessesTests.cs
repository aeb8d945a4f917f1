using System.Diagnostics;
using System.Text.Json.Nodes;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Runtime;
using Concord.Scheduler.Runtime.Mesos;
using Concord.Scheduler.Runtime.Mesos.Internal;

namespace Concord.Scheduler.Tests.Mesos;

/// <summary>
/// The shell commands of a LAUNCH_GROUP's two tasks run as real processes under /bin/sh, each
/// with its own MESOS_SANDBOX longer than a unix socket path may be, both reaching one shared
/// directory: the operator serves a socket at its CONCORD_OPERATOR_ADDRESS and the "executor"
/// connects at its CONCORD_OPERATOR_ATTACH. Substituted, and named here: Mesos' PARENT sandbox
/// volume is a symlink from each task's sandbox to the shared directory (no nested containers
/// here); the executor is a small Python client in place of Concord.Executor (its attach mode
/// is tested with real processes in Concord.Executor.Tests); the operator is Python's own
/// socket server, started through the runtime's quoting of executable and args.
/// </summary>
public sealed class TaskGroupAsProcessesTests
{
    private const string Python = "/usr/bin/python3";

    private const string ExecutorScript =
        "import os,socket,time\n" +
        "path=os.environ['CONCORD_OPERATOR_ATTACH']\n" +
        "deadline=time.time()+20\n" +
        "while True:\n" +
        "  try:\n" +
        "    s=socket.socket(socket.AF_UNIX); s.connect(path); break\n" +
        "  except OSError:\n" +
        "    if time.time()>deadline: raise\n" +
        "    time.sleep(0.05)\n" +
        "s.sendall(b'hello'); print('executor got', s.recv(100).decode(), 'in', os.environ['CONCORD_WORK_DIR'])\n";

    private const string OperatorScript =
        "import os,socket,sys\n" +
        "s=socket.socket(socket.AF_UNIX); s.bind(os.environ['CONCORD_OPERATOR_ADDRESS']); s.listen(1)\n" +
        "c,_=s.accept(); c.sendall(c.recv(100)+b' '+sys.argv[1].encode())\n" +
        "print('operator served in', os.getcwd())\n";

    [Fact]
    public async Task The_executor_task_reaches_the_operator_tasks_socket_through_the_shared_directory_with_sandbox_paths_too_long_for_a_socket()
    {
        var root = Path.Combine(Path.GetTempPath(), "concord-mesos-group-" + Guid.NewGuid().ToString("N")[..8]);
        var executorSandbox = Path.Combine(root, "slaves", new string('a', 36), "frameworks", new string('f', 36), "executors", "concord.counter.0.x.group", "runs", "latest");
        var shared = Path.Combine(executorSandbox, MesosCalls.SharedVolume);
        Directory.CreateDirectory(shared);
        try
        {
            var spec = new OperatorSpec { Name = "counter", Executable = Python, Args = { "-c", OperatorScript, "it's" }, Instances = 1 };
            var launch = new InstanceLaunch("counter", 0, "x", spec, "https://scheduler.example:7400");
            var options = new MesosRuntimeOptions { Masters = [new Uri("http://m:5050")], ExecutorCommand = $"{Python} -c \"$EXECUTOR_SCRIPT\"", TlsDirectory = "/etc/tls" };
            var group = MesosCalls.LaunchGroup("fw", "agent", "agent.example", launch, options);
            var tasks = group["launch_group"]!["task_group"]!["tasks"]!.AsArray();

            var runs = new List<Task<(int ExitCode, string Output)>>();
            foreach (var task in tasks)
            {
                // Each task's own sandbox, with the PARENT volume standing as a link to the shared directory.
                var sandbox = Path.Combine(executorSandbox, "tasks", (string)task!["task_id"]!["value"]!);
                Directory.CreateDirectory(sandbox);
                File.CreateSymbolicLink(Path.Combine(sandbox, (string)task["container"]!["volumes"]![0]!["container_path"]!), shared);
                Assert.True((sandbox + "/concord-shared/operator.sock").Length > 107, "the sandbox must be too long for a socket path for this test to mean anything");
                runs.Add(RunTaskAsync(task, sandbox));
            }
            var results = await Task.WhenAll(runs);

            Assert.True(results.All(r => r.ExitCode == 0), string.Join("\n---\n", results.Select(r => $"exit {r.ExitCode}: {r.Output}")));
            Assert.Contains("executor got hello it's in /tmp/concord.", results[0].Output, StringComparison.Ordinal);
            // Its cwd is the shared directory (getcwd resolves the link it entered by).
            Assert.Contains("operator served in " + shared, results[1].Output, StringComparison.Ordinal);
            // Both links led to the one shared directory: the socket was made there.
            Assert.Contains(MesosCalls.SocketName, Directory.EnumerateFileSystemEntries(shared).Select(Path.GetFileName));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
            // The tasks' short links (on an agent they stay, dangling once Mesos removes the sandbox: docs/mesos.md).
            foreach (var link in Directory.EnumerateFileSystemEntries("/tmp", "concord.*"))
            {
                if (new FileInfo(link).LinkTarget is { } target && target.StartsWith(root, StringComparison.Ordinal))
                {
                    File.Delete(link);
                }
            }
        }
    }

    private static async Task<(int ExitCode, string Output)> RunTaskAsync(JsonNode task, string sandbox)
    {
        var start = new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = sandbox };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add((string)task["command"]!["value"]!);
        start.Environment.Clear();
        start.Environment["PATH"] = "/usr/bin:/bin";
        start.Environment["MESOS_SANDBOX"] = sandbox;
        start.Environment["EXECUTOR_SCRIPT"] = ExecutorScript;
        foreach (var variable in task["command"]!["environment"]!["variables"]!.AsArray())
        {
            start.Environment[(string)variable!["name"]!] = (string)variable["value"]!;
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(TestTimeouts.Process);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        return (process.ExitCode, await stdout + await stderr);
    }
}
