using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Runtime.Internal;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using SchedulerClient = Concord.Contracts.Scheduler.V1.Scheduler.SchedulerClient;

namespace Concord.Scheduler.Tests;

/// <summary>
/// The whole scheduler as Program wires it (real local runtime, real clock), with a shell
/// script standing in for the executor, which is built elsewhere.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LocalSchedulerTests : IDisposable
{
    private static readonly TimeSpan TestTimeout = TestTimeouts.Step;
    private readonly TempDirectory _home = new();

    public void Dispose() => _home.Dispose();

    private string Script(string body)
    {
        var path = _home.Combine("executor.sh");
        File.WriteAllText(path, "#!/bin/sh\n" + body + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    private async Task<(WebApplication App, SchedulerHome Home, SchedulerClient Client, GrpcChannel Channel)> StartAsync(string executor)
    {
        var home = SchedulerHome.Acquire(_home.Path);
        var app = SchedulerApp.Create(new SchedulerOptions { Home = _home.Path, Port = 0, ExecutorDll = executor }, home);
        await app.StartAsync().WaitAsync(TestTimeout);
        var channel = GrpcChannel.ForAddress(SchedulerHome.ReadInfo(_home.Path)!.Address);
        return (app, home, new SchedulerClient(channel.CreateCallInvoker().WithToken(_home.Path)), channel);
    }

    private static async Task<OperatorStatus> WaitForAsync(SchedulerClient client, Func<OperatorStatus, bool> condition)
    {
        var deadline = DateTime.UtcNow + TestTimeout;
        while (true)
        {
            var status = (await client.ListAsync(new ListRequest()).ResponseAsync.WaitAsync(TestTimeout)).Operators.Single();
            if (condition(status))
            {
                return status;
            }
            Assert.True(DateTime.UtcNow < deadline, $"never reached the expected state; last: {status}");
            await Task.Delay(TimeSpan.FromMilliseconds(20));
        }
    }

    [Fact]
    public async Task An_executor_that_exits_non_zero_is_failed_with_its_exit_code_and_restarted()
    {
        var (app, home, client, channel) = await StartAsync(Script("echo failing on purpose >&2; exit 3"));
        try
        {
            await client.DeployAsync(new DeployRequest { Spec = new OperatorSpec { Name = "counter", Executable = "/bin/true", Instances = 1 } })
                .ResponseAsync.WaitAsync(TestTimeout);

            var status = await WaitForAsync(client, s => s.Instances[0].Restarts >= 1 && s.Instances[0].LastError.Length > 0);

            Assert.Equal("executor exited with code 3; see its executor.log", status.Instances[0].LastError);
            Assert.Contains("failing on purpose", File.ReadAllText(_home.Combine("instances", "counter", "0", "executor.log")));
            Assert.True(File.Exists(_home.Combine("topology.json")));
        }
        finally
        {
            channel.Dispose();
            await app.StopAsync().WaitAsync(TestTimeout);
            await app.DisposeAsync();
            home.Dispose();
        }
    }

    [Fact]
    public async Task Stopping_the_scheduler_stops_its_executors_keeps_the_topology_and_removes_scheduler_json()
    {
        var (app, home, client, channel) = await StartAsync(Script("exec sleep 30"));
        int pid;
        try
        {
            await client.DeployAsync(new DeployRequest { Spec = new OperatorSpec { Name = "counter", Executable = "/bin/true", Instances = 1 } })
                .ResponseAsync.WaitAsync(TestTimeout);
            pid = (await WaitForAsync(client, s => s.Instances[0].ExecutorPid > 0)).Instances[0].ExecutorPid;
            Assert.True(Posix.IsAlive(pid));
            Assert.True(File.Exists(_home.Combine(SchedulerHome.InfoFileName)));
        }
        finally
        {
            channel.Dispose();
            await app.StopAsync().WaitAsync(TestTimeout);
            await app.DisposeAsync();
            home.Dispose();
        }

        Assert.False(Posix.IsAlive(pid), $"executor pid {pid} outlived the scheduler");
        Assert.False(File.Exists(_home.Combine(SchedulerHome.InfoFileName)));
        Assert.Contains("\"counter\"", File.ReadAllText(_home.Combine("topology.json")));
    }
}
