using System.Text;
using Concord.Contracts;
using Concord.Executor.State;

namespace Concord.Executor.Tests.State;

/// <summary>
/// The contract every <see cref="IKeyedStateBackend"/> keeps (docs/guarantees.md): one suite, run
/// once per backend by the subclasses at the end of this file.
/// </summary>
public abstract class StateBackendContractTests : IDisposable
{
    protected const int Groups = ProtocolLimits.KeyGroupCount;

    private readonly List<IDisposable> _owned = [];

    protected TempDirectory Temp { get; } = new("cc-state-");

    /// <summary>A new backend of the kind under test (disposed with the test).</summary>
    protected abstract IKeyedStateBackend NewBackend(int keyGroupCount, (int Start, int End) range, long bytesMax);

    protected IKeyedStateBackend Backend((int Start, int End)? range = null, long bytesMax = ExecutorLimits.StateMemoryBytesMax)
    {
        var backend = NewBackend(Groups, range ?? (0, Groups), bytesMax);
        _owned.Add(backend);
        return backend;
    }

    protected static byte[] B(string text) => Encoding.UTF8.GetBytes(text);

    protected static string? Get(IKeyedStateBackend backend, string key, string name = "count") =>
        backend.TryGet(B(key), name, out var value) ? Encoding.UTF8.GetString(value.Span) : null;

    [Fact]
    public void Set_then_get_returns_the_value_and_names_are_separate()
    {
        var backend = Backend();
        backend.Set(B("k1"), "count", B("1"));
        backend.Set(B("k1"), "sum", B("10"));
        backend.Set(B("k2"), "count", B("2"));

        Assert.Equal("1", Get(backend, "k1"));
        Assert.Equal("10", Get(backend, "k1", "sum"));
        Assert.Equal("2", Get(backend, "k2"));
        Assert.Null(Get(backend, "k3"));
        Assert.Null(Get(backend, "k2", "sum"));
    }

    [Fact]
    public void Set_overwrites_and_clear_removes_only_that_name()
    {
        var backend = Backend();
        backend.Set(B("k"), "count", B("1"));
        backend.Set(B("k"), "count", B("2"));
        backend.Set(B("k"), "sum", B("5"));
        backend.Clear(B("k"), "count");
        backend.Clear(B("absent"), "count");

        Assert.Null(Get(backend, "k"));
        Assert.Equal("5", Get(backend, "k", "sum"));
    }

    [Fact]
    public void Empty_key_and_empty_value_are_state_like_any_other()
    {
        var backend = Backend();
        backend.Set([], "count", []);

        Assert.True(backend.TryGet([], "count", out var value));
        Assert.Equal(0, value.Length);
    }

    [Fact]
    public void Entries_lists_every_key_of_one_name_only()
    {
        var backend = Backend();
        for (var i = 0; i < 50; i++)
        {
            backend.Set(B($"k{i}"), "count", B($"{i}"));
            backend.Set(B($"k{i}"), IKeyedStateBackend.TimersNamespace, B($"t{i}"));
        }

        var timers = backend.Entries(IKeyedStateBackend.TimersNamespace)
            .Select(e => (Encoding.UTF8.GetString(e.Key), Encoding.UTF8.GetString(e.Value)))
            .OrderBy(e => e.Item1, StringComparer.Ordinal)
            .ToList();

        Assert.Equal(Enumerable.Range(0, 50).Select(i => ($"k{i}", $"t{i}")).OrderBy(e => e.Item1, StringComparer.Ordinal), timers);
    }

    [Fact]
    public void Keys_outside_the_range_are_accepted()
    {
        var backend = Backend(range: (0, 1));
        var key = Enumerable.Range(0, 1000).Select(i => $"k{i}").First(k => KeyGroups.Of(B(k), Groups) != 0);

        backend.Set(B(key), "count", B("7"));

        Assert.Equal("7", Get(backend, key));
    }

    [Fact]
    public void StateBytes_grows_with_set_and_returns_to_zero_after_clear()
    {
        var backend = Backend();
        backend.Set(B("key"), "count", new byte[1000]);
        var held = backend.StateBytes;
        backend.Set(B("key"), "count", new byte[10]);

        Assert.True(held >= 1000, $"StateBytes {held} counts the value");
        Assert.True(backend.StateBytes < held);
        backend.Clear(B("key"), "count");
        Assert.Equal(0, backend.StateBytes);
    }

    [Fact]
    public void A_value_over_the_value_bound_is_refused_naming_the_bound()
    {
        var backend = Backend();

        var error = Assert.Throws<StateLimitException>(() => backend.Set(B("k"), "count", new byte[ExecutorLimits.StateValueBytesMax + 1]));

        Assert.Contains(nameof(ExecutorLimits.StateValueBytesMax), error.Message);
        Assert.Null(Get(backend, "k"));
    }

    public void Dispose()
    {
        foreach (var owned in _owned)
        {
            owned.Dispose();
        }
        Temp.Dispose();
        GC.SuppressFinalize(this);
    }
}

public sealed class MemoryStateBackendContractTests : StateBackendContractTests
{
    protected override IKeyedStateBackend NewBackend(int keyGroupCount, (int Start, int End) range, long bytesMax) =>
        new MemoryStateBackend(keyGroupCount, range, bytesMax);
}
