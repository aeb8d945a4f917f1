using Concord.Scheduler.Runtime.Mesos;
using Concord.Scheduler.Tests.ZooKeeper;

namespace Concord.Scheduler.Tests.Mesos;

/// <summary>Both framework id stores: what one scheduler writes, the next reads; null forgets it.</summary>
public sealed class FrameworkIdStoreTests(ZooKeeperServerFixture server) : IClassFixture<ZooKeeperServerFixture>
{
    private static async Task RoundTripAsync(Func<IFrameworkIdStore> open)
    {
        Assert.Null(await open().ReadAsync(CancellationToken.None));
        await open().WriteAsync("7c1f-0001", CancellationToken.None);
        Assert.Equal("7c1f-0001", await open().ReadAsync(CancellationToken.None));
        await open().WriteAsync("7c1f-0002", CancellationToken.None);
        Assert.Equal("7c1f-0002", await open().ReadAsync(CancellationToken.None));
        await open().WriteAsync(null, CancellationToken.None);
        Assert.Null(await open().ReadAsync(CancellationToken.None));
        await open().WriteAsync(null, CancellationToken.None); // forgetting twice is fine
    }

    [Fact]
    public async Task The_file_store_keeps_the_id_in_the_home_across_instances()
    {
        var home = Path.Combine(Path.GetTempPath(), "concord-fwid-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            await RoundTripAsync(() => new FileFrameworkIdStore(Path.Combine(home, MesosRuntimeOptions.FrameworkIdFileName))).WaitAsync(TestTimeouts.Step);
        }
        finally
        {
            if (Directory.Exists(home))
            {
                Directory.Delete(home, recursive: true);
            }
        }
    }

    [Fact]
    public async Task The_zookeeper_store_keeps_the_id_in_a_node_under_the_clusters_root()
    {
        await using var client = await server.ConnectAsync();
        var root = ZooKeeperServerFixture.NewLayout().Root;
        var path = ZooKeeperFrameworkIdStore.PathUnder(root);
        Assert.Equal(root + "/mesos/framework-id", path);

        await RoundTripAsync(() => new ZooKeeperFrameworkIdStore(client, path)).WaitAsync(TestTimeouts.Step);
    }
}
