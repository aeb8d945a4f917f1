using Concord.Scheduler.Runtime.Mesos;

namespace Concord.Scheduler.Tests.Mesos;

/// <summary>The Mesos runtime's settings from the environment: every mistake names the variable and the fix.</summary>
public sealed class MesosRuntimeOptionsTests
{
    private static Dictionary<string, string> Complete() => new()
    {
        [MesosRuntimeOptions.MasterVariable] = "http://m1:5050, http://m2:5050",
        [MesosRuntimeOptions.ExecutorCommandVariable] = "/opt/concord/executor/Concord.Executor",
        [MesosRuntimeOptions.TlsDirectoryVariable] = "/etc/concord/tls",
    };

    private static MesosRuntimeOptions Read(Dictionary<string, string> env, bool tls = true) =>
        MesosRuntimeOptions.FromEnvironment(name => env.GetValueOrDefault(name), tls);

    [Fact]
    public void A_complete_environment_reads_every_master_and_the_defaults()
    {
        var options = Read(Complete());
        Assert.Equal([new Uri("http://m1:5050"), new Uri("http://m2:5050")], options.Masters);
        Assert.Equal("*", options.Role);
        Assert.Equal("concord", options.FrameworkName);
        Assert.Equal("", options.User);
    }

    [Theory]
    [InlineData(MesosRuntimeOptions.MasterVariable, "http://mesos-master:5050")]
    [InlineData(MesosRuntimeOptions.ExecutorCommandVariable, "Concord.Executor")]
    [InlineData(MesosRuntimeOptions.TlsDirectoryVariable, "tls.crt")]
    public void A_missing_variable_is_named_with_an_example(string variable, string fix)
    {
        var env = Complete();
        env.Remove(variable);
        var e = Assert.Throws<UsageException>(() => Read(env));
        Assert.Contains(variable + " is not set", e.Message, StringComparison.Ordinal);
        Assert.Contains(fix, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_master_that_is_not_an_http_address_is_refused_naming_it()
    {
        var env = Complete();
        env[MesosRuntimeOptions.MasterVariable] = "zk://zk1:2181/mesos";
        var e = Assert.Throws<UsageException>(() => Read(env));
        Assert.Contains(MesosRuntimeOptions.MasterVariable, e.Message, StringComparison.Ordinal);
        Assert.Contains("zk://zk1:2181/mesos", e.Message, StringComparison.Ordinal);
        Assert.Contains("http://host:5050", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_master_list_of_only_commas_is_refused()
    {
        var env = Complete();
        env[MesosRuntimeOptions.MasterVariable] = " , ";
        var e = Assert.Throws<UsageException>(() => Read(env));
        Assert.Contains(MesosRuntimeOptions.MasterVariable + " names no master", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_tls_the_scheduler_is_told_to_start_with_it()
    {
        var e = Assert.Throws<UsageException>(() => Read(Complete(), tls: false));
        Assert.Contains("--tls-cert", e.Message, StringComparison.Ordinal);
        Assert.Contains("concord certs", e.Message, StringComparison.Ordinal);
    }
}
