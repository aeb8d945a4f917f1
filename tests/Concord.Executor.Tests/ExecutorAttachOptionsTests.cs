using Concord.Contracts.Types.V1;
using Google.Protobuf;

namespace Concord.Executor.Tests;

/// <summary>The environment of attach mode and of the inline spec (the Kubernetes runtime's executor).</summary>
public sealed class ExecutorAttachOptionsTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly Dictionary<string, string> _env;

    public ExecutorAttachOptionsTests()
    {
        _env = new Dictionary<string, string>
        {
            ["CONCORD_SCHEDULER_ADDRESS"] = "http://127.0.0.1:7400",
            ["CONCORD_OPERATOR_NAME"] = "counter",
            ["CONCORD_INSTANCE_INDEX"] = "1",
            ["CONCORD_INCARNATION"] = "abc",
            [ExecutorOptions.SpecJsonVariable] = JsonFormatter.Default.Format(new OperatorSpec { Name = "counter", Executable = "/app/counter", Instances = 2 }),
            ["CONCORD_WORK_DIR"] = _dir.Path,
        };
    }

    public void Dispose() => _dir.Dispose();

    private ExecutorOptions Read() => ExecutorOptions.FromEnvironment(name => _env.GetValueOrDefault(name));

    [Fact]
    public void The_spec_is_read_inline_and_attach_mode_is_off_by_default()
    {
        var options = Read();
        Assert.Equal("/app/counter", options.Spec.Executable);
        Assert.Null(options.OperatorAttachSocket);
        Assert.Equal(ExecutorLimits.OperatorAttachTimeoutMs, options.OperatorAttachTimeoutMs);
    }

    [Fact]
    public void A_spec_file_wins_over_the_inline_spec()
    {
        var file = Path.Combine(_dir.Path, "spec.json");
        File.WriteAllText(file, JsonFormatter.Default.Format(new OperatorSpec { Name = "counter", Executable = "/from/file", Instances = 2 }));
        _env["CONCORD_SPEC_FILE"] = file;

        Assert.Equal("/from/file", Read().Spec.Executable);
    }

    [Fact]
    public void A_malformed_inline_spec_names_the_variable()
    {
        _env[ExecutorOptions.SpecJsonVariable] = "{not json";

        var e = Assert.Throws<ExecutorConfigException>(Read);

        Assert.StartsWith($"{ExecutorOptions.SpecJsonVariable} is not an OperatorSpec", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Attach_mode_reads_the_socket_and_the_bound()
    {
        _env[ExecutorOptions.OperatorAttachVariable] = "/concord/shared/operator.sock";
        _env[ExecutorLimits.OperatorAttachTimeoutVariable] = "300000";

        var options = Read();

        Assert.Equal("/concord/shared/operator.sock", options.OperatorAttachSocket);
        Assert.Equal(300_000, options.OperatorAttachTimeoutMs);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("99")]
    [InlineData("3600001")]
    [InlineData("soon")]
    public void An_attach_bound_out_of_range_is_refused_with_the_range(string value)
    {
        _env[ExecutorLimits.OperatorAttachTimeoutVariable] = value;

        var e = Assert.Throws<ExecutorConfigException>(Read);

        Assert.Contains($"{ExecutorLimits.OperatorAttachTimeoutMsMin}..{ExecutorLimits.OperatorAttachTimeoutMsMax}", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_relative_attach_socket_is_refused()
    {
        _env[ExecutorOptions.OperatorAttachVariable] = "operator.sock";

        var e = Assert.Throws<ExecutorConfigException>(Read);

        Assert.Contains("is not an absolute path", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_attach_socket_too_long_for_a_unix_socket_is_refused()
    {
        _env[ExecutorOptions.OperatorAttachVariable] = "/" + new string('s', 200) + "/operator.sock";

        var e = Assert.Throws<ExecutorConfigException>(Read);

        Assert.StartsWith(ExecutorOptions.OperatorAttachVariable, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Attach_mode_for_a_builtin_is_refused()
    {
        _env[ExecutorOptions.SpecJsonVariable] = JsonFormatter.Default.Format(
            new OperatorSpec { Name = "counter", Instances = 2, Builtin = new BuiltinOperator { Kind = "generator" } });
        _env[ExecutorOptions.OperatorAttachVariable] = "/concord/shared/operator.sock";

        var e = Assert.Throws<ExecutorConfigException>(Read);

        Assert.Contains("is a built-in", e.Message, StringComparison.Ordinal);
    }
}
