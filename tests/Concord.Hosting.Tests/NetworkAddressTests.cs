using System.Net;
using Concord.Hosting;

namespace Concord.Hosting.Tests;

public sealed class NetworkAddressTests
{
    [Theory]
    [InlineData("127.0.0.1:7400", "127.0.0.1", 7400)]
    [InlineData("0.0.0.0:0", "0.0.0.0", 0)]
    [InlineData("[::1]:7400", "::1", 7400)]
    [InlineData(" 10.203.7.1:65535 ", "10.203.7.1", 65535)]
    public void Listen_addresses_are_an_ip_and_a_port(string text, string address, int port)
    {
        Assert.True(NetworkAddress.TryParseListen(text, out var parsed, out var parsedPort));
        Assert.Equal(IPAddress.Parse(address), parsed);
        Assert.Equal(port, parsedPort);
    }

    [Theory]
    [InlineData("node1:7400")]
    [InlineData("10.0.0.5")]
    [InlineData("10.0.0.5:65536")]
    [InlineData("10.0.0.5:-1")]
    [InlineData("::1:7400")]
    [InlineData("[::1]")]
    [InlineData("")]
    public void Anything_else_is_not_a_listen_address(string text) =>
        Assert.False(NetworkAddress.TryParseListen(text, out _, out _));

    [Theory]
    [InlineData("node1.example", "node1.example", null)]
    [InlineData("node1.example:7400", "node1.example", 7400)]
    [InlineData("10.0.0.5:7400", "10.0.0.5", 7400)]
    [InlineData("[fe80::1]:7400", "fe80::1", 7400)]
    [InlineData("fe80::1", "fe80::1", null)]
    public void Advertised_addresses_are_a_host_with_or_without_a_port(string text, string host, int? port)
    {
        Assert.True(NetworkAddress.TryParseAdvertised(text, out var parsedHost, out var parsedPort));
        Assert.Equal(host, parsedHost);
        Assert.Equal(port, parsedPort);
    }

    [Theory]
    [InlineData("node 1")]
    [InlineData("node1:http")]
    [InlineData(":7400")]
    [InlineData("")]
    public void Anything_else_is_not_an_advertised_address(string text) =>
        Assert.False(NetworkAddress.TryParseAdvertised(text, out _, out _));

    [Fact]
    public void Formatting_brackets_ipv6_only()
    {
        Assert.Equal("10.0.0.5:7400", NetworkAddress.Format("10.0.0.5", 7400));
        Assert.Equal("node1:7400", NetworkAddress.Format("node1", 7400));
        Assert.Equal("[::1]:7400", NetworkAddress.Format("::1", 7400));
    }

    [Fact]
    public void Any_address_advertises_loopback_and_a_specific_one_itself()
    {
        Assert.Equal("127.0.0.1", NetworkAddress.DefaultAdvertisedHost(IPAddress.Any));
        Assert.Equal("127.0.0.1", NetworkAddress.DefaultAdvertisedHost(IPAddress.IPv6Any));
        Assert.Equal("10.0.0.5", NetworkAddress.DefaultAdvertisedHost(IPAddress.Parse("10.0.0.5")));
    }
}
