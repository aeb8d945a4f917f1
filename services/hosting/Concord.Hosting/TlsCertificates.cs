using System.Net;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Concord.Hosting.Internal;

namespace Concord.Hosting;

/// <summary>
/// Makes the certificates of a Concord cluster (what `concord certs` writes; tests use it too):
/// a CA, host certificates (serverAuth + clientAuth: every service both serves and calls other
/// services) with the names peers dial in their SANs, and client certificates for people and
/// tools. ECDSA P-256 with SHA-256, PEM files, private keys readable by their owner only.
/// </summary>
public static class TlsCertificates
{
    /// <summary>A new self-signed CA, valid for <see cref="HostingLimits.CaValidityDays"/>.</summary>
    public static X509Certificate2 CreateAuthority(string commonName, DateTimeOffset now)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(DistinguishedName(commonName), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        return request.CreateSelfSigned(NotBefore(now), now.AddDays(HostingLimits.CaValidityDays));
    }

    /// <summary>
    /// A host certificate from <paramref name="authority"/> (which must have its private key):
    /// <paramref name="names"/> become SANs (an IP address as an IP SAN, anything else as a DNS
    /// name), the first is also the common name. Valid for <see cref="HostingLimits.CertificateValidityDays"/>,
    /// never beyond the CA.
    /// </summary>
    public static X509Certificate2 IssueHost(X509Certificate2 authority, IReadOnlyList<string> names, DateTimeOffset now)
    {
        if (names.Count == 0)
        {
            throw new ArgumentException("a host certificate needs at least one name or IP address", nameof(names));
        }
        var sans = new SubjectAlternativeNameBuilder();
        foreach (var name in names)
        {
            if (IPAddress.TryParse(name, out var ip))
            {
                sans.AddIpAddress(ip);
            }
            else
            {
                sans.AddDnsName(name);
            }
        }
        return Issue(authority, names[0], sans.Build(), [ChainValidation.ServerAuthOid, ChainValidation.ClientAuthOid], now);
    }

    /// <summary>A client certificate (clientAuth only) for a person or a tool named <paramref name="commonName"/>.</summary>
    public static X509Certificate2 IssueClient(X509Certificate2 authority, string commonName, DateTimeOffset now) =>
        Issue(authority, commonName, sans: null, [ChainValidation.ClientAuthOid], now);

    /// <summary>
    /// Writes the certificate to <paramref name="certPath"/> and its private key (PKCS#8) to
    /// <paramref name="keyPath"/>, both PEM. The key file is created with mode 0600 before any
    /// byte is written, and each file is replaced atomically (temp file, rename).
    /// </summary>
    public static void WritePem(X509Certificate2 certificate, string certPath, string keyPath)
    {
        using var key = certificate.GetECDsaPrivateKey()
            ?? throw new ArgumentException("the certificate has no ECDSA private key to write", nameof(certificate));
        WriteAtomically(keyPath, key.ExportPkcs8PrivateKeyPem(), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        WriteAtomically(certPath, certificate.ExportCertificatePem(),
            UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
    }

    /// <summary>Reads a certificate and its private key written by <see cref="WritePem"/> (e.g. the CA, to issue more).</summary>
    public static X509Certificate2 ReadPem(string certPath, string keyPath) => X509Certificate2.CreateFromPemFile(certPath, keyPath);

    private static X509Certificate2 Issue(X509Certificate2 authority, string commonName, X509Extension? sans, string[] purposes, DateTimeOffset now)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(DistinguishedName(commonName), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        var usages = new OidCollection();
        foreach (var purpose in purposes)
        {
            usages.Add(new Oid(purpose));
        }
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(usages, critical: false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(authority, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        if (sans is not null)
        {
            request.CertificateExtensions.Add(sans);
        }
        var notAfter = now.AddDays(HostingLimits.CertificateValidityDays);
        if (notAfter > authority.NotAfter)
        {
            notAfter = authority.NotAfter;
        }
        using var issued = request.Create(authority, NotBefore(now), notAfter, SerialNumber());
        return issued.CopyWithPrivateKey(key);
    }

    /// <summary>Back-dated so a peer whose clock is a little behind does not see a certificate "not yet valid".</summary>
    private static DateTimeOffset NotBefore(DateTimeOffset now) => now.AddMilliseconds(-HostingLimits.CertificateClockSkewMs);

    /// <summary>A random positive 127-bit serial: unique without keeping a counter.</summary>
    private static byte[] SerialNumber()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        serial[0] |= 0x01;
        return serial;
    }

    private static X500DistinguishedName DistinguishedName(string commonName)
    {
        var builder = new X500DistinguishedNameBuilder();
        builder.AddCommonName(commonName);
        builder.AddOrganizationName("Concord");
        return builder.Build();
    }

    private static void WriteAtomically(string path, string text, UnixFileMode mode)
    {
        var temp = $"{path}.{Environment.ProcessId}.tmp";
        File.Delete(temp);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        // Concord runs on Linux; the mode is set at creation so the key is never readable by others, not even briefly.
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = mode;
        }
        using (var stream = new FileStream(temp, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(text);
            writer.Write('\n');
        }
        File.Move(temp, path, overwrite: true);
    }
}
