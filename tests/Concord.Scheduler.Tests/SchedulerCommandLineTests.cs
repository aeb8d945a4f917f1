using Concord.Scheduler.Backends;

namespace Concord.Scheduler.Tests;

public sealed class SchedulerCommandLineTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string FakeExecutor()
    {
        var path = _dir.Combine("Concord.Executor.dll");
        File.WriteAllText(path, "");
        return path;
    }

    [Fact]
    public void Every_option_is_read_in_both_spellings()
    {
        var executor = FakeExecutor();

        var options = SchedulerCommandLine.Parse(["--home", _dir.Path, "--port=0", "--executor", executor, "--log-format", "json"])!;

        Assert.Equal(_dir.Path, options.Home);
        Assert.Equal(0, options.Port);
        Assert.Equal(executor, options.ExecutorDll);
        Assert.Equal(LogFormat.Json, options.LogFormat);
    }

    [Fact]
    public void Port_defaults_to_7400_and_help_returns_null()
    {
        var options = SchedulerCommandLine.Parse(["--home", _dir.Path, "--executor", FakeExecutor()])!;

        Assert.Equal(7400, options.Port);
        Assert.Equal(LogFormat.Text, options.LogFormat);
        Assert.Null(SchedulerCommandLine.Parse(["--help"]));
    }

    [Theory]
    [InlineData("--port", "http", "--port 'http' is not a port; use 0..65535 (0 picks a free one)")]
    [InlineData("--port", "70000", "--port '70000' is not a port; use 0..65535 (0 picks a free one)")]
    [InlineData("--log-format", "xml", "--log-format 'xml' is not a format; use text or json")]
    public void Bad_values_are_reported_with_what_to_use(string option, string value, string message)
    {
        var error = Assert.Throws<UsageException>(() => SchedulerCommandLine.Parse(["--home", _dir.Path, option, value]));

        Assert.Equal(message, error.Message);
    }

    [Fact]
    public void Listen_and_advertise_default_to_loopback()
    {
        var options = SchedulerCommandLine.Parse(["--home", _dir.Path, "--executor", FakeExecutor()])!;

        Assert.Equal(System.Net.IPAddress.Loopback, options.ListenAddress);
        Assert.Equal("127.0.0.1", options.AdvertisedHost);
        Assert.Null(options.AdvertisePort);
        Assert.Null(options.MetricsListenAddress);
    }

    [Fact]
    public void Listen_advertise_and_metrics_listen_are_read()
    {
        var options = SchedulerCommandLine.Parse(["--home", _dir.Path, "--executor", FakeExecutor(),
            "--listen", "0.0.0.0:7500", "--advertise", "node1.example:17500", "--metrics-listen", "10.203.7.1:0"])!;

        Assert.Equal(System.Net.IPAddress.Any, options.ListenAddress);
        Assert.Equal(7500, options.Port);
        Assert.Equal("node1.example", options.AdvertisedHost);
        Assert.Equal(17500, options.AdvertisePort);
        Assert.Equal(System.Net.IPAddress.Parse("10.203.7.1"), options.MetricsListenAddress);
        Assert.Equal(0, options.MetricsPort);
    }

    [Fact]
    public void Listening_on_every_address_advertises_loopback_and_a_specific_address_itself()
    {
        var any = SchedulerCommandLine.Parse(["--home", _dir.Path, "--executor", FakeExecutor(), "--listen", "0.0.0.0:0"])!;
        var specific = SchedulerCommandLine.Parse(["--home", _dir.Path, "--executor", FakeExecutor(), "--listen", "[::1]:0"])!;

        Assert.Equal("127.0.0.1", any.AdvertisedHost);
        Assert.Equal("::1", specific.AdvertisedHost);
    }

    [Theory]
    [InlineData("--listen", "node1:7400", "--listen 'node1:7400' is not a listen address; use IP:PORT")]
    [InlineData("--listen", "10.0.0.5", "--listen '10.0.0.5' is not a listen address; use IP:PORT")]
    [InlineData("--metrics-listen", "10.0.0.5:99999", "--metrics-listen '10.0.0.5:99999' is not a listen address; use IP:PORT")]
    [InlineData("--advertise", "node 1", "--advertise 'node 1' is not an address; use HOST or HOST:PORT")]
    public void Bad_addresses_are_reported_with_the_form_to_use(string option, string value, string message)
    {
        var error = Assert.Throws<UsageException>(() => SchedulerCommandLine.Parse(["--home", _dir.Path, option, value]));

        Assert.StartsWith(message, error.Message);
    }

    [Theory]
    [InlineData("--port", "7400", "--listen", "10.0.0.5:7400", "--port and --listen both give the gRPC port")]
    [InlineData("--metrics-port", "7401", "--metrics-listen", "10.0.0.5:7401", "--metrics-port and --metrics-listen both give the metrics port")]
    public void A_port_given_twice_is_refused(string portOption, string port, string listenOption, string listen, string message)
    {
        var error = Assert.Throws<UsageException>(() => SchedulerCommandLine.Parse(["--home", _dir.Path, "--executor", FakeExecutor(), portOption, port, listenOption, listen]));

        Assert.StartsWith(message, error.Message);
    }

    [Fact]
    public void Unknown_argument_is_reported_with_the_usage()
    {
        var error = Assert.Throws<UsageException>(() => SchedulerCommandLine.Parse(["--hom", "x"]));

        Assert.StartsWith("unknown argument '--hom'", error.Message);
        Assert.Contains("Usage: Concord.Scheduler", error.Message);
    }

    [Fact]
    public void A_missing_executor_says_how_to_build_or_point_at_it()
    {
        var missing = _dir.Combine("nope", "Concord.Executor.dll");

        var error = Assert.Throws<UsageException>(() => SchedulerCommandLine.FindExecutorDll(missing));

        Assert.Contains($"executor '{missing}' does not exist (from --executor)", error.Message);
        Assert.Contains("dotnet build services/executor", error.Message);
    }

    [Fact]
    public void Backends_default_to_the_file_store_and_the_local_runtime_and_can_be_named()
    {
        var defaults = SchedulerCommandLine.Parse(["--home", _dir.Path, "--executor", FakeExecutor()])!;
        var named = SchedulerCommandLine.Parse(["--home", _dir.Path, "--executor", FakeExecutor(), "--store", "file", "--runtime=local"])!;

        Assert.Equal(("file", "local"), (defaults.Store, defaults.Runtime));
        Assert.Equal(("file", "local"), (named.Store, named.Runtime));
        Assert.Null(defaults.MetricsPort);
    }

    [Theory]
    [InlineData("--store", "etcd", "--store 'etcd' is not a store this scheduler knows; use file or kubernetes or zookeeper")]
    [InlineData("--runtime", "nomad", "--runtime 'nomad' is not a runtime this scheduler knows; use agents or kubernetes or local or mesos")]
    [InlineData("--store", "File", "--store 'File' is not a store this scheduler knows; use file or kubernetes or zookeeper")]
    public void Unknown_backends_are_reported_with_the_accepted_names(string option, string value, string message)
    {
        var error = Assert.Throws<UsageException>(() => SchedulerCommandLine.Parse(["--home", _dir.Path, option, value]));

        Assert.Equal(message, error.Message);
    }

    [Fact]
    public void The_zookeeper_store_takes_the_ensemble_from_zookeeper()
    {
        var options = SchedulerCommandLine.Parse(
            ["--home", _dir.Path, "--executor", FakeExecutor(), "--store", "zookeeper", "--zookeeper", "10.0.0.1:2181,zk2.example:2181"])!;

        Assert.Equal(("zookeeper", "10.0.0.1:2181,zk2.example:2181"), (options.Store, options.ZooKeeper));
        Assert.Equal(SchedulerLimits.ZooKeeperSessionTimeoutMsDefault, options.ZooKeeperSessionTimeoutMs);
        Assert.Null(SchedulerCommandLine.Parse(["--home", _dir.Path, "--executor", FakeExecutor()])!.ZooKeeper);
    }

    [Fact]
    public void The_zookeeper_session_timeout_is_taken_with_the_zookeeper_store() =>
        Assert.Equal(3_000, SchedulerCommandLine.Parse(
            ["--home", _dir.Path, "--executor", FakeExecutor(), "--store", "zookeeper", "--zookeeper", "10.0.0.1:2181", "--zookeeper-session-timeout-ms", "3000"])!
            .ZooKeeperSessionTimeoutMs);

    [Theory]
    [InlineData(new[] { "--store", "zookeeper" }, "--store zookeeper needs --zookeeper HOST:PORT[,HOST:PORT...] (the ensemble's client addresses)")]
    [InlineData(new[] { "--zookeeper", "127.0.0.1:2181" }, "--zookeeper is only used with --store zookeeper; add that, or drop --zookeeper")]
    [InlineData(new[] { "--store", "zookeeper", "--zookeeper", "127.0.0.1" }, "--zookeeper '127.0.0.1' is not HOST:PORT[,HOST:PORT...] (at most 16 servers)")]
    [InlineData(new[] { "--store", "zookeeper", "--zookeeper", "a:1,b:0" }, "--zookeeper 'a:1,b:0' is not HOST:PORT[,HOST:PORT...] (at most 16 servers)")]
    [InlineData(new[] { "--zookeeper-session-timeout-ms", "3000" }, "--zookeeper-session-timeout-ms is only used with --store zookeeper; add that, or drop it")]
    [InlineData(new[] { "--store", "zookeeper", "--zookeeper", "a:1", "--zookeeper-session-timeout-ms", "999" }, "--zookeeper-session-timeout-ms 999 is out of range; give 1000..60000")]
    public void The_zookeeper_options_go_together_and_are_checked(string[] args, string message)
    {
        var error = Assert.Throws<UsageException>(() => SchedulerCommandLine.Parse(["--home", _dir.Path, "--executor", FakeExecutor(), .. args]));

        Assert.Equal(message, error.Message);
    }

    [Theory]
    [InlineData("--home")]
    [InlineData("--port")]
    [InlineData("--metrics-port")]
    [InlineData("--executor")]
    [InlineData("--log-format")]
    [InlineData("--store")]
    [InlineData("--zookeeper")]
    [InlineData("--runtime")]
    public void An_option_without_its_value_is_named_with_the_usage(string option)
    {
        var error = Assert.Throws<UsageException>(() => SchedulerCommandLine.Parse([option]));

        Assert.StartsWith($"{option} needs a value\n", error.Message);
        Assert.Contains("Usage: Concord.Scheduler", error.Message);
    }

    [Theory]
    [InlineData("-h")]
    [InlineData("-?")]
    [InlineData("--help")]
    public void Help_wins_over_everything_else_on_the_line(string help)
    {
        Assert.Null(SchedulerCommandLine.Parse([help]));
        // No executor lookup and no value checks: help must work on a machine without a build.
        Assert.Null(SchedulerCommandLine.Parse(["--port", "http", help, "--executor", _dir.Combine("missing.dll")]));
    }

    [Fact]
    public void Help_and_the_synopsis_list_every_option()
    {
        string[] options = ["--home", "--port", "--metrics-port", "--executor", "--log-format", "--store", "--zookeeper", "--runtime", "--help"];

        var usage = SchedulerCommandLine.Usage;

        Assert.All(options, option => Assert.Contains(option, usage));
        Assert.Contains("Concord.Scheduler [options]", usage);
        Assert.All(options.SkipLast(1), option => Assert.Contains($"[{option} ", SchedulerCommandLine.Synopsis));
    }

    [Theory]
    [InlineData("extra")]
    [InlineData("@response.rsp")]
    [InlineData("-p")]
    public void Positional_arguments_response_files_and_unknown_short_options_are_unknown(string argument)
    {
        var error = Assert.Throws<UsageException>(() => SchedulerCommandLine.Parse(["--home", _dir.Path, argument]));

        Assert.StartsWith($"unknown argument '{argument}'", error.Message);
    }

    [Fact]
    public void An_option_given_twice_is_refused_instead_of_one_value_silently_winning()
    {
        var error = Assert.Throws<UsageException>(() => SchedulerCommandLine.Parse(["--port", "1", "--port", "2"]));

        Assert.Equal("--port is given 2 times; give it once", error.Message);
    }

    [Fact]
    public void Every_bad_value_on_the_line_is_reported_at_once()
    {
        var error = Assert.Throws<UsageException>(() => SchedulerCommandLine.Parse(["--port", "-1", "--metrics-port", "65536", "--log-format", "JSON"]));

        Assert.Equal(
            [
                "--port '-1' is not a port; use 0..65535 (0 picks a free one)",
                "--metrics-port '65536' is not a port; use 0..65535 (0 picks a free one)",
                "--log-format 'JSON' is not a format; use text or json",
            ],
            error.Message.Split('\n'));
    }

    [Fact]
    public void Ports_at_the_ends_of_the_range_and_an_inline_metrics_port_are_accepted()
    {
        var options = SchedulerCommandLine.Parse(["--home", _dir.Path, "--executor", FakeExecutor(), "--port", "65535", "--metrics-port=0"])!;

        Assert.Equal(65535, options.Port);
        Assert.Equal(0, options.MetricsPort);
    }

    [Fact]
    public void The_home_is_made_absolute()
    {
        var options = SchedulerCommandLine.Parse(["--home", "relative/home", "--executor", FakeExecutor()])!;

        Assert.Equal(Path.GetFullPath("relative/home"), options.Home);
    }

    [Fact]
    public void The_registry_refuses_an_unknown_backend_before_anything_starts()
    {
        Assert.Equal(["file", "zookeeper", "kubernetes"], SchedulerBackends.Stores.Keys);
        Assert.Equal(["local", "agents", "kubernetes", "mesos"], SchedulerBackends.Runtimes.Keys);
        using var home = SchedulerHome.Acquire(_dir.Path);

        var store = Assert.Throws<UsageException>(() => SchedulerApp.Create(new SchedulerOptions { Home = _dir.Path, Store = "etcd" }, home));
        var runtime = Assert.Throws<UsageException>(() => SchedulerApp.Create(new SchedulerOptions { Home = _dir.Path, Runtime = "nomad" }, home));

        Assert.Equal("--store 'etcd' is not a store this scheduler knows; use file or kubernetes or zookeeper", store.Message);
        Assert.Equal("--runtime 'nomad' is not a runtime this scheduler knows; use agents or kubernetes or local or mesos", runtime.Message);
    }

    [Fact]
    public void Runtime_mesos_is_accepted_on_the_command_line()
    {
        var options = SchedulerCommandLine.Parse(["--home", _dir.Path, "--executor", FakeExecutor(), "--runtime", "mesos"])!;

        Assert.Equal(Runtime.Mesos.MesosClusterRuntime.RuntimeName, options.Runtime);
    }
}
