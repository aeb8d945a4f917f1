using Concord.Contracts;
using Grpc.Core;
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

    /// <param name="tls">For an https:// address: the client certificate and CA (<see cref="CliTls"/>); owned and disposed by the connection.</param>
    public SchedulerConnection(string address, Hosting.TlsCredentials? tls = null)
    {
        Address = address;
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
        Client = new SchedulerClient(_channel);
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
            throw Translate(e, Address, cancellationToken);
        }
    }

    /// <summary>The one-line error for a failed scheduler call.</summary>
    public static CliException Translate(RpcException e, string address, CancellationToken cancellationToken)
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
