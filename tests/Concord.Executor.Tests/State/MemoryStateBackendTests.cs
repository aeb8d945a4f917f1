using Concord.Executor.State;

namespace Concord.Executor.Tests.State;

/// <summary>What only the memory backend does: its bytes bound (--state-memory-mb).</summary>
public sealed class MemoryStateBackendTests
{
    private static byte[] B(string text) => System.Text.Encoding.UTF8.GetBytes(text);

    [Fact]
    public void A_set_past_the_memory_bound_fails_naming_the_option_and_rocksdb_and_changes_nothing()
    {
        using var backend = new MemoryStateBackend(128, (0, 128), bytesMax: 4096);
        backend.Set(B("a"), "count", new byte[2000]);
        var before = backend.StateBytes;

        var error = Assert.Throws<StateLimitException>(() => backend.Set(B("b"), "count", new byte[3000]));

        Assert.Contains("--state-memory-mb", error.Message);
        Assert.Contains("rocksdb", error.Message);
        Assert.Equal(before, backend.StateBytes);
        Assert.False(backend.TryGet(B("b"), "count", out _));
    }

    [Fact]
    public void Overwriting_with_a_smaller_value_is_allowed_at_the_bound()
    {
        using var backend = new MemoryStateBackend(128, (0, 128), bytesMax: 4096);
        backend.Set(B("a"), "count", new byte[3500]);

        backend.Set(B("a"), "count", new byte[100]);
        backend.Set(B("b"), "count", new byte[3000]);

        Assert.True(backend.TryGet(B("b"), "count", out var value));
        Assert.Equal(3000, value.Length);
    }

    [Fact]
    public async Task A_restore_past_the_memory_bound_fails_naming_the_option_and_rocksdb()
    {
        using var temp = new TempDirectory("cc-state-");
        var checkpoint = Hosting.Checkpoints.CheckpointLayout.CheckpointDirectory(temp.Path, 1);
        using (var big = new MemoryStateBackend(128, (0, 128), bytesMax: 1 << 20))
        {
            for (var i = 0; i < 100; i++)
            {
                big.Set(B($"k{i}"), "count", new byte[1000]);
            }
            using var snapshot = big.Snapshot(1);
            await snapshot.WriteAsync(checkpoint, "counter", 0, CancellationToken.None).WaitAsync(TestSupport.Bound);
        }
        using var small = new MemoryStateBackend(128, (0, 128), bytesMax: 50_000);

        var error = Assert.Throws<StateLimitException>(() => small.Restore(checkpoint, "counter"));

        Assert.Contains("--state-memory-mb", error.Message);
        Assert.Contains("rocksdb", error.Message);
        Assert.Equal(0, small.StateBytes);
    }

    [Fact]
    public void Writes_after_a_snapshot_copy_the_key_group_instead_of_changing_the_snapshot()
    {
        using var backend = new MemoryStateBackend(128, (0, 128), bytesMax: 1 << 20);
        backend.Set(B("a"), "count", B("1"));
        using var snapshot = backend.Snapshot(1);

        backend.Set(B("a"), "count", B("2"));
        backend.Clear(B("a"), "count");
        backend.Set(B("a"), "count", B("3"));

        Assert.True(backend.TryGet(B("a"), "count", out var value));
        Assert.Equal("3", System.Text.Encoding.UTF8.GetString(value.Span));
    }

    [Fact]
    public void A_get_allocates_nothing_since_the_batch_pump_reads_state_for_every_key()
    {
        using var backend = new MemoryStateBackend(128, (0, 128), bytesMax: 1 << 20);
        var keys = Enumerable.Range(0, 64).Select(i => B($"key-{i}")).ToArray();
        foreach (var key in keys)
        {
            backend.Set(key, "count", B("1"));
        }
        long found = 0;
        foreach (var key in keys)
        {
            found += backend.TryGet(key, "count", out _) ? 1 : 0;
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var round = 0; round < 100; round++)
        {
            foreach (var key in keys)
            {
                found += backend.TryGet(key, "count", out var value) ? value.Length : 0;
            }
        }
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.Equal(64 + 6400, found);
    }
}
