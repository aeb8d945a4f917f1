extern alias scheduler;
using scheduler::Concord.Scheduler;

namespace Concord.Observability.Tests;

/// <summary>The command line's observability options.</summary>
public sealed class SchedulerCommandLineTests
{
    [Fact]
    public void A_metrics_port_that_is_not_a_port_is_rejected_with_the_fix()
    {
        var e = Assert.Throws<UsageException>(() => SchedulerCommandLine.Parse(["--metrics-port", "http"]));

        Assert.Equal("--metrics-port 'http' is not a port; use 0..65535 (0 picks a free one)", e.Message);
    }
}
