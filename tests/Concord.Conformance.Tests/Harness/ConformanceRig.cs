using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Hosting;
using Concord.Hosting.Checkpoints;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Concord.Conformance.Tests.Harness;

/// <summary>
/// Everything one case needs around the operator under test: the executor's two neighbours on
/// one in-process gRPC server (the <see cref="FakeScheduler"/> and the
/// <see cref="DownstreamReceiver"/>, listed in the routing table as the one-instance reader
/// "sink" of the operator's output streams), a short temp directory, and the executors it starts.
/// Disposing kills every process it started and deletes the directory.
/// </summary>
public sealed class ConformanceRig : IAsyncDisposable
{
    /// <summary>The name the operator under test is deployed as.</summary>
    public const string OperatorName = "conformance";

    /// <summary>Streams the test operators read and write (the same in every language).</summary>
    public const string InputStream = "in";

    public const string OutputA = "out-a";

    public const string OutputB = "out-b";

    private const string SinkName = "sink";
    private const string SinkIncarnation = "inc-sink";

    private readonly LoopbackHost _host;
    private readonly string _dir;
    private readonly List<ExecutorProcess> _executors = [];
    private readonly List<int> _operatorPids = [];

    private ConformanceRig(LoopbackHost host, string dir, FakeScheduler scheduler, DownstreamReceiver receiver, string address)
    {
        _host = host;
        _dir = dir;
        Scheduler = scheduler;
        Receiver = receiver;
        Address = address;
    }

    public FakeScheduler Scheduler { get; }

    public DownstreamReceiver Receiver { get; }

    /// <summary>"http://127.0.0.1:port": where the executors find the scheduler (and the receiver).</summary>
    public string Address { get; }

    /// <summary>The checkpoint root (the scheduler's --checkpoint-dir) of the checkpoints this rig drives.</summary>
    public string CheckpointRoot => Path.Combine(_dir, "checkpoints");

    public static async Task<ConformanceRig> StartAsync()
    {
        var dir = Path.Combine("/tmp", "cc-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);

        var host = new LoopbackHost(null, new LoopbackEndpoint("grpc", HttpProtocols.Http2));
        var builder = host.Builder;
        builder.Services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = ProtocolLimits.GrpcMessageBytesMax;
            o.MaxSendMessageSize = ProtocolLimits.GrpcMessageBytesMax;
        });
        var receiver = new DownstreamReceiver();
        builder.Services.AddSingleton(receiver);
        // The routing table needs the server's port, known only once it listens: the scheduler
        // is created on first use, which is after StartAsync.
        string? address = null;
        builder.Services.AddSingleton(_ => new FakeScheduler(Routing(new Uri(address!).Authority)));
        var app = host.Build();
        app.MapGrpcService<FakeScheduler>();
        app.MapGrpcService<DownstreamReceiver>();
        await host.StartAsync().WaitAsync(ConformanceLimits.StartTimeout);
        address = $"http://{host.AddressOf("grpc")}";
        return new ConformanceRig(host, dir, app.Services.GetRequiredService<FakeScheduler>(), receiver, address);
    }

    /// <summary>
    /// Starts instance <paramref name="index"/> of <paramref name="instances"/> of
    /// <paramref name="language"/>'s test operator, behaving as <paramref name="conformanceCase"/>,
    /// with <paramref name="delivery"/> in its spec. <paramref name="restoreFrom"/>: a checkpoint
    /// directory it restores at start (CONCORD_RESTORE_CHECKPOINT, as the scheduler launches a
    /// recovering instance); <paramref name="run"/> numbers the launches of one instance (each a
    /// new incarnation and working directory, as after a restart).
    /// </summary>
    public ExecutorProcess StartExecutor(string language, string conformanceCase, int index = 0, int instances = 1,
        DeliveryGuarantee delivery = DeliveryGuarantee.DeliveryUnspecified, string? restoreFrom = null, int run = 0)
    {
        var suffix = run == 0 ? "" : $"-r{run}";
        var workDir = Path.Combine(_dir, index.ToString(System.Globalization.CultureInfo.InvariantCulture) + suffix);
        Directory.CreateDirectory(workDir);
        var spec = new OperatorSpec
        {
            Name = OperatorName,
            Executable = Languages.TestOperator(language),
            Instances = instances,
            Delivery = delivery,
            Environment = { ["CONFORMANCE_CASE"] = conformanceCase },
        };
        var specFile = Path.Combine(workDir, "spec.json");
        File.WriteAllText(specFile, JsonFormatter.Default.Format(spec));
        var environment = restoreFrom is null ? null : new Dictionary<string, string> { [Executor.ExecutorOptions.RestoreCheckpointVariable] = restoreFrom };
        var executor = new ExecutorProcess(Address, specFile, OperatorName, index, $"inc-{index}{suffix}", workDir, environment);
        _executors.Add(executor);
        return executor;
    }

    /// <summary>
    /// Begins checkpoint <paramref name="checkpointId"/> as the scheduler's coordinator does:
    /// BeginCheckpoint on WatchCheckpoints, its directory under <see cref="CheckpointRoot"/>, its
    /// one input the harness's channel on "in" (<see cref="UpstreamSender.SenderName"/>). Returns
    /// the checkpoint directory once the executor's WatchCheckpoints call has taken the command.
    /// The barrier is the case's to send (<see cref="UpstreamSender.SendBarrierAsync"/>).
    /// </summary>
    public async Task<string> BeginCheckpointAsync(ExecutorProcess executor, ulong checkpointId)
    {
        var directory = CheckpointLayout.CheckpointDirectory(CheckpointRoot, checkpointId);
        await Scheduler.CheckpointCommands.Writer.WriteAsync(new CheckpointCommand
        {
            Begin = new BeginCheckpoint
            {
                CheckpointId = checkpointId,
                TriggerUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
                Directory = directory,
                Inputs = { new BarrierChannel { Stream = InputStream, Sender = UpstreamSender.SenderName } },
            },
        }).AsTask().WaitAsync(ConformanceLimits.StepTimeout);
        // Taken by the executor's watch (another process): polled, bounded.
        var deadline = Environment.TickCount64 + ConformanceLimits.StepTimeoutMs;
        while (Scheduler.CheckpointCommands.Reader.Count > 0)
        {
            if (Environment.TickCount64 > deadline)
            {
                throw new TimeoutException($"the executor did not take BeginCheckpoint {checkpointId} on WatchCheckpoints within {ConformanceLimits.StepTimeoutMs} ms; executor output:\n{executor.Output}");
            }
            await Task.Delay(ConformanceLimits.PollIntervalMs);
        }
        return directory;
    }

    /// <summary>
    /// Ends checkpoint <paramref name="checkpointId"/> as the coordinator does once its one
    /// participant acknowledged: waits (bounded) for the AcknowledgeCheckpoint and checks it names
    /// this instance and no error, writes <c>_metadata.json</c> (which makes the checkpoint
    /// complete), and sends CheckpointCompleted. Returns the acknowledgement.
    /// </summary>
    public async Task<AcknowledgeCheckpointRequest> CompleteCheckpointAsync(ExecutorProcess executor, RegisterExecutorRequest registration, ulong checkpointId)
    {
        AcknowledgeCheckpointRequest ack;
        try
        {
            (ack, _) = await Scheduler.Acknowledgements.Reader.ReadAsync().AsTask().WaitAsync(ConformanceLimits.StepTimeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"no AcknowledgeCheckpoint {checkpointId} within {ConformanceLimits.StepTimeoutMs} ms; executor output:\n{executor.Output}");
        }
        Assert.True(ack.Error.Length == 0, $"checkpoint {checkpointId} failed in the executor: {ack.Error}");
        Assert.Equal((checkpointId, OperatorName, registration.InstanceIndex, registration.Incarnation),
            (ack.CheckpointId, ack.OperatorName, ack.InstanceIndex, ack.Incarnation));
        var directory = CheckpointLayout.CheckpointDirectory(CheckpointRoot, checkpointId);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        CheckpointLayout.WriteMetadata(directory, new CheckpointMetadata(CheckpointLayout.ManifestVersion, checkpointId, Savepoint: false, "interval",
            now - ack.DurationMs, now, [new Hosting.Checkpoints.CheckpointParticipant(OperatorName, ack.InstanceIndex, ack.StateBytes, ack.WrittenBytes, ack.AlignmentMs, ack.DurationMs)]));
        await Scheduler.CheckpointCommands.Writer.WriteAsync(new CheckpointCommand { Completed = new CheckpointCompleted { CheckpointId = checkpointId } })
            .AsTask().WaitAsync(ConformanceLimits.StepTimeout);
        return ack;
    }

    /// <summary>Waits (bounded) for the next executor to register; remembers its operator pid for clean-up.</summary>
    public async Task<RegisterExecutorRequest> RegistrationAsync(ExecutorProcess executor)
    {
        RegisterExecutorRequest registration;
        try
        {
            registration = await Scheduler.Registrations.Reader.ReadAsync().AsTask().WaitAsync(ConformanceLimits.StartTimeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"no executor registered within {ConformanceLimits.StartTimeoutMs} ms; executor output:\n{executor.Output}");
        }
        lock (_operatorPids)
        {
            _operatorPids.Add(registration.OperatorPid);
        }
        return registration;
    }

    /// <summary>Waits (bounded) for the next ReportFailure.</summary>
    public async Task<ReportFailureRequest> FailureAsync(ExecutorProcess executor)
    {
        try
        {
            return await Scheduler.Failures.Reader.ReadAsync().AsTask().WaitAsync(ConformanceLimits.StepTimeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"no ReportFailure within {ConformanceLimits.StepTimeoutMs} ms; executor output:\n{executor.Output}");
        }
    }

    /// <summary>Waits (polling, bounded) until <paramref name="pid"/> is gone; false if it is still alive at the deadline.</summary>
    public static async Task<bool> GoneAsync(int pid)
    {
        var deadline = Environment.TickCount64 + ConformanceLimits.StepTimeoutMs;
        while (ExecutorProcess.IsAlive(pid))
        {
            if (Environment.TickCount64 > deadline)
            {
                return false;
            }
            await Task.Delay(ConformanceLimits.PollIntervalMs);
        }
        return true;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var executor in _executors)
        {
            executor.Dispose();
        }
        foreach (var pid in _operatorPids.Where(p => p > 0 && ExecutorProcess.IsAlive(p)))
        {
            try
            {
                System.Diagnostics.Process.GetProcessById(pid).Kill(entireProcessTree: true);
            }
            catch (ArgumentException)
            {
                // Gone already.
            }
        }
        await _host.DisposeAsync();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // A process that is still exiting may hold a file; the directory is in /tmp.
        }
    }

    /// <summary>The operator's outputs are read by one instance of "sink": the downstream receiver.</summary>
    private static RoutingTable Routing(string receiverAddress)
    {
        var table = new RoutingTable { Version = 1, KeyGroupCount = ProtocolLimits.KeyGroupCount };
        foreach (var stream in new[] { OutputA, OutputB })
        {
            table.Streams.Add(new StreamRoute
            {
                Stream = stream,
                Readers =
                {
                    new Reader
                    {
                        OperatorName = SinkName,
                        Grouping = Grouping.Shuffle,
                        Instances =
                        {
                            new ReaderInstance
                            {
                                Index = 0,
                                DataAddress = receiverAddress,
                                Incarnation = SinkIncarnation,
                                KeyGroupStart = 0,
                                KeyGroupEnd = ProtocolLimits.KeyGroupCount,
                            },
                        },
                    },
                },
            });
        }
        return table;
    }
}
