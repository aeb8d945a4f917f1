using System.Net;
using System.Net.Sockets;
using Concord.Scheduler.Runtime;

namespace Concord.Scheduler.Tests;

/// <summary>A scheduler restarted with --port 0 listens where the previous run did, so its executors find it again.</summary>
public sealed class PreviousAddressTests
{
    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task WriteInfoAsync(string home, SchedulerInfo info)
    {
        using var owner = SchedulerHome.Acquire(home);
        await owner.WriteInfoAsync(info, CancellationToken.None).WaitAsync(TestTimeouts.Step);
    }

    [Fact]
    public async Task With_port_0_the_previous_runs_bound_port_is_taken_not_its_advertised_one()
    {
        using var dir = new TempDirectory();
        var bound = FreePort();
        await WriteInfoAsync(dir.Path, new SchedulerInfo("https://node1.example:443", 1, 0) { ListenPort = bound });

        Assert.Equal(bound, PreviousAddress.PortFor(0, dir.Path));
        Assert.Equal(7400, PreviousAddress.PortFor(7400, dir.Path));
    }

    [Fact]
    public async Task A_file_of_an_older_run_without_the_bound_port_falls_back_to_the_advertised_port()
    {
        using var dir = new TempDirectory();
        var port = FreePort();
        await WriteInfoAsync(dir.Path, new SchedulerInfo($"http://127.0.0.1:{port}", 1, 0));

        Assert.Equal(port, PreviousAddress.PortFor(0, dir.Path));
    }

    [Fact]
    public async Task A_previous_port_taken_by_another_process_gives_a_free_one()
    {
        using var dir = new TempDirectory();
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        await WriteInfoAsync(dir.Path, new SchedulerInfo("http://127.0.0.1:1", 1, 0) { ListenPort = ((IPEndPoint)taken.LocalEndpoint).Port });

        Assert.Equal(0, PreviousAddress.PortFor(0, dir.Path));
    }
}
