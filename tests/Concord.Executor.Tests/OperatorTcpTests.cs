using Concord.Contracts;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.Session;
using Concord.Hosting;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using static Concord.Executor.Tests.TestSupport;

namespace Concord.Executor.Tests;

/// <summary>
/// Stands in for an operator serving loopback TCP (the Java SDK): it serves
/// <see cref="FakeOperator"/> only to calls carrying the secret the operator process got in
/// its environment (the process writes it to <c>secret.txt</c> in its work directory), and
/// refuses the others with UNAUTHENTICATED, as the SDK does.
/// </summary>
internal sealed class SecretCheckingOperator(FakeOperator inner, SecretCheckingOperator.Seen seen) : Operator.OperatorBase
{
    /// <summary>What the operator saw; the test reads it.</summary>
    internal sealed class Seen
    {
        public string WorkDir { get; set; } = "";

        public string? Presented { get; set; }
    }

    public override Task Session(IAsyncStreamReader<ExecutorMessage> requestStream, IServerStreamWriter<OperatorMessage> responseStream, ServerCallContext context)
    {
        var presented = context.RequestHeaders.GetValue(ExecutorLimits.OperatorSecretHeader);
        seen.Presented = presented;
        var secretFile = Path.Combine(seen.WorkDir, "secret.txt");
        if (presented is null || !File.Exists(secretFile) || presented != File.ReadAllText(secretFile))
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, "the call lacks this operator's secret"));
        }
        return inner.Session(requestStream, responseStream, context);
    }
}

public sealed class OperatorTcpTests : IAsyncLifetime
{
    private readonly TempDirectory _dir = new();
    private readonly SecretCheckingOperator.Seen _seen = new();
    private LoopbackHost _host = null!;

    public async Task InitializeAsync()
    {
        _seen.WorkDir = _dir.Path;
        _host = new LoopbackHost(null, new LoopbackEndpoint("operator", HttpProtocols.Http2));
        _host.Builder.Services.AddGrpc();
        _host.Builder.Services.AddSingleton(new FakeOperator("upper"));
        _host.Builder.Services.AddSingleton(_seen);
        _host.Build().MapGrpcService<SecretCheckingOperator>();
        await _host.StartAsync().WaitAsync(Bound);
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync().AsTask().WaitAsync(Bound);
        _dir.Dispose();
    }

    private static Init Init() => new()
    {
        ProtocolVersion = ProtocolLimits.ProtocolVersion,
        Capabilities = { Capabilities.All },
        OperatorName = "upper",
        InstanceCount = 1,
        MaxBatchesInFlight = 8,
        MaxRecordBytes = ProtocolLimits.RecordBytesMax,
    };

    /// <summary>An operator process that records its secret, announces <paramref name="port"/> as a well-behaved SDK does (temporary name, then rename) and stays.</summary>
    private static OperatorSpec Announcing(int port) => new()
    {
        Name = "upper",
        Executable = "/bin/sh",
        Args =
        {
            "-c",
            $"printf %s \"${ExecutorLimits.OperatorSecretVariable}\" > secret.txt; " +
            $"printf '%s\\n' {port} > \"${ExecutorLimits.OperatorPortFileVariable}.tmp\" && mv \"${ExecutorLimits.OperatorPortFileVariable}.tmp\" \"${ExecutorLimits.OperatorPortFileVariable}\"; " +
            "exec sleep 60",
        },
    };

    [Fact]
    public async Task An_operator_that_announces_a_loopback_port_gets_a_session_carrying_its_launch_secret()
    {
        await using var session = GrpcOperatorSession.ForProcess(Announcing(_host.PortOf("operator")), _dir.Path, NullLogger.Instance, TimeProvider.System);

        var metadata = await session.StartAsync(Init(), CancellationToken.None).WaitAsync(Bound);

        Assert.Equal("upper", metadata.Metadata_.Name);
        var secret = File.ReadAllText(Path.Combine(_dir.Path, "secret.txt"));
        Assert.Equal(2 * ExecutorLimits.OperatorSecretBytes, secret.Length);
        Assert.Matches("^[0-9a-f]+$", secret);
        Assert.Equal(secret, _seen.Presented);

        // The data path is the same as over the socket: a batch in, its answer back.
        await using var answers = session.ReadAnswersAsync(CancellationToken.None).GetAsyncEnumerator();
        Assert.True(await answers.MoveNextAsync().AsTask().WaitAsync(Bound)); // BatchDone{0} of init
        await session.SendAsync(new ProcessBatch { Seq = 1, Records = { Record("hello") } }, CancellationToken.None).AsTask().WaitAsync(Bound);
        Assert.True(await answers.MoveNextAsync().AsTask().WaitAsync(Bound));
        Assert.Equal(1UL, answers.Current.Seq);
        Assert.Equal("HELLO", answers.Current.Produced.Single().Record.Key.ToStringUtf8());
    }

    [Fact]
    public async Task Each_launch_gets_a_new_secret_and_both_address_variables()
    {
        var seen = new List<string>();
        for (var launch = 0; launch < 2; launch++)
        {
            var spec = new OperatorSpec
            {
                Name = "op",
                Executable = "/bin/sh",
                Args = { "-c", $"echo \"${ExecutorLimits.OperatorSecretVariable}|${ExecutorLimits.OperatorPortFileVariable}|${ProtocolLimits.OperatorAddressVariable}\" > seen.txt; exit 4" },
            };
            await using var session = GrpcOperatorSession.ForProcess(spec, _dir.Path, NullLogger.Instance, TimeProvider.System);
            await Assert.ThrowsAsync<OperatorFailedException>(() => session.StartAsync(Init(), CancellationToken.None).WaitAsync(Bound));
            seen.Add(File.ReadAllText(Path.Combine(_dir.Path, "seen.txt")).Trim());
        }

        var parts = seen.Select(s => s.Split('|')).ToList();
        Assert.All(parts, p => Assert.Equal(2 * ExecutorLimits.OperatorSecretBytes, p[0].Length));
        Assert.NotEqual(parts[0][0], parts[1][0]);
        Assert.All(parts, p => Assert.Equal(Path.Combine(_dir.Path, ExecutorLimits.OperatorPortFileName), p[1]));
        Assert.All(parts, p => Assert.Equal(Path.Combine(_dir.Path, "operator.sock"), p[2]));
    }

    [Theory]
    [InlineData("http")]
    [InlineData("70000")]
    [InlineData("0")]
    [InlineData("123456789012345678")]
    public async Task A_port_file_without_a_port_fails_fast_naming_the_file_and_the_fix(string content)
    {
        var spec = new OperatorSpec
        {
            Name = "op",
            Executable = "/bin/sh",
            Args = { "-c", $"printf '%s\\n' '{content}' > \"${ExecutorLimits.OperatorPortFileVariable}\"; exec sleep 60" },
        };
        await using var session = GrpcOperatorSession.ForProcess(spec, _dir.Path, NullLogger.Instance, TimeProvider.System);
        var started = DateTime.UtcNow;

        var e = await Assert.ThrowsAsync<OperatorFailedException>(() => session.StartAsync(Init(), CancellationToken.None).WaitAsync(Bound));

        Assert.Contains(Path.Combine(_dir.Path, ExecutorLimits.OperatorPortFileName), e.Message);
        Assert.Contains("127.0.0.1", e.Message);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromMilliseconds(ExecutorLimits.OperatorStartTimeoutMs / 2), "must fail on the file, not wait for the start timeout");
    }

    [Fact]
    public async Task A_port_file_left_by_an_earlier_launch_is_not_taken_for_this_operator()
    {
        // A live server behind the stale file: connecting to it would "work".
        File.WriteAllText(Path.Combine(_dir.Path, ExecutorLimits.OperatorPortFileName), $"{_host.PortOf("operator")}\n");
        var spec = new OperatorSpec { Name = "op", Executable = "/bin/sh", Args = { "-c", "sleep 1; exit 3" } };
        await using var session = GrpcOperatorSession.ForProcess(spec, _dir.Path, NullLogger.Instance, TimeProvider.System);

        var e = await Assert.ThrowsAsync<OperatorFailedException>(() => session.StartAsync(Init(), CancellationToken.None).WaitAsync(Bound));

        Assert.Contains("exited with code 3", e.Message);
        Assert.Null(_seen.Presented);
    }
}
