using System.Globalization;
using System.Net;

namespace Concord.Hosting;

/// <summary>
/// The two kinds of address every Concord server has (docs/cluster.md, "Addresses and TLS"):
/// where it listens (an IP address of this host and a port: <c>10.0.0.5:7400</c>,
/// <c>0.0.0.0:7400</c>, <c>[::1]:7400</c>) and what it advertises, the host name or address
/// other hosts dial (<c>node1.example</c>, <c>10.0.0.5</c>), with or without a port.
/// One parser for both, so every option and variable reads them alike.
/// </summary>
public static class NetworkAddress
{
    /// <summary>Parses a listen address "IP:PORT" (IPv6 in brackets); false when it is not one.</summary>
    public static bool TryParseListen(string text, out IPAddress address, out int port)
    {
        address = IPAddress.None;
        port = 0;
        return TrySplit(text.Trim(), out var host, out var portText)
            && portText is not null
            && IPAddress.TryParse(host, out address!)
            && TryParsePort(portText, out port);
    }

    /// <summary>
    /// Parses an advertised address "HOST" or "HOST:PORT" (a DNS name or an IP address, IPv6 in
    /// brackets when a port follows); false when it is not one. <paramref name="port"/> is null without a port.
    /// </summary>
    public static bool TryParseAdvertised(string text, out string host, out int? port)
    {
        host = "";
        port = null;
        var trimmed = text.Trim();
        // A bare IPv6 address has colons but no port.
        if (IPAddress.TryParse(trimmed, out var bare) && bare.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && !trimmed.StartsWith('['))
        {
            host = bare.ToString();
            return true;
        }
        if (!TrySplit(trimmed, out var hostText, out var portText) || !IsHost(hostText))
        {
            return false;
        }
        if (portText is not null)
        {
            if (!TryParsePort(portText, out var value))
            {
                return false;
            }
            port = value;
        }
        host = hostText;
        return true;
    }

    /// <summary>True for a DNS name or an IP address (no port, no brackets).</summary>
    public static bool IsHost(string host) =>
        host.Length > 0 && Uri.CheckHostName(host) is UriHostNameType.Dns or UriHostNameType.IPv4 or UriHostNameType.IPv6;

    /// <summary>"host:port", with an IPv6 host in brackets: the form peers dial and URIs contain.</summary>
    public static string Format(string host, int port) =>
        (IPAddress.TryParse(host, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{ip}]" : host)
        + ":" + port.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// The host to advertise for a server listening on <paramref name="listen"/> when none is
    /// given: the listen address itself, or 127.0.0.1 for "any address" (0.0.0.0, ::), which no
    /// peer can dial.
    /// </summary>
    public static string DefaultAdvertisedHost(IPAddress listen) =>
        listen.Equals(IPAddress.Any) || listen.Equals(IPAddress.IPv6Any) ? IPAddress.Loopback.ToString() : listen.ToString();

    private static bool TrySplit(string text, out string host, out string? port)
    {
        host = text;
        port = null;
        if (text.StartsWith('['))
        {
            var close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                return false;
            }
            host = text[1..close];
            var rest = text[(close + 1)..];
            if (rest.Length == 0)
            {
                return host.Length > 0;
            }
            if (rest[0] != ':')
            {
                return false;
            }
            port = rest[1..];
            return host.Length > 0;
        }
        var colon = text.LastIndexOf(':');
        if (colon < 0)
        {
            return text.Length > 0;
        }
        if (text.IndexOf(':', StringComparison.Ordinal) != colon)
        {
            // Several colons: an IPv6 address, which needs brackets to carry a port.
            return false;
        }
        host = text[..colon];
        port = text[(colon + 1)..];
        return host.Length > 0;
    }

    private static bool TryParsePort(string text, out int port) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port <= IPEndPoint.MaxPort;
}
