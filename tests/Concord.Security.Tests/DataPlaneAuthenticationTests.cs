using Concord.Contracts;
using Concord.Contracts.DataPlane.V1;
using Concord.Executor;
using Concord.Executor.DataPlane;
using Concord.Executor.Metrics;
using Concord.Executor.Tracing;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging.Abstractions;

namespace Concord.Security.Tests;

/// <summary>
/// Finding: a data-plane rejection revealed the receiver's real incarnation, after which
/// injected records reached a sink. Now a Push must carry the credential made with the
/// cluster's data-plane key for the receiving launch, checked before anything is read, and no
/// refusal names an incarnation.
/// </summary>
public sealed class DataPlaneAuthenticationTests : IAsyncLifetime
{
    private const string Incarnation = "inc-the-attacker-must-not-learn";
    private static readonly byte[] Key = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();
    private readonly CancellationTokenSource _stop = new();
    private ExecutorServer? _server;
    private GrpcChannel? _channel;

    public async Task InitializeAsync()
    {
        var identity = new DataPlaneIdentity("sink", 0, Incarnation, new HashSet<string> { "words" }, Key);
        var metrics = new ExecutorMetrics();
        _server = await ExecutorServer.StartAsync(identity, new InboundQueue(), metrics,
            new ExecutorTracing("sink", 0, sampleEvery: 0, isSource: false, metrics), NullLoggerFactory.Instance, _stop.Token).WaitAsync(TestTimeouts.Step);
        _channel = GrpcChannel.ForAddress("http://" + _server.Address);
    }

    public async Task DisposeAsync()
    {
        _channel?.Dispose();
        await _stop.CancelAsync();
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
        _stop.Dispose();
    }

    /// <summary>Opens a channel and returns its first answer: the first credit, or the refusal.</summary>
    private async Task<Credit> OpenAsync(string receiverIncarnation, Metadata? headers)
    {
        using var call = new DataPlane.DataPlaneClient(_channel).Push(headers);
        await call.RequestStream.WriteAsync(new DataFrame
        {
            Open = new ChannelOpen { Stream = "words", OperatorName = "sink", InstanceIndex = 0, Sender = "attacker/0", ReceiverIncarnation = receiverIncarnation },
        }).WaitAsync(TestTimeouts.Step);
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(TestTimeouts.Step));
        return call.ResponseStream.Current;
    }

    private static Metadata CredentialFor(string incarnation) =>
        new() { { Credentials.DataPlaneCredentialHeader, Credentials.DataPlaneCredential(Key, incarnation) } };

    [Fact]
    public async Task A_push_without_a_credential_is_refused_without_naming_the_incarnation()
    {
        var error = await Assert.ThrowsAsync<RpcException>(() => OpenAsync("a-guess", headers: null));

        Assert.Equal(StatusCode.PermissionDenied, error.StatusCode);
        Assert.DoesNotContain(Incarnation, error.Status.Detail);
    }

    [Fact]
    public async Task A_credential_made_for_another_launch_or_with_another_key_is_refused()
    {
        var stale = await Assert.ThrowsAsync<RpcException>(() => OpenAsync(Incarnation, CredentialFor("inc-of-an-earlier-launch")));
        var otherKey = new Metadata { { Credentials.DataPlaneCredentialHeader, Credentials.DataPlaneCredential(new byte[32], Incarnation) } };
        var forged = await Assert.ThrowsAsync<RpcException>(() => OpenAsync(Incarnation, otherKey));

        Assert.Equal(StatusCode.PermissionDenied, stale.StatusCode);
        Assert.Equal(StatusCode.PermissionDenied, forged.StatusCode);
        Assert.DoesNotContain(Incarnation, stale.Status.Detail + forged.Status.Detail);
    }

    [Fact]
    public async Task A_cluster_member_with_an_out_of_date_table_is_told_to_re_read_it_without_learning_the_incarnation()
    {
        var error = await Assert.ThrowsAsync<RpcException>(() => OpenAsync("inc-of-an-earlier-launch", CredentialFor(Incarnation)));

        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.Contains("re-read the routing table", error.Status.Detail);
        Assert.DoesNotContain(Incarnation, error.Status.Detail);
    }

    [Fact]
    public async Task The_credential_for_this_launch_opens_the_channel()
    {
        var credit = await OpenAsync(Incarnation, CredentialFor(Incarnation));

        Assert.True(credit.Rows > 0, $"first credit {credit}");
    }
}
