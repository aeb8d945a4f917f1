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
    private readonly GrpcChannel _channel;
    private readonly Hosting.TlsCredentials? _tls;

    private readonly string _tokenSource;

    /// <param name="token">The operator token sent on every call (null: none; the scheduler then refuses with the fix).</param>
    /// <param name="tokenSource">Where the token came from, for the message when the scheduler refuses it.</param>
    /// <param name="tls">For an https:// address: the client certificate and CA (<see cref="CliTls"/>); owned and disposed by the connection.</param>
    public SchedulerConnection(string address, string? token = null, string tokenSource = "no token", Hosting.TlsCredentials? tls = null)
    {
        Address = address;
        _tokenSource = tokenSource;
        _tls = tls;
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(CliLimits.ConnectTimeoutSeconds),
        };
        _channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            HttpHandler = tls?.ConfigureClient(handler) ?? handler,
            MaxReceiveMessageSize = ProtocolLimits.GrpcMessageBytesMax,
            MaxSendMessageSize = ProtocolLimits.GrpcMessageBytesMax,
        });
        Client = token is null
            ? new SchedulerClient(_channel)
            : new SchedulerClient(_channel.Intercept(metadata =>
            {
                metadata.Add(Credentials.AuthorizationHeader, Credentials.BearerPrefix + token);
                return metadata;
            }));
    }

    public string Address { get; }

    public SchedulerClient Client { get; }

    /// <summary>Runs one unary call with the CLI's deadline, translating failures.</summary>
    public Task<TResponse> CallAsync<TResponse>(
        Func<SchedulerClient, CallOptions, AsyncUnaryCall<TResponse>> call, CancellationToken cancellationToken) =>
        CallAsync(call, CliLimits.RpcDeadlineSeconds, cancellationToken);

    /// <summary>Runs one unary call with a longer deadline (a call that waits for processes), translating failures.</summary>
    public async Task<TResponse> CallAsync<TResponse>(
        Func<SchedulerClient, CallOptions, AsyncUnaryCall<TResponse>> call, int deadlineSeconds, CancellationToken cancellationToken)
    {
        var options = new CallOptions(
            deadline: DateTime.UtcNow.AddSeconds(deadlineSeconds),
            cancellationToken: cancellationToken);
        try
        {
            return await call(Client, options);
        }
        catch (RpcException e)
        {
            throw Translate(e, Address, cancellationToken, _tokenSource);
        }
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
        _channel.Dispose();
        _tls?.Dispose();
    }
}
