using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Concord.Hosting.Internal;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Concord.Hosting;

/// <summary>
/// Loaded TLS material: this process's certificate (with its private key) and the CA every
/// peer must chain to. Both sides of every connection authenticate (mutual TLS): a server
/// (<see cref="ServerOptions"/>) requires a client certificate from the CA, a client
/// (<see cref="CreateHandler"/>) presents its certificate and accepts only a server
/// certificate from the CA for the host it dialled. Trust is only the configured CA
/// (<see cref="X509ChainTrustMode.CustomRootTrust"/>), never the system store.
/// </summary>
public sealed class TlsCredentials : IDisposable
{
    private TlsCredentials(TlsOptions options, X509Certificate2 certificate, X509Certificate2 authority)
    {
        Options = options;
        Certificate = certificate;
        Authority = authority;
    }

    /// <summary>The files these were read from (passed on to processes this one starts).</summary>
    public TlsOptions Options { get; }

    /// <summary>This process's certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>The CA: the only root a peer's certificate may chain to.</summary>
    public X509Certificate2 Authority { get; }

    /// <summary>TLS 1.2 and 1.3 only: older versions have known weaknesses and nothing of ours needs them.</summary>
    public const SslProtocols Protocols = SslProtocols.Tls12 | SslProtocols.Tls13;

    internal static TlsCredentials Load(TlsOptions options) => Load(options, checkChain: true);

    /// <summary>For tests: a peer whose own certificate is not from the CA it trusts (an impostor).</summary>
    internal static TlsCredentials LoadUnchecked(TlsOptions options) => Load(options, checkChain: false);

    private static TlsCredentials Load(TlsOptions options, bool checkChain)
    {
        X509Certificate2 certificate;
        try
        {
            certificate = X509Certificate2.CreateFromPemFile(options.CertPath, options.KeyPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            throw new TlsConfigurationException(
                $"cannot read the TLS certificate '{options.CertPath}' with key '{options.KeyPath}' ({e.Message}); " +
                "point the options at a certificate and its key in PEM, as `concord certs` writes them", e);
        }
        X509Certificate2 authority;
        try
        {
            authority = X509CertificateLoader.LoadCertificate(PemCertificate(options.CaPath));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            certificate.Dispose();
            throw new TlsConfigurationException(
                $"cannot read the TLS CA certificate '{options.CaPath}' ({e.Message}); point it at the ca.crt that `concord certs` wrote", e);
        }
        if (checkChain && !ChainValidation.ChainsTo(certificate, authority, purposeOid: null, out var problem))
        {
            certificate.Dispose();
            authority.Dispose();
            throw new TlsConfigurationException(
                $"the TLS certificate '{options.CertPath}' does not chain to the CA '{options.CaPath}' ({problem}); " +
                "use a certificate issued by that CA (`concord certs --out DIR` with the same DIR)");
        }
        return new TlsCredentials(options, certificate, authority);
    }

    private static byte[] PemCertificate(string path)
    {
        var text = File.ReadAllText(path);
        var fields = PemEncoding.Find(text);
        if (text[fields.Label] is not "CERTIFICATE")
        {
            throw new CryptographicException($"the first PEM block is '{text[fields.Label]}', not 'CERTIFICATE'");
        }
        return Convert.FromBase64String(text[fields.Base64Data]);
    }

    /// <summary>
    /// Kestrel's HTTPS settings for a server endpoint: this certificate, and a client certificate
    /// required and accepted only when it chains to the CA with the clientAuth purpose.
    /// </summary>
    public HttpsConnectionAdapterOptions ServerOptions() => new()
    {
        ServerCertificate = Certificate,
        SslProtocols = Protocols,
        ClientCertificateMode = ClientCertificateMode.RequireCertificate,
        CheckCertificateRevocation = false,
        ClientCertificateValidation = (client, _, _) => IsTrustedClient(client),
    };

    /// <summary>True when <paramref name="client"/> chains to the CA and may authenticate a client.</summary>
    public bool IsTrustedClient(X509Certificate2? client) =>
        client is not null && ChainValidation.ChainsTo(client, Authority, ChainValidation.ClientAuthOid, out _);

    /// <summary>
    /// A handler for HTTP clients (gRPC channels, HttpClient) that presents this certificate and
    /// accepts a server only when its certificate chains to the CA with the serverAuth purpose
    /// and names the host dialled (DNS name or IP address in its SANs).
    /// </summary>
    public SocketsHttpHandler CreateHandler()
    {
        var handler = new SocketsHttpHandler();
        ConfigureClient(handler);
        return handler;
    }

    /// <summary>Sets <paramref name="handler"/>'s TLS options as <see cref="CreateHandler"/> does, keeping its other settings.</summary>
    public SocketsHttpHandler ConfigureClient(SocketsHttpHandler handler)
    {
        handler.SslOptions = new SslClientAuthenticationOptions
        {
            EnabledSslProtocols = Protocols,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            // Always this certificate, whatever issuers the server lists: it has one identity.
            LocalCertificateSelectionCallback = (_, _, _, _, _) => Certificate,
            RemoteCertificateValidationCallback = (_, server, _, errors) => IsTrustedServer(server, errors),
        };
        return handler;
    }

    /// <summary>
    /// The server check: the name comes from the TLS stack (it matched the dialled host against
    /// the SANs); the chain is built again against the CA only, since the stack's own chain
    /// used the system store.
    /// </summary>
    private bool IsTrustedServer(X509Certificate? server, SslPolicyErrors errors)
    {
        if (server is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable) || errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
        {
            return false;
        }
        using var certificate = X509CertificateLoader.LoadCertificate(server.GetRawCertData());
        return ChainValidation.ChainsTo(certificate, Authority, ChainValidation.ServerAuthOid, out _);
    }

    public void Dispose()
    {
        Certificate.Dispose();
        Authority.Dispose();
    }
}
