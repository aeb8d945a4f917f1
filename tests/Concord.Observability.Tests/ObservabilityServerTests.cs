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
}
