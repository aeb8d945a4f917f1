using System.Net;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Concord.Sdk.Tests;

public sealed class SchedulerClientTests
{
    private sealed class FakeScheduler : Scheduler.SchedulerBase
    {
        public override Task<DeployResponse> Deploy(DeployRequest request, ServerCallContext context) =>
            request.Spec.Name == "taken"
                ? throw new RpcException(new Status(StatusCode.AlreadyExists, "operator 'taken' is already deployed; kill it first, or scale it"))
                : Task.FromResult(new DeployResponse { Operator = new OperatorStatus { Spec = request.Spec, Version = 1 } });

        public override Task<ListResponse> List(ListRequest request, ServerCallContext context) =>
            Task.FromResult(new ListResponse { Operators = { new OperatorStatus { Spec = new OperatorSpec { Name = "counter" } } } });

        public override Task<ReplaceResponse> Replace(ReplaceRequest request, ServerCallContext context) =>
            request.Spec.Delivery == DeliveryGuarantee.DeliveryExactlyOnce && !request.DropState
                ? throw new RpcException(new Status(StatusCode.FailedPrecondition, $"'{request.Spec.Name}' has delivery exactly_once; give --drop-state"))
                : Task.FromResult(new ReplaceResponse { Operator = new OperatorStatus { Spec = request.Spec, Version = 2 }, Restarted = request.DropState });

        public override Task<KillResponse> Kill(KillRequest request, ServerCallContext context) =>
            throw new RpcException(new Status(StatusCode.NotFound, $"operator '{request.Name}' is not deployed; `concord list` shows what is"));
    }

    private static async Task<(WebApplication App, string Address)> StartFakeSchedulerAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddGrpc();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http2));
        var app = builder.Build();
        app.MapGrpcService<FakeScheduler>();
        await app.StartAsync().WaitAsync(TestTimeouts.Step);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return (app, address);
    }

    [Fact]
    public async Task Deploy_and_list_return_what_the_scheduler_answers()
    {
        var (app, address) = await StartFakeSchedulerAsync();
        await using var _ = app;
        using var client = new SchedulerClient(address.Replace("http://", ""));

        var deployed = await client.DeployAsync(new OperatorSpec { Name = "counter", Instances = 2 }).WaitAsync(TestTimeouts.Step);
        var listed = await client.ListAsync().WaitAsync(TestTimeouts.Step);

        Assert.Equal(("counter", 2, 1L), (deployed.Spec.Name, deployed.Spec.Instances, deployed.Version));
        Assert.Equal(["counter"], listed.Select(o => o.Spec.Name));
    }

    [Fact]
    public async Task Replace_sends_drop_state_and_returns_whether_the_scheduler_restarted()
    {
        var (app, address) = await StartFakeSchedulerAsync();
        await using var _ = app;
        using var client = new SchedulerClient(address);
        var spec = new OperatorSpec { Name = "counter", Instances = 2, Delivery = DeliveryGuarantee.DeliveryExactlyOnce };

        var refused = await Assert.ThrowsAsync<SchedulerException>(() => client.ReplaceAsync(spec).WaitAsync(TestTimeouts.Step));
        var restarted = await client.ReplaceAsync(spec, dropState: true).WaitAsync(TestTimeouts.Step);

        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
        Assert.Contains("--drop-state", refused.Message);
        Assert.True(restarted.Restarted);
        Assert.Equal(2L, restarted.Operator.Version);
    }

    [Fact]
    public async Task Deploy_of_existing_name_surfaces_ALREADY_EXISTS_with_the_scheduler_message()
    {
        var (app, address) = await StartFakeSchedulerAsync();
        await using var _ = app;
        using var client = new SchedulerClient(address);

        var e = await Assert.ThrowsAsync<SchedulerException>(
            () => client.DeployAsync(new OperatorSpec { Name = "taken", Instances = 1 }).WaitAsync(TestTimeouts.Step));

        Assert.Equal(StatusCode.AlreadyExists, e.StatusCode);
        Assert.Equal("operator 'taken' is already deployed; kill it first, or scale it", e.Message);
    }

    [Fact]
    public async Task Kill_of_unknown_name_surfaces_NOT_FOUND_with_the_scheduler_message()
    {
        var (app, address) = await StartFakeSchedulerAsync();
        await using var _ = app;
        using var client = new SchedulerClient(address);

        var e = await Assert.ThrowsAsync<SchedulerException>(() => client.KillAsync("ghost").WaitAsync(TestTimeouts.Step));

        Assert.Equal(StatusCode.NotFound, e.StatusCode);
        Assert.Contains("'ghost' is not deployed", e.Message);
    }

    [Fact]
    public async Task An_unreachable_scheduler_is_reported_as_unavailable_with_the_address_and_what_to_do()
    {
        // Bind then release a port so nothing listens on it.
        var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        using var client = new SchedulerClient($"127.0.0.1:{port}");

        var e = await Assert.ThrowsAsync<SchedulerException>(() => client.ListAsync().WaitAsync(TestTimeouts.Step));

        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
        Assert.Contains($"127.0.0.1:{port}", e.Message);
        Assert.Contains("concord up", e.Message);
    }

    [Fact]
    public void A_malformed_address_is_rejected_naming_the_expected_form()
    {
        var e = Assert.Throws<ArgumentException>(() => new SchedulerClient("ftp://x:1"));
        Assert.Contains("host:port", e.Message);
    }
}
