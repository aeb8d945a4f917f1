using Concord.Contracts.Scheduler.V1;
using Concord.Executor.Routing;
using Concord.Hosting;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;

namespace Concord.Executor.Scheduler;

/// <summary>
/// The executor's connection to the scheduler: RegisterExecutor, then WatchRouting kept open
/// (its being open is the liveness signal both ways). Reconnects with back-off; gives up with
/// a failure after <see cref="ExecutorLimits.SchedulerLostTimeoutMs"/> without the scheduler.
/// With several schedulers (a leader and standbys, docs/cluster.md "High availability") it
/// calls the one it last reached; after a failure it tries the leader a standby's refusal
/// named, else the next address of its list.
/// </summary>
public sealed class SchedulerLink : IDisposable
{
    private readonly Dictionary<string, (GrpcChannel Channel, Contracts.Scheduler.V1.Scheduler.SchedulerClient Client)> _channels = new(StringComparer.Ordinal);
    private readonly List<string> _addresses;
    private readonly Func<string, GrpcChannel> _open;
    private readonly Lock _lock = new();
    private string _current;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly TimeSpan _lostTimeout;

    private readonly Metadata _headers = [];
    private readonly HttpMessageHandler _handler;

    /// <summary>The scheduler this link calls now.</summary>
    public string Current
    {
        get
        {
            lock (_lock)
            {
                return _current;
            }
        }
    }

    private Contracts.Scheduler.V1.Scheduler.SchedulerClient Client
    {
        get
        {
            lock (_lock)
            {
                if (!_channels.TryGetValue(_current, out var open))
                {
                    var channel = _open(_current);
                    _channels[_current] = open = (channel, new Contracts.Scheduler.V1.Scheduler.SchedulerClient(channel));
                }
                return open.Client;
            }
        }
    }

    /// <summary>
    /// After a failed call to <paramref name="failed"/>: the leader a standby's refusal named, else
    /// the next scheduler of the list (one scheduler: the same again).
    /// </summary>
    private void MoveOn(string failed, RpcException e)
    {
        lock (_lock)
        {
            if (_current != failed)
            {
                return; // Another call moved on already.
            }
            if (LeaderRedirect.LeaderIn(e.Status.Detail) is { } leader && leader != failed)
            {
                _current = leader;
            }
            else if (_addresses.Count > 1)
            {
                _current = _addresses[(_addresses.IndexOf(failed) + 1) % _addresses.Count];
            }
        }
    }

    /// <param name="launchSecret">Sent on every call (docs/security.md); null sends none (the scheduler then refuses).</param>
    /// <param name="tls">Presents this certificate and checks the scheduler's against the CA (an https address); null: plain.</param>
    /// <param name="others">The other schedulers of the cluster (standbys), tried after <paramref name="address"/>.</param>
    public SchedulerLink(Uri address, ILogger logger, TimeProvider time, TimeSpan? lostTimeout = null, string? launchSecret = null, TlsCredentials? tls = null,
        IReadOnlyList<Uri>? others = null)
    {
        if (launchSecret is not null)
        {
            _headers.Add(Contracts.Credentials.LaunchSecretHeader, launchSecret);
        }
        var handler = new SocketsHttpHandler
        {
            // A scheduler that vanished without closing the stream is noticed by pings.
            KeepAlivePingDelay = TimeSpan.FromMilliseconds(ExecutorLimits.SchedulerKeepAlivePingMs),
            KeepAlivePingTimeout = TimeSpan.FromMilliseconds(ExecutorLimits.SchedulerKeepAlivePingMs),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
            ConnectTimeout = TimeSpan.FromMilliseconds(ExecutorLimits.SchedulerCallTimeoutMs),
        };
        var httpHandler = tls?.ConfigureClient(handler) ?? handler;
        _open = target => GrpcChannel.ForAddress(target, new GrpcChannelOptions
        {
            HttpHandler = httpHandler,
            // One handler for every scheduler's channel: disposed with the link, not with a channel.
            DisposeHttpClient = false,
            MaxReceiveMessageSize = Contracts.ProtocolLimits.GrpcMessageBytesMax,
        });
        _handler = httpHandler;
        _current = address.ToString().TrimEnd('/');
        _addresses = [_current, .. (others ?? []).Select(o => o.ToString().TrimEnd('/')).Where(o => o != _current).Distinct()];
        _logger = logger;
        _time = time;
        _lostTimeout = lostTimeout ?? TimeSpan.FromMilliseconds(ExecutorLimits.SchedulerLostTimeoutMs);
    }

    /// <summary>
    /// Registers and watches routing until cancelled, handing every table to
    /// <paramref name="onTable"/>. Throws <see cref="ExecutorFailureException"/> when the
    /// scheduler refuses this executor or stays unreachable for the lost timeout.
    /// </summary>
    public async Task RegisterAndWatchAsync(RegisterExecutorRequest registration, Func<RoutingTable, Task> onTable, CancellationToken cancellationToken)
    {
        var lostSince = _time.GetUtcNow();
        // Decorrelated jitter: the executors of a restarted scheduler do not all come back at once.
        var backoff = Backoff.FromMs(ExecutorLimits.SchedulerRetryBackoffInitialMs, ExecutorLimits.SchedulerRetryBackoffMsMax, BackoffJitter.Decorrelated);
        var watch = new WatchRoutingRequest
        {
            OperatorName = registration.OperatorName,
            InstanceIndex = registration.InstanceIndex,
            Incarnation = registration.Incarnation,
        };
        while (true)
        {
            var connected = false;
            var target = Current;
            try
            {
                // Registering again after every reconnect lets a restarted scheduler relearn us.
                await Client.RegisterExecutorAsync(registration, _headers,
                    deadline: DateTime.UtcNow.AddMilliseconds(ExecutorLimits.SchedulerCallTimeoutMs),
                    cancellationToken: cancellationToken).ConfigureAwait(false);
                SchedulerLog.Registered(_logger, registration.DataAddress);
                using var call = Client.WatchRouting(watch, _headers, cancellationToken: cancellationToken);
                while (await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
                {
                    // Connected only once a table arrives: a watch that breaks at once counts as lost time.
                    connected = true;
                    backoff.Reset();
                    try
                    {
                        await onTable(call.ResponseStream.Current).ConfigureAwait(false);
                    }
                    catch (RoutingTableException e)
                    {
                        RoutingLog.TableRefused(_logger, e.Message);
                    }
                }
                throw new RpcException(new Status(StatusCode.Unavailable, "the scheduler ended the WatchRouting stream"));
            }
            catch (RpcException e) when (IsTransient(e.StatusCode) && !cancellationToken.IsCancellationRequested)
            {
                MoveOn(target, e);
                var now = _time.GetUtcNow();
                if (connected)
                {
                    lostSince = now;
                }
                if (now - lostSince >= _lostTimeout)
                {
                    throw new ExecutorFailureException(
                        $"the scheduler has been unreachable for {(now - lostSince).TotalSeconds:0} s (ExecutorLimits.SchedulerLostTimeoutMs); exiting so no executor outlives its cluster. Last error: {e.Status.StatusCode}: {e.Status.Detail}");
                }
                var delay = backoff.Next();
                SchedulerLog.Unreachable(_logger, $"{e.Status.StatusCode}: {e.Status.Detail}", (int)delay.TotalMilliseconds);
                await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (RpcException e) when (!cancellationToken.IsCancellationRequested)
            {
                throw new ExecutorFailureException(
                    $"the scheduler refused executor {registration.OperatorName}/{registration.InstanceIndex} (incarnation {registration.Incarnation}): {e.Status.StatusCode}: {e.Status.Detail}");
            }
        }
    }

    /// <summary>
    /// Watches checkpoint commands until cancelled (docs/guarantees.md), handing each to
    /// <paramref name="onCommand"/>; reconnects with the same bounded back-off as the routing
    /// watch (whose being open is the liveness signal: this one never fails the executor). A
    /// scheduler that does not serve it (UNIMPLEMENTED) ends the watch, logged.
    /// </summary>
    public async Task WatchCheckpointsAsync(WatchCheckpointsRequest request, Func<CheckpointCommand, Task> onCommand, CancellationToken cancellationToken)
    {
        var backoff = Backoff.FromMs(ExecutorLimits.SchedulerRetryBackoffInitialMs, ExecutorLimits.SchedulerRetryBackoffMsMax, BackoffJitter.Decorrelated);
        while (!cancellationToken.IsCancellationRequested)
        {
            var target = Current;
            try
            {
                using var call = Client.WatchCheckpoints(request, _headers, cancellationToken: cancellationToken);
                while (await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
                {
                    backoff.Reset();
                    await onCommand(call.ResponseStream.Current).ConfigureAwait(false);
                }
                throw new RpcException(new Status(StatusCode.Unavailable, "the scheduler ended the WatchCheckpoints stream"));
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Unimplemented)
            {
                Checkpoints.CheckpointLog.WatchUnsupported(_logger, e.Status.Detail);
                return;
            }
            catch (RpcException e) when (!cancellationToken.IsCancellationRequested)
            {
                MoveOn(target, e);
                var delay = backoff.Next();
                Checkpoints.CheckpointLog.WatchRetry(_logger, $"{e.Status.StatusCode}: {e.Status.Detail}", (int)delay.TotalMilliseconds);
                await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Sends one acknowledgement, bounded by <see cref="ExecutorLimits.CheckpointAcknowledgeTimeoutMs"/>; throws on failure.</summary>
    public async Task AcknowledgeCheckpointAsync(AcknowledgeCheckpointRequest request, CancellationToken cancellationToken) =>
        await Client.AcknowledgeCheckpointAsync(request, _headers,
            deadline: DateTime.UtcNow.AddMilliseconds(ExecutorLimits.CheckpointAcknowledgeTimeoutMs),
            cancellationToken: cancellationToken).ConfigureAwait(false);

    /// <summary>Best effort, bounded by <see cref="ExecutorLimits.ReportFailureTimeoutMs"/>: tells the scheduler why this executor exits.</summary>
    public async Task ReportFailureAsync(ReportFailureRequest request)
    {
        try
        {
            await Client.ReportFailureAsync(request, _headers,
                deadline: DateTime.UtcNow.AddMilliseconds(ExecutorLimits.ReportFailureTimeoutMs)).ConfigureAwait(false);
        }
        catch (RpcException e)
        {
            SchedulerLog.ReportFailureFailed(_logger, $"{e.Status.StatusCode}: {e.Status.Detail}");
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var (channel, _) in _channels.Values)
            {
                channel.Dispose();
            }
            _channels.Clear();
        }
        _handler.Dispose();
    }

    private static bool IsTransient(StatusCode code) => code is StatusCode.Unavailable or StatusCode.DeadlineExceeded
        or StatusCode.Unknown or StatusCode.Internal or StatusCode.ResourceExhausted or StatusCode.Aborted or StatusCode.Cancelled;
}

/// <summary>Log events of the scheduler link (event ids 400–499).</summary>
internal static partial class SchedulerLog
{
    [LoggerMessage(400, LogLevel.Information, "Registered with the scheduler; data plane at {DataAddress}", EventName = "Registered")]
    public static partial void Registered(ILogger logger, string dataAddress);

    [LoggerMessage(401, LogLevel.Warning, "Scheduler unreachable ({Reason}); retrying in {BackoffMs} ms", EventName = "SchedulerUnreachable")]
    public static partial void Unreachable(ILogger logger, string reason, int backoffMs);

    [LoggerMessage(402, LogLevel.Warning, "ReportFailure did not reach the scheduler: {Reason}", EventName = "ReportFailureFailed")]
    public static partial void ReportFailureFailed(ILogger logger, string reason);
}
