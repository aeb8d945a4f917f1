using Concord.Contracts;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.Session;
using Microsoft.Extensions.Logging.Abstractions;

namespace Concord.Security.Tests;

/// <summary>
/// The executor's secrets stay with the executor: the operator process it starts (user code)
/// inherits neither the launch secret nor the data-plane key, even when its deploy file names them.
/// </summary>
public sealed class OperatorEnvironmentTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task The_operator_process_inherits_neither_the_launch_secret_nor_the_data_plane_key()
    {
        var spec = new OperatorSpec
        {
            Name = "op",
            Executable = "/bin/sh",
            Args = { "-c", $"echo \"secret=${Credentials.LaunchSecretVariable} key=${Credentials.DataPlaneKeyVariable} other=$OTHER\" > seen.txt; exit 4" },
        };
        spec.Environment[Credentials.DataPlaneKeyVariable] = "set-by-the-deploy-file";
        spec.Environment["OTHER"] = "kept";
        var saved = Environment.GetEnvironmentVariable(Credentials.LaunchSecretVariable);
        // The executor has the secret in its own environment, as the runtime launched it.
        Environment.SetEnvironmentVariable(Credentials.LaunchSecretVariable, "the-executors-launch-secret");
        try
        {
            await using var session = GrpcOperatorSession.ForProcess(spec, _dir.Path, NullLogger.Instance, TimeProvider.System);
            var init = new Init { ProtocolVersion = ProtocolLimits.ProtocolVersion, OperatorName = "op", MaxBatchesInFlight = 8 };
            await Assert.ThrowsAsync<Concord.Executor.OperatorFailedException>(() => session.StartAsync(init, CancellationToken.None).WaitAsync(TestTimeouts.Process));
        }
        finally
        {
            Environment.SetEnvironmentVariable(Credentials.LaunchSecretVariable, saved);
        }

        Assert.Equal("secret= key= other=kept", File.ReadAllText(_dir.Combine("seen.txt")).Trim());
    }
}
