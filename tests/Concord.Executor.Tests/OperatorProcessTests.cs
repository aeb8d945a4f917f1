using Concord.Contracts;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.Session;
using Microsoft.Extensions.Logging.Abstractions;
using static Concord.Executor.Tests.TestSupport;

namespace Concord.Executor.Tests;

public sealed class OperatorProcessTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static Init Init() => new() { ProtocolVersion = ProtocolLimits.ProtocolVersion, OperatorName = "op", MaxBatchesInFlight = 8 };

    [Fact]
    public async Task Missing_executable_fails_with_a_message_naming_it_and_the_fix()
    {
        var spec = new OperatorSpec { Name = "op", Executable = "concord-no-such-program" };
        await using var session = GrpcOperatorSession.ForProcess(spec, _dir.Path, NullLogger.Instance, TimeProvider.System);
        var e = await Assert.ThrowsAsync<OperatorFailedException>(() => session.StartAsync(Init(), CancellationToken.None).WaitAsync(Bound));
        Assert.Contains("'concord-no-such-program' was not found on PATH", e.Message);
        Assert.Contains("absolute path", e.Message);
    }

    [Fact]
    public async Task Operator_that_exits_before_serving_fails_fast_with_exit_code_and_stderr()
    {
        var spec = new OperatorSpec { Name = "op", Executable = "/bin/sh", Args = { "-c", "echo cannot import concord >&2; exit 3" } };
        await using var session = GrpcOperatorSession.ForProcess(spec, _dir.Path, NullLogger.Instance, TimeProvider.System);
        var started = DateTime.UtcNow;
        var e = await Assert.ThrowsAsync<OperatorFailedException>(() => session.StartAsync(Init(), CancellationToken.None).WaitAsync(Bound));
        Assert.Contains("exited with code 3", e.Message);
        Assert.Contains("cannot import concord", e.Message);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(10), "must fail fast, not wait for the start timeout");
    }

    [Theory]
    [InlineData("kill -9 $$", 9)]
    [InlineData("kill -15 $$", 15)]
    [InlineData("exit 3", 0)]
    [InlineData("kill -6 $$", 0)]
    public async Task An_operator_killed_by_SIGKILL_or_SIGTERM_it_did_not_get_from_the_executor_was_killed_from_outside(string script, int expected)
    {
        var spec = new OperatorSpec { Name = "op", Executable = "/bin/sh", Args = { "-c", script } };
        await using var session = GrpcOperatorSession.ForProcess(spec, _dir.Path, NullLogger.Instance, TimeProvider.System);
        await Assert.ThrowsAsync<OperatorFailedException>(() => session.StartAsync(Init(), CancellationToken.None).WaitAsync(Bound));

        Assert.Equal(expected, await session.SignalFromOutsideAsync().WaitAsync(Bound));
    }

    [Fact]
    public async Task An_operator_the_executor_killed_itself_was_not_killed_from_outside()
    {
        var spec = new OperatorSpec { Name = "op", Executable = "/bin/sh", Args = { "-c", "trap '' TERM; exec sleep 60" } };
        await using var session = GrpcOperatorSession.ForProcess(spec, _dir.Path, NullLogger.Instance, TimeProvider.System);
        var start = session.StartAsync(Init(), CancellationToken.None);

        await Eventually.UntilAsync(() => session.OperatorPid > 0, Bound, () => "the operator process to start");
        session.Kill(); // SIGTERM to its group, then SIGKILL: what the executor does on every way out
        await Assert.ThrowsAsync<OperatorFailedException>(() => start.WaitAsync(Bound));

        Assert.Equal(0, await session.SignalFromOutsideAsync().WaitAsync(Bound));
    }

    [Fact]
    public async Task Operator_gets_its_socket_address_environment_and_work_directory()
    {
        var spec = new OperatorSpec
        {
            Name = "op",
            Executable = "/bin/sh",
            Args = { "-c", "echo \"$CONCORD_OPERATOR_ADDRESS|$GREETING|$(pwd)\" > seen.txt; exit 4" },
            Environment = { ["GREETING"] = "hi" },
        };
        await using var session = GrpcOperatorSession.ForProcess(spec, _dir.Path, NullLogger.Instance, TimeProvider.System);
        await Assert.ThrowsAsync<OperatorFailedException>(() => session.StartAsync(Init(), CancellationToken.None).WaitAsync(Bound));
        Assert.Equal($"{_dir.Path}/operator.sock|hi|{_dir.Path}", File.ReadAllText(Path.Combine(_dir.Path, "seen.txt")).Trim());
    }

    [Theory]
    [InlineData(null, "0")]
    [InlineData("50", "50")]
    public async Task A_dotnet_operator_gets_thread_pool_spinning_off_unless_its_deploy_file_sets_it(string? fromDeployFile, string expected)
    {
        var spec = new OperatorSpec
        {
            Name = "op",
            Executable = "/bin/sh",
            Args = { "-c", $"echo \"${ExecutorLimits.DotnetThreadPoolSpinVariable}\" > seen.txt; exit 4" },
        };
        if (fromDeployFile is not null)
        {
            spec.Environment[ExecutorLimits.DotnetThreadPoolSpinVariable] = fromDeployFile;
        }
        await using var session = GrpcOperatorSession.ForProcess(spec, _dir.Path, NullLogger.Instance, TimeProvider.System);
        await Assert.ThrowsAsync<OperatorFailedException>(() => session.StartAsync(Init(), CancellationToken.None).WaitAsync(Bound));
        Assert.Equal(expected, File.ReadAllText(Path.Combine(_dir.Path, "seen.txt")).Trim());
    }
}
