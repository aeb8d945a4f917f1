using Concord.Hosting;

namespace Concord.Hosting.Tests;

/// <summary>A standby's refusal names the leader; clients read the address out of it, and nothing else.</summary>
public sealed class LeaderRedirectTests
{
    [Theory]
    [InlineData("this scheduler is a standby; the leader is https://10.203.1.2:7400", "https://10.203.1.2:7400")]
    [InlineData("this scheduler is a standby; the leader is http://127.0.0.1:7401/. Retry there", "http://127.0.0.1:7401")]
    public void The_leader_named_in_a_refusal_is_read(string detail, string leader) =>
        Assert.Equal(leader, LeaderRedirect.LeaderIn(detail));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("this scheduler is a standby and no scheduler leads right now (an election is under way); retry in a few seconds")]
    [InlineData("the leader is not-an-address")]
    [InlineData("the leader is file:///etc/passwd")]
    public void No_leader_is_read_where_none_is_named(string? detail) => Assert.Null(LeaderRedirect.LeaderIn(detail));

    [Fact]
    public void Several_addresses_are_split_on_commas_and_trimmed() =>
        Assert.Equal(["http://a:1", "http://b:2"], LeaderRedirect.SplitAddresses(" http://a:1/ ,,http://b:2"));
}
