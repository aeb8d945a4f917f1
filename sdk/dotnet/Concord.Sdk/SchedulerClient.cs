using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;

namespace Concord.Sdk;

/// <summary>
/// The scheduler's user-facing gRPC API: changes and reads the topology, reads logs, instance
/// metrics, traces and stream tails, lists checkpoints and takes savepoints. Every call has the
/// deadline <see cref="SdkLimits.SchedulerCallTimeoutMs"/> (calls that wait for processes or a
/// checkpoint the longer ones in <see cref="SdkLimits"/>); failures surface as
/// <see cref="SchedulerException"/> carrying the gRPC status and the scheduler's message.
/// Given several addresses (a leader and its standbys), a call goes to the first, follows a
/// standby's refusal to the leader it names, and passes over an unreachable one.
/// </summary>
public sealed partial class SchedulerClient : IDisposable
{
    // StandbyPrefix and LeaderMarker copy Concord.Hosting.LeaderRedirect's: the SDK ships without
    // the hosting library, and the wording is part of the scheduler's API (docs/cluster.md).

    /// <summary>How every refusal of a standby scheduler begins (docs/cluster.md).</summary>
    public const string StandbyPrefix = "this scheduler is a standby";

    /// <summary>What precedes the leader's address in a standby's refusal.</summary>
    public const string LeaderMarker = "the leader is ";

    private readonly Dictionary<string, (GrpcChannel? Channel, Scheduler.SchedulerClient Client)> _clients = new(StringComparer.Ordinal);
    private readonly string? _bearer;
    private readonly Lock _lock = new();
    private string _address;

    /// <param name="address">
    /// "http://127.0.0.1:7400" or "127.0.0.1:7400" (http is assumed), or several comma-separated
    /// (a leader and its standbys).
    /// </param>
    /// <param name="token">
    /// The scheduler's operator token (docs/security.md); null: $CONCORD_TOKEN, else the token
    /// file of the scheduler home ($CONCORD_HOME, else ~/.concord), else none.
    /// </param>
    public SchedulerClient(string address, string? token = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(address);
        Addresses = address.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(a => Normalize(a, address)).ToList();
        if (Addresses.Count == 0)
        {
            throw new ArgumentException(
                $"'{address}' is not a scheduler address; expected host:port or http://host:port, e.g. 127.0.0.1:7400", nameof(address));
        }
        _address = Addresses[0];
        _bearer = token ?? DefaultToken();
    }

    private static string Normalize(string one, string given)
    {
        var address = (one.Contains("://", StringComparison.Ordinal) ? one : $"http://{one}").TrimEnd('/');
        if (!Uri.TryCreate(address, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException(
                $"'{given}' is not a scheduler address; expected host:port or http://host:port, e.g. 127.0.0.1:7400", nameof(address));
        }
        return address;
    }

    /// <summary>Every scheduler given, in the order tried.</summary>
    public IReadOnlyList<string> Addresses { get; }

    /// <summary>The scheduler calls go to now: the first given, or the leader found since.</summary>
    public string Address
    {
        get
        {
            lock (_lock)
            {
                return _address;
            }
        }
    }

    /// <summary>The token a client uses when given none: $CONCORD_TOKEN, else &lt;home&gt;/token; null when neither exists.</summary>
    public static string? DefaultToken()
    {
        if (Environment.GetEnvironmentVariable(Credentials.TokenVariable) is { } fromEnvironment && !string.IsNullOrWhiteSpace(fromEnvironment))
        {
            return fromEnvironment.Trim();
        }
        var home = Environment.GetEnvironmentVariable("CONCORD_HOME") is { Length: > 0 } configured
            ? configured
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".concord");
        try
        {
            return File.ReadAllText(Path.Combine(home, Credentials.TokenFileName)).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Uses an existing call invoker (tests, custom channels); the caller owns it.</summary>
    public SchedulerClient(CallInvoker callInvoker, string address = "(custom channel)")
    {
        _address = address;
        Addresses = [address];
        _clients[address] = (null, new Scheduler.SchedulerClient(callInvoker));
    }

    private Scheduler.SchedulerClient ClientOf(string address)
    {
        lock (_lock)
        {
            if (_clients.TryGetValue(address, out var open))
            {
                return open.Client;
            }
            var channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions
            {
                MaxReceiveMessageSize = ProtocolLimits.GrpcMessageBytesMax,
                MaxSendMessageSize = ProtocolLimits.GrpcMessageBytesMax,
            });
            var bearer = _bearer;
            var client = bearer is null
                ? new Scheduler.SchedulerClient(channel)
                : new Scheduler.SchedulerClient(channel.Intercept(metadata =>
                {
                    metadata.Add(Credentials.AuthorizationHeader, Credentials.BearerPrefix + bearer);
                    return metadata;
                }));
            _clients[address] = (channel, client);
            return client;
        }
    }

    /// <summary>Deploys a new operator; ALREADY_EXISTS if the name is deployed.</summary>
    public async Task<OperatorStatus> DeployAsync(OperatorSpec spec, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var response = await CallAsync((c, o) => c.DeployAsync(new DeployRequest { Spec = spec }, o), cancellationToken);
        return response.Operator;
    }

    /// <summary>
    /// Replaces a deployed operator by a new version of the same name: a rolling replace (new
    /// instances beside the old, routing switched, old ones drained; rolled back on failure).
    /// An operator with a delivery guarantee is replaced by a restart of every operator with a
    /// guarantee from a fresh checkpoint, this one as the new version keeping its state (rolled
    /// back, FAILED_PRECONDITION, when the new version does not declare the checkpoint's state
    /// names); with <paramref name="dropState"/> from the last completed checkpoint with empty
    /// state for it. Either way the response says <see cref="ReplaceResponse.Restarted"/> (docs/live-changes.md).
    /// </summary>
    /// <param name="runningTimeout">
    /// How long the new instances may take to run, at most (and by default)
    /// <see cref="SdkLimits.ReplaceRunningTimeoutMsMax"/>, as <c>concord deploy --replace --timeout</c>.
    /// </param>
    public Task<ReplaceResponse> ReplaceAsync(OperatorSpec spec, bool dropState = false, TimeSpan? runningTimeout = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var runningMs = runningTimeout is { } given ? (long)given.TotalMilliseconds : SdkLimits.ReplaceRunningTimeoutMsMax;
        if (runningMs is < 1 or > SdkLimits.ReplaceRunningTimeoutMsMax)
        {
            throw new ArgumentOutOfRangeException(nameof(runningTimeout), runningTimeout,
                $"use 1 ms..{SdkLimits.ReplaceRunningTimeoutMsMax} ms (SdkLimits.ReplaceRunningTimeoutMsMax, the scheduler's bound)");
        }
        var request = new ReplaceRequest { Spec = spec, DropState = dropState, RunningTimeoutMs = (int)runningMs };
        return CallAsync((c, o) => c.ReplaceAsync(request, o), cancellationToken, SdkLimits.ReplaceCallTimeoutMs);
    }

    /// <summary>Stops every instance of an operator and removes it; NOT_FOUND if it is not deployed.</summary>
    public Task KillAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        return CallAsync((c, o) => c.KillAsync(new KillRequest { Name = name }, o), cancellationToken);
    }

    /// <summary>
    /// Changes an operator's number of instances. An operator with a delivery guarantee moves its
    /// state through a checkpoint, hence the deadline <see cref="SdkLimits.CheckpointCallTimeoutMs"/>.
    /// </summary>
    public async Task<OperatorStatus> ScaleAsync(string name, int instances, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var response = await CallAsync(
            (c, o) => c.ScaleAsync(new ScaleRequest { Name = name, Instances = instances }, o), cancellationToken,
            SdkLimits.CheckpointCallTimeoutMs);
        return response.Operator;
    }

    /// <summary>
    /// Every deployed operator, ordered by name, with the leading scheduler's address
    /// (<see cref="OperatorList.Leader"/>) and whether a standby answered (<see cref="OperatorList.FromStandby"/>).
    /// </summary>
    public async Task<OperatorList> ListAsync(CancellationToken cancellationToken = default)
    {
        var response = await CallAsync((c, o) => c.ListAsync(new ListRequest(), o), cancellationToken);
        return new OperatorList(response.Operators, response.Leader, response.FromStandby);
    }

    /// <summary>Operators and the stream edges between them.</summary>
    public Task<GraphResponse> GraphAsync(CancellationToken cancellationToken = default) =>
        CallAsync((c, o) => c.GraphAsync(new GraphRequest(), o), cancellationToken);

    /// <summary>
    /// Lines of the executor.log of an operator's instances (the executor's events and the
    /// operator's stdout/stderr), oldest first. Without <paramref name="follow"/> the call has the
    /// usual deadline; with it, new lines keep coming until <paramref name="cancellationToken"/>
    /// is cancelled (the enumeration then ends without an exception). NOT_FOUND for an operator
    /// that is not deployed.
    /// </summary>
    /// <param name="instances">Instance indexes to read; null or empty: every instance.</param>
    /// <param name="tailLines">Lines of history per instance, 0..<see cref="SdkLimits.LogTailLinesMax"/>; 0: none (only new lines, with follow), as <c>concord logs --tail</c>.</param>
    public async IAsyncEnumerable<LogLine> GetLogsAsync(string name, IEnumerable<int>? instances = null,
        int tailLines = SdkLimits.LogTailLinesDefault, bool follow = false,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (tailLines is < 0 or > SdkLimits.LogTailLinesMax)
        {
            throw new ArgumentOutOfRangeException(nameof(tailLines), tailLines, $"use 0..{SdkLimits.LogTailLinesMax} (SdkLimits.LogTailLinesMax)");
        }
        var request = new GetLogsRequest { OperatorName = name, Follow = follow, TailLines = tailLines == 0 ? -1 : tailLines };
        request.InstanceIndexes.AddRange(instances ?? []);
        var tried = new HashSet<string>(StringComparer.Ordinal);
        for (var attempt = 1; ; attempt++)
        {
            var address = Address;
            var options = new CallOptions(
                deadline: follow ? null : DateTime.UtcNow.AddMilliseconds(SdkLimits.SchedulerCallTimeoutMs),
                cancellationToken: cancellationToken);
            using var call = ClientOf(address).GetLogs(request, options);
            var received = false;
            while (true)
            {
                bool more;
                try
                {
                    more = await call.ResponseStream.MoveNext(cancellationToken);
                }
                catch (Exception e) when (follow && cancellationToken.IsCancellationRequested && e is RpcException or OperationCanceledException)
                {
                    // A followed log ends when the caller cancels: that is its normal end.
                    more = false;
                }
                catch (RpcException e) when (!received && Movable(e, address, attempt, tried, cancellationToken))
                {
                    break;
                }
                catch (RpcException e)
                {
                    throw new SchedulerException(e.StatusCode, Describe(e, address, SdkLimits.SchedulerCallTimeoutMs), e);
                }
                if (!more)
                {
                    yield break;
                }
                received = true;
                yield return call.ResponseStream.Current;
            }
        }
    }

    /// <summary>
    /// Current figures of every running instance (of <paramref name="operatorName"/> only, if
    /// given), ordered by operator then index. Counters are totals since each executor started:
    /// compute rates from two calls.
    /// </summary>
    public async Task<IReadOnlyList<InstanceMetrics>> GetInstanceMetricsAsync(string? operatorName = null, CancellationToken cancellationToken = default)
    {
        var response = await CallAsync(
            (c, o) => c.GetInstanceMetricsAsync(new GetInstanceMetricsRequest { OperatorName = operatorName ?? "" }, o), cancellationToken);
        return response.Instances;
    }

    /// <summary>
    /// Recent sampled traces, newest first; <paramref name="limit"/> 1..<see cref="SdkLimits.TraceListMax"/>.
    /// Sources sample one record in CONCORD_TRACE_SAMPLE_EVERY (docs/observability.md).
    /// </summary>
    public async Task<IReadOnlyList<TraceSummary>> ListTracesAsync(int limit = SdkLimits.TraceListDefault, CancellationToken cancellationToken = default)
    {
        if (limit is < 1 or > SdkLimits.TraceListMax)
        {
            throw new ArgumentOutOfRangeException(nameof(limit), limit, $"use 1..{SdkLimits.TraceListMax} (SdkLimits.TraceListMax)");
        }
        var response = await CallAsync((c, o) => c.ListTracesAsync(new ListTracesRequest { Limit = limit }, o), cancellationToken);
        return response.Traces;
    }

    /// <summary>Every span of one trace (32 hex digits, as <see cref="ListTracesAsync"/> gives them), by start time; NOT_FOUND when no executor holds it.</summary>
    public async Task<IReadOnlyList<Span>> GetTraceAsync(string traceId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(traceId);
        var id = traceId.Trim();
        if (!TraceIdPattern().IsMatch(id))
        {
            throw new ArgumentException($"'{traceId}' is not a trace id (32 hex digits); ListTracesAsync gives recent ones", nameof(traceId));
        }
        var response = await CallAsync(
            (c, o) => c.GetTraceAsync(new GetTraceRequest { TraceId = id.ToLowerInvariant() }, o), cancellationToken);
        return response.Spans;
    }

    /// <summary>
    /// The last records produced on <paramref name="stream"/>, each instance's oldest first;
    /// <paramref name="recordsMax"/> 1..<see cref="SdkLimits.TailRecordsMax"/>. Executors start
    /// keeping a stream's records when a tail asks for it, so a first call may be empty: poll.
    /// Deploys nothing; NOT_FOUND (naming the streams there are) for a stream no deployed operator writes.
    /// </summary>
    public async Task<IReadOnlyList<TailRecord>> TailStreamAsync(string stream, int recordsMax = SdkLimits.TailRecordsDefault,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(stream);
        if (recordsMax is < 1 or > SdkLimits.TailRecordsMax)
        {
            throw new ArgumentOutOfRangeException(nameof(recordsMax), recordsMax, $"use 1..{SdkLimits.TailRecordsMax} (SdkLimits.TailRecordsMax)");
        }
        var response = await CallAsync(
            (c, o) => c.TailStreamAsync(new TailStreamRequest { Stream = stream, RecordsMax = recordsMax }, o), cancellationToken);
        return response.Records;
    }

    /// <summary>Retained checkpoints and savepoints, newest first (the one in progress first), and the one a restore would use (<see cref="ListCheckpointsResponse.LatestCompletedId"/>).</summary>
    public Task<ListCheckpointsResponse> ListCheckpointsAsync(CancellationToken cancellationToken = default) =>
        CallAsync((c, o) => c.ListCheckpointsAsync(new ListCheckpointsRequest(), o), cancellationToken);

    /// <summary>
    /// Takes a savepoint now (a checkpoint kept until deleted by hand) and returns it once
    /// completed; FAILED_PRECONDITION naming why it could not. Deadline <see cref="SdkLimits.CheckpointCallTimeoutMs"/>.
    /// </summary>
    public async Task<CheckpointInfo> TriggerSavepointAsync(CancellationToken cancellationToken = default)
    {
        var response = await CallAsync((c, o) => c.TriggerSavepointAsync(new TriggerSavepointRequest(), o), cancellationToken,
            SdkLimits.CheckpointCallTimeoutMs);
        return response.Savepoint;
    }

    /// <summary>The leader's http(s) address a standby named in <paramref name="detail"/>, or null.</summary>
    public static string? LeaderIn(string? detail)
    {
        var at = detail?.IndexOf(LeaderMarker, StringComparison.Ordinal) ?? -1;
        if (at < 0)
        {
            return null;
        }
        var rest = detail![(at + LeaderMarker.Length)..];
        var end = rest.IndexOfAny([' ', ';', ',', ')', '\n']);
        var address = (end < 0 ? rest : rest[..end]).TrimEnd('.', '/');
        return Uri.TryCreate(address, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" ? address : null;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var (channel, _) in _clients.Values)
            {
                channel?.Dispose();
            }
            _clients.Clear();
        }
    }

    [GeneratedRegex("^[0-9a-fA-F]{32}$")]
    private static partial Regex TraceIdPattern();

    /// <summary>
    /// Whether a call refused as unavailable by <paramref name="address"/> moves on: to the
    /// leader a standby named, else to a scheduler not tried yet (at most <see cref="SdkLimits.SchedulerTriesMax"/> tries).
    /// </summary>
    private bool Movable(RpcException e, string address, int attempt, HashSet<string> tried, CancellationToken cancellationToken)
    {
        if (e.StatusCode != StatusCode.Unavailable || cancellationToken.IsCancellationRequested || attempt >= SdkLimits.SchedulerTriesMax)
        {
            return false;
        }
        tried.Add(address);
        var next = LeaderIn(e.Status.Detail) is { } leader && leader != address ? leader : Addresses.FirstOrDefault(a => !tried.Contains(a));
        if (next is null)
        {
            return false;
        }
        lock (_lock)
        {
            _address = next;
        }
        return true;
    }

    private async Task<T> CallAsync<T>(Func<Scheduler.SchedulerClient, CallOptions, AsyncUnaryCall<T>> call, CancellationToken cancellationToken,
        int timeoutMs = SdkLimits.SchedulerCallTimeoutMs)
    {
        var tried = new HashSet<string>(StringComparer.Ordinal);
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        for (var attempt = 1; ; attempt++)
        {
            var address = Address;
            try
            {
                return await call(ClientOf(address), new CallOptions(deadline: deadline, cancellationToken: cancellationToken));
            }
            catch (RpcException e) when (Movable(e, address, attempt, tried, cancellationToken))
            {
            }
            catch (RpcException e)
            {
                throw new SchedulerException(e.StatusCode, Describe(e, address, timeoutMs), e);
            }
        }
    }

    private static string Describe(RpcException e, string address, int timeoutMs) => e.StatusCode switch
    {
        StatusCode.Unavailable when e.Status.Detail.StartsWith(StandbyPrefix, StringComparison.Ordinal) => e.Status.Detail,
        StatusCode.Unavailable =>
            $"the scheduler at {address} is unavailable ({e.Status.Detail}); is it running? start it with `concord up`, or check the address",
        StatusCode.DeadlineExceeded =>
            $"the scheduler at {address} did not answer within {timeoutMs} ms " +
            $"({timeoutMs switch { SdkLimits.ReplaceCallTimeoutMs => "SdkLimits.ReplaceCallTimeoutMs", SdkLimits.CheckpointCallTimeoutMs => "SdkLimits.CheckpointCallTimeoutMs", _ => "SdkLimits.SchedulerCallTimeoutMs" }}); check that it is not overloaded or stuck",
        StatusCode.Cancelled => $"the call to the scheduler at {address} was cancelled",
        _ => string.IsNullOrEmpty(e.Status.Detail) ? $"the scheduler failed with {e.StatusCode}" : e.Status.Detail,
    };
}
