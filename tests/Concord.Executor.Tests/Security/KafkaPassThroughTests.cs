using Concord.Contracts.Types.V1;
using Concord.Executor.Builtins;
using Confluent.Kafka;
using Microsoft.Extensions.Logging.Abstractions;

namespace Concord.Executor.Tests.Security;

/// <summary>
/// The Kafka built-ins hand "kafka.*" options to librdkafka: file properties are built-in paths
/// like any other, and properties that load a library or run a command are refused.
/// </summary>
public sealed class KafkaPassThroughTests : IDisposable
{
    private readonly TempDirectory _work = new();

    public void Dispose() => _work.Dispose();

    private KafkaConnector Connector(string key, string value) => new(
        new OperatorSpec
        {
            Name = "src",
            Builtin = new BuiltinOperator { Kind = "kafka-source", Options = { ["topic"] = "t", ["bootstrap"] = "127.0.0.1:9", [key] = value } },
        },
        _work.Path, NullLogger.Instance, TimeProvider.System, new KafkaMetrics(TestTelemetry.Metrics()), concordHome: null);

    [Theory]
    [InlineData("kafka.plugin.library.paths", "/tmp/evil.so")]
    [InlineData("kafka.sasl.kerberos.kinit.cmd", "touch /tmp/owned")]
    [InlineData("kafka.ssl.engine.location", "/tmp/engine.so")]
    public void Properties_that_load_or_run_a_program_are_refused(string key, string value)
    {
        var e = Assert.Throws<OperatorFailedException>(() => Connector(key, value));

        Assert.StartsWith($"built-in 'kafka-source' option '{key}' makes librdkafka load or run a program", e.Message);
    }

    [Theory]
    [InlineData("kafka.ssl.key.location")]
    [InlineData("kafka.sasl.kerberos.keytab")]
    public void File_properties_outside_the_instance_and_data_directories_are_refused(string key)
    {
        var e = Assert.Throws<OperatorFailedException>(() => Connector(key, "/etc/passwd"));

        Assert.Contains($"option '{key}': '/etc/passwd' is outside the instance's directory", e.Message);
    }

    [Fact]
    public void A_file_property_inside_the_instance_directory_is_passed_as_its_checked_absolute_path()
    {
        var config = new ClientConfig();

        Connector("kafka.ssl.ca.location", "ca.pem").ApplyPassThrough(config);

        Assert.Equal(_work.Combine("ca.pem"), config.Get("ssl.ca.location"));
    }
}
