using System.Buffers.Text;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Hosting;
using Concord.Scheduler.Runtime;
using Concord.Scheduler.Runtime.Kubernetes;
using Concord.Scheduler.Runtime.Kubernetes.Internal;
using Concord.Testing.MultiHost;
using Grpc.Core;
using k8s.Models;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Concord.Scheduler.Tests.Kubernetes;

/// <summary>
/// Issue 16, 5(c): the pods the Kubernetes runtime generates for the word count
/// (deploy/kubernetes/wordcount: source → counter ×2 → sink) are runnable. Each pod gets what a
/// kubelet would give it: a network namespace of its own with one address (the pod network:
/// <see cref="SimulatedNetwork"/>, the kit of the multi-host drills), a temporary directory as
/// its emptyDir, a directory with a certificate as its TLS Secret volume, its Secret's values for
/// the executor's secretKeyRefs; then its containers' command, args, environment and working
/// directory run as processes inside that namespace, the native sidecar first. Records flow
/// from the source's pod through both counters' pods to the sink's, which writes counts.csv into
/// its emptyDir; then the pods stop in Kubernetes' order (operator, then sidecar).
/// Substituted, and only these (docs/kubernetes.md, "What was tested how"):
/// <list type="bullet">
/// <item>the images: every image path is mapped onto this repository's build (<see cref="Images"/>),
/// Debian's system directories stand in for the images' Debian;</item>
/// <item>DNS: CONCORD_ADVERTISED_HOST, the pod's DNS name under the headless Service, becomes the
/// pod's address, which is what that name resolves to; the certificate names every address, as the
/// cluster's wildcard certificate names every pod;</item>
/// <item>the scheduler: a test double in its own namespace that records registrations and serves a
/// routing table built from them (the runtime's own logic is tested against the API-server double).</item>
/// </list>
/// Needs root, iproute2 and nsenter; fails naming them otherwise (SimulatedNetworkUnavailableException).
/// </summary>
public sealed class GeneratedPodsWordCountTests : IAsyncLifetime
{
    /// <summary>Distinct words the sink must have counted before the flow counts as proven (the dictionary has far more).</summary>
    private const int CountedWordsMin = 20;

    /// <summary>Interval of polling the sink's counts.csv, a file another process writes, in ms.</summary>
    private const int PollMs = 50;

    private const string Namespace = "concord";
    private const string Registry = "registry.example.com";

    /// <summary>Debian's PATH (debian:bookworm-slim, and the dotnet images built on it).</summary>
    private const string DebianPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    private static readonly string[] SystemDirectories = DebianPath.Split(':');

    /// <summary>
    /// The images of deploy/kubernetes/images, as the test maps them: their PATH, their ENV, their
    /// entrypoint, and every file of theirs the pods use, by path in the image → path here.
    /// </summary>
    private static readonly Dictionary<string, Image> Images = new(StringComparer.Ordinal)
    {
        // executor.Dockerfile: the executor's publish output in /app, ENTRYPOINT dotnet /app/Concord.Executor.dll.
        [$"{Registry}/concord/executor:1.0"] = new(DebianPath, ["dotnet", "/app/Concord.Executor.dll"],
            new Dictionary<string, string>(),
            new Dictionary<string, string> { ["/app/Concord.Executor.dll"] = RepoPaths.Artifact("Concord.Executor", "Concord.Executor.dll") }),
        // wordcount-dotnet.Dockerfile on sdk-dotnet.Dockerfile: WordCount's publish output and words.txt in /app, /app first on PATH.
        [$"{Registry}/concord/wordcount-dotnet:latest"] = new("/app:" + DebianPath, null,
            new Dictionary<string, string> { ["DOTNET_ThreadPool_UnfairSemaphoreSpinLimit"] = "0" },
            new Dictionary<string, string>
            {
                ["/app/WordCount"] = RepoPaths.Artifact("WordCount", "WordCount"),
                ["/app/words.txt"] = Path.Combine(RepoPaths.Root, "examples", "wordcount", "words.txt"),
            }),
        // wordcount-python.Dockerfile on sdk-python.Dockerfile: Debian's python3 and grpcio, the SDK in /opt/concord/sdk/python, counter.py in /app.
        [$"{Registry}/concord/wordcount-python:latest"] = new(DebianPath, null,
            new Dictionary<string, string> { ["PYTHONPATH"] = "/opt/concord/sdk/python", ["PYTHONUNBUFFERED"] = "1" },
            new Dictionary<string, string>
            {
                ["/opt/concord/sdk/python"] = Path.Combine(RepoPaths.Root, "sdk", "python"),
                ["/app/counter.py"] = Path.Combine(RepoPaths.Root, "examples", "wordcount", "python", "counter.py"),
            }),
    };

    private readonly TempDirectory _dir = new();
    private readonly RegistrationScheduler _scheduler = new(expected: 4);
    private readonly List<(string Pod, string Container, HostProcess Process)> _processes = [];
    private SimulatedNetwork? _network;
    private WebApplication? _schedulerApp;
    private Socket? _schedulerSocket;

    private sealed record Image(string Path, string[]? Entrypoint, Dictionary<string, string> Environment, Dictionary<string, string> Files);

    /// <summary>One pod as kubelet runs it here: its host (network namespace) and its volumes as directories.</summary>
    private sealed record RunningPod(V1Pod Pod, V1Secret? Secret, SimulatedHost Host, string Shared, string Tls);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        // Processes first (each handle kills its own), then the namespaces and links (which also
        // kill anything left in them), then the scheduler double; all also after a failure.
        foreach (var (_, _, process) in _processes)
        {
            process.Dispose();
        }
        _network?.Dispose();
        if (_schedulerApp is not null)
        {
            await _schedulerApp.StopAsync().WaitAsync(TestTimeouts.Step);
            await _schedulerApp.DisposeAsync();
        }
        _schedulerSocket?.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task The_word_count_flows_through_the_generated_pods_each_run_in_a_network_namespace_of_its_own()
    {
        var specs = new[] { "source.json", "counter-python.json", "sink.json" }.Select(ReadDeployFile).ToList();
        var launches = specs.SelectMany(s => Enumerable.Range(0, s.Instances).Select(i => (Spec: s, Index: i))).ToList();
        Assert.Equal(_scheduler.Expected, launches.Count);

        // One host for the scheduler double, one per pod.
        _network = SimulatedNetwork.Create(1 + launches.Count);
        var schedulerHost = _network.Host(1);
        using var ca = TlsCertificates.CreateAuthority("test cluster CA", DateTimeOffset.UtcNow);
        using var certificate = TlsCertificates.IssueHost(ca, _network.Hosts.Select(h => h.Address.ToString()).ToList(), DateTimeOffset.UtcNow);
        var schedulerAddress = await StartSchedulerAsync(schedulerHost, certificate);

        var dataPlaneKey = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
        var options = new KubernetesRuntimeOptions
        {
            Namespace = Namespace,
            ExecutorImage = $"{Registry}/concord/executor:1.0",
            TlsSecret = "concord-tls",
            PrivateEnvironment = launch => new Dictionary<string, string?>
            {
                [Credentials.LaunchSecretVariable] = "launch-secret-" + launch.Incarnation,
                [Credentials.DataPlaneKeyVariable] = dataPlaneKey,
            },
        };
        var pods = new List<RunningPod>();
        for (var i = 0; i < launches.Count; i++)
        {
            var (spec, index) = launches[i];
            var launch = new InstanceLaunch(spec.Name, index, Guid.NewGuid().ToString("N"), spec, schedulerAddress);
            Assert.Null(PodSpecs.Check(spec, options));
            var pod = PodSpecs.Pod(launch, options, "topology-uid");
            var shared = Directory.CreateDirectory(_dir.Combine(pod.Metadata.Name, "shared")).FullName;
            var tls = Directory.CreateDirectory(_dir.Combine(pod.Metadata.Name, "tls")).FullName;
            // The TLS Secret volume: the keys `kubectl create secret generic concord-tls` gives it.
            TlsCertificates.WritePem(certificate, Path.Combine(tls, "tls.crt"), Path.Combine(tls, "tls.key"));
            File.WriteAllText(Path.Combine(tls, "ca.crt"), ca.ExportCertificatePem());
            pods.Add(new RunningPod(pod, PodSpecs.Secret(launch, options, "topology-uid"), _network.Host(2 + i), shared, tls));
        }

        // Kubelet starts a pod's init containers (the native sidecar) before its main container.
        foreach (var pod in pods)
        {
            Run(pod, Assert.Single(pod.Pod.Spec.InitContainers));
        }
        foreach (var pod in pods)
        {
            Run(pod, Assert.Single(pod.Pod.Spec.Containers));
        }

        // Eight processes start (four of them .NET with Kestrel and TLS): a flow's bound, not one process's.
        var registered = await _scheduler.AllRegistered.WaitAsync(TestTimeouts.Flow).ContinueWith(t => t.IsCompletedSuccessfully);
        Assert.True(registered, $"not every executor registered ({_scheduler.Registered.Count} of {_scheduler.Expected}); {Outputs()}");
        foreach (var pod in pods)
        {
            // Each executor serves its data plane at its pod's address: the pod network carries the records.
            var registration = Assert.Single(_scheduler.Registered, r => r.Incarnation == pod.Pod.Metadata.Labels[KubernetesNames.IncarnationLabel]);
            Assert.StartsWith($"{pod.Host.Address}:", registration.DataAddress, StringComparison.Ordinal);
        }

        var sink = Assert.Single(pods, p => p.Pod.Metadata.Labels[KubernetesNames.OperatorLabel] == "sink");
        var counts = Path.Combine(sink.Shared, "counts.csv");
        var words = File.ReadAllLines(Images[$"{Registry}/concord/wordcount-dotnet:latest"].Files["/app/words.txt"]).Where(w => w.Length > 0).ToHashSet(StringComparer.Ordinal);
        var deadline = DateTime.UtcNow + TestTimeouts.Flow;
        var counted = new HashSet<string>(StringComparer.Ordinal);
        while (counted.Count < CountedWordsMin && DateTime.UtcNow < deadline && _processes.All(p => !p.Process.HasExited))
        {
            counted = CountedWords(counts);
            await Task.Delay(PollMs);
        }
        Assert.True(counted.Count >= CountedWordsMin, $"the sink counted {counted.Count} distinct words within {TestTimeouts.FlowSeconds} s, expected {CountedWordsMin}; {Outputs()}");
        Assert.Subset(words, counted);
        Assert.Empty(_scheduler.Failures);

        // Stop in Kubernetes' order, pod by pod from the source: the operator container, then
        // (once it has exited) the sidecar, which drains and exits 0 (docs/kubernetes.md, "Stop order").
        foreach (var pod in pods)
        {
            var op = Assert.Single(_processes, p => p.Pod == pod.Pod.Metadata.Name && p.Container == PodSpecs.OperatorContainer).Process;
            var executor = Assert.Single(_processes, p => p.Pod == pod.Pod.Metadata.Name && p.Container == PodSpecs.ExecutorContainer).Process;
            op.Stop();
            await op.WaitForExitAsync(TestTimeouts.Step);
            executor.Stop();
            Assert.True(await executor.WaitForExitAsync(TestTimeouts.Step) == 0, $"the executor of {pod.Pod.Metadata.Name} did not exit 0 after its operator's stop; {Outputs()}");
        }
        Assert.True(_scheduler.Failures.IsEmpty, $"failures reported on a stop: {string.Join("; ", _scheduler.Failures.Select(f => f.Message))}");
    }

    /// <summary>A deploy file of deploy/kubernetes/wordcount as an OperatorSpec (the fields it uses, as the CLI reads them), REGISTRY made a registry.</summary>
    private static OperatorSpec ReadDeployFile(string file)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoPaths.Root, "deploy", "kubernetes", "wordcount", file)));
        var root = json.RootElement;
        var spec = new OperatorSpec
        {
            Name = root.GetProperty("name").GetString()!,
            Executable = root.GetProperty("executable").GetString()!,
            Image = root.GetProperty("image").GetString()!.Replace("REGISTRY", Registry, StringComparison.Ordinal),
            Instances = root.GetProperty("instances").GetInt32(),
            Cpus = root.GetProperty("cpus").GetDouble(),
            MemMb = root.GetProperty("mem").GetInt32(),
        };
        spec.Args.AddRange(root.GetProperty("args").EnumerateArray().Select(a => a.GetString()!));
        if (root.TryGetProperty("environment", out var environment))
        {
            foreach (var variable in environment.EnumerateObject())
            {
                spec.Environment[variable.Name] = variable.Value.GetString()!;
            }
        }
        foreach (var input in root.GetProperty("inputs").EnumerateArray())
        {
            spec.ExpectedInputs.Add(new InputStream
            {
                Name = input.GetProperty("stream").GetString()!,
                Grouping = input.GetProperty("grouping").GetString() == "group_by" ? Grouping.GroupBy : Grouping.Shuffle,
            });
        }
        spec.ExpectedOutputs.AddRange(root.GetProperty("outputs").EnumerateArray().Select(o => o.GetString()!));
        Assert.Empty(OperatorSpecValidator.Validate(spec));
        return spec;
    }

    /// <summary>Runs one container of <paramref name="pod"/> as kubelet would, in the pod's namespace.</summary>
    private void Run(RunningPod pod, V1Container container)
    {
        var image = Images.TryGetValue(container.Image, out var known) ? known : throw new InvalidOperationException($"the test maps no image '{container.Image}'; add it to Images");
        var command = container.Command is { Count: > 0 } c ? [.. c, .. container.Args ?? []] : (string[])[.. image.Entrypoint ?? throw new InvalidOperationException($"{container.Image} has no entrypoint and the container no command"), .. container.Args ?? []];

        // The image's environment, then the container's (values, and secretKeyRefs from the pod's Secret).
        var env = new Dictionary<string, string>(image.Environment, StringComparer.Ordinal) { ["PATH"] = image.Path };
        foreach (var variable in container.Env ?? [])
        {
            if (variable.ValueFrom?.SecretKeyRef is { } reference)
            {
                Assert.NotNull(pod.Secret);
                Assert.Equal(pod.Secret.Metadata.Name, reference.Name);
                env[variable.Name] = Encoding.UTF8.GetString(pod.Secret.Data[reference.Key]);
            }
            else
            {
                env[variable.Name] = variable.Value;
            }
        }
        // DNS: the pod's name under the headless Service resolves to the pod's address.
        if (env.ContainsKey(LocalProcessRuntime.AdvertisedHostVariable))
        {
            env[LocalProcessRuntime.AdvertisedHostVariable] = pod.Host.Address.ToString();
        }
        var mounts = (container.VolumeMounts ?? []).ToDictionary(m => m.MountPath, m => m.Name == PodSpecs.SharedVolume ? pod.Shared : pod.Tls, StringComparer.Ordinal);
        string Map(string value) => MapPath(value, image, mounts);

        // A container starts with its image's and its pod's environment only, not the test's.
        var environment = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var key in System.Environment.GetEnvironmentVariables().Keys.Cast<string>())
        {
            environment[key] = null;
        }
        foreach (var (key, value) in env)
        {
            environment[key] = key == "PATH" ? value : Map(value);
        }
        // Where a dotnet apphost finds the runtime, as the dotnet images have it in their default place.
        environment["DOTNET_ROOT"] = System.Environment.GetEnvironmentVariable("DOTNET_ROOT") ?? "/usr/share/dotnet";
        environment["HOME"] = pod.Shared;

        var program = Resolve(command[0], image);
        var workingDirectory = container.WorkingDir is { } dir ? Map(dir) : "/";
        var process = pod.Host.Start(program, command.Skip(1).Select(Map), environment, workingDirectory);
        _processes.Add((pod.Pod.Metadata.Name, container.Name, process));
    }

    /// <summary>A path in the container's file system here: mounts first, then the image's files.</summary>
    private static string MapPath(string value, Image image, Dictionary<string, string> mounts)
    {
        foreach (var (mountPath, local) in mounts)
        {
            if (value == mountPath || value.StartsWith(mountPath + "/", StringComparison.Ordinal))
            {
                return local + value[mountPath.Length..];
            }
        }
        return image.Files.TryGetValue(value, out var file) ? file : value;
    }

    /// <summary>A command as the container runtime finds it: a path in the image, or the first match on the image's PATH.</summary>
    private static string Resolve(string command, Image image)
    {
        if (command.Contains('/', StringComparison.Ordinal))
        {
            return image.Files.TryGetValue(command, out var file) ? file : command;
        }
        foreach (var directory in image.Path.Split(':'))
        {
            var candidate = $"{directory}/{command}";
            if (image.Files.TryGetValue(candidate, out var file))
            {
                return RepoPaths.Require(file);
            }
            if (SystemDirectories.Contains(directory) && File.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new InvalidOperationException($"'{command}' is not on the image's PATH {image.Path} as the test maps it");
    }

    private static HashSet<string> CountedWords(string counts)
    {
        if (!File.Exists(counts))
        {
            return [];
        }
        using var reader = new StreamReader(new FileStream(counts, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete));
        var lines = reader.ReadToEnd().Split('\n');
        // The last line may still be being written.
        return lines.Take(lines.Length - 1).Select(l => l.Split(',')[0]).Where(w => w.Length > 0).ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>The scheduler double, served with TLS inside its host's namespace (its listening socket is made there).</summary>
    private async Task<string> StartSchedulerAsync(SimulatedHost host, X509Certificate2 certificate)
    {
        _schedulerSocket = host.InNamespace(() =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(host.Address, 0));
            socket.Listen();
            return socket;
        });
        var port = ((IPEndPoint)_schedulerSocket.LocalEndPoint!).Port;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(_scheduler);
        builder.WebHost.ConfigureKestrel(k => k.ListenHandle((ulong)_schedulerSocket.Handle, o =>
        {
            o.Protocols = HttpProtocols.Http2;
            o.UseHttps(certificate);
        }));
        _schedulerApp = builder.Build();
        _schedulerApp.MapGrpcService<RegistrationScheduler>();
        await _schedulerApp.StartAsync().WaitAsync(TestTimeouts.Step);
        return $"https://{host.Address}:{port}";
    }

    private string Outputs() => string.Join("\n", _processes.Select(p =>
        $"--- {p.Pod}/{p.Container} ({(p.Process.HasExited ? $"exited {p.Process.ExitCode}" : "running")}):\n{p.Process.Output}"));

    /// <summary>
    /// The scheduler's part in this test (a test double, not the scheduler): records
    /// registrations and failures, and once every expected executor has registered serves each
    /// one the routing table the scheduler would build from them (words: the counters by key
    /// group; counts: the sink).
    /// </summary>
    private sealed class RegistrationScheduler(int expected) : global::Concord.Contracts.Scheduler.V1.Scheduler.SchedulerBase
    {
        private readonly TaskCompletionSource<RoutingTable> _table = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Expected { get; } = expected;

        public System.Collections.Concurrent.ConcurrentQueue<RegisterExecutorRequest> Registered { get; } = new();

        public System.Collections.Concurrent.ConcurrentQueue<ReportFailureRequest> Failures { get; } = new();

        public Task AllRegistered => _table.Task;

        public override Task<RegisterExecutorResponse> RegisterExecutor(RegisterExecutorRequest request, ServerCallContext context)
        {
            Registered.Enqueue(request);
            if (Registered.Count == Expected)
            {
                _table.TrySetResult(Table(Registered.ToList()));
            }
            return Task.FromResult(new RegisterExecutorResponse());
        }

        public override Task<ReportFailureResponse> ReportFailure(ReportFailureRequest request, ServerCallContext context)
        {
            Failures.Enqueue(request);
            return Task.FromResult(new ReportFailureResponse());
        }

        public override async Task WatchRouting(WatchRoutingRequest request, IServerStreamWriter<RoutingTable> responseStream, ServerCallContext context)
        {
            await ((Task)_table.Task).WaitAsync(context.CancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (!_table.Task.IsCompletedSuccessfully)
            {
                return;
            }
            await responseStream.WriteAsync(_table.Task.Result);
            await Task.Delay(Timeout.Infinite, context.CancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        private static RoutingTable Table(List<RegisterExecutorRequest> registrations)
        {
            var table = new RoutingTable { Version = 1, KeyGroupCount = ProtocolLimits.KeyGroupCount };
            foreach (var (stream, reader, grouping) in new[] { ("words", "counter", Grouping.GroupBy), ("counts", "sink", Grouping.Shuffle) })
            {
                var instances = registrations.Where(r => r.OperatorName == reader).OrderBy(r => r.InstanceIndex).ToList();
                var route = new Reader { OperatorName = reader, Grouping = grouping };
                foreach (var r in instances)
                {
                    var (start, end) = KeyGroups.RangeOf(r.InstanceIndex, instances.Count);
                    route.Instances.Add(new ReaderInstance { Index = r.InstanceIndex, DataAddress = r.DataAddress, Incarnation = r.Incarnation, KeyGroupStart = start, KeyGroupEnd = end });
                }
                table.Streams.Add(new StreamRoute { Stream = stream, Readers = { route } });
            }
            return table;
        }
    }
}
