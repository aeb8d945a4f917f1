using System.Net;
using System.Net.Http.Headers;
using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Scheduler;
using Concord.Scheduler.Security;

namespace Concord.Security.Tests;

/// <summary>
/// Finding: the home was 0755 and spec files 0644; operator.sock was safe only because of the
/// umask. Now the scheduler sets owner-only modes itself, on the home, the token, the cluster
/// key, every spec and every instance directory.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class HomePermissionTests
{
    private const UnixFileMode OwnerOnlyDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode WorldReadable = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    [Fact]
    public async Task Home_token_cluster_key_specs_and_instance_directories_are_owner_only_even_when_they_were_not()
    {
        var home = new TempDirectory();
        // A home left world-readable, with a token file someone made readable: both are fixed.
        File.SetUnixFileMode(home.Path, OwnerOnlyDirectory | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        File.WriteAllText(home.Combine(Credentials.TokenFileName), "a-token-someone-chose-long-enough\n");
        File.SetUnixFileMode(home.Combine(Credentials.TokenFileName), WorldReadable);
        await using var scheduler = await LocalScheduler.StartAsync(home);
        await scheduler.Operator.DeployAsync(new DeployRequest { Spec = new OperatorSpec { Name = "sink", Executable = "/bin/true", Instances = 1 } })
            .ResponseAsync.WaitAsync(TestTimeouts.Step);
        var environment = await scheduler.ExecutorEnvironmentAsync("sink");

        Assert.Equal(OwnerOnlyDirectory, File.GetUnixFileMode(home.Path));
        Assert.Equal(OwnerOnlyFile, File.GetUnixFileMode(home.Combine(Credentials.TokenFileName)));
        Assert.Equal(OwnerOnlyFile, File.GetUnixFileMode(home.Combine(SchedulerSecrets.ClusterKeyFileName)));
        Assert.Equal(OwnerOnlyFile, File.GetUnixFileMode(home.Combine(SchedulerHome.TopologyFileName)));
        Assert.Equal(OwnerOnlyFile, File.GetUnixFileMode(environment["CONCORD_SPEC_FILE"]));
        Assert.Equal(OwnerOnlyDirectory, File.GetUnixFileMode(environment["CONCORD_WORK_DIR"]));
        Assert.Equal("a-token-someone-chose-long-enough", scheduler.Token);
    }

    [Fact]
    public async Task A_new_home_gets_a_random_token_of_32_bytes_in_base64url()
    {
        await using var first = await LocalScheduler.StartAsync();
        using var other = new TempDirectory();
        var second = SchedulerSecrets.Load(other.Path, explicitToken: null);

        Assert.Matches("^[A-Za-z0-9_-]{43}$", first.Token);
        Assert.True(second.IsToken(SchedulerAuth.ReadToken(other.Path)));
        Assert.False(second.IsToken(first.Token));
    }

    [Fact]
    public void An_explicit_token_is_used_and_kept_in_the_home_and_a_short_one_is_refused_naming_the_minimum()
    {
        using var home = new TempDirectory();

        var secrets = SchedulerSecrets.Load(home.Path, "an-explicit-token-for-remote-use");
        var error = Assert.Throws<UsageException>(() => SchedulerSecrets.Load(home.Path, "short"));

        Assert.True(secrets.IsToken("an-explicit-token-for-remote-use"));
        Assert.Equal("an-explicit-token-for-remote-use", SchedulerAuth.ReadToken(home.Path));
        Assert.Contains($"at least {SchedulerLimits.TokenCharsMin}", error.Message);
        Assert.DoesNotContain("short", error.Message.Replace("shortest", "", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Service_discovery_needs_the_token_and_the_refusal_names_the_token_file()
    {
        await using var scheduler = await LocalScheduler.StartAsync();
        using var http = new HttpClient { Timeout = TestTimeouts.Step };
        var url = $"http://{scheduler.MetricsAddress}/prometheus/targets";

        using var anonymous = await http.GetAsync(url);
        using var withToken = new HttpRequestMessage(HttpMethod.Get, url);
        withToken.Headers.Authorization = new AuthenticationHeaderValue("Bearer", scheduler.Token);
        using var authorized = await http.SendAsync(withToken);

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        var refusal = await anonymous.Content.ReadAsStringAsync();
        Assert.Contains(scheduler.Home.Combine("token"), refusal);
        Assert.DoesNotContain(scheduler.Token, refusal);
        Assert.Equal(HttpStatusCode.OK, authorized.StatusCode);
        Assert.Contains("\"component\":\"scheduler\"", await authorized.Content.ReadAsStringAsync());
    }
}
