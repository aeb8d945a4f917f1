extern alias scheduler;
using scheduler::Concord.Scheduler;
using scheduler::Concord.Scheduler.Observability;

namespace Concord.Observability.Tests;

public sealed class ObservabilityServerTests
{
    [Theory]
    [InlineData(new[] { "--port", "7400" }, 7401)]
    [InlineData(new[] { "--port", "0" }, 0)]
    [InlineData(new[] { "--port", "0", "--metrics-port", "9100" }, 9100)]
    public void The_metrics_port_defaults_to_the_grpc_port_plus_one_or_free(string[] args, int expected)
    {
        var options = SchedulerCommandLine.Parse([.. args, "--executor", typeof(ObservabilityServerTests).Assembly.Location])!;

        Assert.Equal(expected, ObservabilityServer.PortFor(options));
    }

    [Theory]
    [InlineData(new string[0], "127.0.0.1")]
    [InlineData(new[] { "--listen", "10.0.0.5:7400" }, "10.0.0.5")]
    [InlineData(new[] { "--listen", "0.0.0.0:7400", "--advertise", "node1.example" }, "node1.example")]
    [InlineData(new[] { "--listen", "0.0.0.0:7400", "--advertise", "node1.example", "--metrics-listen", "0.0.0.0:9100" }, "node1.example")]
    [InlineData(new[] { "--listen", "0.0.0.0:7400", "--advertise", "node1.example", "--metrics-listen", "10.0.0.9:9100" }, "10.0.0.9")]
    public void Service_discovery_hands_out_the_advertised_host_unless_metrics_listen_on_an_address_of_their_own(string[] args, string expected)
    {
        var options = SchedulerCommandLine.Parse([.. args, "--executor", typeof(ObservabilityServerTests).Assembly.Location])!;

        Assert.Equal(expected, ObservabilityServer.AdvertisedHost(options));
    }
}
