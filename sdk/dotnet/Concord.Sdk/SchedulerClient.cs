using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;

namespace Concord.Sdk;

/// <summary>
/// Changes and reads the topology through the scheduler's gRPC API. Every call has the deadline
/// <see cref="SdkLimits.SchedulerCallTimeoutMs"/>; failures surface as
/// <see cref="SchedulerException"/> carrying the scheduler's message.
/// </summary>
public sealed class SchedulerClient : IDisposable
{
    private readonly GrpcChannel? _channel;
    private readonly Scheduler.SchedulerClient _client;
    private readonly string _address;

    /// <param name="address">"http://127.0.0.1:7400" or "127.0.0.1:7400" (http is assumed).</param>
    /// <param name="token">
    /// The scheduler's operator token (docs/security.md); null: $CONCORD_TOKEN, else the token
    /// file of the scheduler home ($CONCORD_HOME, else ~/.concord), else none.
    /// </param>
    public SchedulerClient(string address, string? token = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(address);
        _address = address.Contains("://", StringComparison.Ordinal) ? address : $"http://{address}";
        if (!Uri.TryCreate(_address, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException(
                $"'{address}' is not a scheduler address; expected host:port or http://host:port, e.g. 127.0.0.1:7400", nameof(address));
        }
        _channel = GrpcChannel.ForAddress(uri, new GrpcChannelOptions
        {
            MaxReceiveMessageSize = ProtocolLimits.GrpcMessageBytesMax,
            MaxSendMessageSize = ProtocolLimits.GrpcMessageBytesMax,
        });
        var bearer = token ?? DefaultToken();
        _client = bearer is null
            ? new Scheduler.SchedulerClient(_channel)
            : new Scheduler.SchedulerClient(_channel.Intercept(metadata =>
            {
                metadata.Add(Credentials.AuthorizationHeader, Credentials.BearerPrefix + bearer);
                return metadata;
            }));
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
        _client = new Scheduler.SchedulerClient(callInvoker);
        _address = address;
    }

    /// <summary>Deploys a new operator; ALREADY_EXISTS if the name is deployed.</summary>
    public async Task<OperatorStatus> DeployAsync(OperatorSpec spec, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var response = await CallAsync(o => _client.DeployAsync(new DeployRequest { Spec = spec }, o), cancellationToken);
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
    public Task<ReplaceResponse> ReplaceAsync(OperatorSpec spec, bool dropState = false, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return CallAsync(o => _client.ReplaceAsync(new ReplaceRequest { Spec = spec, DropState = dropState }, o), cancellationToken,
            SdkLimits.ReplaceCallTimeoutMs);
    }

    /// <summary>Stops every instance of an operator and removes it; NOT_FOUND if it is not deployed.</summary>
    public Task KillAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        return CallAsync(o => _client.KillAsync(new KillRequest { Name = name }, o), cancellationToken);
    }

    /// <summary>Changes an operator's number of instances.</summary>
    public async Task<OperatorStatus> ScaleAsync(string name, int instances, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var response = await CallAsync(
            o => _client.ScaleAsync(new ScaleRequest { Name = name, Instances = instances }, o), cancellationToken);
        return response.Operator;
    }

    /// <summary>Every deployed operator, ordered by name.</summary>
    public async Task<IReadOnlyList<OperatorStatus>> ListAsync(CancellationToken cancellationToken = default)
    {
        var response = await CallAsync(o => _client.ListAsync(new ListRequest(), o), cancellationToken);
        return response.Operators;
    }

    /// <summary>Operators and the stream edges between them.</summary>
    public Task<GraphResponse> GraphAsync(CancellationToken cancellationToken = default) =>
        CallAsync(o => _client.GraphAsync(new GraphRequest(), o), cancellationToken);

    public void Dispose() => _channel?.Dispose();

    private async Task<T> CallAsync<T>(Func<CallOptions, AsyncUnaryCall<T>> call, CancellationToken cancellationToken,
        int timeoutMs = SdkLimits.SchedulerCallTimeoutMs)
    {
        var options = new CallOptions(
            deadline: DateTime.UtcNow.AddMilliseconds(timeoutMs),
            cancellationToken: cancellationToken);
        try
        {
            return await call(options);
        }
        catch (RpcException e)
        {
            throw new SchedulerException(e.StatusCode, Describe(e, timeoutMs), e);
        }
    }

    private string Describe(RpcException e, int timeoutMs) => e.StatusCode switch
    {
        StatusCode.Unavailable =>
            $"the scheduler at {_address} is unavailable ({e.Status.Detail}); is it running? start it with `concord up`, or check the address",
        StatusCode.DeadlineExceeded =>
            $"the scheduler at {_address} did not answer within {timeoutMs} ms " +
            $"({(timeoutMs == SdkLimits.ReplaceCallTimeoutMs ? "SdkLimits.ReplaceCallTimeoutMs" : "SdkLimits.SchedulerCallTimeoutMs")}); check that it is not overloaded or stuck",
        StatusCode.Cancelled => $"the call to the scheduler at {_address} was cancelled",
        _ => string.IsNullOrEmpty(e.Status.Detail) ? $"the scheduler failed with {e.StatusCode}" : e.Status.Detail,
    };
}
