using Concord.Contracts;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using SchedulerClient = Concord.Contracts.Scheduler.V1.Scheduler.SchedulerClient;

namespace Concord.Cli.Internal;

/// <summary>
/// One gRPC channel to the scheduler for the life of a command. Every call gets the
/// <see cref="CliLimits.RpcDeadlineSeconds"/> deadline, and every RPC failure becomes a
/// <see cref="CliException"/> with one line a person can act on.
/// </summary>
internal sealed class SchedulerConnection : IDisposable
{
    private readonly Dictionary<string, (GrpcChannel Channel, SchedulerClient Client)> _channels = new(StringComparer.Ordinal);
    private readonly Hosting.TlsCredentials? _tls;
    private readonly string? _token;
    private readonly string _tokenSource;

    /// <param name="address">The scheduler's address, or several comma-separated (a leader and its standbys).</param>
    /// <param name="token">The operator token sent on every call (null: none; the scheduler then refuses with the fix).</param>
    /// <param name="tokenSource">Where the token came from, for the message when the scheduler refuses it.</param>
    /// <param name="tls">For an https:// address: the client certificate and CA (<see cref="CliTls"/>); owned and disposed by the connection.</param>
    public SchedulerConnection(string address, string? token = null, string tokenSource = "no token", Hosting.TlsCredentials? tls = null)
    {
        Addresses = Hosting.LeaderRedirect.SplitAddresses(address);
        if (Addresses.Count == 0)
        {
            throw new CliException($"'{address}' is not a scheduler address; use http://HOST:PORT, e.g. {SchedulerAddress.Default}");
        }
        Address = Addresses[0];
        _token = token;
        _tokenSource = tokenSource;
        _tls = tls;
    }

    /// <summary>Every scheduler given, in the order tried.</summary>
    public IReadOnlyList<string> Addresses { get; }

    /// <summary>The scheduler calls go to now: the first given, or the leader found since.</summary>
    public string Address { get; private set; }

    public SchedulerClient Client => ClientOf(Address);

    private SchedulerClient ClientOf(string address)
    {
        if (_channels.TryGetValue(address, out var open))
        {
            return open.Client;
        }
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(CliLimits.ConnectTimeoutSeconds),
        };
        var channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            HttpHandler = _tls?.ConfigureClient(handler) ?? handler,
            MaxReceiveMessageSize = ProtocolLimits.GrpcMessageBytesMax,
            MaxSendMessageSize = ProtocolLimits.GrpcMessageBytesMax,
        });
        var token = _token;
        var client = token is null
            ? new SchedulerClient(channel)
            : new SchedulerClient(channel.Intercept(metadata =>
            {
                metadata.Add(Credentials.AuthorizationHeader, Credentials.BearerPrefix + token);
                return metadata;
            }));
        _channels[address] = (channel, client);
        return client;
    }

    /// <summary>Sends the following calls to <paramref name="address"/> (the leader a standby named).</summary>
    public void Follow(string address) => Address = address;

    /// <summary>Runs one unary call with the CLI's deadline, translating failures.</summary>
    public Task<TResponse> CallAsync<TResponse>(
        Func<SchedulerClient, CallOptions, AsyncUnaryCall<TResponse>> call, CancellationToken cancellationToken) =>
        CallAsync(call, CliLimits.RpcDeadlineSeconds, cancellationToken);

    /// <summary>
    /// Runs one unary call with a longer deadline (a call that waits for processes), translating
    /// failures. A standby's refusal sends the call to the leader it names (it changed nothing);
    /// an unreachable scheduler, to the next one given.
    /// </summary>
    public async Task<TResponse> CallAsync<TResponse>(
        Func<SchedulerClient, CallOptions, AsyncUnaryCall<TResponse>> call, int deadlineSeconds, CancellationToken cancellationToken)
    {
        var tried = new HashSet<string>(StringComparer.Ordinal);
        for (var attempt = 1; ; attempt++)
        {
            var options = new CallOptions(
                deadline: DateTime.UtcNow.AddSeconds(deadlineSeconds),
                cancellationToken: cancellationToken);
            try
            {
                return await call(ClientOf(Address), options);
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable && !cancellationToken.IsCancellationRequested
                && attempt < CliLimits.SchedulerTriesMax && NextAfter(e, tried) is { } next)
            {
                Address = next;
            }
            catch (RpcException e)
            {
                throw Translate(e, Address, cancellationToken, _tokenSource);
            }
        }
    }

    /// <summary>Where to go after <see cref="Address"/> was unavailable: the leader it named, else a scheduler not tried yet.</summary>
    private string? NextAfter(RpcException e, HashSet<string> tried)
    {
        tried.Add(Address);
        if (Hosting.LeaderRedirect.LeaderIn(e.Status.Detail) is { } leader && leader != Address)
        {
            return leader;
        }
        return Addresses.FirstOrDefault(a => !tried.Contains(a));
    }

    /// <summary>The one-line error for a failed scheduler call.</summary>
    public static CliException Translate(RpcException e, string address, CancellationToken cancellationToken, string tokenSource = "no token")
    {
        if (cancellationToken.IsCancellationRequested || e.StatusCode == StatusCode.Cancelled)
        {
            return new CliException("interrupted", ExitCodes.Interrupted);
        }
        if (CliTls.HandshakeFailure(e.Status.DebugException, e.StatusCode, address) is { } handshake)
        {
            return handshake;
        }
        return e.StatusCode switch
        {
            StatusCode.Unavailable when e.Status.Detail.StartsWith(Hosting.LeaderRedirect.StandbyPrefix, StringComparison.Ordinal) => new CliException(e.Status.Detail),
            StatusCode.Unavailable => new CliException(NoSchedulerMessage(address)),
            StatusCode.DeadlineExceeded => new CliException(
                $"the scheduler at {address} did not answer within {CliLimits.RpcDeadlineSeconds} s; it may be overloaded or stuck: check its log (<home>/scheduler.log) or restart it with `concord down` and `concord up`"),
            StatusCode.Unauthenticated => new CliException($"{e.Status.Detail} (this CLI sent: {tokenSource})"),
            StatusCode.Unimplemented => new CliException(
                $"{address} does not serve the Concord scheduler API; point --scheduler (or CONCORD_SCHEDULER) at a scheduler started with `concord up`"),
            _ when !string.IsNullOrEmpty(e.Status.Detail) => new CliException(e.Status.Detail),
            _ => new CliException($"the scheduler at {address} failed the call ({e.StatusCode}); see its log (<home>/scheduler.log)"),
        };
    }

    public static string NoSchedulerMessage(string address) =>
        $"no scheduler at {address}: start one with `concord up`";

    public void Dispose()
    {
        foreach (var (channel, _) in _channels.Values)
        {
            channel.Dispose();
        }
        _channels.Clear();
        _tls?.Dispose();
    }
}
