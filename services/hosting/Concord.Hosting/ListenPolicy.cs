using System.Net;

namespace Concord.Hosting;

/// <summary>
/// The one rule for every TCP endpoint Concord opens: beyond loopback, only with mutually
/// authenticated TLS. Every place that chooses a listen address calls <see cref="Check"/>, so
/// an endpoint made reachable from other hosts cannot forget it.
/// </summary>
public static class ListenPolicy
{
    /// <summary>Refuses to listen on a non-loopback <paramref name="address"/> without TLS.</summary>
    /// <param name="endpoint">What listens, for the message (e.g. "the scheduler's gRPC endpoint").</param>
    /// <param name="tlsOptionsHint">How this process is given TLS (e.g. "--tls-cert, --tls-key and --tls-ca").</param>
    /// <exception cref="TlsConfigurationException">Non-loopback and no TLS; the message names the fix.</exception>
    public static void Check(IPAddress address, bool tls, string endpoint, string tlsOptionsHint)
    {
        if (!tls && !IPAddress.IsLoopback(address))
        {
            throw new TlsConfigurationException(
                $"{endpoint} would listen on {address} without TLS, reachable from other hosts by anyone; " +
                $"create certificates with `concord certs` and pass them with {tlsOptionsHint} (docs/security.md, \"TLS\"), or listen on 127.0.0.1");
        }
    }
}
