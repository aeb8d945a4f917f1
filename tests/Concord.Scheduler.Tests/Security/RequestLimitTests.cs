using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Grpc.Core;
using SchedulerClient = Concord.Contracts.Scheduler.V1.Scheduler.SchedulerClient;

namespace Concord.Scheduler.Tests.Security;

/// <summary>
/// Oversized deploys: three 25 MB deploys once grew topology.json to 78 MB and broke `list`
/// for everyone, and 30–64 MB requests failed as UNKNOWN with a stack trace.
/// </summary>
public sealed class RequestLimitTests
{
    private static readonly TimeSpan Timeout = TestTimeouts.Step;

    private static DeployRequest DeployOf(string name, int padBytes) => new()
    {
        Spec = new OperatorSpec { Name = name, Executable = "/bin/true", Instances = 1, Environment = { ["PAD"] = new string('x', padBytes) } },
    };

    [Theory]
    [InlineData(30_000_000)]
    [InlineData(64 * 1024 * 1024 - 64)]
    public async Task An_oversized_request_is_refused_as_resource_exhausted_naming_the_limit_and_the_scheduler_goes_on(int bytes)
    {
        await using var scheduler = await SchedulerFixture.StartAsync();

        var error = await Assert.ThrowsAsync<RpcException>(() => scheduler.Client.DeployAsync(DeployOf("big", bytes)).ResponseAsync.WaitAsync(Timeout));

        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Contains($"more than the scheduler accepts ({SchedulerLimits.RequestBytesMax} bytes, SchedulerLimits.RequestBytesMax)", error.Status.Detail);
        var list = await scheduler.Client.ListAsync(new ListRequest()).ResponseAsync.WaitAsync(Timeout);
        Assert.Empty(list.Operators);
        await scheduler.Client.DeployAsync(DeployOf("small", 10)).ResponseAsync.WaitAsync(Timeout);
    }

    [Fact]
    public async Task A_spec_over_its_cap_is_refused_before_it_is_stored()
    {
        await using var scheduler = await SchedulerFixture.StartAsync();

        var error = await Assert.ThrowsAsync<RpcException>(() =>
            scheduler.Client.DeployAsync(DeployOf("big", SchedulerLimits.SpecBytesMax + 1)).ResponseAsync.WaitAsync(Timeout));

        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Contains($"more than the scheduler accepts ({SchedulerLimits.SpecBytesMax} bytes, SchedulerLimits.SpecBytesMax)", error.Status.Detail);
        Assert.False(File.Exists(scheduler.Home.Combine("topology.json")), "nothing was stored");
    }

    [Fact]
    public async Task Deploys_past_the_topology_cap_are_refused_and_list_keeps_working()
    {
        await using var scheduler = await SchedulerFixture.StartAsync();
        var pad = SchedulerLimits.SpecBytesMax - 1024;
        var deployed = 0;

        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            for (; deployed <= SchedulerLimits.TopologyBytesMax / pad; deployed++)
            {
                await scheduler.Client.DeployAsync(DeployOf($"op-{deployed}", pad)).ResponseAsync.WaitAsync(Timeout);
            }
        });

        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.StartsWith($"operator 'op-{deployed}' was not deployed: the topology would grow to", error.Status.Detail);
        // As the CLI reads it (ProtocolLimits.GrpcMessageBytesMax): the capped topology fits one answer.
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(scheduler.Address,
            new Grpc.Net.Client.GrpcChannelOptions { MaxReceiveMessageSize = Concord.Contracts.ProtocolLimits.GrpcMessageBytesMax });
        var list = await new SchedulerClient(channel.CreateCallInvoker().WithToken(scheduler.Home.Path)).ListAsync(new ListRequest()).ResponseAsync.WaitAsync(Timeout);
        Assert.Equal(deployed, list.Operators.Count);
    }
}
