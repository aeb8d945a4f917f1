using Concord.Contracts;

namespace Concord.Contracts.Tests;

public class OperatorAddressTests
{
    [Theory]
    [InlineData("/tmp/op.sock", "/tmp/op.sock")]
    [InlineData("unix:///tmp/op.sock", "/tmp/op.sock")]
    public void Unix_socket_paths_parse_with_or_without_scheme(string text, string path)
    {
        var address = OperatorAddress.Parse(text);
        Assert.True(address.IsUnixSocket);
        Assert.Equal(path, address.UnixSocketPath);
    }

    [Fact]
    public void Host_and_port_parse()
    {
        var address = OperatorAddress.Parse("127.0.0.1:7001");
        Assert.False(address.IsUnixSocket);
        Assert.Equal("127.0.0.1", address.Host);
        Assert.Equal(7001, address.Port);
    }

    [Theory]
    [InlineData("localhost")]
    [InlineData("localhost:0")]
    [InlineData("localhost:http")]
    public void Malformed_addresses_say_what_is_expected(string text)
    {
        var error = Assert.Throws<ArgumentException>(() => OperatorAddress.Parse(text));
        Assert.Contains("host:port", error.Message);
    }

    [Fact]
    public void Socket_paths_longer_than_linux_allows_are_refused_with_the_fix()
    {
        var error = Assert.Throws<ArgumentException>(() => OperatorAddress.Parse("/" + new string('x', 120)));
        Assert.Contains("shorter working directory", error.Message);
    }
}
