using Concord.Contracts.Types.V1;
using Google.Protobuf;
using static Concord.Executor.Tests.TestSupport;

namespace Concord.Executor.Tests;

public sealed class ExecutorOptionsTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly Dictionary<string, string> _env;

    public ExecutorOptionsTests()
    {
        var spec = Path.Combine(_dir.Path, "spec.json");
        File.WriteAllText(spec, JsonFormatter.Default.Format(new OperatorSpec { Name = "counter", Executable = "/bin/true", Instances = 2 }));
        _env = new Dictionary<string, string>
        {
            ["CONCORD_SCHEDULER_ADDRESS"] = "http://127.0.0.1:7400",
            ["CONCORD_OPERATOR_NAME"] = "counter",
            ["CONCORD_INSTANCE_INDEX"] = "1",
            ["CONCORD_INCARNATION"] = "abc",
            ["CONCORD_SPEC_FILE"] = spec,
            ["CONCORD_WORK_DIR"] = _dir.Path,
        };
    }

    public void Dispose() => _dir.Dispose();

    private ExecutorOptions Read() => ExecutorOptions.FromEnvironment(name => _env.GetValueOrDefault(name));

    [Fact]
    public void Complete_environment_is_read()
    {
        var options = Read();
        Assert.Equal("counter/1", options.InstanceName);
        Assert.Equal("/bin/true", options.Spec.Executable);
        Assert.Equal(new Uri("http://127.0.0.1:7400"), options.SchedulerAddress);
    }

    [Fact]
    public void The_other_schedulers_are_read_and_none_by_default()
    {
        Assert.Empty(Read().OtherSchedulers);
        _env[ExecutorOptions.SchedulerAddressesVariable] = "http://10.0.0.1:7400, http://10.0.0.2:7400";

        Assert.Equal([new Uri("http://10.0.0.1:7400"), new Uri("http://10.0.0.2:7400")], Read().OtherSchedulers);
    }

    [Fact]
    public void Other_schedulers_with_another_scheme_are_refused()
    {
        _env[ExecutorOptions.SchedulerAddressesVariable] = "https://10.0.0.2:7400";

        var e = Assert.Throws<ExecutorConfigException>(Read);

        Assert.Contains(ExecutorOptions.SchedulerAddressesVariable, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Endpoints_default_to_loopback()
    {
        var options = Read();

        Assert.Equal(System.Net.IPAddress.Loopback, options.ListenAddress);
        Assert.Equal("127.0.0.1", options.AdvertisedHost);
    }

    [Fact]
    public void A_listen_address_beyond_loopback_without_tls_is_refused_with_the_listen_policy()
    {
        _env["CONCORD_LISTEN_ADDRESS"] = "10.203.7.1";

        var e = Assert.Throws<ExecutorConfigException>(Read);

        Assert.Contains("would listen on 10.203.7.1 without TLS", e.Message);
        Assert.Contains("CONCORD_TLS_CERT", e.Message);
    }

    [Theory]
    [InlineData("CONCORD_LISTEN_ADDRESS", "10.0.0.5:7400", "is not an IP address")]
    [InlineData("CONCORD_LISTEN_ADDRESS", "node1", "is not an IP address")]
    [InlineData("CONCORD_ADVERTISED_HOST", "node1:7400", "is not a host")]
    public void Bad_endpoint_variables_are_named(string variable, string value, string message)
    {
        _env[variable] = value;

        var e = Assert.Throws<ExecutorConfigException>(Read);

        Assert.Contains($"{variable}='{value}' {message}", e.Message);
    }

    [Theory]
    [InlineData("CONCORD_SCHEDULER_ADDRESS")]
    [InlineData("CONCORD_INCARNATION")]
    [InlineData("CONCORD_WORK_DIR")]
    public void Missing_variable_is_named(string variable)
    {
        _env.Remove(variable);
        var e = Assert.Throws<ExecutorConfigException>(Read);
        Assert.Contains($"{variable} is not set", e.Message);
    }

    [Fact]
    public void Index_beyond_the_instance_count_is_refused()
    {
        _env["CONCORD_INSTANCE_INDEX"] = "2";
        var e = Assert.Throws<ExecutorConfigException>(Read);
        Assert.Contains("2 instance(s)", e.Message);
    }

    [Fact]
    public void Spec_that_is_not_json_is_refused_naming_the_file()
    {
        File.WriteAllText(_env["CONCORD_SPEC_FILE"], "name: counter");
        var e = Assert.Throws<ExecutorConfigException>(Read);
        Assert.Contains("is not an OperatorSpec in protobuf JSON", e.Message);
    }

    [Fact]
    public void Spec_of_another_operator_is_refused()
    {
        _env["CONCORD_OPERATOR_NAME"] = "sink";
        var e = Assert.Throws<ExecutorConfigException>(Read);
        Assert.Contains("names operator 'counter' but CONCORD_OPERATOR_NAME is 'sink'", e.Message);
    }

    [Fact]
    public void Optional_settings_have_their_defaults_when_unset()
    {
        var options = Read();

        Assert.Equal(Metrics.ObservabilityLimits.TraceSampleEveryDefault, options.TraceSampleEvery);
        Assert.Null(options.OtlpEndpoint);
        Assert.Null(options.ConcordHome);
        Assert.Equal("", options.SearchPath);
    }

    [Fact]
    public void Optional_settings_are_read_from_the_environment_with_the_operators_sampling_first()
    {
        _env["CONCORD_TRACE_SAMPLE_EVERY"] = "3";
        _env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:4318";
        _env["CONCORD_HOME"] = "/srv/concord";
        _env["PATH"] = "/usr/bin:/bin";

        var options = Read();

        Assert.Equal(3, options.TraceSampleEvery);
        Assert.Equal("http://127.0.0.1:4318", options.OtlpEndpoint);
        Assert.Equal("/srv/concord", options.ConcordHome);
        Assert.Equal("/usr/bin:/bin", options.SearchPath);
    }

    [Fact]
    public void Log_settings_tag_every_event_with_the_operator_and_instance_even_without_valid_options()
    {
        var settings = ExecutorOptions.LogSettingsFromEnvironment(name => name switch
        {
            "CONCORD_OPERATOR_NAME" => "counter",
            "CONCORD_INSTANCE_INDEX" => "1",
            "CONCORD_LOG_FORMAT" => "json",
            _ => null,
        });

        Assert.True(settings.Json);
        Assert.True(settings.StandardError);
        Assert.Equal("instance", settings.TextLineProperty);
        Assert.Equal([new("instance", "counter/1"), new("operator", "counter"), new("instanceIndex", "1")], settings.Properties);
    }

    [Fact]
    public void State_memory_defaults_to_the_limit_and_is_read_in_MiB()
    {
        Assert.Equal(ExecutorLimits.StateMemoryBytesMax, Read().StateMemoryBytes);
        _env[ExecutorLimits.StateMemoryMbVariable] = "64";
        Assert.Equal(64L * 1024 * 1024, Read().StateMemoryBytes);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-5")]
    [InlineData("lots")]
    public void State_memory_out_of_range_is_refused_naming_the_variable(string value)
    {
        _env[ExecutorLimits.StateMemoryMbVariable] = value;
        var e = Assert.Throws<ExecutorConfigException>(Read);
        Assert.Contains($"{ExecutorLimits.StateMemoryMbVariable}='{value}' is out of range", e.Message);
    }
}
