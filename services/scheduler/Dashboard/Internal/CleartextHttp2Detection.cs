using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace Concord.Scheduler.Dashboard.Internal;

/// <summary>
/// Lets the scheduler's one plaintext port speak HTTP/2 (gRPC clients, which send the HTTP/2
/// connection preface at once: "prior knowledge") and HTTP/1.1 (browsers, which never speak
/// HTTP/2 without TLS). Kestrel picks HTTP/1.1 for every cleartext connection of an
/// Http1AndHttp2 endpoint because there is no ALPN to ask; this connection middleware peeks at
/// the first 24 bytes and, when they are the preface, reports "h2" as if ALPN had chosen it,
/// which is what Kestrel's protocol selection reads. Nothing is consumed: Kestrel reads the
/// same bytes again. With TLS this is not installed; ALPN does the choosing.
/// </summary>
internal static class CleartextHttp2Detection
{
    /// <summary>RFC 9113 section 3.4: every HTTP/2 connection starts with these 24 bytes.</summary>
    private static ReadOnlySpan<byte> Preface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;

    public static Func<ConnectionDelegate, ConnectionDelegate> Middleware => next => async connection =>
    {
        if (await StartsWithPrefaceAsync(connection).ConfigureAwait(false))
        {
            var alpn = new PriorKnowledge();
            connection.Features.Set<ITlsApplicationProtocolFeature>(alpn);
            connection.Features.Set<ITlsConnectionFeature>(alpn);
        }
        await next(connection).ConfigureAwait(false);
    };

    /// <summary>Reads until the bytes match the preface, or differ from it, or the client hangs up.</summary>
    private static async Task<bool> StartsWithPrefaceAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed);
        timeout.CancelAfter(DashboardLimits.ProtocolDetectionTimeoutMs);
        var start = new byte[Preface.Length];
        while (true)
        {
            ReadResult result;
            try
            {
                result = await input.ReadAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Silent or gone: Kestrel's HTTP/1.1 timeouts deal with it from here.
                return false;
            }
            var buffer = result.Buffer;
            var length = (int)Math.Min(buffer.Length, Preface.Length);
            buffer.Slice(0, length).CopyTo(start);
            var matches = start.AsSpan(0, length).SequenceEqual(Preface[..length]);
            if (!matches || length == Preface.Length || result.IsCompleted || result.IsCanceled)
            {
                // Consumed nothing; examined nothing either, so Kestrel's first read returns at once.
                input.AdvanceTo(buffer.Start);
                return matches && length == Preface.Length;
            }
            // A prefix of the preface so far: wait for more bytes.
            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>
    /// Stands for the TLS handshake Kestrel's protocol selection expects before it picks HTTP/2
    /// on an endpoint that also speaks HTTP/1.1. Carries no certificate: the connection has none.
    /// </summary>
    private sealed class PriorKnowledge : ITlsApplicationProtocolFeature, ITlsConnectionFeature
    {
        public ReadOnlyMemory<byte> ApplicationProtocol => "h2"u8.ToArray();

        public X509Certificate2? ClientCertificate
        {
            get => null;
            set => throw new NotSupportedException("a cleartext connection has no client certificate");
        }

        public Task<X509Certificate2?> GetClientCertificateAsync(CancellationToken cancellationToken) => Task.FromResult<X509Certificate2?>(null);
    }
}
