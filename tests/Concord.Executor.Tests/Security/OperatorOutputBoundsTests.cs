using Concord.Contracts;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.Session;
using Microsoft.Extensions.Logging.Abstractions;
using static Concord.Executor.Tests.TestSupport;

namespace Concord.Executor.Tests.Security;

/// <summary>Runs alone: it measures the bytes the process allocates while the operator writes.</summary>
[CollectionDefinition(nameof(AllocationMeasuring), DisableParallelization = true)]
public sealed class AllocationMeasuring;

[Collection(nameof(AllocationMeasuring))]
public sealed class OperatorOutputBoundsTests : IDisposable
{
    private const int LineChars = 64 * 1024 * 1024;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_64_MiB_stderr_line_without_a_newline_is_read_in_chunks_and_cut_with_a_marker_never_held_whole()
    {
        var spec = new OperatorSpec
        {
            Name = "op",
            Executable = "/bin/sh",
            Args = { "-c", $"head -c {LineChars} /dev/zero | tr '\\0' x >&2; exit 3" },
        };
        await using var session = GrpcOperatorSession.ForProcess(spec, _dir.Path, NullLogger.Instance, TimeProvider.System);
        var before = GC.GetTotalAllocatedBytes(precise: true);
        var e = await Assert.ThrowsAsync<OperatorFailedException>(() =>
            session.StartAsync(new Init { ProtocolVersion = ProtocolLimits.ProtocolVersion, OperatorName = "op" }, CancellationToken.None).WaitAsync(TestTimeouts.Process));
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;

        Assert.Contains("exited with code 3", e.Message);
        Assert.Contains($"… [{LineChars - ExecutorLimits.OperatorLogLineCharsMax} more characters cut: ExecutorLimits.OperatorLogLineCharsMax]", e.Message);
        Assert.Contains(new string('x', ExecutorLimits.OperatorLogLineCharsMax), e.Message);
        Assert.DoesNotContain(new string('x', ExecutorLimits.OperatorLogLineCharsMax + 1), e.Message);
        // Held whole, the line alone is 128 MiB of UTF-16; read in chunks it costs a few KiB per chunk.
        Assert.True(allocated < 16L * 1024 * 1024, $"allocated {allocated / (1024 * 1024)} MiB while reading the operator's output");
    }
}
