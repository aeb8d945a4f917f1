using Concord.Contracts;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Scheduler.V1;
using Concord.Executor.Builtins;
using Concord.Executor.DataPlane;
using Concord.Executor.DataPlane.Internal;
using Concord.Executor.Routing;
using Concord.Executor.Scheduler;
using Concord.Executor.Session;
using Concord.Executor.State;
using Concord.Executor.Timers;
using Microsoft.Extensions.Logging;

namespace Concord.Executor;

/// <summary>
/// One executor run, start to exit code: operator session, metadata check, data plane,
/// registration and routing, the pump; then either a drain on SIGTERM (exit 0) or a failure
/// (ReportFailure, exit 1). The operator process is killed on every way out.
/// </summary>
public static class ExecutorHost
{
    public const int ExitOk = 0;
    public const int ExitFailure = 1;
    public const int ExitConfig = 2;

    public static async Task<int> RunAsync(ExecutorOptions options, ILoggerFactory loggerFactory, TimeProvider time, CancellationToken stopRequested)
    {
        var logger = loggerFactory.CreateLogger("Concord.Executor");
        using var scheduler = new SchedulerLink(options.SchedulerAddress, loggerFactory.CreateLogger<SchedulerLink>(), time, launchSecret: options.LaunchSecret, tls: options.Tls,
            others: options.OtherSchedulers);
        using var clients = new DataPlaneClients(options.DataPlaneKey, options.Tls);
        using var runStop = new CancellationTokenSource();
        using var sendStop = CancellationTokenSource.CreateLinkedTokenSource(runStop.Token);
        IOperatorSession? session = null;
        ExecutorServer? server = null;
        var metrics = new Metrics.ExecutorMetrics(options);
        using var otlp = Tracing.OtlpExport.For(options);
        Router? router = null;
        // Keyed state and durable timers of this instance's key groups (docs/guarantees.md).
        using var stateBackend = new MemoryStateBackend(ProtocolLimits.KeyGroupCount,
            KeyGroups.RangeOf(options.InstanceIndex, Math.Max(1, options.Spec.Instances)), options.StateMemoryBytes);
        try
        {
            session = options.Spec.Builtin is not null
                ? BuiltinOperators.Create(options.Spec, options.WorkDir, options.InstanceIndex, time, metrics, loggerFactory, options.ConcordHome)
                : options.OperatorAttachSocket is { } attach
                    ? GrpcOperatorSession.Attach(attach, TimeSpan.FromMilliseconds(options.OperatorAttachTimeoutMs), loggerFactory.CreateLogger("Concord.Operator"), time)
                    : GrpcOperatorSession.ForProcess(options.Spec, options.WorkDir, loggerFactory.CreateLogger("Concord.Operator"), time, options.SearchPath);
            var init = new Init
            {
                ProtocolVersion = ProtocolLimits.ProtocolVersion,
                Capabilities = { Capabilities.All },
                RequiredCapabilities = { MetadataValidator.RequiredCapabilities },
                OperatorName = options.OperatorName,
                InstanceIndex = options.InstanceIndex,
                InstanceCount = Math.Max(1, options.Spec.Instances),
                MaxBatchesInFlight = ExecutorLimits.BatchesInFlightMax,
                MaxRecordBytes = ProtocolLimits.RecordBytesMax,
                MaxStateValueBytes = ExecutorLimits.OperatorStateValueBytesMax,
            };
            var metadata = await session.StartAsync(init, stopRequested).ConfigureAwait(false);
            MetadataValidator.Validate(options.Spec, metadata);

            var inbound = new InboundQueue();
            var identity = new DataPlaneIdentity(options.OperatorName, options.InstanceIndex, options.Incarnation,
                metadata.Metadata_.Inputs.Select(i => i.Name).ToHashSet(StringComparer.Ordinal), options.DataPlaneKey);
            var tracing = new Tracing.ExecutorTracing(options.OperatorName, options.InstanceIndex, options.TraceSampleEvery,
                isSource: identity.InputStreams.Count == 0, metrics, export: otlp);
            server = await ExecutorServer.StartAsync(identity, inbound, metrics, tracing, loggerFactory, stopRequested, options.Tls,
                options.ListenAddress, options.AdvertisedHost).ConfigureAwait(false);

            var outboundLogger = loggerFactory.CreateLogger<OutboundChannel>();
            router = new Router(session.Outputs,
                (stream, reader, index) => new OutboundChannel(stream, reader, index, options.InstanceName, clients, outboundLogger, time, metrics, tracing,
                    dropUnavailableAfter: ReaderAvailability.DropAfterFor(options.Spec)),
                loggerFactory.CreateLogger<Router>(), time, metrics);
            var timers = new TimerQueue(backend: stateBackend);
            var pump = new BatchPump(session, inbound, router, timers, time, metrics, tracing,
                new BatchPumpOptions { BatchAnswerTimeout = TimeSpan.FromMilliseconds(options.BatchAnswerTimeoutMs) },
                KeyedStateSession.For(metadata.Metadata_, stateBackend));
            if (session is BuiltinSession builtin)
            {
                builtin.WakeTimer = pump.FireTimerNow;
            }
            metrics.Observe(inbound, router, pump, session.OperatorPid);
            // Event time (docs/guarantees.md): a source makes watermarks, a reader forwards its input's.
            var eventTime = new Watermarks(time, isSource: identity.InputStreams.Count == 0, Watermarks.OutOfOrdernessFor(options.Spec)) { Forward = router.SendWatermark };
            pump.EventTime = eventTime;
            _ = eventTime.RunSourceAsync(runStop.Token);
            // Before registering: no upstream can address this launch before it is registered, so
            // the alignment is in front of the pump before the first record or barrier.
            var checkpoints = StartCheckpoints(options, session, inbound, router, pump, scheduler, metrics, loggerFactory, time,
                backend: stateBackend, restoreTimers: timers.RestoreFrom,
                declaredStates: metadata.Metadata_.States.Select(s => s.Name).ToList());

            var answers = pump.RunAnswerLoopAsync(runStop.Token);
            var sends = pump.RunSendLoopAsync(sendStop.Token, runStop.Token);
            var liveness = pump.RunLivenessAsync(sendStop.Token);
            var registration = new RegisterExecutorRequest
            {
                OperatorName = options.OperatorName,
                InstanceIndex = options.InstanceIndex,
                Incarnation = options.Incarnation,
                DataAddress = server.Address,
                MetricsAddress = server.MetricsAddress,
                Metadata = metadata.Metadata_,
                OperatorPid = session.OperatorPid,
                RestoredCheckpointId = checkpoints.RestoredCheckpointId,
            };
            var watch = scheduler.RegisterAndWatchAsync(registration, router.ApplyAsync, runStop.Token);
            if (checkpoints.Participant is { } participant)
            {
                // Not among the tasks that end the executor: without it checkpoints time out and abort.
                _ = scheduler.WatchCheckpointsAsync(new WatchCheckpointsRequest
                {
                    OperatorName = options.OperatorName,
                    InstanceIndex = options.InstanceIndex,
                    Incarnation = options.Incarnation,
                }, participant.HandleAsync, runStop.Token);
            }
            var stop = Task.Delay(Timeout.Infinite, stopRequested);
            ExecutorLog.Running(logger, server.Address, session.OperatorPid);

            var first = await Task.WhenAny(answers, sends, watch, session.Exited, stop, liveness).ConfigureAwait(false);
            if (first == stop)
            {
                await DrainAsync(session, pump, router, answers, sends, sendStop, logger, time).ConfigureAwait(false);
                ExecutorLog.Stopped(logger);
                return ExitOk;
            }
            if (options.OperatorAttachSocket is not null && (first == session.Exited || first == answers || first == sends)
                && await StopFollowsAsync(stop, time, logger).ConfigureAwait(false))
            {
                // Attach mode in a pod being stopped: Kubernetes signalled the operator container
                // first, and this sidecar once it had exited (docs/kubernetes.md, "Stop order").
                ExecutorLog.AttachedOperatorEndedForStop(logger);
                await DrainAfterOperatorAsync(router, answers, sendStop, time).ConfigureAwait(false);
                ExecutorLog.Stopped(logger);
                return ExitOk;
            }
            // Whatever ended first ended the executor; a task that ended without an exception
            // ended too early, which is a failure as well.
            await first.ConfigureAwait(false);
            throw new ExecutorFailureException(first == watch
                ? "the scheduler link ended unexpectedly"
                : "the operator session ended without being asked to shut down");
        }
        catch (OperationCanceledException) when (stopRequested.IsCancellationRequested)
        {
            // SIGTERM before the session was up: nothing to drain.
            ExecutorLog.Stopped(logger);
            return ExitOk;
        }
        catch (ExecutorFailureException e)
        {
            return await FailAsync(options, scheduler, logger, e.Message, null, session).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            return await FailAsync(options, scheduler, logger, $"executor error: {e.GetType().Name}: {e.Message}", e, session).ConfigureAwait(false);
        }
        finally
        {
            session?.Kill();
            await runStop.CancelAsync().ConfigureAwait(false);
            if (router is not null)
            {
                await router.DisposeAsync().ConfigureAwait(false);
            }
            if (server is not null)
            {
                await server.DisposeAsync().ConfigureAwait(false);
            }
            if (session is not null)
            {
                await session.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Checkpoints of an operator with a guarantee (docs/guarantees.md): the alignment in front of
    /// the pump and the participant the pump calls; and, with <see cref="ExecutorOptions.RestoreCheckpoint"/>,
    /// the restore, before the pump's first batch. <paramref name="backend"/>: the instance's keyed
    /// state (null without one); <paramref name="restoreTimers"/> rebuilds the timer queue from it;
    /// <paramref name="declaredStates"/>: the operator's declared state names, which must cover the checkpoint's.
    /// </summary>
    private static (Checkpoints.CheckpointParticipant? Participant, ulong RestoredCheckpointId) StartCheckpoints(ExecutorOptions options,
        IOperatorSession session, InboundQueue inbound, Router router, BatchPump pump, SchedulerLink scheduler, Metrics.ExecutorMetrics metrics,
        ILoggerFactory loggerFactory, TimeProvider time, State.IKeyedStateBackend? backend, Action<State.IKeyedStateBackend>? restoreTimers,
        IReadOnlyCollection<string>? declaredStates)
    {
        var checkpointMetrics = new Checkpoints.CheckpointMetrics(metrics);
        var checkpointed = session as Checkpoints.ICheckpointedOperator;
        var logger = loggerFactory.CreateLogger<Checkpoints.CheckpointParticipant>();
        ulong restored = 0;
        if (options.RestoreCheckpoint is { } directory)
        {
            restored = Checkpoints.RestoreAtStart.Restore(directory, options.OperatorName, backend, checkpointed, restoreTimers,
                declaredStates, logger);
            checkpointMetrics.RestoredCheckpointId.Set(restored);
        }
        if (!Checkpoints.CheckpointParticipant.TakesPart(options.Spec.Delivery))
        {
            return (null, restored);
        }
        var participant = new Checkpoints.CheckpointParticipant(new Checkpoints.CheckpointParticipantOptions(
            options.OperatorName, options.InstanceIndex, options.Incarnation, options.Spec.Delivery,
            backend, checkpointed, router, scheduler.AcknowledgeCheckpointAsync), checkpointMetrics, logger, time);
        participant.Attach(inbound);
        pump.Checkpoints = participant;
        return (participant, restored);
    }

    private static async Task DrainAsync(IOperatorSession session, BatchPump pump, Router router, Task answers, Task sends,
        CancellationTokenSource sendStop, ILogger logger, TimeProvider time)
    {
        ExecutorLog.Draining(logger, pump.InFlight);
        await sendStop.CancelAsync().ConfigureAwait(false);
        using var deadline = new CancellationTokenSource(TimeSpan.FromMilliseconds(ExecutorLimits.ShutdownTimeoutMs), time);
        // A batch being written finishes first, so Shutdown follows it on the same stream.
        await ((Task)Task.WhenAny(sends, Task.Delay(Timeout.Infinite, deadline.Token))).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await session.SendShutdownAsync("the executor was asked to stop (SIGTERM)", deadline.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        // Answers still in flight are routed while the operator finishes destroy() and exits.
        var finished = Task.WhenAll(answers, session.Exited);
        await ((Task)Task.WhenAny(finished, Task.Delay(Timeout.Infinite, deadline.Token))).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (!finished.IsCompleted)
        {
            // SIGTERM to the operator's process group, OperatorStopGraceMs, then SIGKILL.
            SessionLog.OperatorKilled(logger, ExecutorLimits.ShutdownTimeoutMs);
            session.Kill();
        }
        else if (finished.IsFaulted)
        {
            ExecutorLog.DrainProblem(logger, finished.Exception?.InnerException?.Message ?? "unknown");
        }

        using var drain = new CancellationTokenSource(TimeSpan.FromMilliseconds(ExecutorLimits.OutboundDrainTimeoutMs), time);
        await router.DrainAsync(drain.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    /// <summary>
    /// Attach mode: whether the executor's own SIGTERM (<paramref name="stop"/>) comes within
    /// <see cref="ExecutorLimits.AttachedOperatorStopWaitMs"/> of the operator's end.
    /// </summary>
    private static async Task<bool> StopFollowsAsync(Task stop, TimeProvider time, ILogger logger)
    {
        ExecutorLog.AttachedOperatorEnded(logger, ExecutorLimits.AttachedOperatorStopWaitMs);
        using var wait = new CancellationTokenSource();
        await Task.WhenAny(stop, Task.Delay(TimeSpan.FromMilliseconds(ExecutorLimits.AttachedOperatorStopWaitMs), time, wait.Token)).ConfigureAwait(false);
        await wait.CancelAsync().ConfigureAwait(false);
        return stop.IsCompleted;
    }

    /// <summary>
    /// The drain when the operator is already gone (attach mode, pod stopping): no Shutdown to
    /// send; answers received before its end are routed, then the outbound queues get
    /// <see cref="ExecutorLimits.OutboundDrainTimeoutMs"/> to leave.
    /// </summary>
    private static async Task DrainAfterOperatorAsync(Router router, Task answers, CancellationTokenSource sendStop, TimeProvider time)
    {
        await sendStop.CancelAsync().ConfigureAwait(false);
        using var drain = new CancellationTokenSource(TimeSpan.FromMilliseconds(ExecutorLimits.OutboundDrainTimeoutMs), time);
        await ((Task)Task.WhenAny(answers, Task.Delay(Timeout.Infinite, drain.Token))).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await router.DrainAsync(drain.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private static async Task<int> FailAsync(ExecutorOptions options, SchedulerLink scheduler, ILogger logger, string message, Exception? exception,
        IOperatorSession? session)
    {
        ExecutorLog.Failed(logger, message, exception);
        await scheduler.ReportFailureAsync(new ReportFailureRequest
        {
            OperatorName = options.OperatorName,
            InstanceIndex = options.InstanceIndex,
            Incarnation = options.Incarnation,
            Message = message,
            // An operator killed from outside is not failing on its own (docs/operations.md).
            OperatorSignal = session is null ? 0 : await session.SignalFromOutsideAsync().ConfigureAwait(false),
        }).ConfigureAwait(false);
        return ExitFailure;
    }
}

/// <summary>Log events of the executor's lifecycle (event ids 1–99).</summary>
internal static partial class ExecutorLog
{
    [LoggerMessage(1, LogLevel.Information, "Executor running: data plane {DataAddress}, operator pid {Pid}", EventName = "Running")]
    public static partial void Running(ILogger logger, string dataAddress, int pid);

    [LoggerMessage(2, LogLevel.Information, "Draining: stopping the pump ({InFlight} batches in flight) and sending Shutdown", EventName = "Draining")]
    public static partial void Draining(ILogger logger, int inFlight);

    [LoggerMessage(3, LogLevel.Information, "Executor stopped", EventName = "Stopped")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(4, LogLevel.Error, "Executor failed: {Reason}", EventName = "Failed")]
    public static partial void Failed(ILogger logger, string reason, Exception? exception);

    [LoggerMessage(6, LogLevel.Information, "The attached operator ended its session; waiting up to {WaitMs} ms for SIGTERM (a pod being stopped signals its operator first), else that end is a failure", EventName = "AttachedOperatorEnded")]
    public static partial void AttachedOperatorEnded(ILogger logger, int waitMs);

    [LoggerMessage(7, LogLevel.Information, "SIGTERM followed the attached operator's end: its pod is stopping; draining the outbound queues", EventName = "AttachedOperatorEndedForStop")]
    public static partial void AttachedOperatorEndedForStop(ILogger logger);

    [LoggerMessage(5, LogLevel.Warning, "Operator ended with a problem while draining: {Problem}", EventName = "DrainProblem")]
    public static partial void DrainProblem(ILogger logger, string problem);
}
