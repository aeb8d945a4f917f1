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
}
