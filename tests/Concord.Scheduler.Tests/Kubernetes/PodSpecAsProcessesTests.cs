using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Runtime;
using Concord.Scheduler.Runtime.Kubernetes;
using Concord.Scheduler.Runtime.Kubernetes.Internal;
using k8s.Models;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Concord.Scheduler.Tests.Kubernetes;

/// <summary>
/// The pod spec the runtime generates, run as two processes the way kubelet would run its
/// containers: the executor container's command and environment (the real executor), the
/// operator container's command, args, environment and working directory (a real Python
/// operator on the repository's SDK), sharing one directory in place of the emptyDir.
/// What only a cluster provides is substituted and named here: the mount (a temporary
/// directory for /concord/shared), the image (this repository's build and SDK), and the
/// network (loopback without TLS instead of the pod network, its DNS name and certificates).
/// Not in a network namespace per pod: one host, loopback.
/// </summary>
public sealed class PodSpecAsProcessesTests : IAsyncLifetime
{
    private const string OperatorScript = """
        import concord

        class Producer(concord.Computation):
            def metadata(self):
                return concord.Metadata(name="counter", istreams=[], ostreams=["counts"])

            def init(self, ctx):
                ctx.produce_record("counts", b"k", b"1")

        if __name__ == "__main__":
            concord.serve_computation(Producer())
        """;

    /// <summary>The PATH of a Debian image (debian:bookworm-slim), on which the container's bare command is found.</summary>
    private const string ImagePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    private readonly TempDirectory _dir = new();
    private WebApplication _schedulerApp = null!;
    private FakeScheduler _scheduler = null!;
    private string _schedulerAddress = "";

    public async Task InitializeAsync()
    {
        _scheduler = new FakeScheduler(new RoutingTable { Version = 1, KeyGroupCount = Contracts.ProtocolLimits.KeyGroupCount });
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(_scheduler);
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http2));
        _schedulerApp = builder.Build();
        _schedulerApp.MapGrpcService<FakeScheduler>();
        await _schedulerApp.StartAsync().WaitAsync(TestTimeouts.Step);
        _schedulerAddress = _schedulerApp.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
    }

    public async Task DisposeAsync()
    {
        await _schedulerApp.StopAsync().WaitAsync(TestTimeouts.Step);
        await _schedulerApp.DisposeAsync();
        _dir.Dispose();
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    /// <summary>The cluster's part: the emptyDir's path, and a plain loopback network in place of the pod network with TLS and DNS.</summary>
    private Dictionary<string, string> AsKubeletWould(V1Container container, string shared)
    {
        var removed = new[] { "CONCORD_LISTEN_ADDRESS", "CONCORD_ADVERTISED_HOST", "CONCORD_TLS_CERT", "CONCORD_TLS_KEY", "CONCORD_TLS_CA" };
        var env = container.Env.Where(e => !removed.Contains(e.Name)).ToDictionary(e => e.Name, e => e.Value.Replace(PodSpecs.SharedPath, shared, StringComparison.Ordinal));
        if (env.ContainsKey("CONCORD_SCHEDULER_ADDRESS"))
        {
            env["CONCORD_SCHEDULER_ADDRESS"] = _schedulerAddress;
        }
        return env;
    }

    private static (Process Process, StringBuilder Output) Start(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string> env, string workingDirectory)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = workingDirectory };
        foreach (var arg in args)
        {
            psi.ArgumentList.Add(arg);
        }
        // A container starts with the image's environment and the pod's, not the test's.
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("CONCORD_", StringComparison.Ordinal)).ToList())
        {
            psi.Environment.Remove(key);
        }
        foreach (var (key, value) in env)
        {
            psi.Environment[key] = value;
        }
        var output = new StringBuilder();
        var process = new Process { StartInfo = psi };
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return (process, output);
    }

    [Fact]
    public async Task The_generated_pods_containers_run_as_processes_and_open_the_session_over_the_shared_directory()
    {
        var script = Path.Combine(_dir.Path, "counter.py");
        File.WriteAllText(script, OperatorScript);
        var spec = new OperatorSpec
        {
            Name = "counter",
            Executable = "python3",
            Args = { script },
            Instances = 1,
            Image = "registry.example.com/concord/wordcount-python:1.0",
            ExpectedOutputs = { "counts" },
        };
        var options = new KubernetesRuntimeOptions { Namespace = "streams", ExecutorImage = "registry.example.com/concord/executor:1.0", TlsSecret = "concord-tls" };
        var pod = PodSpecs.Pod(new InstanceLaunch("counter", 0, "0123456789abcdef0123456789abcdef", spec, "https://unused"), options, "owner-uid");
        var shared = Path.Combine(_dir.Path, "shared");
        Directory.CreateDirectory(shared);

        // The sidecar first, as kubelet starts init containers before the main one.
        var executorContainer = Assert.Single(pod.Spec.InitContainers);
        var executorEnv = AsKubeletWould(executorContainer, shared);
        var executorDll = RepoPaths.Require(RepoPaths.Artifact("Concord.Executor", "Concord.Executor.dll"));
        var (executor, executorOutput) = Start("dotnet", ["exec", executorDll], executorEnv, shared);
        using var executorProcess = executor;

        var operatorContainer = Assert.Single(pod.Spec.Containers);
        var operatorEnv = AsKubeletWould(operatorContainer, shared);
        // The sdk-python image's own environment (deploy/kubernetes/images/sdk-python.Dockerfile):
        // Debian's default PATH, where python3 is Debian's with python3-grpcio, and the SDK.
        operatorEnv["PATH"] = ImagePath;
        operatorEnv["PYTHONPATH"] = Path.Combine(RepoPaths.Root, "sdk", "python");
        var command = ImagePath.Split(':').Select(d => Path.Combine(d, operatorContainer.Command[0])).First(File.Exists);
        var (op, operatorOutput) = Start(command, operatorContainer.Args, operatorEnv, operatorContainer.WorkingDir.Replace(PodSpecs.SharedPath, shared, StringComparison.Ordinal));
        using var operatorProcess = op;
        try
        {
            var registered = _scheduler.Registrations.Reader.ReadAsync().AsTask();
            await Task.WhenAny(registered, Task.Delay(TestTimeouts.Process));
            Assert.True(registered.IsCompletedSuccessfully, $"no registration; executor:\n{executorOutput}\noperator:\n{operatorOutput}");
            var registration = await registered;
            Assert.Equal(("counter", 0, "0123456789abcdef0123456789abcdef"), (registration.OperatorName, registration.InstanceIndex, registration.Incarnation));
            Assert.Equal(["counts"], registration.Metadata.Outputs);

            // The drain: the executor asks the operator to shut down over the session; both exit 0.
            Assert.Equal(0, kill(executor.Id, 15));
            await executor.WaitForExitAsync().WaitAsync(TestTimeouts.Step);
            await op.WaitForExitAsync().WaitAsync(TestTimeouts.Step);
            Assert.True(executor.ExitCode == 0, executorOutput.ToString());
            Assert.True(op.ExitCode == 0, operatorOutput.ToString());
        }
        finally
        {
            foreach (var process in new[] { executor, op }.Where(p => !p.HasExited))
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }
}
